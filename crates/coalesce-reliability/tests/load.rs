//! The batched demo under a sustained, concurrent load of the seeds' queries.
//!
//! The only test of its binary: it measures the resident memory of the whole process, which
//! another test running alongside would disturb.
//!
//! `COALESCE_LOAD_REQUESTS` sets the length of the measured run: 2 000 requests by default, which
//! keeps `cargo test` quick; the full run is 20 000:
//!
//! ```sh
//! COALESCE_LOAD_REQUESTS=20000 cargo test -p coalesce-reliability --test load -- --nocapture
//! ```

mod support;

use std::sync::Arc;
use std::time::Instant;

use coalesce_demo::{App, Database, Mode};
use support::{
    Cost, Expected, Sample, client, drive_all, print_latency, reference, resident_kib, spawn,
};

/// Requests in flight at any time.
const CONCURRENCY: usize = 64;
/// The measured run's length unless `COALESCE_LOAD_REQUESTS` says otherwise.
const DEFAULT_REQUESTS: usize = 2_000;
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

fn requests() -> usize {
    match std::env::var("COALESCE_LOAD_REQUESTS") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("COALESCE_LOAD_REQUESTS must be a number, got {n:?}")),
        Err(_) => DEFAULT_REQUESTS,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_under_load_answers_every_request_and_holds_its_memory() {
    let requests = requests();
    let db = Database::open(None).await.expect("open SQLite");
    let url = spawn(App::new(db, Mode::Batched)).await;
    // Every response must be the one a lone request gets, at the README's cost: concurrent
    // requests neither share loaders nor change each other's batches.
    let expected = Arc::new(Expected {
        data: reference(&url).await,
        cost: Cost::Exact,
    });
    let client = client();

    let warm_up = warm_up(requests);
    let warming = drive_all(&client, &url, expected.clone(), CONCURRENCY, warm_up).await;
    assert_eq!(
        warming.failures(),
        Vec::<String>::new(),
        "during the warm-up"
    );
    drop(warming);
    let warm = resident_kib();

    let start = Instant::now();
    let load = drive_all(&client, &url, expected, CONCURRENCY, requests).await;
    let wall = start.elapsed();
    // Less the load's own record of its requests, made during the run (about 470 KiB for 20 000
    // requests): the memory in question is the server's.
    let record = (load.len() * std::mem::size_of::<Sample>()) as u64 / 1024;
    let after = resident_kib() - record;

    print_latency(
        &format!("batched demo on SQLite, concurrency {CONCURRENCY}"),
        load.samples(),
        wall,
    );
    println!(
        "resident memory: {warm} KiB after {warm_up} warm-up requests, {after} KiB after \
         {requests} more ({:+.1}%; not counting the {record} KiB that recorded them)",
        (after as f64 / warm as f64 - 1.0) * 100.0
    );

    assert_eq!(load.len(), requests);
    let failures = load.failures();
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed; the first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        after as f64 <= warm as f64 * (1.0 + MAX_GROWTH),
        "resident memory grew from {warm} KiB to {after} KiB over {requests} requests: more than \
         {:.0}%, as if requests left something behind",
        MAX_GROWTH * 100.0
    );
}
