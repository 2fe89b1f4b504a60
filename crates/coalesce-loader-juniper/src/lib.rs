//! [coalesce-loader] DataLoaders in [juniper]: each request gets a context with fresh loaders,
//! resolvers get a loader in one call, and each request reports what its loaders did.
//!
//! - [`Context<T>`]: the juniper context, holding your request data `T` (a pool, the viewer)
//!   and the request's [`Loaders`](coalesce_loader::Loaders). Objects name it with
//!   `#[graphql_object(context = Context<AppData>)]`; resolvers call
//!   [`context.loader::<UserLoader>()?`](Context::loader) and [`context.data()`](Context::data).
//! - [`ContextFactory<T>`]: registered once, next to the schema, with the function that builds
//!   a request's loaders from its data, so loaders are per request by construction (a
//!   Strawberry `get_context` returning `{"user_loader": DataLoader(...)}`).
//! - [`ContextFactory::execute`] and [`ContextFactory::execute_batch`]: run a request with a
//!   fresh context and return juniper's response with each loader's [`Stats`](coalesce_loader::Stats),
//!   in an [`Executed`].
//! - Feature `tracing`: a `graphql.execute` span per request, under which the loaders'
//!   `coalesce.batch` spans nest.
//!
//! ```toml
//! [dependencies]
//! coalesce-loader = "0.2"
//! coalesce-loader-juniper = "0.2"
//! juniper = "0.18"
//! ```
//!
//! It builds on juniper 0.18, the current release, which every maintained juniper HTTP
//! integration (`juniper_axum` 0.4, `juniper_actix` 0.8, `juniper_warp` 0.10, `juniper_hyper`
//! 0.11, `juniper_rocket` 0.11) depends on; a context type implements one juniper version's
//! `Context` trait, so one version it is.
//!
//! # The messages query, batched
//!
//! `{ messages { id message poster { id name } } }` over three messages by two posters: juniper
//! resolves the list's `poster` fields together, so their loads reach the batch function as one
//! call, and the query costs two statements however many messages there are.
//!
//! ```
//! use coalesce_loader::{DataLoader, Loader, Loaders, by_key};
//! use coalesce_loader_juniper::{Context, ContextFactory};
//! use juniper::http::GraphQLRequest;
//! use juniper::{EmptyMutation, EmptySubscription, FieldResult, ID, RootNode, graphql_object};
//! use std::collections::HashMap;
//! use std::sync::Arc;
//!
//! /// Stands for a connection pool: `(id, message, poster)` rows and `(id, name)` rows.
//! #[derive(Clone)]
//! struct Db {
//!     messages: Arc<Vec<(i32, &'static str, i32)>>,
//!     users: Arc<HashMap<i32, &'static str>>,
//! }
//!
//! /// What each request brings: the pool, and who is asking.
//! struct AppData { db: Db, viewer: i32 }
//!
//! #[derive(Clone)]
//! struct User { id: i32, name: String }
//!
//! /// `SELECT id, name FROM users WHERE id IN (...)`, for one viewer.
//! struct UserLoader { db: Db, viewer: i32 }
//!
//! impl Loader for UserLoader {
//!     type Key = i32;
//!     type Output = HashMap<i32, User>; // rows in any order: loads give `Option<User>`
//!     type Error = std::convert::Infallible;
//!     async fn load_batch(&self, ids: &[i32]) -> Result<Self::Output, Self::Error> {
//!         let rows = ids.iter().filter_map(|id| {
//!             let name = self.db.users.get(id)?;
//!             let name = if *id == self.viewer { format!("{name} (you)") } else { name.to_string() };
//!             Some(User { id: *id, name })
//!         });
//!         Ok(by_key(rows, |user| user.id))
//!     }
//! }
//!
//! struct Query;
//!
//! #[graphql_object(context = Context<AppData>)]
//! impl Query {
//!     fn messages(context: &Context<AppData>) -> Vec<Message> {
//!         let rows = context.data().db.messages.iter();
//!         rows.map(|&(id, text, poster)| Message { id, text, poster }).collect()
//!     }
//! }
//!
//! struct Message { id: i32, text: &'static str, poster: i32 }
//!
//! #[graphql_object(context = Context<AppData>)]
//! impl Message {
//!     fn id(&self) -> ID { self.id.to_string().into() }
//!     fn message(&self) -> &str { self.text }
//!     async fn poster(&self, context: &Context<AppData>) -> FieldResult<Option<UserObject>> {
//!         Ok(context.loader::<UserLoader>()?.load(self.poster).await?.map(UserObject))
//!     }
//! }
//!
//! struct UserObject(User);
//!
//! #[graphql_object(context = Context<AppData>, name = "User")]
//! impl UserObject {
//!     fn id(&self) -> ID { self.0.id.to_string().into() }
//!     fn name(&self) -> &str { &self.0.name }
//! }
//!
//! type Schema = RootNode<Query, EmptyMutation<Context<AppData>>, EmptySubscription<Context<AppData>>>;
//!
//! // Once, at startup: the schema, and how a request's loaders are made from its data.
//! let schema = Schema::new(Query, EmptyMutation::new(), EmptySubscription::new());
//! let contexts = ContextFactory::new(|app: &AppData| {
//!     Loaders::new().with(DataLoader::new(UserLoader { db: app.db.clone(), viewer: app.viewer }))
//! });
//! let db = Db {
//!     messages: Arc::new(vec![(1, "hi", 1), (2, "hello", 2), (3, "bye", 1)]),
//!     users: Arc::new(HashMap::from([(1, "Ada"), (2, "Grace")])),
//! };
//!
//! // Per request, in the HTTP handler:
//! let request = GraphQLRequest::new("{ messages { id message poster { id name } } }".into(), None, None);
//! # futures::executor::block_on(async {
//! let executed = contexts.execute(&schema, &request, AppData { db: db.clone(), viewer: 2 }).await;
//!
//! let body = serde_json::to_value(&executed.response).unwrap();
//! assert_eq!(body["data"]["messages"][1], serde_json::json!({
//!     "id": "2", "message": "hello", "poster": { "id": "2", "name": "Grace (you)" },
//! }));
//! assert_eq!(body["data"]["messages"][2]["poster"]["name"], "Ada");
//! // Three loads, two distinct posters, one call of the batch function.
//! let (loader, stats) = &executed.stats[0];
//! assert_eq!(loader, "UserLoader");
//! assert_eq!((stats.loads, stats.keys, stats.batches), (3, 2, 1));
//! # });
//! ```
//!
//! In an HTTP server, build the `ContextFactory` with the schema and share both with the
//! handlers; a handler makes the request's `AppData` (the pool from the server's state, the
//! viewer from the request's credentials) and calls `execute`, or
//! [`execute_batch`](ContextFactory::execute_batch) with what `juniper_axum`'s `JuniperRequest`
//! holds. For a subscription, or any other way of running juniper, take a context from
//! [`ContextFactory::context`].
//!
//! # Coming from juniper's own context, or the `dataloader` crate
//!
//! A juniper app already builds a context per request, a struct of its own with a pool and the
//! viewer; with the `dataloader` crate it grows a `Loader<K, V, F>` field per loader, each made
//! in the handler, each yielding a fixed number of times (`with_yield_count`, 10 unless set)
//! before it sends a batch. Here the struct of your own becomes the `T` of [`Context<T>`], the
//! loaders come from one function given to the [`ContextFactory`], and a resolver names the
//! loader it wants by type. coalesce needs no count to tune: it sends a batch when a turn of the
//! executor adds no key to it, which is when juniper has polled every item of a list once.
//!
//! # Features
//!
//! - `tracing`: a `graphql.execute` span per [`execute`](ContextFactory::execute) call, with a
//!   `graphql.operation.name` field; turns on `coalesce-loader`'s `tracing` feature, whose
//!   `coalesce.batch` spans then nest under it.
//!
//! [coalesce-loader]: coalesce_loader
//! [juniper]: juniper

#![warn(missing_docs)]
// On docs.rs, items behind a feature are marked with the feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's example runs as a doctest, so that what it shows keeps compiling and passing.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod context;
mod factory;

pub use context::Context;
pub use factory::{ContextFactory, Executed};
