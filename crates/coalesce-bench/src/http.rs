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
use crate::verify::{Verdicts, excerpt};

/// Requests in flight at once: a handful of clients, enough to keep the server busy. Client and
/// server share the machine's cores, as a load test on one box does.
pub const CONCURRENCY: usize = 8;

/// The demo served twice on one seeded in-memory SQLite database, batched and naive, on
/// ephemeral loopback ports; stopped when dropped.
pub struct HttpDemo {
    client: reqwest::Client,
    batched: String,
    naive: String,
    /// The servers this started stop when these drop.
    _stop: Vec<oneshot::Sender<()>>,
}

impl HttpDemo {
    /// Opens the database and starts both servers on `rt`.
    pub fn start(rt: &Runtime) -> HttpDemo {
        on_worker(rt, async {
            let db = Database::open(None).await.expect("open in-memory SQLite");
            let (batched, stop_batched) = serve(App::new(db.clone(), Mode::Batched)).await;
            let (naive, stop_naive) = serve(App::new(db, Mode::Naive)).await;
            HttpDemo {
                _stop: vec![stop_batched, stop_naive],
                ..HttpDemo::at(batched, naive)
            }
        })
    }

    /// Servers started by someone else, at these GraphQL URLs.
    pub fn at(batched: String, naive: String) -> HttpDemo {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        HttpDemo {
            client,
            batched,
            naive,
            _stop: Vec::new(),
        }
    }

    /// Sends `requests` POSTs of `query` to the server in `mode`, [`CONCURRENCY`] at a time,
    /// after one untimed request that opens the connections. Every answer is checked, after the
    /// timed part: status 200, no errors, the expected data. The run's batches are the SQL
    /// statements the timed answers say they cost.
    ///
    /// Panics if any answer is wrong, saying how many were and why the first was.
    pub fn run(&self, rt: &Runtime, mode: Mode, query: SeedQuery, requests: u64) -> Run {
        let client = self.client.clone();
        let url = match mode {
            Mode::Batched => &self.batched,
            Mode::Naive => &self.naive,
        }
        .clone();
        on_worker(rt, async move {
            let body = json!({ "query": query.document() });
            let post = || async {
                let response = client.post(&url).json(&body).send().await?;
                let status = response.status().as_u16();
                Ok((status, response.bytes().await?))
            };

            let expected = query.expected();
            let mut verdicts = Verdicts::new(format!("HTTP `{}`, {mode:?}", query.name()));
            verdicts.record(judge_answer(post().await, &expected).err());

            let mut meter = Meter::default();
            let start = Meter::start();
            let answers: Vec<_> = stream::iter(0..requests)
                .map(|_| post())
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            meter.stop(start);
            let mut statements = 0;
            for answer in answers {
                let verdict = judge_answer(answer, &expected);
                statements += verdict.as_ref().map_or(0, |cost| *cost);
                verdicts.record(verdict.err());
            }
            verdicts.assert_all_right();
            meter.finish(requests, 1, statements)
        })
    }
}

/// [`judge`] of a response, or why there was none.
fn judge_answer(
    answer: Result<(u16, impl AsRef<[u8]>), reqwest::Error>,
    expected: &Value,
) -> Result<u64, String> {
    let (status, body) = answer.map_err(|e| format!("no answer: {e}"))?;
    judge(status, body.as_ref(), expected)
}

/// The statements an answer says it cost, if it is the right one: status 200, no errors, and
/// `expected` as its `data`; else what is wrong with it.
pub fn judge(status: u16, body: &[u8], expected: &Value) -> Result<u64, String> {
    let text = String::from_utf8_lossy(body);
    let quote = || excerpt(&text, 300);
    if status != 200 {
        return Err(format!("status {status}: {}", quote()));
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {}", quote()))?;
    if json
        .get("errors")
        .is_some_and(|errors| errors != &Value::Null)
    {
        return Err(format!(
            "errors: {}",
            excerpt(&json["errors"].to_string(), 300)
        ));
    }
    if &json["data"] != expected {
        return Err(format!("other data: {}", quote()));
    }
    json["extensions"]["sqlQueries"]
        .as_u64()
        .ok_or_else(|| format!("no `extensions.sqlQueries`: {}", quote()))
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

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::routing::post;

    use super::*;
    use crate::scenario;

    /// What the demo answered, fast, once its in-memory database was gone: a 200 with errors.
    const LOST_DATABASE: &str = r#"{"data":null,"extensions":{"dataloader":{"albumsByBand":{"loads":0,"cacheHits":0,"batches":0,"keys":0},"bands":{"loads":0,"cacheHits":0,"batches":0,"keys":0},"friends":{"loads":0,"cacheHits":0,"batches":0,"keys":0},"messagesByPoster":{"loads":0,"cacheHits":0,"batches":0,"keys":0},"users":{"loads":0,"cacheHits":0,"batches":0,"keys":0}},"sqlQueries":1},"errors":[{"message":"error returned from database: (code: 1) no such table: messages","locations":[{"line":1,"column":3}],"path":["messages"]}]}"#;

    /// A right answer to `messages`, batched.
    fn right_answer() -> String {
        json!({ "data": SeedQuery::Messages.expected(), "extensions": { "sqlQueries": 2 } })
            .to_string()
    }

    #[test]
    fn an_answer_from_a_server_that_lost_its_database_is_wrong() {
        let expected = SeedQuery::Messages.expected();
        let why = judge(200, LOST_DATABASE.as_bytes(), &expected).unwrap_err();
        assert!(
            why.starts_with("errors: ") && why.contains("no such table"),
            "{why}"
        );

        assert_eq!(judge(200, right_answer().as_bytes(), &expected), Ok(2));
        let other = json!({ "data": { "messages": [] }, "extensions": { "sqlQueries": 2 } });
        let why = judge(200, other.to_string().as_bytes(), &expected).unwrap_err();
        assert!(why.starts_with("other data: "), "{why}");
    }

    #[test]
    fn a_server_that_loses_its_database_after_its_first_answer_stops_the_http_scenario() {
        let rt = scenario::runtime();
        // The demo as it behaved: right at first, then, once a cancelled request had cost it
        // its in-memory database, errors in a 200, faster than it ever answered data.
        let answered = Arc::new(AtomicUsize::new(0));
        let server = Router::new().route(
            "/graphql",
            post(move || async move {
                match answered.fetch_add(1, Ordering::Relaxed) {
                    0 => right_answer(),
                    _ => LOST_DATABASE.to_string(),
                }
            }),
        );
        let url = on_worker(&rt, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://{}/graphql", listener.local_addr().unwrap());
            tokio::spawn(async { axum::serve(listener, server).await });
            url
        });
        let demo = HttpDemo::at(url.clone(), url);

        let run = catch_unwind(AssertUnwindSafe(|| {
            demo.run(&rt, Mode::Batched, SeedQuery::Messages, 20)
        }));
        let panic = run.expect_err("the run measured a server without data");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.starts_with("HTTP `messages`, Batched: 20 of 21 answers were wrong")
                && message.contains("no such table: messages"),
            "{message}"
        );
    }
}
