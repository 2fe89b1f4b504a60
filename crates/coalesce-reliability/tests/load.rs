//! The batched demo under a sustained load of the seeds' queries, with clients that give up.
//!
//! The load comes in bursts, each like one run of a load generator that stops at a deadline
//! (wrk): it ends with every client's request in flight, dropped. Within a burst, one client in
//! five (drawn from the seed) cancels each of its requests at a random point: after sending a
//! part of it, or all of it before its answer comes. Every answer must be a lone request's, at
//! the README's cost, and so must every answer after the last burst: a cancelled request never
//! changes what the next one sees. Then the process's resident memory must not have grown.
//! Served from the default in-memory SQLite database, from a SQLite file, and from PostgreSQL
//! (`DATABASE_URL`, in a schema of its own; ignored without it).
//!
//! The tests of this binary run one at a time: each measures the resident memory of the whole
//! process, which another test running alongside would disturb.
//!
//! `COALESCE_LOAD_REQUESTS` sets the length of each measured run: 2 000 requests by default,
//! which keeps `cargo test` quick; the full run is 20 000. `COALESCE_LOAD_SEED` changes which
//! clients cancel and where (seed 0 by default):
//!
//! ```sh
//! COALESCE_LOAD_REQUESTS=20000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test -p coalesce-reliability --test load -- --include-ignored --nocapture
//! ```

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use coalesce_demo::{App, Database, Mode};
use coalesce_testkit::PgSchema;
use support::{
    Cancel, Cost, Expected, Load, Plan, Sample, client, draw, drive_all, print_latency, reference,
    resident_kib, spawn,
};
use tokio::sync::Mutex;

/// Requests in flight at any time.
const CONCURRENCY: usize = 64;
/// The measured run's length unless `COALESCE_LOAD_REQUESTS` says otherwise.
const DEFAULT_REQUESTS: usize = 2_000;
/// Requests per burst: two per client, so that the burst ends once the server's queues are
/// full, with half its requests in flight. That end, with every request dropped at once, is the
/// cancellation most likely to cut the server off in the middle of its work on the database:
/// many bursts, many chances. (The demo that lost its in-memory database that way lost it
/// within the 8 bursts of the warm-up on every seed tried.)
const BURST: usize = 2 * CONCURRENCY;
/// Requests sent right after the measured run, all awaited: the next requests, whose answers a
/// cancelled request must not have changed.
const NEXT: usize = 200;
/// Requests before the memory is first measured: a quarter of the run, and at least 1 000. By
/// then every worker thread's allocator arena, the client's 64 connections and the server's
/// per-connection buffers are close to the size they keep, so that what grows afterwards is what
/// requests leave behind. (In a release build, the process grew 5% from the 1 000th request to
/// the 5 000th, then held at about 20 MB, within 2%, up to the 45 000th.)
fn warm_up(requests: usize) -> usize {
    (requests / 4).max(1_000)
}

/// How much the resident memory may grow over the measured run, relative to after the warm-up.
const MAX_GROWTH: f64 = 0.10;

/// Held by each test for its whole run.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn requests() -> usize {
    number("COALESCE_LOAD_REQUESTS").map_or(DEFAULT_REQUESTS, |n| n as usize)
}

fn seed() -> u64 {
    number("COALESCE_LOAD_SEED").unwrap_or(0)
}

fn number(variable: &str) -> Option<u64> {
    let value = std::env::var(variable).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{variable} must be a number, got {value:?}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_never_change_what_the_in_memory_database_answers() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let db = Database::open(None).await.expect("open in-memory SQLite");
    answers_right_through_cancellations("in-memory SQLite", db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_never_change_what_a_sqlite_file_answers() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite:{}", dir.path().join("demo.db").display());
    let db = Database::open(Some(&url))
        .await
        .expect("open a SQLite file");
    answers_right_through_cancellations("a SQLite file", db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATABASE_URL (PostgreSQL)"]
async fn cancelled_requests_never_change_what_postgresql_answers() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let schema = PgSchema::create("coalesce_reliability").await;
    let db = Database::open(Some(schema.url()))
        .await
        .expect("open PostgreSQL");
    answers_right_through_cancellations("PostgreSQL", db).await;
}

/// Serves `db` batched, and checks it under a load of cancelling clients: every answer is a lone
/// request's, before, during and after, and the memory holds.
async fn answers_right_through_cancellations(database: &str, db: Database) {
    let requests = requests();
    let seed = seed();
    let url = spawn(App::new(db, Mode::Batched)).await;
    // Every response must be the one a lone request gets, at the README's cost: concurrent
    // requests neither share loaders nor change each other's batches, and cancelled ones leave
    // nothing behind.
    let expected = Arc::new(Expected {
        data: reference(&url).await,
        cost: Cost::Exact,
    });
    let client = client();

    let warm_up = warm_up(requests);
    let warming = bursts(&client, &url, &expected, warm_up, seed).await;
    assert_answered_right(&warming, "during the warm-up");
    drop(warming);
    // Measured, like the memory after the run, with the next requests' connections open and idle.
    drop(next_requests(&client, &url, &expected, "after the warm-up").await);
    let warm = resident_kib();

    let start = Instant::now();
    let load = bursts(&client, &url, &expected, requests, seed + 1).await;
    let wall = start.elapsed();
    print_latency(
        &format!("batched demo on {database}, concurrency {CONCURRENCY}, seed {seed}: answered"),
        load.answers(),
        wall,
    );
    println!(
        "cancelled by their clients: {} after a part of the request, {} after all of it and \
         before the answer, {} in flight at the end of one of the {} bursts",
        load.cancelled(Cancel::PartSent),
        load.cancelled(Cancel::Unanswered),
        load.cancelled(Cancel::AtTheEnd),
        requests.div_ceil(BURST),
    );
    assert_eq!(load.len(), requests);
    assert_answered_right(&load, "under load");
    for how in [Cancel::PartSent, Cancel::Unanswered, Cancel::AtTheEnd] {
        assert!(load.cancelled(how) > 0, "no request was cancelled {how:?}");
    }

    let next = next_requests(&client, &url, &expected, "after the load").await;

    // Less the loads' own record of their requests, filled during the run (about 470 KiB for
    // 20 000 requests): the memory in question is the server's.
    let record = ((load.len() + next.len()) * std::mem::size_of::<Sample>()) as u64 / 1024;
    let after = resident_kib() - record;
    println!(
        "resident memory: {warm} KiB after {warm_up} warm-up requests, {after} KiB after \
         {requests} more ({:+.1}%; not counting the {record} KiB that recorded them)",
        (after as f64 / warm as f64 - 1.0) * 100.0
    );
    assert!(
        after as f64 <= warm as f64 * (1.0 + MAX_GROWTH),
        "resident memory grew from {warm} KiB to {after} KiB over {requests} requests: more than \
         {:.0}%, as if requests left something behind",
        MAX_GROWTH * 100.0
    );
}

/// `requests` requests to `url` in bursts of [`BURST`], each with clients drawn from `seed`
/// that cancel, and ending with its requests in flight. Each burst's cancelling clients start
/// from the latency of the burst before.
async fn bursts(
    client: &reqwest::Client,
    url: &str,
    expected: &Arc<Expected>,
    requests: usize,
    seed: u64,
) -> Load {
    let mut all = Load::gathering(requests);
    let mut latency_hint = Duration::ZERO;
    for burst in 0..requests.div_ceil(BURST) {
        let plan = Plan {
            latency_hint,
            ..Plan::cancelling(
                CONCURRENCY,
                BURST.min(requests - burst * BURST),
                draw(seed, ("burst", burst), u64::MAX),
            )
        };
        let load = drive_all(client, url, expected.clone(), plan).await;
        latency_hint = load.median_latency().unwrap_or(latency_hint);
        all.absorb(load);
    }
    all
}

/// After a burst has ended with its requests dropped in flight: sends [`NEXT`] requests, all
/// awaited, then one lone request of each query, and checks that each gets what a lone request
/// got before the load. Returns the load of the [`NEXT`].
async fn next_requests(
    client: &reqwest::Client,
    url: &str,
    expected: &Arc<Expected>,
    when: &str,
) -> Load {
    let next = drive_all(
        client,
        url,
        expected.clone(),
        Plan::steady(CONCURRENCY, NEXT),
    )
    .await;
    assert_answered_right(&next, &format!("right {when}"));
    assert_eq!(reference(url).await, expected.data, "a lone request {when}");
    next
}

/// Panics, with the first failures, unless every answered request of `load` was right.
fn assert_answered_right(load: &Load, when: &str) {
    let failures = load.failures();
    assert!(
        failures.is_empty(),
        "{when}: {} of {} answered requests were wrong; the first: {:#?}",
        failures.len(),
        load.answers().count(),
        &failures[..failures.len().min(5)]
    );
}
