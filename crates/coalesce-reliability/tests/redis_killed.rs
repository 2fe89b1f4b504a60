//! The demo's shared Redis tier (`serve --redis`) killed while the demo is under load.
//!
//! The test runs its own redis-server on a free loopback port, since it kills it: the machine's
//! Redis is never touched. Ignored with the other tests that need Redis; run it with
//!
//! ```sh
//! cargo test -p coalesce-reliability --test redis_killed -- --include-ignored --nocapture
//! ```

mod support;

use std::sync::Arc;
use std::time::Instant;

use coalesce_demo::loaders::SharedCache;
use coalesce_demo::{App, Database, Mode};
use coalesce_loader_redis::Redis;
use coalesce_testkit::PrivateRedis;
use support::{
    Cost, Expected, Plan, Sample, client, drive, print_latency, reference, spawn, unique,
};
use tokio::sync::watch;

/// Requests in flight at any time.
const CONCURRENCY: usize = 64;
/// Requests in all, and how many are answered before Redis is killed.
const REQUESTS: usize = 3_000;
const KILL_AFTER: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs REDIS_URL (Redis tooling: starts and kills a private redis-server)"]
async fn redis_killed_under_load_fails_no_request_and_answers_right_throughout() {
    let mut redis_server = PrivateRedis::start();
    let db = Database::open(None).await.expect("open SQLite");
    // The right answers come from the demo without Redis, on the same database.
    let data = reference(&spawn(App::new(db.clone(), Mode::Batched)).await).await;
    let shared = SharedCache::new(
        Redis::open(&redis_server.url()).unwrap(),
        unique("reliability"),
    );
    let url = spawn(App::new(db, Mode::Batched).with_shared_cache(shared)).await;
    // With Redis answering some keys, a request may cost less than the README says, never more.
    let expected = Arc::new(Expected {
        data,
        cost: Cost::AtMost,
    });

    let (_keep, stop) = watch::channel(false);
    let (answered_tx, mut answered) = watch::channel(0);
    let load = tokio::spawn(async move {
        let client = client();
        let answered_tx = Some(answered_tx);
        drive(
            &client,
            &url,
            expected,
            Plan::steady(CONCURRENCY, REQUESTS),
            stop,
            answered_tx,
        )
        .await
    });
    answered.wait_for(|&n| n >= KILL_AFTER).await.unwrap();
    let killing = Instant::now();
    redis_server.kill();
    let killed = Instant::now();
    let load = load.await.expect("the load panicked");
    let end = Instant::now();

    let before = load.select(|s| load.answered(s) < killing);
    let after = load.select(|s| load.sent(s) >= killed);
    let from_redis = |samples: &[&Sample]| {
        samples
            .iter()
            .filter(|s| u64::from(s.sql_queries) < s.full_cost())
            .count()
    };
    println!(
        "{} requests: {} answered before the kill ({} of them partly from Redis), {} sent after \
         it ({} partly from Redis)",
        load.len(),
        before.len(),
        from_redis(&before),
        after.len(),
        from_redis(&after),
    );
    print_latency(
        "before the kill",
        before.iter().copied(),
        killing - load.start,
    );
    print_latency("after the kill", after.iter().copied(), end - killed);

    assert_eq!(load.len(), REQUESTS);
    let failures = load.failures();
    assert!(
        failures.is_empty(),
        "{} of {REQUESTS} requests failed or answered wrong; the first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Redis was in use before the kill, so the kill took something away.
    assert!(
        from_redis(&before) > 0,
        "no request read from Redis before the kill"
    );
    // After it, the database answers everything, at the full cost.
    assert!(!after.is_empty(), "the load ended before Redis was killed");
    assert_eq!(from_redis(&after), 0);
}
