//! The crate's example server (`examples/server.rs`), as a user runs it: over HTTP through
//! async-graphql-axum, and through `Schema::execute`.

#[allow(dead_code)] // its `main` binds a port; the tests serve the same app on a free one
#[path = "../examples/server.rs"]
mod server;

use serde_json::{Value, json};
use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

const MESSAGES: &str = "{ messages { text poster { id name } } }";

/// The example's data in a private in-memory database (one connection: each has its own).
async fn database() -> SqlitePool {
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("../examples/messages.sql"))
        .execute(&db)
        .await
        .unwrap();
    db
}

/// The twenty messages with their posters, as the seed data has them.
fn expected_messages() -> Value {
    let messages: Vec<Value> = (1..=20)
        .map(|i| {
            let poster = (i - 1) % 10 + 1;
            json!({ "text": format!("message {i}"), "poster": { "id": poster, "name": format!("user {poster}") } })
        })
        .collect();
    json!({ "messages": messages })
}

#[tokio::test]
async fn the_messages_query_costs_one_statement_for_the_messages_and_one_batch_for_the_posters() {
    let schema = server::schema(database().await);
    let response = schema.execute(MESSAGES).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(response.data.into_json().unwrap(), expected_messages());
    let stats = response.extensions["loaders"].clone().into_json().unwrap();
    // 20 posters to load, 10 distinct, one statement for all of them.
    assert_eq!(stats["UserLoader"]["loads"], 20);
    assert_eq!(stats["UserLoader"]["batches"], 1);
    assert_eq!(stats["UserLoader"]["keys"], 10);
}

#[tokio::test]
async fn concurrent_requests_never_share_a_memo() {
    let schema = server::schema(database().await);
    let (a, b) = futures::join!(schema.execute(MESSAGES), schema.execute(MESSAGES));
    for response in [a, b] {
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(response.data.into_json().unwrap(), expected_messages());
        let stats = response.extensions["loaders"].clone().into_json().unwrap();
        // A shared memo would answer one request's posters from the other's batch.
        assert_eq!(stats["UserLoader"]["batches"], 1, "{stats}");
        assert_eq!(stats["UserLoader"]["keys"], 10, "{stats}");
        assert_eq!(stats["UserLoader"]["deduplicated"], 10, "{stats}");
    }
}

/// Serves the example's app on a free port; returns its URL.
async fn serve() -> String {
    let graphql = async_graphql_axum::GraphQL::new(server::schema(database().await));
    let app = axum::Router::new().route_service("/graphql", graphql);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn over_http_each_response_carries_its_data_and_its_own_stats() {
    let url = serve().await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let body: Value = client
            .post(&url)
            .json(&json!({ "query": MESSAGES }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"], expected_messages());
        assert_eq!(body["extensions"]["loaders"]["UserLoader"]["batches"], 1);
    }
}

#[tokio::test]
async fn each_operation_of_a_batched_http_request_gets_its_own_loaders() {
    let url = serve().await;
    let body: Value = reqwest::Client::new()
        .post(&url)
        .json(&json!([{ "query": MESSAGES }, { "query": MESSAGES }]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let responses = body.as_array().expect("one response per operation");
    assert_eq!(responses.len(), 2);
    for response in responses {
        assert!(response.get("errors").is_none(), "{response}");
        assert_eq!(response["data"], expected_messages());
        let stats = &response["extensions"]["loaders"]["UserLoader"];
        assert_eq!(
            (stats["loads"].as_u64(), stats["batches"].as_u64()),
            (Some(20), Some(1))
        );
    }
}
