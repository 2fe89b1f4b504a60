//! Batching for synchronous code: [`SyncDataLoader`], [`Deferred`] and the [`Runner`].
//!
//! For code with no async runtime (a Django-style synchronous server, a report, a CLI), the
//! seeds describe two designs: promise's DataLoader, where `load(1).then(...)` chains work on a
//! promise, and graphql-sync-dataloaders, whose `DeferredExecutionContext` gathers the pending
//! `SyncFuture`s, runs the batch and resolves them. This module is both:
//!
//! - [`SyncDataLoader::load`] returns a [`Deferred`] at once; [`Deferred::then`] chains more work,
//!   including more loads;
//! - a [`Runner`], one per request, runs rounds until nothing is pending: each round sends one
//!   batch per loader that has keys (more if [`max_batch_size`](crate::Builder::max_batch_size)
//!   splits it), then resolves the deferred values, whose continuations queue the next round's
//!   keys. The seeds' best-friend example costs two batch calls, not four.
//!
//! ```
//! use coalesce::sync::{Runner, SyncDataLoader, SyncLoader};
//!
//! #[derive(Clone, Debug)]
//! struct User { id: u64, best_friend_id: u64 }
//!
//! struct Users;
//! impl SyncLoader for Users {
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
//! let users = SyncDataLoader::new(&runner, Users);
//!
//! // promise's example: two users, then each one's best friend.
//! let first = users.load(1).and_then({ let users = users.clone(); move |u| users.load(u.best_friend_id) });
//! let second = users.load(2).and_then({ let users = users.clone(); move |u| users.load(u.best_friend_id) });
//!
//! assert_eq!(runner.resolve(first).unwrap().unwrap().id, 11);
//! assert_eq!(runner.resolve(second).unwrap().unwrap().id, 12);
//! assert_eq!(users.stats().batches, 2); // load_batch([1, 2]), then load_batch([11, 12])
//! ```
//!
//! # Sharing the core
//!
//! A `SyncDataLoader` is a [`DataLoader`](crate::DataLoader) whose batch function is synchronous
//! (wrapped in [`Blocking`]) and whose batches are sent by a runner instead of an executor. It
//! keeps every semantic of the async loader, because it is the same code: memoization and
//! de-duplication, per-key and whole-batch errors, wrong-length results, panics, `clear`,
//! `prime`, `cache_key_fn`, custom cache maps, `max_batch_size`, stats. Everything that is not
//! `load` or `load_many` is the `DataLoader`'s own method (the loader derefs to it), and options
//! come from the same [`Builder`](crate::Builder):
//!
//! ```
//! use coalesce::{Builder, sync::{Blocking, Runner}};
//!
//! # struct Users;
//! # impl coalesce::sync::SyncLoader for Users {
//! #     type Key = u64;
//! #     type Output = Vec<Result<u64, std::convert::Infallible>>;
//! #     type Error = std::convert::Infallible;
//! #     fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
//! #         Ok(ids.iter().map(|&id| Ok(id)).collect())
//! #     }
//! # }
//! let runner = Runner::new();
//! let users = Builder::new(Blocking(Users)).name("users").max_batch_size(500).build_sync(&runner);
//! users.prime(7, 7);
//! assert_eq!(runner.resolve(users.load(7)).unwrap().unwrap(), 7);
//! ```
//!
//! # Threads
//!
//! There is no global queue: a runner knows only the loaders built with it, so two threads, each
//! with its own runner and loaders, never see each other's keys (graphql-sync-dataloaders'
//! module-level queue mixes them, their PR #15 and #18). [`Runner`], [`SyncDataLoader`] and
//! [`Deferred`] are neither `Send` nor `Sync`: they hold `Rc`s and continuations that need not be
//! `Send`, and the compiler keeps them on the thread of their request:
//!
//! ```compile_fail,E0277
//! fn on_another_thread<T: Send + 'static>(value: T) {
//!     std::thread::spawn(move || drop(value));
//! }
//! let runner = coalesce::sync::Runner::new();
//! on_another_thread(runner); // error: `Rc<...>` cannot be sent between threads safely
//! ```
//!
//! The batch function itself
//! must be `Send + Sync`, because it is shared with the async core; wrap a connection that is
//! only `Send` (such as a `rusqlite::Connection`) in a `Mutex`.

mod deferred;
mod runner;

pub use deferred::{Deferred, Unresolved};
pub use runner::{Runner, SyncDataLoader};

use std::future::Future;
use std::marker::PhantomData;

use crate::{BatchOutput, Loader};

/// A synchronous batch function: [`Loader`] without `async`.
pub trait SyncLoader: Send + Sync + 'static {
    /// What callers load by.
    type Key: Send + Sync + 'static;
    /// The batch result's shape; see [`BatchOutput`].
    type Output: BatchOutput<Self::Key, Self::Error, Value: Clone + Send + Sync + 'static> + Send;
    /// The batch function's error; need not be `Clone`.
    type Error: Send + Sync + 'static;

    /// Loads every key of one batch.
    fn load_batch(&self, keys: &[Self::Key]) -> Result<Self::Output, Self::Error>;
}

/// A [`SyncLoader`] as an async [`Loader`] whose future is ready at once: how a synchronous
/// batch function runs on the core's scheduler.
#[derive(Clone, Debug, Default)]
pub struct Blocking<S>(pub S);

impl<S: SyncLoader> Loader for Blocking<S> {
    type Key = S::Key;
    type Output = S::Output;
    type Error = S::Error;

    fn load_batch(
        &self,
        keys: &[S::Key],
    ) -> impl Future<Output = Result<S::Output, S::Error>> + Send {
        std::future::ready(self.0.load_batch(keys))
    }
}

/// A [`SyncLoader`] made from a closure by [`from_fn`].
pub struct SyncFnLoader<F, K, O, E> {
    f: F,
    // As in `FnLoader`: no K, O or E is held, so none constrains `Send` or `Sync`.
    types: PhantomData<fn(K) -> (O, E)>,
}

/// Makes a synchronous batch function from a closure over the keys of a batch.
///
/// ```
/// use coalesce::sync::{Runner, SyncDataLoader};
///
/// let runner = Runner::new();
/// let squares = SyncDataLoader::new(&runner, coalesce::sync::from_fn(|keys: &[u64]| {
///     Ok::<_, std::convert::Infallible>(keys.iter().map(|k| Ok(k * k)).collect::<Vec<_>>())
/// }));
/// let all = squares.load_many([2, 3]);
/// let all = runner.resolve(all).unwrap();
/// assert_eq!(all.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [4, 9]);
/// ```
pub fn from_fn<F, O, K, E>(f: F) -> SyncFnLoader<F, K, O, E>
where
    F: Fn(&[K]) -> Result<O, E> + Send + Sync + 'static,
    O: BatchOutput<K, E>,
{
    SyncFnLoader {
        f,
        types: PhantomData,
    }
}

impl<F, O, K, E> SyncLoader for SyncFnLoader<F, K, O, E>
where
    F: Fn(&[K]) -> Result<O, E> + Send + Sync + 'static,
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
}
