//! Clients that disconnect with their requests in flight: whatever statement their handler was
//! running when it was dropped, the next requests see the same data as before, on every database.

mod support;

use std::time::Duration;

use coalesce_demo::{App, Database, Mode};
use serde_json::json;
use support::{Backend, Demo, post_query, spawn};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const BANDS: &str = "{ bands { name albums { title } } }";
const MESSAGES: &str = "{ messages { id } }";

/// Rounds of disconnecting clients, and clients per round.
const ROUNDS: u64 = 60;
const CLIENTS: u64 = 32;

/// Runs [`ROUNDS`] rounds of [`CLIENTS`] clients that send `BANDS` and close their connection
/// without reading the answer, each after its own delay, so that handlers are dropped before,
/// during and after their statements; after each round, a lone client must get the answers a
/// lone client got before the first.
async fn cancelled_requests_leave_the_data_alone(app: App) {
    let url = spawn(app).await;
    let client = reqwest::Client::new();
    let answers = || async {
        let bands = post_query(&client, &url, BANDS, None).await;
        let messages = post_query(&client, &url, MESSAGES, None).await;
        [&bands, &messages].map(|reply| reply.assert_ok().data().clone())
    };
    let before = answers().await;
    assert_eq!(before[1]["messages"].as_array().map(Vec::len), Some(20));
    let address = url.trim_start_matches("http://").to_owned();
    let body = json!({ "query": BANDS }).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    for round in 0..ROUNDS {
        let clients = (0..CLIENTS).map(|client| {
            let (address, request) = (address.clone(), request.clone());
            // The delays vary the moment of the disconnect, not synchronise anything: from
            // before the request is read to after it has been answered.
            let delay = Duration::from_micros((round * CLIENTS + client) * 37 % 4_000);
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(&address).await.expect("connect");
                stream
                    .write_all(request.as_bytes())
                    .await
                    .expect("send the request");
                tokio::time::sleep(delay).await;
            })
        });
        for client in clients.collect::<Vec<_>>() {
            client.await.expect("the client ran");
        }
        let after = answers().await;
        assert_eq!(
            after, before,
            "after round {round} of disconnects, the data changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_never_lose_the_in_memory_database() {
    let db = Database::open(None).await.expect("open SQLite");
    cancelled_requests_leave_the_data_alone(App::new(db, Mode::Batched)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_never_lose_an_in_memory_database_named_by_url() {
    let db = Database::open(Some("sqlite::memory:"))
        .await
        .expect("open SQLite");
    // Naive: a statement per band, so many more statements for a disconnect to interrupt.
    cancelled_requests_leave_the_data_alone(App::new(db, Mode::Naive)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_never_change_a_sqlite_file() {
    let file = support::TempFile::new("cancellation.db");
    let db = Database::open(Some(&file.url()))
        .await
        .expect("open SQLite");
    cancelled_requests_leave_the_data_alone(App::new(db, Mode::Batched)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATABASE_URL (PostgreSQL)"]
async fn cancelled_requests_never_change_postgres() {
    let demo = Demo::start(Backend::Postgres).await;
    cancelled_requests_leave_the_data_alone(App::new(demo.db.clone(), Mode::Batched)).await;
}
