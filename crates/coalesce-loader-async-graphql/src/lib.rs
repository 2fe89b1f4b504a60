//! [coalesce-loader](coalesce_loader) DataLoaders in [async-graphql](async_graphql): one schema
//! extension gives every request its own loaders, and resolvers reach them in one call.
//!
//! - [`LoaderExtension`]: registered once with `Schema::build(...).extension(...)`; its factory
//!   builds each request's [`Loaders`](coalesce_loader::Loaders) from the request's data (the
//!   caller's identity) and the schema's (a pool), so no memo outlives its request or is shared
//!   between callers. Optionally it adds each loader's stats to the response's `extensions`, and
//!   with the `tracing` feature (on by default) it runs each request in a `graphql.execute` span,
//!   under which the loaders' batch spans nest.
//! - [`LoaderContext`]: `ctx.loader::<UserLoader>()?` in a resolver.
//! - [`RequestData`]: what the factory sees of a request.
//!
//! Nothing here waits: the loaders batch by coalesce's frame rule, so a field's loads are sent
//! as soon as its siblings have made theirs (no 1 ms window as with async-graphql's own
//! `DataLoader`), and async-graphql's executor needs no option for it.
//!
//! # Example
//!
//! The classic N+1: twenty messages, each with its poster. One statement for the messages, one
//! batch for all their posters.
//!
//! ```
//! use std::collections::HashMap;
//!
//! use async_graphql::{ComplexObject, Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
//! use coalesce_loader::{DataLoader, Loader, Loaders};
//! use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};
//!
//! #[derive(Clone, SimpleObject)]
//! struct User { id: u64, name: String }
//!
//! #[derive(Clone, SimpleObject)]
//! #[graphql(complex)]
//! struct Message { id: u64, text: String, #[graphql(skip)] poster_id: u64 }
//!
//! #[ComplexObject]
//! impl Message {
//!     async fn poster(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
//!         Ok(ctx.loader::<UserLoader>()?.load(self.poster_id).await?)
//!     }
//! }
//!
//! /// Users by id: a `HashMap` answer, so an id with no user loads as `None`.
//! struct UserLoader;
//!
//! impl Loader for UserLoader {
//!     type Key = u64;
//!     type Output = HashMap<u64, User>;
//!     type Error = std::convert::Infallible;
//!     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
//!         // One `SELECT ... WHERE id IN (...)` in a real server.
//!         Ok(ids.iter().map(|&id| (id, User { id, name: format!("user {id}") })).collect())
//!     }
//! }
//!
//! struct Query;
//!
//! #[Object]
//! impl Query {
//!     async fn messages(&self) -> Vec<Message> {
//!         (0..20).map(|id| Message { id, text: format!("message {id}"), poster_id: id % 10 }).collect()
//!     }
//! }
//!
//! let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
//!     .extension(
//!         LoaderExtension::new(|_request| Loaders::new().with(DataLoader::new(UserLoader)))
//!             .stats_in_extensions("loaders"),
//!     )
//!     .finish();
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let response = schema.execute("{ messages { id text poster { name } } }").await;
//! assert!(response.errors.is_empty(), "{:?}", response.errors);
//! let data = response.data.into_json().unwrap();
//! assert_eq!(data["messages"][13]["poster"]["name"], "user 3");
//! let stats = response.extensions["loaders"].clone().into_json().unwrap();
//! assert_eq!(stats["UserLoader"]["batches"], 1); // 20 posters, 10 distinct: one batch
//! assert_eq!(stats["UserLoader"]["keys"], 10);
//! # });
//! ```
//!
//! With async-graphql-axum, the schema is served as it is: `GraphQL::new(schema)` runs every
//! request through the extension. The crate's `examples/server.rs` is a complete server on
//! SQLite; its messages query costs 2 statements.
//!
//! # Traces: batch spans linked to the resolvers they served
//!
//! With the `tracing` feature, each batch runs in a span in the GraphQL OpenTelemetry
//! conventions (`GraphQL DataLoader Batch {loader}`, with `graphql.dataloader.name`,
//! `graphql.dataloader.batch.size` and the fields listed in coalesce-loader's docs, feature
//! `tracing`), which *follows from* the span of every load that joined it. With async-graphql's
//! `extensions::Tracing`, which gives each resolver a span, and `tracing-opentelemetry`, those
//! are OpenTelemetry span links: a trace shows which resolvers one batch served.
//!
//! ```
//! use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
//! use coalesce_loader::{DataLoader, Loaders};
//! use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};
//! use opentelemetry::trace::TracerProvider;
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! type Users = coalesce_loader::FnLoader<u64, Vec<Result<User, String>>, String>;
//!
//! #[derive(Clone, SimpleObject)]
//! struct User { name: String }
//!
//! #[derive(SimpleObject)]
//! #[graphql(complex)]
//! struct Message { id: u64 }
//!
//! #[async_graphql::ComplexObject]
//! impl Message {
//!     async fn poster(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
//!         Ok(ctx.loader::<Users>()?.load(self.id % 2).await?)
//!     }
//! }
//!
//! struct Query;
//!
//! #[Object]
//! impl Query {
//!     async fn messages(&self) -> Vec<Message> {
//!         (0..4).map(|id| Message { id }).collect()
//!     }
//! }
//!
//! // Spans go through tracing-opentelemetry to the SDK, here to an in-memory exporter.
//! let exporter = InMemorySpanExporter::default();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("example"));
//! let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel));
//!
//! let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
//!     .extension(async_graphql::extensions::Tracing) // a span per resolver
//!     .extension(LoaderExtension::new(|_| {
//!         let users: Users = coalesce_loader::from_fn(|ids: Vec<u64>| async move {
//!             Ok(ids.iter().map(|id| Ok(User { name: format!("user {id}") })).collect())
//!         });
//!         Loaders::new().with(DataLoader::builder(users).name("users").build())
//!     }))
//!     .finish();
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let response = schema.execute("{ messages { poster { name } } }").await;
//! assert!(response.errors.is_empty(), "{:?}", response.errors);
//! # });
//!
//! let spans = exporter.get_finished_spans().unwrap();
//! let batch = spans.iter().find(|s| s.name == "GraphQL DataLoader Batch users").unwrap();
//! // Four poster resolvers, two distinct keys: one batch of 2, linked to all four.
//! let size = batch.attributes.iter().find(|kv| kv.key.as_str() == "graphql.dataloader.batch.size");
//! assert_eq!(size.unwrap().value.to_string(), "2");
//! let linked: Vec<String> = batch
//!     .links
//!     .iter()
//!     .map(|link| {
//!         let resolver = spans.iter().find(|s| s.span_context == link.span_context).unwrap();
//!         let path = resolver.attributes.iter().find(|kv| kv.key.as_str() == "path").unwrap();
//!         path.value.to_string()
//!     })
//!     .collect();
//! assert_eq!(linked, ["messages.0.poster", "messages.1.poster", "messages.2.poster", "messages.3.poster"]);
//! ```
//!
//! # Coming from async-graphql's `DataLoader`
//!
//! | async-graphql | coalesce-loader |
//! |---|---|
//! | `DataLoader::new(loader, tokio::spawn)` in `Schema::data`, shared by every request | a [`LoaderExtension`] factory: new loaders per request |
//! | `ctx.data_unchecked::<DataLoader<UserLoader>>()` | `ctx.loader::<UserLoader>()?` |
//! | `impl Loader<u64> for UserLoader`, `Result<HashMap<K, V>, E>` with `E: Clone` | `impl Loader for UserLoader`: a `HashMap`, a positional `Vec`, or a grouped answer; per-key errors; any error type |
//! | `load_one(k)` → `Result<Option<V>, E>` | `load(k)` → `Result<Option<V>, LoadError<E>>` for a `HashMap` answer |
//! | `load_many(ks)` → `Result<HashMap<K, V>, E>` | `load_many(ks)` → `Vec` of one result per key, in order |
//! | `.delay(Duration)` (1 ms by default) | none needed; [`Schedule::Window`](coalesce_loader::Schedule) if wanted |
//! | `.max_batch_size(n)` | `DataLoader::builder(l).max_batch_size(n)` |
//! | `HashMapCache` / `LruCache` via `with_cache` | memoized per request by default; `cache_map` for bounded maps, `value_cache` for a shared Redis tier |
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod context;
mod extension;

pub use context::LoaderContext;
pub use extension::{LoaderExtension, RequestData};
