//! The crate's example server (`examples/server.rs`), as a user runs it: over HTTP through
//! async-graphql-axum, and through `Schema::execute`.

#[allow(dead_code)] // its `main` binds a port; the tests serve the same app on a free one
#[path = "../examples/server.rs"]
mod server;
mod support;

use serde_json::{Value, json};

const MESSAGES: &str = "{ messages { text poster { id name } } }";

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
    let schema = server::schema(support::database().await);
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
    let schema = server::schema(support::database().await);
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
    let graphql = async_graphql_axum::GraphQL::new(server::schema(support::database().await));
    let app = axum::Router::new().route_service("/graphql", graphql);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// POSTs `body` as JSON; the response's JSON body.
async fn post(client: &reqwest::Client, url: &str, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn over_http_each_response_carries_its_data_and_its_own_stats() {
    let url = serve().await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let body = post(&client, &url, json!({ "query": MESSAGES })).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"], expected_messages());
        assert_eq!(body["extensions"]["loaders"]["UserLoader"]["batches"], 1);
    }
}

#[tokio::test]
async fn each_operation_of_a_batched_http_request_gets_its_own_loaders() {
    let url = serve().await;
    let batch = json!([{ "query": MESSAGES }, { "query": MESSAGES }]);
    let body = post(&reqwest::Client::new(), &url, batch).await;
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
