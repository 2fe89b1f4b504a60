//! The request's span and the batch spans under it. A test binary of its own: `tracing` decides
//! once per call site whether anyone listens, so a test elsewhere in the same process, opening
//! the same spans with no subscriber at the same moment, could hide them from this one.
#![cfg(feature = "tracing")]

#[allow(dead_code)] // its `main` binds a port
#[path = "../examples/server.rs"]
mod server;
mod support;

#[tokio::test(flavor = "current_thread")]
async fn batch_spans_nest_under_the_request_span() {
    let recorder = coalesce_testkit::SpanRecorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let db = support::database().await;

    let response = server::schema(db)
        .execute("{ messages { text poster { name } } }")
        .await;

    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let messages = response.data.into_json().unwrap()["messages"].clone();
    assert_eq!(messages[19]["poster"]["name"], "user 10");
    let requests = recorder.named("graphql.execute");
    let batches = recorder.named("coalesce.batch");
    assert_eq!((requests.len(), batches.len()), (1, 1));
    assert_eq!(recorder.parent(batches[0]), Some(requests[0]));
}
