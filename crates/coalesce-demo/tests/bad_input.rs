//! Requests the server must refuse with a status and a GraphQL error that says what is wrong,
//! never a panic or an empty 500.

mod support;

use coalesce_demo::Mode;
use coalesce_demo::schema::{MAX_COMPLEXITY, MAX_DEPTH};
use serde_json::json;
use support::{Backend, Demo};

#[tokio::test]
async fn malformed_json_is_a_400_saying_the_body_is_not_a_request() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo.post_raw(r#"{"query": "{ messages { id } }""#).await;
    reply.assert_refused(400, "the body is not a GraphQL request");
}

#[tokio::test]
async fn query_that_is_not_a_string_is_a_400_naming_the_type() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo.post_raw(r#"{"query": 5}"#).await;
    reply.assert_refused(400, "invalid type: integer `5`, expected a string");
}

#[tokio::test]
async fn batched_request_is_a_400_saying_batches_are_not_served() {
    let demo = Demo::start(Backend::Sqlite).await;
    let batch = r#" [{"query": "{ messages { id } }"}, {"query": "{ users { id } }"}]"#;
    let reply = demo.post_raw(batch).await;
    reply.assert_refused(
        400,
        "batched requests (a JSON array of operations) are not served",
    );
}

#[tokio::test]
async fn body_over_the_size_limit_is_a_413_with_a_graphql_error() {
    let demo = Demo::start(Backend::Sqlite).await;
    let padding = " ".repeat(3 << 20);
    let reply = demo
        .query(Mode::Batched, &format!("{{ me {{ id }} }}{padding}"), None)
        .await;
    reply.assert_refused(413, "the body could not be read");
}

#[tokio::test]
async fn malformed_graphql_is_a_400_with_the_parse_error() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo.query(Mode::Batched, "{ messages { id ", None).await;
    reply.assert_refused(400, "expected");
}

#[tokio::test]
async fn unknown_field_is_a_400_naming_it() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(Mode::Batched, "{ messages { id author } }", None)
        .await;
    reply.assert_refused(400, r#"Unknown field "author" on type "Message""#);
}

#[tokio::test]
async fn non_integer_user_id_is_an_error_naming_the_id() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(Mode::Batched, r#"{ user(id: "abc") { id } }"#, None)
        .await;
    // The request ran, so 200 with the field's error, as GraphQL over HTTP has it.
    assert_eq!(reply.status, 200);
    assert!(reply.data()["user"].is_null());
    assert_eq!(reply.body["errors"][0]["path"], json!(["user"]));
    assert!(
        reply.errors()[0].contains(r#"invalid id "abc""#),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn non_integer_user_header_is_a_400_naming_the_header() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(Mode::Batched, "{ me { id } }", Some("ada"))
        .await;
    reply.assert_refused(400, "the x-user-id header must be a user id");
}

#[tokio::test]
async fn negative_first_is_an_error() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(
            Mode::Batched,
            "{ user(id: 1) { friends(first: -1) { id } } }",
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.errors()[0].contains("`first` cannot be negative"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn renaming_a_missing_user_is_an_error() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(
            Mode::Batched,
            r#"mutation { renameUser(id: 999, name: "X") { id } }"#,
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.errors(), ["there is no user with id 999"]);
}

#[tokio::test]
async fn query_nested_deeper_than_the_limit_is_refused() {
    let demo = Demo::start(Backend::Sqlite).await;
    let query = format!(
        "{{ me {}{{ id }}{} }}",
        "{ bestFriend ".repeat(MAX_DEPTH),
        "}".repeat(MAX_DEPTH)
    );
    let reply = demo.query(Mode::Batched, &query, Some("1")).await;
    reply.assert_refused(400, "nested too deep");
}

#[tokio::test]
async fn fan_out_of_friends_of_friends_of_everyone_is_refused() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(
            Mode::Naive,
            "{ users { friends { friends { name } } } }",
            None,
        )
        .await;
    reply.assert_refused(400, "too complex");
}

#[tokio::test]
async fn alias_flood_is_refused() {
    let demo = Demo::start(Backend::Sqlite).await;
    // Each alias costs 2 (`user` and its `id`): twice the limit in all.
    let aliases: String = (0..MAX_COMPLEXITY)
        .map(|i| format!("u{i}: user(id: 1) {{ id }} "))
        .collect();
    let reply = demo
        .query(Mode::Naive, &format!("{{ {aliases}}}"), None)
        .await;
    reply.assert_refused(400, "too complex");
}

#[tokio::test]
async fn graphiql_introspection_query_fits_the_limits() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = demo
        .query(Mode::Batched, &introspection_query(9), None)
        .await;
    assert_eq!(
        reply.assert_ok().data()["__schema"]["queryType"]["name"],
        "Query"
    );
}

#[tokio::test]
async fn graphiql_is_served_at_the_root_and_at_graphql() {
    let demo = Demo::start(Backend::Sqlite).await;
    for path in ["/", "/graphql"] {
        let page = reqwest::get(format!("{}{path}", demo.url(Mode::Batched)))
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("GraphiQL"));
    }
}

#[tokio::test]
async fn users_api_refuses_a_non_integer_id() {
    let demo = Demo::start(Backend::Sqlite).await;
    let reply = reqwest::get(format!("{}/api/users?id=1&id=x", demo.url(Mode::Batched)))
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": "invalid id \"x\": ids are integers" })
    );
}

/// The shape of the query GraphiQL sends on load (graphql-js's `getIntrospectionQuery`), whose
/// type references nest `type_depth` levels of `ofType`.
fn introspection_query(type_depth: usize) -> String {
    let type_ref = format!(
        "kind name {}{}",
        "ofType { kind name ".repeat(type_depth),
        "}".repeat(type_depth)
    );
    format!(
        "query IntrospectionQuery {{
          __schema {{
            queryType {{ name kind }} mutationType {{ name kind }} subscriptionType {{ name kind }}
            types {{ ...FullType }}
            directives {{ name description locations args {{ ...InputValue }} }}
          }}
        }}
        fragment FullType on __Type {{
          kind name description
          fields(includeDeprecated: true) {{
            name description args {{ ...InputValue }} type {{ ...TypeRef }}
            isDeprecated deprecationReason
          }}
          inputFields {{ ...InputValue }}
          interfaces {{ ...TypeRef }}
          enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
          possibleTypes {{ ...TypeRef }}
        }}
        fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue }}
        fragment TypeRef on __Type {{ {type_ref} }}"
    )
}
