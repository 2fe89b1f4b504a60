//! Batching for code without an async runtime (a synchronous web framework, a report, a CLI):
//! a blocking [`DataLoader`], its [`Deferred`] values and the [`Runner`] that resolves them.
//! Blocking as in `reqwest::blocking`: the same loader, with a synchronous API.
//!
//! Code without a runtime cannot await a load, so a load is a value known later, and something
//! per request runs the batches and hands the values out:
//!
//! - [`DataLoader::load`] returns a [`Deferred`] at once; [`Deferred::then`] chains more work,
//!   including more loads;
//! - a [`Runner`], one per request, runs rounds until nothing is pending: each round sends one
//!   batch per loader that has keys (more if [`max_batch_size`](Builder::max_batch_size) splits
//!   it), then resolves the deferred values, whose continuations queue the next round's keys.
//!   Loading two users and then each one's best friend costs two batch calls, not four.
//!
//! ```
//! use coalesce_loader::blocking::{self, Runner};
//!
//! #[derive(Clone, Debug)]
//! struct User { id: u64, best_friend_id: u64 }
//!
//! struct Users;
//! impl blocking::Loader for Users {
//!     type Key = u64;
//!     type Output = Vec<Result<User, std::convert::Infallible>>;
//!     type Error = std::convert::Infallible;
//!     fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
//!         println!("load_batch({ids:?})"); // SELECT ... WHERE id IN (...)
//!         Ok(ids.iter().map(|&id| Ok(User { id, best_friend_id: id + 10 })).collect())
//!     }
//! }
//!
//! let runner = Runner::new();
//! let users = blocking::DataLoader::new(&runner, Users);
//!
//! // Two users, then each one's best friend.
//! let first = users.load(1).and_then({ let users = users.clone(); move |u| users.load(u.best_friend_id) });
//! let second = users.load(2).and_then({ let users = users.clone(); move |u| users.load(u.best_friend_id) });
//!
//! assert_eq!(runner.resolve(first).unwrap().unwrap().id, 11);
//! assert_eq!(runner.resolve(second).unwrap().unwrap().id, 12);
//! assert_eq!(users.stats().batches, 2); // load_batch([1, 2]), then load_batch([11, 12])
//! ```
//!
//! # Options
//!
//! A [`Builder`] takes the options that apply without a runtime, in any order, and builds the
//! loader on a runner:
//!
//! ```
//! use coalesce_loader::blocking::{self, Runner};
//!
//! let runner = Runner::new();
//! let users = blocking::DataLoader::builder(blocking::from_fn(|ids: &[u64]| {
//!     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id * 10)).collect::<Vec<_>>())
//! }))
//! .name("users")
//! .max_batch_size(500) // SQLite binds at most 32766 parameters
//! .build(&runner);
//!
//! users.prime(7, 70);
//! assert_eq!(runner.resolve(users.load(7)).unwrap().unwrap(), 70);
//! assert_eq!(users.name(), "users");
//! ```
//!
//! Three options of the async [`Builder`](crate::Builder) have no counterpart here: the runner
//! decides when batches are sent (no [`Schedule`](crate::Schedule)), it runs one batch at a time
//! (no bound on batches in flight), and a shared [`tier`](crate::tier) is asynchronous.
//!
//! # The same loader
//!
//! A blocking `DataLoader` runs on the same scheduler as the async [`DataLoader`](crate::DataLoader),
//! with the runner polling its loads instead of an executor. So it keeps every semantic of the
//! async loader, because it is the same code: memoization and de-duplication, per-key and
//! whole-batch errors, wrong-length results, panics, `clear`, `prime`, cache-key functions, custom
//! cache maps, `max_batch_size`, stats. Every method is synchronous: there is nothing to await.
//!
//! # Threads
//!
//! There is no global queue: a runner knows only the loaders built with it, so two threads, each
//! with its own runner and loaders, never see each other's keys. [`Runner`], [`DataLoader`] and
//! [`Deferred`] are neither `Send` nor `Sync`: they hold `Rc`s and continuations that need not be
//! `Send`, and the compiler keeps them on the thread of their request:
//!
//! ```compile_fail,E0277
//! fn on_another_thread<T: Send + 'static>(value: T) {
//!     std::thread::spawn(move || drop(value));
//! }
//! let runner = coalesce_loader::blocking::Runner::new();
//! on_another_thread(runner); // error: `Rc<...>` cannot be sent between threads safely
//! ```
//!
//! The batch function itself must be `Send + Sync`, because it is shared with the async core;
//! wrap a connection that is only `Send` (such as a `rusqlite::Connection`) in a `Mutex`.
//!
//! # In a GraphQL server
//!
//! A GraphQL executor already is a tree of futures, one per field, so a synchronous server
//! needs no [`Runner`] to batch it: it polls the request's future on the thread that took the
//! request, with `futures::executor::block_on` (or any `block_on`), over the async
//! [`DataLoader`](crate::DataLoader) and a [`Loader`](crate::Loader) whose batch function runs
//! its blocking statement and returns. The load that drives a batch waits for a turn of the
//! executor that adds no key, as it does on tokio, so each level of the query costs one batch per
//! loader. No runtime runs anywhere, and each request's loaders live and die on its thread.
//!
//! The wiring, with the request's fields played by two joined loads (with async-graphql,
//! `coalesce-loader-async-graphql`'s `LoaderExtension` builds the loaders per request, and the
//! thread runs `block_on(schema.execute(request))`; `coalesce-demo-blocking` is that server on
//! tiny_http and rusqlite, with the reasons for this design over a `Runner`-driven executor):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! use coalesce_loader::{DataLoader, Loader};
//!
//! /// A blocking data layer: a connection, a pool, an ORM session.
//! struct Names { statements: Arc<AtomicUsize> }
//!
//! impl Loader for Names {
//!     type Key = u64;
//!     type Output = HashMap<u64, String>;
//!     type Error = std::convert::Infallible;
//!     // `async` in name only: the statement runs here, on the request's thread, and returns.
//!     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
//!         self.statements.fetch_add(1, Ordering::Relaxed); // SELECT ... WHERE id IN (...)
//!         Ok(ids.iter().map(|&id| (id, format!("user {id}"))).collect())
//!     }
//! }
//!
//! // A worker thread of a synchronous HTTP server, one request after another.
//! let worker = std::thread::spawn(|| {
//!     let statements = Arc::new(AtomicUsize::new(0));
//!     // Per request: fresh loaders, so no memo outlives its request or crosses threads.
//!     let names = DataLoader::new(Names { statements: statements.clone() });
//!     // The executor's work for one request, polled to its end on this thread.
//!     let (a, b) = futures::executor::block_on(async { futures::join!(names.load(1), names.load(2)) });
//!     (a.unwrap(), b.unwrap(), statements.load(Ordering::Relaxed))
//! });
//! let (a, b, statements) = worker.join().unwrap();
//! assert_eq!((a.as_deref(), b.as_deref()), (Some("user 1"), Some("user 2")));
//! assert_eq!(statements, 1); // both fields, one batch
//! ```
//!
//! Use this module's loader where there is no executor at all to poll fields: a report, a REST
//! handler, a command-line tool.

mod dataloader;
mod deferred;
mod runner;

pub use dataloader::{Builder, DataLoader};
pub use deferred::{Deferred, Unresolved};
pub use runner::Runner;

use std::future::Future;

use crate::BatchOutput;
use crate::loader::{function_name, short_type_name};

/// A synchronous batch function with its context: [`Loader`](crate::Loader) without `async`.
///
/// ```
/// use coalesce_loader::blocking::{self, Runner};
/// use std::collections::HashMap;
///
/// /// Holds what the batch function needs: here a table, in real code a connection.
/// struct UserNames { table: HashMap<u64, String> }
///
/// impl blocking::Loader for UserNames {
///     type Key = u64;
///     type Output = HashMap<u64, String>; // the mapped shape: loads give `Option<String>`
///     type Error = std::convert::Infallible;
///
///     fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
///         // SELECT id, name FROM users WHERE id IN (...): rows in any order, some missing.
///         Ok(ids.iter().filter_map(|id| Some((*id, self.table.get(id)?.clone()))).collect())
///     }
/// }
///
/// let runner = Runner::new();
/// let names = blocking::DataLoader::new(&runner, UserNames { table: HashMap::from([(1, "Ada".into())]) });
/// let both = runner.resolve(names.load_many([1, 2])).unwrap();
/// assert_eq!(both[0].as_ref().unwrap().as_deref(), Some("Ada"));
/// assert_eq!(both[1].as_ref().unwrap(), &None);
/// assert_eq!(names.name(), "UserNames");
/// ```
pub trait Loader: Send + Sync + 'static {
    /// What callers load by.
    type Key: Send + Sync + 'static;
    /// The batch result's shape; see [`BatchOutput`].
    type Output: BatchOutput<Self::Key, Self::Error, Value: Clone + Send + Sync + 'static> + Send;
    /// The batch function's error; need not be `Clone`.
    type Error: Send + Sync + 'static;

    /// Loads every key of one batch: see [`crate::Loader::load_batch`].
    fn load_batch(&self, keys: &[Self::Key]) -> Result<Self::Output, Self::Error>;

    /// The loader's name unless the builder [names](Builder::name) it: the type's name without
    /// its module path or parameters.
    fn name(&self) -> &str {
        short_type_name::<Self>()
    }
}

/// What one key of blocking loader `S` loads to: as [`crate::ValueOf`].
pub type ValueOf<S> =
    <<S as Loader>::Output as BatchOutput<<S as Loader>::Key, <S as Loader>::Error>>::Value;

/// What a load from blocking loader `S` answers: its value, or why there is none.
pub type LoadResult<S> = Result<ValueOf<S>, crate::LoadError<<S as Loader>::Error>>;

/// A blocking [`Loader`] as an async [`Loader`](crate::Loader) whose future is ready at once:
/// how a synchronous batch function runs on the core's scheduler.
struct Async<S>(S);

impl<S: Loader> crate::Loader for Async<S> {
    type Key = S::Key;
    type Output = S::Output;
    type Error = S::Error;

    fn load_batch(
        &self,
        keys: &[S::Key],
    ) -> impl Future<Output = Result<S::Output, S::Error>> + Send {
        std::future::ready(self.0.load_batch(keys))
    }

    fn name(&self) -> &str {
        self.0.name()
    }
}

/// A blocking [`Loader`] made from a closure by [`from_fn`]: a type that can be written down,
/// such as `blocking::DataLoader<FnLoader<u64, Vec<Result<User, MyError>>, MyError>>`, for the
/// key type, the [batch shape](BatchOutput) and the error. The closure is boxed.
pub struct FnLoader<K, O, E> {
    f: Box<BatchFn<K, O, E>>,
    name: &'static str,
}

type BatchFn<K, O, E> = dyn Fn(&[K]) -> Result<O, E> + Send + Sync;

/// Makes a synchronous batch function from a closure over the keys of a batch. The loader's
/// default [name](Builder::name) is the function's, or `f::{{closure}}` for a closure written in
/// function `f`.
///
/// ```
/// use coalesce_loader::blocking::{self, Runner};
///
/// let runner = Runner::new();
/// let squares = blocking::DataLoader::new(&runner, blocking::from_fn(|keys: &[u64]| {
///     Ok::<_, std::convert::Infallible>(keys.iter().map(|k| Ok(k * k)).collect::<Vec<_>>())
/// }));
/// let all = squares.load_many([2, 3]);
/// let all = runner.resolve(all).unwrap();
/// assert_eq!(all.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [4, 9]);
/// ```
pub fn from_fn<F, O, K, E>(f: F) -> FnLoader<K, O, E>
where
    F: Fn(&[K]) -> Result<O, E> + Send + Sync + 'static,
    O: BatchOutput<K, E>,
{
    FnLoader {
        f: Box::new(f),
        name: function_name(std::any::type_name::<F>()),
    }
}

impl<O, K, E> Loader for FnLoader<K, O, E>
where
    O: BatchOutput<K, E, Value: Clone + Send + Sync + 'static> + Send + 'static,
    K: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Key = K;
    type Output = O;
    type Error = E;

    fn load_batch(&self, keys: &[K]) -> Result<O, E> {
        (self.f)(keys)
    }

    fn name(&self) -> &str {
        self.name
    }
}
