//! Scenario 7: the demo server over HTTP on SQLite, batched and naive (N+1), under a bounded
//! in-process load generator: a fixed number of requests, on loopback only.

use coalesce_demo::{App, Database, Mode, server};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::graphql::SeedQuery;
use crate::scenario::{Meter, Run, on_worker};

/// Requests in flight at once: a handful of clients, enough to keep the server busy. Client and
/// server share the machine's cores, as a load test on one box does.
pub const CONCURRENCY: usize = 8;

/// The demo served twice on one seeded in-memory SQLite database, batched and naive, on
/// ephemeral loopback ports; stopped when dropped.
pub struct HttpDemo {
    client: reqwest::Client,
    batched: String,
    naive: String,
    _stop: [oneshot::Sender<()>; 2],
}

impl HttpDemo {
    /// Opens the database and starts both servers on `rt`.
    pub fn start(rt: &Runtime) -> HttpDemo {
        on_worker(rt, async {
            let db = Database::open(None).await.expect("open in-memory SQLite");
            let (batched, stop_batched) = serve(App::new(db.clone(), Mode::Batched)).await;
            let (naive, stop_naive) = serve(App::new(db, Mode::Naive)).await;
            let client = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client");
            HttpDemo {
                client,
                batched,
                naive,
                _stop: [stop_batched, stop_naive],
            }
        })
    }

    /// Sends `requests` POSTs of `query` to the server in `mode`, [`CONCURRENCY`] at a time,
    /// after one untimed request whose answer is checked. The run's batches are SQL statements.
    pub fn run(&self, rt: &Runtime, mode: Mode, query: SeedQuery, requests: u64) -> Run {
        let client = self.client.clone();
        let url = match mode {
            Mode::Batched => &self.batched,
            Mode::Naive => &self.naive,
        }
        .clone();
        on_worker(rt, async move {
            let body = json!({ "query": query.document() });
            let post = || client.post(&url).json(&body).send();

            let first: Value = post()
                .await
                .and_then(reqwest::Response::error_for_status)
                .expect("POST /graphql")
                .json()
                .await
                .expect("a JSON response");
            assert_eq!(first["data"], query.expected(), "{first}");
            let statements = first["extensions"]["sqlQueries"]
                .as_u64()
                .expect("the response counts its statements");

            let mut meter = Meter::default();
            let start = Meter::start();
            stream::iter(0..requests)
                .map(|_| async {
                    let response = post().await.expect("POST /graphql");
                    assert!(response.status().is_success(), "{}", response.status());
                    response.bytes().await.expect("the response body");
                })
                .buffer_unordered(CONCURRENCY)
                .for_each(|()| async {})
                .await;
            meter.stop(start);
            meter.finish(requests, 1, statements * requests)
        })
    }
}

/// Serves `app` on an ephemeral loopback port: its GraphQL URL, and the sender that stops it.
async fn serve(app: App) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!(
        "http://{}/graphql",
        listener.local_addr().expect("its address")
    );
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(server::serve(listener, app, async {
        // A dropped sender stops the server as well.
        let _ = stopped.await;
    }));
    (url, stop)
}
