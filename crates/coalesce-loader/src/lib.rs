//! A DataLoader for Rust: batches and memoizes loads by key, without timers, on any executor.
//!
//! A GraphQL server that resolves `poster` for each of 20 messages runs 21 queries: one for the
//! messages and one per poster. That is the N+1 problem. A [`DataLoader`] collects the keys that
//! resolvers ask for in the same frame and hands them to one *batch function*, which runs one
//! `WHERE id IN (...)` query, then remembers the answers for the rest of the request.
//!
//! A request's loaders, each of a type that can be written down: one with a batch function of
//! its own ([`Loader`]), one made from a function ([`from_fn`], type [`FnLoader`]), and one that
//! memoizes by a cache key of its own ([`Builder::with_cache_key`]). They can live in a struct of
//! your own, or in [`Loaders`], found by type, for a GraphQL context:
//!
//! ```
//! use coalesce_loader::{DataLoader, FnLoader, Loader, Loaders};
//! use std::convert::Infallible;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct User { id: u64 }
//!
//! /// A batch function with its context (in real code, a connection pool).
//! struct UserLoader;
//! impl Loader for UserLoader {
//!     type Key = u64;
//!     // One result per key, in key order.
//!     type Output = Vec<Result<User, Infallible>>;
//!     type Error = Infallible;
//!     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Infallible> {
//!         println!("SELECT * FROM users WHERE id IN {ids:?}");
//!         Ok(ids.iter().map(|&id| Ok(User { id })).collect())
//!     }
//! }
//!
//! async fn count_posts(user_ids: Vec<u64>) -> Result<Vec<Result<u32, Infallible>>, Infallible> {
//!     Ok(user_ids.iter().map(|id| Ok(*id as u32 * 10)).collect())
//! }
//! type PostCounts = FnLoader<u64, Vec<Result<u32, Infallible>>, Infallible>;
//! type Emails = FnLoader<String, Vec<Result<u64, Infallible>>, Infallible>;
//!
//! /// One request's loaders, in a struct.
//! struct RequestLoaders {
//!     users: DataLoader<UserLoader>,
//!     post_counts: DataLoader<PostCounts>,
//!     // Memoized by the lowercase address: the cache key is a `String` too.
//!     ids_by_email: DataLoader<Emails, String>,
//! }
//!
//! fn request_loaders() -> RequestLoaders {
//!     RequestLoaders {
//!         users: DataLoader::new(UserLoader),
//!         post_counts: DataLoader::new(coalesce_loader::from_fn(count_posts)),
//!         ids_by_email: DataLoader::with_cache_key(
//!             coalesce_loader::from_fn(|emails: Vec<String>| async move {
//!                 Ok(emails.iter().map(|e| Ok(e.len() as u64)).collect())
//!             }),
//!             |email: &String| email.to_lowercase(),
//!         ),
//!     }
//! }
//!
//! # futures::executor::block_on(async {
//! let request = request_loaders();
//! // Two loads in the same frame: one call of the batch function, with [1, 2].
//! let (a, b) = futures::join!(request.users.load(1), request.users.load(2));
//! assert_eq!((a.unwrap(), b.unwrap()), (User { id: 1 }, User { id: 2 }));
//! // Memoized: no second call.
//! assert_eq!(request.users.load(1).await.unwrap(), User { id: 1 });
//! assert_eq!(request.users.stats().batches, 1);
//!
//! // The same loaders in `Loaders`, as a GraphQL context holds them; clones share them.
//! let RequestLoaders { users, post_counts, ids_by_email } = request_loaders();
//! let loaders = Loaders::new().with(users).with(post_counts).with(ids_by_email);
//! let context = loaders.clone();
//! assert_eq!(context.get::<PostCounts>()?.load_many([1, 2, 3]).await.len(), 3);
//! let (x, y) = futures::join!(
//!     context.get::<Emails>()?.load("Ada@example.com".into()),
//!     context.get::<Emails>()?.load("ada@EXAMPLE.com".into()),
//! );
//! assert_eq!(x.unwrap(), y.unwrap());
//!
//! // After the request: what each loader did, by name.
//! for (name, stats) in loaders.stats() {
//!     println!("{name}: {} loads, {} batches", stats.loads, stats.batches);
//! }
//! let emails = loaders.stats().into_iter().find(|(n, _)| n.ends_with("{{closure}}")).unwrap().1;
//! assert_eq!((emails.loads, emails.keys), (2, 1)); // two loads, one key sent
//! # Ok::<_, coalesce_loader::MissingLoader>(()) }).unwrap();
//! ```
//!
//! # Batch functions
//!
//! A batch function is a closure given to [`from_fn`], or a type implementing [`Loader`] that
//! carries its own context: a pool, the caller's identity.
//!
//! It may return one of four shapes ([`BatchOutput`]); with the last three the loader lines the
//! answers up with the keys itself, so a query that returns rows in its own order, or skips ids it
//! cannot find, cannot hand one user's row to another:
//!
//! - **positional**, `Vec<Result<V, E>>`: one entry per key, in key order, each the value or that
//!   key's own error;
//! - **mapped**, `HashMap<K, V>` (build it with [`by_key`]): the loader's value is `Option<V>`,
//!   and a key that is absent loads as `None`;
//! - **grouped**, [`Grouped<K, V>`] (from [`group_by`]): one-to-many, the loader's value is
//!   `Vec<V>`, and a key with no rows loads as an empty `Vec` (the bands → albums loader);
//! - **paged**, [`page::Pages`]: a [`Page`](page::Page) per parent, from one statement ([`page`]).
//!
//! ```
//! use coalesce_loader::{DataLoader, LoadError};
//! use std::collections::HashMap;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct User { id: u64 }
//!
//! #[derive(Debug)]
//! struct NotFound(u64);
//! impl std::fmt::Display for NotFound {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "user {} not found", self.0)
//!     }
//! }
//!
//! let users_database = HashMap::from([(1, User { id: 1 }), (2, User { id: 2 })]);
//!
//! // Per-key errors: a missing user is an error for that key only.
//! let loader = DataLoader::new(coalesce_loader::from_fn(move |keys: Vec<u64>| {
//!     let found: Vec<Result<User, NotFound>> = keys
//!         .iter()
//!         .map(|id| users_database.get(id).cloned().ok_or(NotFound(*id)))
//!         .collect();
//!     async move { Ok::<_, NotFound>(found) }
//! }));
//!
//! # futures::executor::block_on(async {
//! let (one, three) = futures::join!(loader.load(1), loader.load(3));
//! assert_eq!(one.unwrap(), User { id: 1 });
//! let err = three.unwrap_err();
//! assert!(matches!(err, LoadError::Key(_)));
//! assert_eq!(err.to_string(), "user 3 not found");
//! # });
//! ```
//!
//! # Errors
//!
//! A load fails with a [`LoadError`], which is `Clone`, implements `std::error::Error` when the
//! batch function's error does, and so works with `?` in GraphQL resolvers and into
//! `anyhow::Error`. The batch function's own error type need not be `Clone`. What each failure
//! does:
//!
//! | the batch function | its loads get | memoized? |
//! |---|---|---|
//! | returns an error for one key | [`LoadError::Key`] for that key only | yes, like a value |
//! | returns `Err` | [`LoadError::Batch`] for every key | no: the next load retries |
//! | returns a positional list of the wrong length | [`LoadError::WrongLength`], naming both counts | no |
//! | panics | [`LoadError::Panic`]; the loader stays usable | no |
//! | loads a key of its own batch, or of a batch that waits for its own | [`LoadError::Cycle`] for that load, instead of a hang | no |
//!
//! # Batching without timers
//!
//! The first load polled for a batch *drives* it: it yields to the executor until a full turn adds
//! no key, then calls the batch function from inside its own `poll`. Nothing is spawned and no
//! timer runs, so the same code batches on tokio (current-thread or multi-thread), on
//! `futures::executor::block_on`, or on any other executor, and a level of a GraphQL query waits
//! microseconds for its batch, with no delay to tune. See [`Schedule`] for the frame rule, its
//! limits, and the optional schedules (a yield count, a time window, manual
//! [`dispatch`](DataLoader::dispatch)).
//!
//! Cancellation never strands anyone: if the driving load is dropped, another waiter takes over;
//! if every waiter is dropped, the batch is cancelled and nothing is memoized. The design is
//! described next to the code, in the `scheduler` module.
//!
//! # Caching
//!
//! Each loader memoizes per instance, so build loaders per request ([`Loaders`] holds a request's
//! loaders for a GraphQL context). A key already queued or in flight is never sent twice.
//! [`clear`](DataLoader::clear), [`clear_many`](DataLoader::clear_many) and
//! [`clear_all`](DataLoader::clear_all) forget keys after a mutation;
//! [`prime`](DataLoader::prime) and [`prime_many`](DataLoader::prime_many) import values loaded
//! some other way (never overwriting; [`force_prime`](DataLoader::force_prime) does).
//! [`Builder`] sets the rest: `cache(false)`, a [cache-key function](Builder::with_cache_key), a custom
//! [`CacheMap`] (bounded and expiring ones in [`cache`] with the `moka` feature),
//! `max_batch_size`, `batch(false)` and a bound on batches in flight.
//!
//! # Loading by alternative keys
//!
//! When a user can be loaded by id or by username, each batch function can prime the other
//! loader, so a user loaded either way is memoized both ways:
//!
//! ```
//! use coalesce_loader::{DataLoader, Loader, by_key};
//! use std::collections::HashMap;
//! use std::sync::{Arc, Weak};
//!
//! #[derive(Clone, Debug)]
//! struct User { id: u64, username: String }
//!
//! fn table() -> Vec<User> {
//!     vec![User { id: 1, username: "ada".into() }, User { id: 2, username: "grace".into() }]
//! }
//!
//! /// A request's two user loaders; each batch function reaches the other loader through a
//! /// `Weak`, so the pair is freed with the request.
//! struct UserLoaders {
//!     by_id: DataLoader<ById>,
//!     by_name: DataLoader<ByName>,
//! }
//!
//! struct ById(Weak<UserLoaders>);
//! impl Loader for ById {
//!     type Key = u64;
//!     type Output = HashMap<u64, User>; // loads give Option<User>
//!     type Error = std::convert::Infallible;
//!     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
//!         let users: Vec<User> = table().into_iter().filter(|u| ids.contains(&u.id)).collect();
//!         if let Some(loaders) = self.0.upgrade() {
//!             loaders.by_name.prime_many(users.iter().map(|u| (u.username.clone(), Some(u.clone()))));
//!         }
//!         Ok(by_key(users, |u| u.id))
//!     }
//! }
//!
//! struct ByName(Weak<UserLoaders>);
//! impl Loader for ByName {
//!     type Key = String;
//!     type Output = HashMap<String, User>;
//!     type Error = std::convert::Infallible;
//!     async fn load_batch(&self, names: &[String]) -> Result<Self::Output, Self::Error> {
//!         let users: Vec<User> = table().into_iter().filter(|u| names.contains(&u.username)).collect();
//!         if let Some(loaders) = self.0.upgrade() {
//!             loaders.by_id.prime_many(users.iter().map(|u| (u.id, Some(u.clone()))));
//!         }
//!         Ok(by_key(users, |u| u.username.clone()))
//!     }
//! }
//!
//! let loaders = Arc::new_cyclic(|me: &Weak<UserLoaders>| UserLoaders {
//!     by_id: DataLoader::new(ById(me.clone())),
//!     by_name: DataLoader::new(ByName(me.clone())),
//! });
//! # futures::executor::block_on(async {
//! let ada = loaders.by_name.load("ada".into()).await.unwrap().unwrap();
//! // Already memoized by id: no query.
//! let again = loaders.by_id.load(ada.id).await.unwrap().unwrap();
//! assert_eq!(again.username, "ada");
//! assert_eq!(loaders.by_id.stats().batches, 0);
//! # });
//! ```
//!
//! # Code without a runtime, and caches that outlive a request
//!
//! [`blocking`] is the same loader for synchronous code:
//! [`load`](blocking::DataLoader::load) returns a [`Deferred`](blocking::Deferred) value, `.then`
//! chains further loads, and a per-request [`Runner`](blocking::Runner) sends one batch per loader
//! per round.
//!
//! [`tier`] puts a shared second-level cache behind the per-request memo, for services that run
//! many instances: it is read and written in bulk once per batch, so batching survives, and a
//! failing tier never fails a load. The `coalesce-loader-redis` crate implements it on Redis.
//!
//! # Coming from another DataLoader
//!
//! The verbs are those of graphql/dataloader, Strawberry and aiodataloader, mostly by the same
//! names:
//!
//! | graphql/dataloader (JS) | Strawberry / aiodataloader | async-graphql's `DataLoader` | coalesce |
//! |---|---|---|---|
//! | `new DataLoader(batchFn)` | `DataLoader(load_fn=...)`; aiodataloader: `class UserLoader(DataLoader)` | `DataLoader::new(loader, tokio::spawn)` | [`DataLoader::new`]`(`[`from_fn`]`(f))`, or a [`Loader`] type, which carries its own context |
//! | `createLoaders(authToken)` per request | `get_context` returning new loaders | `Schema::build(...).data(DataLoader::new(...))`: one loader for every request | [`Loaders`], built per request |
//! | `{ cacheKeyFn }` | `cache_key_fn=` (aiodataloader: `get_cache_key=`) | n/a | [`Builder::with_cache_key`] |
//! | `{ cache: false }` | `cache=False` | `NoCache` (the default) | [`Builder::cache`]`(false)` |
//! | `{ batch: false }`, `{ maxBatchSize }` | `batch=False` (aiodataloader), `max_batch_size=` | `max_batch_size` (1000 by default) | [`Builder::batch`], [`Builder::max_batch_size`] |
//! | `{ cacheMap }` | `cache_map=` | `DataLoader::with_cache` and a `CacheFactory` | [`Builder::cache_map`] |
//! | `{ batchScheduleFn }` | n/a | `delay(d)` (1 ms by default) | [`Builder::schedule`]; no timer by default |
//! | `{ name }` | n/a | n/a | [`Builder::name`] |
//! | `load(key)` | `await loader.load(key)` | `load_one(key)` | [`DataLoader::load`] |
//! | `loadMany(keys)`: value or `Error` per key | `load_many(keys)`: raises the first error | `load_many(keys)`: a `HashMap`, missing keys absent | [`DataLoader::load_many`]: a `Vec` of results, in key order |
//! | `clear`, `clearAll` | `clear`, `clear_many` (Strawberry), `clear_all` | `clear::<K>()`: every key | [`clear`](DataLoader::clear), [`clear_many`](DataLoader::clear_many), [`clear_all`](DataLoader::clear_all) |
//! | `prime(key, value)` | `prime`, `prime_many` (Strawberry) | n/a | [`prime`](DataLoader::prime), [`prime_many`](DataLoader::prime_many) |
//! | `clear(key).prime(key, value)` | `prime(key, value, force=True)` (Strawberry) | `feed_one`, `feed_many`: always overwrite | [`force_prime`](DataLoader::force_prime), [`force_prime_many`](DataLoader::force_prime_many) |
//! | `prime(key, new Error(...))` | `prime(key, exception)` (aiodataloader) | n/a | [`prime_error`](DataLoader::prime_error) |
//! | a rejected batch rejects every load | a raised exception fails every load | `Err` for every load; a panic panics every waiter | [`LoadError::Batch`], [`LoadError::Panic`]: values, nothing cached |
//! | `Error` in the returned array: that key's error | an `Exception` in the list | none | [`LoadError::Key`], cached like a value |
//!
//! Beside the table:
//!
//! - **Per request.** async-graphql's loader is built once, with the schema, so it cannot carry
//!   the caller's identity, and with a cache its memo is shared by every caller. coalesce's
//!   loaders are built per request with what the request may see; the
//!   `coalesce-loader-async-graphql` and `coalesce-loader-juniper` crates build them from one
//!   factory given at startup.
//! - **Schedules.** graphql/dataloader sends a batch once the promise jobs of the current tick
//!   have run. Rust has no such global queue, so the [frame rule](Schedule::Frame) counts trips
//!   through the executor instead. [`Schedule::Yields`] is the `dataloader` crate's schedule
//!   (there 10 yields by default) and `Schedule::Window` async-graphql's `delay`.
//! - **The blocking loader** ([`blocking`]) is promise's DataLoader, whose `load(1).then(...)`
//!   chains work on a promise, and graphql-sync-dataloaders' `SyncDataLoader`, whose
//!   `DeferredExecutionContext` resolves the pending `SyncFuture`s: a
//!   [`Deferred`](blocking::Deferred) is the promise or `SyncFuture`, a
//!   [`Runner`](blocking::Runner) the execution context. Their queue is global to the module, so
//!   two threads' requests can mix keys; a runner knows only the loaders built with it.
//! - **The shared tier** ([`tier`]) is read in bulk inside the batch, as java-dataloader's
//!   `ValueCache` is. A tier consulted inside each `load` (as java-dataloader once did) costs a
//!   round trip per key and can push keys out of the batch they belong in.
//!
//! Where the behaviour differs on purpose:
//!
//! - **A cache hit is answered at its first poll**, before the open batch is sent;
//!   graphql/dataloader holds it back until that batch resolves. A hit adds no key to any
//!   batch, so holding it back would only delay the resolver.
//! - **A `prime` answers a load queued in a batch not yet sent**, and takes its key out of the
//!   batch, as Strawberry's does (graphql/dataloader's and aiodataloader's leave it to the batch).
//!   **With `cache(false)`, a `prime` does nothing**, so it does not answer a load already queued
//!   either (graphql/dataloader's behaviour; Strawberry's answers it): with no memo, a prime has
//!   nowhere to go.
//! - **The batch function's error need not be `Clone`** (async-graphql's must be), and per-key
//!   errors exist (async-graphql has only whole-batch errors).
//! - **A key already in flight is never sent twice**, also across batches (async-graphql sends
//!   it again).
//! - **Loaders that load from loaders never deadlock**: a batch awaited by a running batch never
//!   waits for a permit, and batches waiting for each other fail one load with
//!   [`LoadError::Cycle`] instead of hanging (graphql/dataloader hangs).
//!
//! # Features
//!
//! - `tokio`: `Schedule::Window`, a time window on tokio's timer.
//! - `tracing`: a span per batch in the GraphQL OpenTelemetry conventions, linked to the span of
//!   every load that joined it (below); a warning for each failed batch and for a loader's first
//!   run of single-key batches ([`Builder::n_plus_one_after`]).
//! - `moka`: `cache::lru` and `cache::ttl` memos, and [`CacheMap`] for any `moka` cache.
//! - `serde`: `Serialize` for [`Stats`].
//!
//! Without features the crate depends on `std`, `slab` (batch storage) and `foldhash` (the hasher
//! of its maps) alone.
//!
//! ## Batch spans (`tracing`)
//!
//! Each batch runs in a `DEBUG` span named `coalesce.batch`, opened when the batch's first key is
//! queued (under the span current then) and closed when its answers are published. The span
//! *follows from* (`Span::follows_from`; with `tracing-opentelemetry`, an OpenTelemetry span link)
//! the span of every load that joined the batch, de-duplicated ones included: the span current
//! when `load` or `load_many` was *called*, since that is when the key joins, and a batch can be
//! sent ([`dispatch`](DataLoader::dispatch), a full batch) before any of its loads is polled. In
//! a GraphQL server with a span per resolver, a batch span's links are the resolvers it served.
//! Loads made one after the other under one span give it one link.
//!
//! Its fields follow the GraphQL OpenTelemetry working group's DataLoader batch span
//! (`graphql.dataloader.batch`), and Hot Chocolate's names where it names none; the two fields
//! neither names are in `coalesce.`:
//!
//! | field | value |
//! |---|---|
//! | `otel.name` | `GraphQL DataLoader Batch {name}`: the span's name in OpenTelemetry |
//! | `graphql.processing.type` | `dataloader_batch` |
//! | `graphql.dataloader.name` | the loader's [name](Builder::name) |
//! | `graphql.dataloader.batch.size` | the keys the batch sent (to the shared tier first, if there is one) |
//! | `graphql.dataloader.cache.hit_count` | loads of this loader answered from its memo while the batch collected, and keys of the batch answered by [`prime`](DataLoader::prime) before it was sent |
//! | `coalesce.batch.deduplicated` | loads that joined a key already in the batch |
//! | `coalesce.batch.reason` | why it was sent: `frame` (the [frame rule](Schedule::Frame)), `tokio_rounds`, `yields`, `window`, `max_batch_size`, `dispatch`, or `primed` (every key primed) |
//! | `error.type`, `otel.status_code` | `error`, `wrong length` or `panic`, and `error`, when the batch failed as a whole |
//!
//! The keys themselves (Hot Chocolate's opt-in `graphql.dataloader.batch.keys`) are not
//! recorded. With no subscriber interested in the span, a batch costs one check of the span's
//! cached interest, and a load nothing more. The `coalesce-loader-async-graphql` crate shows the
//! links read back from OpenTelemetry's SDK.
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! use coalesce_loader::DataLoader;
//! use tracing::Instrument;
//!
//! let users = DataLoader::builder(coalesce_loader::from_fn(|ids: Vec<u32>| async move {
//!     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id)).collect::<Vec<_>>())
//! }))
//! .name("users")
//! .build();
//! # let links = links::Recorder::default();
//! # let _default = tracing::subscriber::set_default(links.clone());
//! // Two resolvers, each in its own span, each loading a key: one batch, linked to both.
//! futures::executor::block_on(async {
//!     let first = async { users.load(1).await }.instrument(tracing::info_span!("poster", n = 1));
//!     let second = async { users.load(2).await }.instrument(tracing::info_span!("poster", n = 2));
//!     futures::join!(first, second)
//! });
//! // `links` is a subscriber that notes each `follows_from` as (span, follows) names.
//! assert_eq!(
//!     links.recorded(),
//!     [("coalesce.batch", "poster"), ("coalesce.batch", "poster")]
//! );
//! # mod links {
//! #     use std::sync::{Arc, Mutex};
//! #     use tracing::span::{Attributes, Id, Record};
//! #     #[derive(Clone, Default)]
//! #     pub struct Recorder(Arc<Mutex<State>>);
//! #     #[derive(Default)]
//! #     pub struct State { spans: Vec<&'static tracing::Metadata<'static>>, entered: Vec<u64>, links: Vec<(u64, u64)> }
//! #     impl Recorder {
//! #         pub fn recorded(&self) -> Vec<(&'static str, &'static str)> {
//! #             let s = self.0.lock().unwrap();
//! #             let name = |id: u64| s.spans[id as usize - 1].name();
//! #             s.links.iter().map(|&(a, b)| (name(a), name(b))).collect()
//! #         }
//! #     }
//! #     impl tracing::Subscriber for Recorder {
//! #         fn enabled(&self, _: &tracing::Metadata<'_>) -> bool { true }
//! #         fn new_span(&self, span: &Attributes<'_>) -> Id {
//! #             let mut s = self.0.lock().unwrap();
//! #             s.spans.push(span.metadata());
//! #             Id::from_u64(s.spans.len() as u64)
//! #         }
//! #         fn record(&self, _: &Id, _: &Record<'_>) {}
//! #         fn record_follows_from(&self, span: &Id, follows: &Id) {
//! #             self.0.lock().unwrap().links.push((span.into_u64(), follows.into_u64()));
//! #         }
//! #         fn event(&self, _: &tracing::Event<'_>) {}
//! #         fn enter(&self, span: &Id) { self.0.lock().unwrap().entered.push(span.into_u64()); }
//! #         fn exit(&self, _: &Id) { self.0.lock().unwrap().entered.pop(); }
//! #         fn current_span(&self) -> tracing_core::span::Current {
//! #             let s = self.0.lock().unwrap();
//! #             match s.entered.last() {
//! #                 Some(&id) => tracing_core::span::Current::new(Id::from_u64(id), s.spans[id as usize - 1]),
//! #                 None => tracing_core::span::Current::none(),
//! #             }
//! #         }
//! #     }
//! # }
//! # }
//! ```

#![warn(missing_docs)]
// On docs.rs, items behind a feature are marked with the feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The READMEs' examples (the project's and this crate's) run as doctests, so that what they
/// show keeps compiling and passing.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ProjectReadme;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadme;

pub mod blocking;
pub mod cache;
pub mod page;
pub mod tier;

mod builder;
mod dataloader;
mod error;
mod key;
mod loader;
mod output;
mod registry;
mod schedule;
mod scheduler;
mod stats;
mod waits;

pub use builder::Builder;
pub use cache::{CacheEntry, CacheMap, NoCache};
pub use dataloader::{DataLoader, Load, LoadMany};
pub use error::LoadError;
pub use key::CacheKey;
pub use loader::{FnLoader, LoadResult, Loader, ValueOf, from_fn};
pub use output::{BatchOutput, Grouped, by_key, group_by};
pub use registry::{Loaders, MissingLoader};
pub use schedule::Schedule;
pub use stats::Stats;
