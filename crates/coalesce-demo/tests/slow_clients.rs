//! Slow and idle clients cannot hold the server: while hundreds trickle their requests or send
//! nothing, well-behaved requests are answered, and the slow ones are closed at the timeouts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::process::DemoProcess;
use support::raw::{self, Connection};
use support::{Reply, within};
use tokio::sync::mpsc;

/// The server's header and body timeouts in this test, in seconds.
const TIMEOUT_SECS: u64 = 3;

const SLOW_CLIENTS: usize = 500;

/// How a slow client holds its connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slowness {
    /// Connects and sends nothing.
    Idle,
    /// Sends its request head a byte a second.
    TricklesItsHead,
    /// Sends its head, then its body a byte a second.
    TricklesItsBody,
    /// Sends a request, reads the response, then keeps the connection open and sends nothing.
    IdlesAfterAResponse,
}

const SLOWNESSES: [Slowness; 4] = [
    Slowness::Idle,
    Slowness::TricklesItsHead,
    Slowness::TricklesItsBody,
    Slowness::IdlesAfterAResponse,
];

/// Holds a connection `slowness`ly until the server closes it: says when it is connected, and
/// returns how long the server kept it and the response it sent before closing, if any.
async fn slow_client(
    addr: String,
    slowness: Slowness,
    connected: mpsc::Sender<()>,
) -> (Duration, Option<Reply>) {
    let mut connection = Connection::open(&addr).await;
    if slowness == Slowness::IdlesAfterAResponse {
        connection.send(&raw::messages_request()).await.unwrap();
        connection.response().await.expect("a response").assert_ok();
    }
    let started = Instant::now();
    connected.send(()).await.unwrap();
    let second = Duration::from_secs(1);
    let response = match slowness {
        Slowness::Idle | Slowness::IdlesAfterAResponse => connection.response().await,
        Slowness::TricklesItsHead => connection.trickle(&raw::messages_request(), second).await,
        Slowness::TricklesItsBody => {
            let body = vec![b' '; 100];
            connection
                .send(raw::post_head(body.len(), "").as_bytes())
                .await
                .unwrap();
            connection.trickle(&body, second).await
        }
    };
    (started.elapsed(), response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed_at_the_timeouts_while_others_are_answered() {
    let timeout = TIMEOUT_SECS.to_string();
    let demo = DemoProcess::start(&["--header-timeout", &timeout, "--body-timeout", &timeout]);
    let client = reqwest::Client::new();
    let url = demo.url();
    let query = "{ messages { id message poster { id name } } }";
    let expected = support::post_query(&client, &url, query, None)
        .await
        .assert_ok()
        .data()
        .clone();

    let (connected, mut connections) = mpsc::channel(SLOW_CLIENTS);
    // Per slowness, the clients the server has not closed yet.
    let open: Arc<[AtomicUsize; 4]> = Arc::new(SLOWNESSES.map(|_| AtomicUsize::new(0)));
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|i| {
            let slowness = SLOWNESSES[i % SLOWNESSES.len()];
            let (addr, connected, open) = (demo.addr.clone(), connected.clone(), open.clone());
            open[i % SLOWNESSES.len()].fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let outcome = slow_client(addr, slowness, connected).await;
                open[i % SLOWNESSES.len()].fetch_sub(1, Ordering::Relaxed);
                (slowness, outcome)
            })
        })
        .collect();
    for _ in 0..SLOW_CLIENTS {
        within("slow client's connection", connections.recv()).await;
    }

    let latencies = well_behaved(&client, &url, query, &expected).await;
    println!(
        "{} well-behaved requests while {SLOW_CLIENTS} slow clients were connected ({} still \
         open at the end): p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        still_open(&open[..]),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1],
    );

    // Each slow client is closed once its timeout has run, give or take a trickled second.
    let deadline = Duration::from_secs(TIMEOUT_SECS + 20);
    let outcomes = tokio::time::timeout(deadline, futures_util::future::join_all(slow))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "slow clients still open after {deadline:?}: {:?}",
                SLOWNESSES
                    .iter()
                    .zip(open.iter().map(|open| open.load(Ordering::Relaxed)))
                    .collect::<Vec<_>>()
            )
        });
    let outcomes: Vec<(Slowness, (Duration, Option<Reply>))> = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("the slow client did not panic"))
        .collect();
    for slowness in SLOWNESSES {
        let closed: Vec<&(Duration, Option<Reply>)> = outcomes
            .iter()
            .filter(|(kind, _)| *kind == slowness)
            .map(|(_, outcome)| outcome)
            .collect();
        let last = closed.iter().map(|(kept, _)| *kept).max().unwrap();
        println!(
            "{slowness:?}: {} closed, the last after {last:?}",
            closed.len()
        );
        for (_, response) in closed {
            match (slowness, response) {
                (Slowness::TricklesItsBody, Some(reply)) => reply.assert_refused(
                    408,
                    &format!(
                        "the body was not received within the body timeout of {TIMEOUT_SECS}s"
                    ),
                ),
                (Slowness::TricklesItsBody, None) => panic!("no 408 for a trickled body"),
                // Without a complete request there is nothing to answer: hyper just closes.
                (_, None) => {}
                (_, Some(reply)) => panic!("{slowness:?} got a response: {}", reply.body),
            }
        }
    }
}

fn still_open(open: &[AtomicUsize]) -> usize {
    open.iter().map(|open| open.load(Ordering::Relaxed)).sum()
}

/// Answers `query` 200 times from 4 clients at once, checking each answer; returns the
/// latencies, sorted.
async fn well_behaved(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    expected: &Value,
) -> Vec<Duration> {
    let workers = (0..4).map(|_| async {
        let mut latencies = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let reply = within("answer", support::post_query(client, url, query, None)).await;
            latencies.push(started.elapsed());
            assert_eq!(reply.assert_ok().data(), expected);
        }
        latencies
    });
    let mut latencies: Vec<Duration> = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect();
    latencies.sort();
    latencies
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_a_served_one_closes() {
    let demo = DemoProcess::start(&["--max-connections", "2", "--header-timeout", "60"]);
    let mut served = Vec::new();
    for _ in 0..2 {
        // Answered, so accepted: each holds one of the two slots, idle.
        let mut connection = Connection::open(&demo.addr).await;
        connection.send(&raw::messages_request()).await.unwrap();
        connection.response().await.expect("a response").assert_ok();
        served.push(connection);
    }
    let mut waiting = Connection::open(&demo.addr).await;
    waiting.send(&raw::messages_request()).await.unwrap();
    // No signal tells that a server is not answering; half a second shows it is not answering
    // at once, as a server without a limit does.
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.response()).await;
    assert!(
        early.is_err(),
        "answered past the connection limit: {early:?}"
    );
    drop(served.pop());
    let reply = within("answer once a slot is free", waiting.response())
        .await
        .expect("a response");
    assert_eq!(
        reply.assert_ok().data()["messages"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
}
