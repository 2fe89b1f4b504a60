//! Requests refused before they reach GraphQL (a wrong path, method or media type, oversized
//! headers or body, a body too slow to arrive) get their status and a GraphQL error saying why.

mod support;

use std::time::Duration;

use coalesce_demo::limits::{MAX_BODY_BYTES, MAX_HEADER_BYTES};
use coalesce_demo::{Limits, Mode};
use support::raw::{self, Connection};
use support::{Backend, Demo, Reply, within};

async fn send(request: reqwest::RequestBuilder) -> Reply {
    Reply::from(request.send().await.expect("a response")).await
}

#[tokio::test]
async fn headers_over_the_limit_are_a_431_with_a_graphql_error() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = send(
        reqwest::Client::new()
            .post(format!("{}/graphql", demo.url(Mode::Batched)))
            .header("x-padding", "a".repeat(MAX_HEADER_BYTES))
            .json(&serde_json::json!({ "query": "{ messages { id } }" })),
    )
    .await;
    reply.assert_refused(431, "the request's headers are too large");
}

/// Sends `bytes` to the server at `url` on a connection of their own; returns the response and
/// the connection.
async fn first_response(url: &str, bytes: &str) -> (Reply, Connection) {
    let mut connection = Connection::open(url.trim_start_matches("http://")).await;
    connection.send(bytes.as_bytes()).await.unwrap();
    let reply = within("response", connection.response())
        .await
        .expect("a response before the server closes");
    (reply, connection)
}

#[tokio::test]
async fn a_content_length_over_the_body_limit_is_a_413_before_the_body_is_sent() {
    let demo = Demo::start(Backend::Sqlite).await;
    let head = raw::post_head(MAX_BODY_BYTES as u64 * 50_000, "");
    let (reply, _) = first_response(demo.url(Mode::Batched), &format!("{head}{{")).await;
    reply.assert_refused(
        413,
        "its content-length of 104857600000 bytes is over the limit",
    );
}

#[tokio::test]
async fn a_body_not_received_within_the_body_timeout_is_a_408_with_a_graphql_error() {
    let demo = Demo::start(Backend::Sqlite).await;
    let url = demo
        .serve_with(Limits {
            body_timeout: Duration::from_millis(300),
            ..Limits::default()
        })
        .await;
    // Ten bytes of the hundred declared, then nothing.
    let head = raw::post_head(100, "");
    let (reply, mut connection) = first_response(&url, &format!("{head}{{\"query\":")).await;
    reply.assert_refused(
        408,
        "the body was not received within the body timeout of 300ms",
    );
    within("close", connection.closed()).await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_naming_the_allowed_ones() {
    let demo = Demo::start(Backend::Sqlite).await;
    let response = reqwest::Client::new()
        .put(format!("{}/graphql", demo.url(Mode::Batched)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET,HEAD,POST");
    let reply =
        send(reqwest::Client::new().delete(format!("{}/graphql", demo.url(Mode::Batched)))).await;
    reply.assert_refused(405, "DELETE is not allowed on /graphql");
}

#[tokio::test]
async fn an_unknown_path_is_a_404_with_a_graphql_error() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply =
        send(reqwest::Client::new().get(format!("{}/graph", demo.url(Mode::Batched)))).await;
    reply.assert_refused(404, "there is nothing at /graph");
}

#[tokio::test]
async fn a_body_not_declared_as_json_is_a_415_naming_what_it_was() {
    let demo = Demo::start(Backend::Sqlite).await;
    let url = format!("{}/graphql", demo.url(Mode::Batched));
    let body = r#"{"query": "{ messages { id } }"}"#;
    let client = reqwest::Client::new();
    let plain = send(
        client
            .post(&url)
            .header("content-type", "text/plain")
            .body(body),
    )
    .await;
    plain.assert_refused(415, r#"application/json; got "text/plain""#);
    let undeclared = send(client.post(&url).body(body)).await;
    undeclared.assert_refused(415, "application/json; got none");
    // Parameters and case do not matter.
    let with_charset = send(
        client
            .post(&url)
            .header("content-type", "Application/JSON; charset=utf-8")
            .body(body),
    )
    .await;
    assert_eq!(
        with_charset.assert_ok().data()["messages"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
}
