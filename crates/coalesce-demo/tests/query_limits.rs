//! Queries that cost far more than their text: fragment bombs and cycles are refused before they
//! expand, a request over its time budget is stopped, and requests beyond the server's
//! executions at once wait for a running one.

mod support;

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use coalesce_demo::expansion::MAX_EXPANDED_SELECTIONS;
use coalesce_demo::{Limits, Mode};
use serde_json::json;
use support::process::DemoProcess;
use support::{Backend, Demo};

/// Fragments `F0`..`F{n}` on `on`, each spreading the next twice, and `leaf` selected by the last:
/// `{ ...F0 }` expands to 2^n `leaf`s.
fn bomb(n: usize, on: &str, leaf: &str) -> String {
    let mut fragments: String = (0..n)
        .map(|i| {
            format!(
                "fragment F{i} on {on} {{ ...F{next} ...F{next} }} ",
                next = i + 1
            )
        })
        .collect();
    fragments += &format!("fragment F{n} on {on} {{ {leaf} }}");
    fragments
}

#[tokio::test]
async fn fragment_bombs_are_refused_before_they_expand_and_the_memory_stays_flat() {
    let demo = DemoProcess::start(&[]);
    let client = reqwest::Client::new();
    let url = demo.url();
    let messages = || support::post_query(&client, &url, "{ messages { id } }", None);
    let expected = messages().await.assert_ok().data().clone();
    let before = demo.resident_kib();
    for n in [10, 20, 30, 40] {
        for (operation, on, leaf) in [
            ("{ ...F0 }", "Query", "__typename"),
            ("{ user(id: 1) { ...F0 } }", "User", "id"),
        ] {
            let query = format!("{operation} {}", bomb(n, on, leaf));
            let started = Instant::now();
            let reply = support::post_query(&client, &url, &query, None).await;
            println!(
                "2^{n} expansions on {on} ({} bytes): refused in {:?}",
                query.len(),
                started.elapsed()
            );
            reply.assert_refused(
                400,
                "the query is too large: with every fragment spread expanded",
            );
            reply.assert_refused(400, &format!("over the limit of {MAX_EXPANDED_SELECTIONS}"));
        }
    }
    let after = demo.resident_kib();
    println!("server memory: {before} KiB before the bombs, {after} KiB after");
    // Slack for the allocator's own caching; one expanded bomb of 2^20 took 200 MB.
    assert!(
        after < before + 32 * 1024,
        "{before} KiB before, {after} KiB after"
    );
    assert_eq!(messages().await.assert_ok().data(), &expected);
}

#[tokio::test]
async fn fragment_cycles_are_refused_naming_the_cycle() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(
            Mode::Batched,
            "{ ...A } fragment A on Query { __typename ...A }",
            None,
        )
        .await;
    reply.assert_refused(400, "fragment A spreads itself: A spreads A");
}

/// The time budget on PostgreSQL, where the test can make a request wait as long as it likes:
/// it holds a lock on `messages` that the request's `SELECT` waits for.
#[tokio::test]
#[ignore = "needs DATABASE_URL (PostgreSQL)"]
async fn a_request_over_its_time_budget_is_stopped_with_a_503_and_the_next_is_answered() {
    let demo = Demo::start(Backend::Postgres).await;
    let url = demo
        .serve_with(Limits {
            request_timeout: Duration::from_millis(300),
            ..Limits::default()
        })
        .await;
    let coalesce_demo::Database::Postgres(pool) = &demo.db else {
        unreachable!("a PostgreSQL demo")
    };
    let client = reqwest::Client::new();
    let query = "{ messages { id } }";
    let mut lock = pool.begin().await.unwrap();
    sqlx::raw_sql("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    // A server without a budget waits for the lock as long as the test holds it: the lock is
    // released before anything can fail, or dropping the test's schema would wait for it too.
    let answer = support::post_query(&client, &url, query, None);
    let reply = tokio::time::timeout(support::GUARD, answer).await;
    lock.rollback().await.unwrap();
    let reply = reply.expect("an answer while the lock was held");
    println!("stopped after {:?}", started.elapsed());
    reply.assert_refused(503, "the request was stopped at its time budget of 300ms");
    let reply = support::post_query(&client, &url, query, None).await;
    let ids: Vec<_> = (1..=20).map(|id| json!({ "id": id.to_string() })).collect();
    assert_eq!(reply.assert_ok().data()["messages"], json!(ids));
}

/// With one execution at a time, a request that needs no locked table still waits for the one
/// that does: it is answered only after the lock is released. With the default limit (the
/// pool's connections), the same request is answered while the lock is held.
#[tokio::test]
#[ignore = "needs DATABASE_URL (PostgreSQL)"]
async fn requests_beyond_max_executions_wait_for_a_running_one_and_are_then_answered() {
    let demo = Demo::start(Backend::Postgres).await;
    let coalesce_demo::Database::Postgres(pool) = &demo.db else {
        unreachable!("a PostgreSQL demo")
    };
    let one_at_a_time = demo
        .serve_with(Limits {
            max_executions: Some(NonZeroUsize::MIN),
            ..Limits::default()
        })
        .await;
    let by_default = demo.serve_with(Limits::default()).await;
    let client = reqwest::Client::new();
    let bands = "{ bands { name } }";
    let expected_bands = demo
        .query(Mode::Batched, bands, None)
        .await
        .assert_ok()
        .data()["bands"]
        .clone();
    // Posts `query` to `url` from a task of its own; the reply and when it came.
    let post = |url: &String, query: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let reply = support::post_query(&client, &url, query, None).await;
            (reply, Instant::now())
        })
    };
    let mut lock = pool.begin().await.unwrap();
    sqlx::raw_sql("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let locker: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *lock)
        .await
        .unwrap();
    // Until `n` statements wait on this test's lock, as PostgreSQL reports it: counted by the
    // backend they wait for, so that another test's lock waits are not counted.
    let until_waiting_on_lock = |n: i64| async move {
        let waiting = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))";
        tokio::time::timeout(support::GUARD, async {
            while sqlx::query_scalar::<_, i64>(waiting)
                .bind(locker)
                .fetch_one(pool)
                .await
                .unwrap()
                < n
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the requests on `messages` wait on the lock");
    };

    // The default server answers `bands` while a request of its own is stuck on the lock.
    let stuck = post(&by_default, "{ messages { id } }");
    until_waiting_on_lock(1).await;
    let beside = tokio::time::timeout(
        support::GUARD,
        support::post_query(&client, &by_default, bands, None),
    )
    .await;
    // The one-at-a-time server: `bands` queues behind its request stuck on the lock.
    let holder = post(&one_at_a_time, "{ messages { id } }");
    until_waiting_on_lock(2).await;
    let queued = post(&one_at_a_time, bands);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let released = Instant::now();
    lock.rollback().await.unwrap();

    let beside = beside.expect("the default server answers beside the stuck request");
    assert_eq!(beside.assert_ok().data()["bands"], expected_bands);
    let ids: Vec<_> = (1..=20).map(|id| json!({ "id": id.to_string() })).collect();
    for request in [stuck, holder] {
        let (reply, _) = tokio::time::timeout(support::GUARD, request)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.assert_ok().data()["messages"], json!(ids));
    }
    let (reply, answered) = tokio::time::timeout(support::GUARD, queued)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.assert_ok().data()["bands"], expected_bands);
    assert!(
        answered >= released,
        "`bands` was answered before the running request let go of the one execution"
    );
}
