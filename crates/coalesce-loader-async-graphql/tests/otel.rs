//! With `tracing-opentelemetry`, a batch span's `follows_from` links arrive as OpenTelemetry span
//! links: the messages query, with a span per resolver (async-graphql's `Tracing` extension),
//! exports one batch span linked to the twenty `poster` resolvers it served. A test binary of its
//! own, as `spans.rs` is: `tracing` caches per call site whether anyone listens.
#![cfg(feature = "tracing")]

mod support;

use std::collections::HashMap;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use coalesce_loader::{DataLoader, Loaders, by_key};
use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use sqlx::SqlitePool;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, SimpleObject, sqlx::FromRow)]
struct User {
    id: i64,
    name: String,
}

#[derive(sqlx::FromRow)]
struct Message {
    id: i64,
    text: String,
    poster_id: i64,
}

#[Object]
impl Message {
    async fn id(&self) -> i64 {
        self.id
    }
    async fn message(&self) -> &str {
        &self.text
    }
    async fn poster(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(ctx.loader::<Users>()?.load(self.poster_id).await?)
    }
}

type Users = coalesce_loader::FnLoader<i64, HashMap<i64, User>, sqlx::Error>;

struct Query;

#[Object]
impl Query {
    async fn messages(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Message>> {
        let sql = "SELECT id, text, poster_id FROM messages ORDER BY id";
        Ok(sqlx::query_as(sql)
            .fetch_all(ctx.data::<SqlitePool>()?)
            .await?)
    }
}

/// The messages schema with a span per resolver, and the request's `Users` loader.
fn schema(db: SqlitePool) -> Schema<Query, EmptyMutation, EmptySubscription> {
    let loaders = LoaderExtension::new(|request| {
        let db = request
            .get::<SqlitePool>()
            .expect("the schema's data")
            .clone();
        let users: Users = coalesce_loader::from_fn(move |ids: Vec<i64>| {
            let db = db.clone();
            async move {
                let sql = "SELECT id, name FROM users WHERE id IN (SELECT value FROM json_each(?))";
                let rows = sqlx::query_as(sql)
                    .bind(format!("{ids:?}"))
                    .fetch_all(&db)
                    .await?;
                Ok(by_key(rows, |user: &User| user.id))
            }
        });
        Loaders::new().with(DataLoader::builder(users).name("users").build())
    });
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(db)
        .extension(async_graphql::extensions::Tracing)
        .extension(loaders)
        .finish()
}

/// An attribute of `span`, as text.
fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test(flavor = "current_thread")]
async fn the_messages_query_exports_one_batch_span_linked_to_its_twenty_poster_resolvers() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("coalesce-test")));
    let _default = tracing::subscriber::set_default(subscriber);
    let db = support::database().await;

    let response = schema(db)
        .execute("{ messages { id message poster { id name } } }")
        .await;

    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    assert_eq!(data["messages"].as_array().unwrap().len(), 20);
    assert_eq!(data["messages"][19]["poster"]["name"], "user 10");
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();

    let batches: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("GraphQL DataLoader Batch"))
        .collect();
    assert_eq!(batches.len(), 1, "one batch span");
    let batch = batches[0];
    let posters: HashMap<_, _> = spans
        .iter()
        .filter(|s| attribute(s, "path").is_some_and(|p| p.ends_with(".poster")))
        .map(|s| (s.span_context.span_id(), attribute(s, "path").unwrap()))
        .collect();
    assert_eq!(posters.len(), 20, "twenty poster resolver spans");
    let mut linked: Vec<&str> = batch
        .links
        .iter()
        .map(|link| posters[&link.span_context.span_id()].as_str())
        .collect();
    linked.sort_unstable();
    linked.dedup();
    assert_eq!(
        linked.len(),
        20,
        "linked once to each poster resolver: {linked:?}"
    );
    assert!(
        batch
            .links
            .iter()
            .all(|l| l.span_context.trace_id() == batch.span_context.trace_id())
    );

    let attributes: Vec<(&str, String)> = [
        "graphql.processing.type",
        "graphql.dataloader.name",
        "graphql.dataloader.batch.size",
        "graphql.dataloader.cache.hit_count",
        "coalesce.batch.deduplicated",
        "coalesce.batch.reason",
    ]
    .into_iter()
    .map(|key| (key, attribute(batch, key).unwrap_or_default()))
    .collect();
    println!(
        "exported: {:?}, {} links to {:?} .. {:?}\n  attributes: {attributes:?}",
        batch.name,
        batch.links.len(),
        linked[0],
        linked[19],
    );
    assert_eq!(
        attributes,
        [
            ("graphql.processing.type", "dataloader_batch".to_string()),
            ("graphql.dataloader.name", "users".to_string()),
            // 20 posters, 10 distinct users: 10 keys, 10 loads joined a key already queued.
            ("graphql.dataloader.batch.size", "10".to_string()),
            ("graphql.dataloader.cache.hit_count", "0".to_string()),
            ("coalesce.batch.deduplicated", "10".to_string()),
            ("coalesce.batch.reason", "frame".to_string()),
        ]
    );
}
