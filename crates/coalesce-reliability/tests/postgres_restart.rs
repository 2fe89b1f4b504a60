//! PostgreSQL stopped and started again while the demo is under load.
//!
//! The test runs its own server (initdb in a temporary directory, a free loopback port), since it
//! must stop it: the machine's PostgreSQL is never touched. Ignored with the other tests that
//! need PostgreSQL; run it with
//!
//! ```sh
//! cargo test -p coalesce-reliability --test postgres_restart -- --include-ignored --nocapture
//! ```

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coalesce_demo::{App, Database, Mode};
use support::postgres::PrivatePostgres;
use support::{
    Cost, Expected, Failure, Plan, Sample, client, drive, print_latency, reference, spawn,
};
use tokio::sync::watch;

/// Requests in flight at any time: more than the pool's 10 connections, so that some requests
/// are always waiting for one, which is where an outage leaves them.
const CONCURRENCY: usize = 16;
/// Requests answered before the server is stopped, and sent after it is back.
const BEFORE: usize = 200;
const AFTER: usize = 200;
/// How long the server stays down: more than twice the demo's 3 s acquire timeout. The requests
/// in flight at the stop wait out one timeout; the requests sent next, while the server is down,
/// must run out of theirs before it is back, to show that they fail rather than wait for it.
const OUTAGE: Duration = Duration::from_secs(8);
/// The most requests the load may send, whatever happens.
const BUDGET: usize = 50_000;
/// A bound on the whole scenario, so that a load that stalls fails the test instead of hanging
/// it. Far above what it takes (about 12 s).
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATABASE_URL (PostgreSQL tooling: starts and restarts a private server)"]
async fn postgres_restarted_under_load_fails_requests_clearly_then_recovers() {
    let postgres = Arc::new(PrivatePostgres::start());
    let db = Database::open(Some(&postgres.url()))
        .await
        .expect("open the private PostgreSQL");
    let Database::Postgres(pool) = db.clone() else {
        unreachable!("a postgres:// URL opens PostgreSQL")
    };
    let url = spawn(App::new(db, Mode::Batched)).await;
    let expected = Arc::new(Expected {
        data: reference(&url).await,
        cost: Cost::Exact,
    });

    let (stop, stopped_load) = watch::channel(false);
    let (answered_tx, mut answered) = watch::channel(0);
    let load = tokio::spawn(async move {
        let client = client();
        drive(
            &client,
            &url,
            expected,
            Plan::steady(CONCURRENCY, BUDGET),
            stopped_load,
            Some(answered_tx),
        )
        .await
    });

    // The server's programs block: run them off the runtime's two threads, which serve the demo.
    let pg_ctl = |action: fn(&PrivatePostgres)| {
        let postgres = postgres.clone();
        async move {
            tokio::task::spawn_blocking(move || action(&postgres))
                .await
                .expect("pg_ctl panicked");
        }
    };
    let scenario = async {
        answered.wait_for(|&n| n >= BEFORE).await.unwrap();
        let stopping = Instant::now();
        pg_ctl(PrivatePostgres::stop).await;
        let stopped = Instant::now();
        tokio::time::sleep(OUTAGE).await;
        let restarting = Instant::now();
        pg_ctl(PrivatePostgres::start_again).await;
        let restarted = Instant::now();
        // At most CONCURRENCY of the requests answered from now on were sent before the restart.
        let now = *answered.borrow();
        answered
            .wait_for(|&n| n >= now + CONCURRENCY + AFTER)
            .await
            .unwrap();
        stop.send(true).unwrap();
        (stopping, stopped, restarting, restarted)
    };
    let (stopping, stopped, restarting, restarted) = tokio::time::timeout(SCENARIO_LIMIT, scenario)
        .await
        .expect("the load stalled");
    let load = load.await.expect("the load panicked");

    let before = load.select(|s| load.answered(s) < stopping);
    let during = load.select(|s| load.sent(s) >= stopped && load.answered(s) < restarting);
    let after = load.select(|s| load.sent(s) >= restarted);
    let failed = load.select(|s| s.failure.is_some());
    // Each distinct error message, with how many failed requests had it.
    let mut messages = BTreeMap::<&str, usize>::new();
    for sample in &failed {
        if let Some(Failure::Errors { messages: m, .. }) = sample.failure.as_deref() {
            for message in m.iter().collect::<BTreeSet<_>>() {
                *messages.entry(message).or_default() += 1;
            }
        }
    }
    println!(
        "{} requests: {} before the stop, {} sent and answered while the server was down, {} \
         sent after the restart; {} failed. Stop took {:.2} s, outage {:.2} s, start {:.2} s.",
        load.len(),
        before.len(),
        during.len(),
        after.len(),
        failed.len(),
        (stopped - stopping).as_secs_f64(),
        (restarted - stopping).as_secs_f64(),
        (restarted - restarting).as_secs_f64(),
    );
    println!("error messages (failed requests with each): {messages:#?}");
    print_latency(
        "before the stop",
        before.iter().copied(),
        stopping - load.start,
    );
    print_latency("while down", during.iter().copied(), restarting - stopped);
    print_latency(
        "after the restart",
        after.iter().copied(),
        Instant::now() - restarted,
    );

    // Up and running: every request is answered right.
    assert!(before.len() >= BEFORE);
    assert_eq!(failures(&before), Vec::<String>::new(), "before the stop");

    // Down: requests fail, each with a GraphQL error that says the database is the trouble, in a
    // response that ran (200, errors at the fields) rather than a refusal, a bare 500 or a
    // dropped connection. Requests sent while it is down do not wait for it to come back.
    assert!(
        during.iter().any(|s| s.failure.is_some()),
        "no request sent while the server was down failed before it came back, {} s later: \
         requests wait for the database instead of failing",
        OUTAGE.as_secs()
    );
    for sample in &failed {
        match sample.failure.as_deref() {
            Some(Failure::Errors { status, messages }) => {
                assert_eq!(*status, 200, "{messages:?}");
                assert!(!messages.is_empty());
                for message in messages {
                    let lower = message.to_lowercase();
                    assert!(
                        lower.contains("database") || lower.contains("connection"),
                        "the error does not say what failed: {message:?}"
                    );
                }
            }
            other => panic!("not a GraphQL error naming the database: {other:?}"),
        }
        assert!(
            load.answered(sample) >= stopping && load.sent(sample) < restarted,
            "a request failed while the server was up: {:?}",
            sample.failure
        );
    }

    // Back: every request sent after the restart is answered right. A connection left broken in
    // the pool would fail one; a stuck one would hit the client's 30 s timeout and fail too.
    assert!(after.len() >= AFTER);
    assert_eq!(failures(&after), Vec::<String>::new(), "after the restart");

    // And the pool holds nothing: every connection it may open can be taken at once, each
    // checked (sqlx pings a connection before handing it out).
    let max = pool.options().get_max_connections() as usize;
    let connections = tokio::time::timeout(Duration::from_secs(30), async {
        let mut all = Vec::new();
        for _ in 0..max {
            all.push(
                pool.acquire()
                    .await
                    .expect("a connection after the restart"),
            );
        }
        all
    })
    .await
    .expect("the pool could not hand out all its connections: some are stuck");
    println!(
        "pool after the restart: {} connections, all {} acquired at once",
        pool.size(),
        connections.len()
    );
}

fn failures(samples: &[&Sample]) -> Vec<String> {
    samples
        .iter()
        .filter_map(|s| s.failure.as_ref().map(|f| format!("{f:?}")))
        .collect()
}
