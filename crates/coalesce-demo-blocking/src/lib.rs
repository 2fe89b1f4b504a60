//! `coalesce-demo-blocking`: the coalesce demo served with no async runtime. A synchronous HTTP
//! server ([tiny_http]), SQLite through [rusqlite], and each request's GraphQL executed on the
//! worker thread that took it, batched all the same.
//!
//! ```sh
//! cargo run -p coalesce-demo-blocking            # GraphiQL at http://127.0.0.1:8001/
//! cargo run -p coalesce-demo-blocking -- --naive # one statement per field: the N+1 version
//! ```
//!
//! It is the async demo (`coalesce-demo`) for a Rust program whose data layer blocks (rusqlite,
//! diesel, the `postgres` crate, an r2d2 pool). It serves that demo's schema, resolvers and
//! loaders themselves, written once against `coalesce_demo::store::Store`; only the store
//! differs in how it is driven: [`Queries`], the demo's SQLite store on rusqlite, runs each
//! statement as it is called, on the request's worker thread here and on the request's tokio
//! task there. So the same queries cost the same statements, in each response's
//! `extensions.sqlQueries`:
//!
//! | query | batched | `--naive` |
//! |---|---|---|
//! | `{ messages { id message poster { id name } } }` | 2 | 21 |
//! | `{ bands { name albums { title } } }` | 2 | 101 |
//! | `{ first: user(id: 1) { id } second: user(id: 2) { id } }` | 1 | 2 |
//! | `{ me { bestFriend { name } friends(first: 5) { bestFriend { name } } } }` (`x-user-id: 1`) | 4 | 13 |
//!
//! No tokio runtime (nor any other) runs while requests are served; tokio is linked, through the
//! demo crate whose schema, seed data and limits this server shares, but nothing starts it.
//!
//! # The wiring
//!
//! A loader whose batch function runs a blocking statement, a schema whose [`LoaderExtension`]
//! gives each request its own loaders, and a worker thread that polls the request to completion
//! with [`futures::executor::block_on`]. This is all of it, on one worker's connection; the crate
//! is the same with the demo's schema and five loaders (`coalesce_demo::schema`), an HTTP front
//! ([`server`]) and the demo's store on rusqlite, which counts statements ([`Queries`]):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//!
//! use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema};
//! use coalesce_loader::{DataLoader, Loader, Loaders};
//! use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};
//!
//! /// A worker's connection: rusqlite's is `Send` but not `Sync`, which loaders must be.
//! #[derive(Clone)]
//! struct Db(Arc<Mutex<rusqlite::Connection>>);
//!
//! struct UserNames(Db);
//!
//! impl Loader for UserNames {
//!     type Key = i64;
//!     type Output = HashMap<i64, String>;
//!     type Error = rusqlite::Error;
//!     // `async` in name only: the statement runs here, on the request's thread, and returns.
//!     async fn load_batch(&self, ids: &[i64]) -> Result<Self::Output, rusqlite::Error> {
//!         let db = self.0.0.lock().unwrap();
//!         let sql = format!("SELECT id, name FROM users WHERE id IN ({})", vec!["?"; ids.len()].join(", "));
//!         let mut statement = db.prepare(&sql)?;
//!         let rows = statement.query_map(rusqlite::params_from_iter(ids), |r| Ok((r.get(0)?, r.get(1)?)))?;
//!         rows.collect()
//!     }
//! }
//!
//! struct Query;
//!
//! #[Object]
//! impl Query {
//!     async fn name(&self, ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<String>> {
//!         Ok(ctx.loader::<UserNames>()?.load(id).await?)
//!     }
//! }
//!
//! // Once: each request's loaders are made from the connection in its data.
//! let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
//!     .extension(
//!         LoaderExtension::new(|request| {
//!             let db = request.get::<Db>().expect("the worker's connection").clone();
//!             Loaders::new().with(DataLoader::new(UserNames(db)))
//!         })
//!         .stats_in_extensions("loaders"),
//!     )
//!     .finish();
//!
//! // On each worker thread: a connection of its own...
//! let connection = rusqlite::Connection::open_in_memory()?;
//! connection.execute_batch(
//!     "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
//!      INSERT INTO users VALUES (1, 'Ada'), (2, 'Grace');",
//! )?;
//! let db = Db(Arc::new(Mutex::new(connection)));
//!
//! // ...and for each request it takes, the request run to completion on this thread.
//! let request = async_graphql::Request::new("{ a: name(id: 1) b: name(id: 2) }").data(db.clone());
//! let response = futures::executor::block_on(schema.execute(request));
//! assert_eq!(response.data.into_json()?, serde_json::json!({ "a": "Ada", "b": "Grace" }));
//! let stats = response.extensions["loaders"].clone().into_json()?;
//! assert_eq!(stats["UserNames"]["batches"], 1); // both fields, one statement
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! Served over HTTP, the crate's own [`App`] and [`server::serve`]:
//!
//! ```
//! use coalesce_demo::Mode;
//! use coalesce_demo_blocking::{App, Database, server};
//!
//! let server = server::serve("127.0.0.1:0", App::new(Database::in_memory()?, Mode::Batched), 8)?;
//! let mut response = ureq::post(format!("http://{}/graphql", server.addr()))
//!     .send_json(serde_json::json!({ "query": "{ messages { id poster { name } } }" }))?;
//! let body: serde_json::Value = response.body_mut().read_json()?;
//! assert_eq!(body["data"]["messages"][1]["poster"]["name"], "John Lovelace");
//! assert_eq!(body["extensions"]["sqlQueries"], 2);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why a real executor on `block_on`, and not one that drives a `Runner`
//!
//! There are two ways to batch a GraphQL query with no runtime.
//!
//! **async-graphql's executor, polled on the request's thread** (this crate). A request is a
//! tree of futures, and `block_on` polls it on the calling thread, parking the thread when
//! nothing is ready. coalesce's loaders need nothing more: the load that drives a batch yields
//! (wakes itself and returns `Pending`) until a turn of the executor adds no key, then calls the
//! batch function inside its own poll. Under `block_on` every field of a level has made its
//! load by then, so a level costs one statement per loader, as on tokio. What it keeps is all of
//! a GraphQL executor: validation, variables, fragments, abstract types, introspection, error
//! paths, depth and complexity limits, extensions. And the schema and loaders are written as for
//! an async server: moving to one later is `.await` in place of `block_on`. What it costs:
//!
//! - futures where nothing waits: every field is a boxed future, and each yield of a driving
//!   load costs another poll of the request's pending fields, so a level is polled at least
//!   twice;
//! - `Send + Sync` where one thread would do: async-graphql's data and coalesce's loaders must
//!   be, so a `rusqlite::Connection` sits behind a mutex that no one contends;
//! - batch functions must not await anything that needs a runtime: a tokio-based client would
//!   fail with "no reactor running" (run blocking calls instead, or use
//!   [`coalesce_loader::blocking`] outside GraphQL);
//! - a request cannot be stopped from outside its thread: there is no time budget as the async
//!   demo has, and a slow statement holds its worker until it ends;
//! - concurrency is the worker count: each request holds a thread from its body to its
//!   response, as in any synchronous server.
//!
//! **An executor that drives a [`Runner`](coalesce_loader::blocking::Runner) between field
//! levels**, graphql-sync-dataloaders' `DeferredExecutionContext`: resolvers return
//! [`Deferred`](coalesce_loader::blocking::Deferred) values, and the executor resolves one level,
//! runs the runner (one batch per loader), and completes the next level from the values. It
//! would poll nothing twice, and its loaders ([`blocking::DataLoader`](coalesce_loader::blocking::DataLoader))
//! need not be `Sync`. But no Rust GraphQL executor can park a field on a deferred value:
//! juniper's synchronous resolvers return each field's value before the next field runs (so it
//! resolves fields one by one, the N+1 again), and async-graphql's resolvers are futures already.
//! It means writing an executor: validation, variable coercion, field merging, abstract types,
//! introspection, error propagation, limits. Thousands of lines, for the same batches.
//!
//! So this crate takes the first. [`coalesce_loader::blocking`] stays the tool where there is no
//! GraphQL executor: a report, a REST handler, a command-line tool.
//!
//! # Throughput
//!
//! The crate's `load` example measures requests per second at a fixed concurrency, several
//! servers in alternating rounds. On a 2-core machine, the messages query at concurrency 8 ran
//! at about 3,500 requests/s here and 2,400 on the async demo while that one served SQLite
//! through sqlx, each statement crossing to sqlx's connection thread and back. It now runs
//! [`Queries`] too, its statements inline on the request's task (figures in
//! `coalesce_demo::sqlite`'s docs):
//!
//! ```sh
//! cargo run --release -p coalesce-demo-blocking &   # :8001
//! cargo run --release -p coalesce-demo &            # :8000
//! cargo run --release -p coalesce-demo-blocking --example load -- \
//!     --url http://127.0.0.1:8001/graphql --url http://127.0.0.1:8000/graphql
//! ```
//!
//! # Differences from the async demo
//!
//! SQLite only (in memory, or a file with `--database`); no Redis tier, whose client is
//! asynchronous; no time budget or connection limits; at most `--workers` requests (8 by
//! default) run at once, and more wait in tiny_http's queue.
//!
//! [`LoaderExtension`]: coalesce_loader_async_graphql::LoaderExtension

#![warn(missing_docs)]

pub mod app;
pub mod server;

pub use app::App;
/// The demo's SQLite database and its store, shared with the async demo, which serves SQLite
/// through them too.
pub use coalesce_demo::sqlite::{Database, Pool, Queries};
