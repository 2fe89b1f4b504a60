//! The blocking [`DataLoader`] and its [`Builder`].

use std::borrow::Borrow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::deferred::Resolver;
use super::runner::{Round, RunnerLoaders};
use super::{Async, Deferred, LoadResult, Loader, Runner, ValueOf};
use crate::scheduler::{Admit, OwnedWaiter};
use crate::{CacheEntry, CacheKey, CacheMap, Stats};

/// Batches and memoizes loads by key for synchronous code: its loads are [`Deferred`] values
/// that a [`Runner`] resolves. See the [module documentation](super).
///
/// Cheap to clone; clones share the memo and the runner. Every method is synchronous, and the
/// async loader's methods are not reachable through it:
///
/// ```compile_fail,E0599
/// use coalesce_loader::blocking::{self, Runner};
///
/// let runner = Runner::new();
/// let users = blocking::DataLoader::new(&runner, blocking::from_fn(|ids: &[u64]| {
///     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id)).collect::<Vec<_>>())
/// }));
/// let _ = users.clear_shared([1]); // error: no method `clear_shared`
/// ```
pub struct DataLoader<S: Loader, C: CacheKey = <S as Loader>::Key> {
    inner: Rc<Inner<S, C>>,
}

/// The options of a blocking [`DataLoader`]: those of the async [`Builder`](crate::Builder)
/// that apply without a runtime (see the [module documentation](super#options)).
///
/// Its type is the loader's, whatever options are set, so a function can take a builder, set
/// some options and hand it on.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<S: Loader, C = <S as Loader>::Key> {
    options: crate::Builder<Async<S>, C>,
}

struct Inner<S: Loader, C: CacheKey> {
    loader: crate::DataLoader<Async<S>, C>,
    /// Loads waiting for this loader's next round, in the order they were made. Dropping them
    /// withdraws them from their batches and drops their continuations.
    waiting: RefCell<Vec<Waiting<S, C>>>,
    /// Whether this loader is in the runner's `due` list.
    due: Cell<bool>,
    runner: Weak<RunnerLoaders>,
    me: Weak<Inner<S, C>>,
}

/// Consecutive loads waiting on one batch, behind one waiter: a round's loads usually all wait
/// on the same batch, so they cost one waiter (and one handle to the loader) between them.
struct Waiting<S: Loader, C: CacheKey> {
    waiter: OwnedWaiter<Async<S>, C>,
    /// The slot of the batch that answers each load, and where its answer goes.
    loads: Vec<(u32, Resolver<LoadResult<S>>)>,
}

impl<S: Loader> DataLoader<S>
where
    S::Key: CacheKey,
{
    /// A loader with the default options, resolved by `runner`: memoized, batched without
    /// limit.
    pub fn new(runner: &Runner, loader: S) -> Self {
        Builder::new(loader).build(runner)
    }

    /// Options for a loader; same as [`Builder::new`].
    pub fn builder(loader: S) -> Builder<S> {
        Builder::new(loader)
    }
}

impl<S: Loader> Builder<S>
where
    S::Key: CacheKey,
{
    /// Options for a loader with `loader` as its batch function, all at their defaults; each
    /// key is its own cache key.
    pub fn new(loader: S) -> Self {
        Builder {
            options: crate::Builder::new(Async(loader)),
        }
    }
}

impl<S: Loader, C: CacheKey> Builder<S, C> {
    /// Options for a loader that memoizes and de-duplicates by what `cache_key` returns: see
    /// [`crate::Builder::with_cache_key`].
    pub fn with_cache_key(
        loader: S,
        cache_key: impl Fn(&S::Key) -> C + Send + Sync + 'static,
    ) -> Self {
        Builder {
            options: crate::Builder::with_cache_key(Async(loader), cache_key),
        }
    }

    /// The name in stats and error messages: see [`crate::Builder::name`]. Defaults to the
    /// batch function's [`name`](Loader::name).
    pub fn name(self, name: impl Into<std::sync::Arc<str>>) -> Self {
        self.map(|options| options.name(name))
    }

    /// Memoize loads (the default), or not: see [`crate::Builder::cache`].
    pub fn cache(self, cache: bool) -> Self {
        self.map(|options| options.cache(cache))
    }

    /// Batch loads (the default), or send each load alone.
    pub fn batch(self, batch: bool) -> Self {
        self.map(|options| options.batch(batch))
    }

    /// The most keys one call of the batch function gets; a round with more keys sends several
    /// batches. Unlimited by default.
    ///
    /// # Panics
    ///
    /// If `max` is zero: no key could ever be sent.
    pub fn max_batch_size(self, max: usize) -> Self {
        self.map(|options| options.max_batch_size(max))
    }

    /// The memo to use instead of an unbounded `HashMap`; see [`crate::cache`].
    pub fn cache_map(self, cache_map: impl CacheMap<C, CacheEntry<ValueOf<S>, S::Error>>) -> Self {
        self.map(|options| options.cache_map(cache_map))
    }

    /// The loader, resolved by `runner`.
    pub fn build(self, runner: &Runner) -> DataLoader<S, C> {
        let loader = self.options.build();
        let inner = Rc::new_cyclic(|me| Inner {
            loader,
            waiting: RefCell::new(Vec::new()),
            due: Cell::new(false),
            runner: runner.loaders(),
            me: me.clone(),
        });
        let round: Weak<Inner<S, C>> = Rc::downgrade(&inner);
        runner.enroll(round);
        DataLoader { inner }
    }

    fn map(
        self,
        set: impl FnOnce(crate::Builder<Async<S>, C>) -> crate::Builder<Async<S>, C>,
    ) -> Self {
        Builder {
            options: set(self.options),
        }
    }
}

impl<S: Loader, C: CacheKey> DataLoader<S, C> {
    /// Loads one key: a [`Deferred`] value or error, known once the runner has run (at once for
    /// a memoized key).
    pub fn load(&self, key: S::Key) -> Deferred<LoadResult<S>> {
        let mut deferred = None;
        self.inner
            .enqueue(std::iter::once(key), |one| deferred = Some(one));
        deferred.expect("one deferred value per key")
    }

    /// Loads several keys: one result per key, in order, never failing as a whole.
    pub fn load_many(
        &self,
        keys: impl IntoIterator<Item = S::Key>,
    ) -> Deferred<Vec<LoadResult<S>>> {
        let keys = keys.into_iter();
        let mut all = Vec::with_capacity(keys.size_hint().0);
        self.inner.enqueue(keys, |one| all.push(one));
        Deferred::join_all(all)
    }

    /// Forgets `key`: a later load fetches it again. Loads already waiting for it still get the
    /// value being fetched. Returns `self` for chaining, as in `loader.clear(&4).prime(4, user)`.
    pub fn clear(&self, key: &S::Key) -> &Self {
        self.inner.loader.clear(key);
        self
    }

    /// Forgets each of `keys`.
    pub fn clear_many<Q: Borrow<S::Key>>(&self, keys: impl IntoIterator<Item = Q>) -> &Self {
        self.inner.loader.clear_many(keys);
        self
    }

    /// Forgets every key.
    pub fn clear_all(&self) -> &Self {
        self.inner.loader.clear_all();
        self
    }

    /// Memoizes a value loaded some other way; never overwrites: see
    /// [`crate::DataLoader::prime`]. A load waiting for the next round is answered with it and
    /// its key is not fetched.
    pub fn prime(&self, key: S::Key, value: ValueOf<S>) -> &Self {
        self.inner.loader.prime(key, value);
        self
    }

    /// [`prime`](Self::prime)s each `(key, value)` pair.
    pub fn prime_many(&self, entries: impl IntoIterator<Item = (S::Key, ValueOf<S>)>) -> &Self {
        self.inner.loader.prime_many(entries);
        self
    }

    /// Memoizes `value` for `key`, replacing what was there: see
    /// [`crate::DataLoader::force_prime`].
    pub fn force_prime(&self, key: S::Key, value: ValueOf<S>) -> &Self {
        self.inner.loader.force_prime(key, value);
        self
    }

    /// [`force_prime`](Self::force_prime)s each `(key, value)` pair.
    pub fn force_prime_many(
        &self,
        entries: impl IntoIterator<Item = (S::Key, ValueOf<S>)>,
    ) -> &Self {
        self.inner.loader.force_prime_many(entries);
        self
    }

    /// What this loader has done so far.
    pub fn stats(&self) -> Stats {
        self.inner.loader.stats()
    }

    /// The loader's name, for stats and errors ([`Builder::name`]).
    pub fn name(&self) -> &str {
        self.inner.loader.name()
    }

    /// The batch function and its context.
    pub fn loader(&self) -> &S {
        &self.inner.loader.loader().0
    }
}

impl<S: Loader, C: CacheKey> Inner<S, C> {
    /// Admits `keys` under one lock, as the futures' `load_many` does, and gives `each` every
    /// key's deferred value, in order: ready for a memo hit, else resolved by a later round.
    fn enqueue(
        &self,
        keys: impl IntoIterator<Item = S::Key>,
        mut each: impl FnMut(Deferred<LoadResult<S>>),
    ) {
        let mut waiting = self.waiting.borrow_mut();
        self.loader.shared.admit(keys, |place, registrar| {
            each(match place {
                Admit::Ready(outcome) => Deferred::ready(outcome),
                Admit::Queued { batch, slot, edge } => {
                    let (deferred, resolver) = Deferred::pending();
                    match waiting.last_mut() {
                        // A load made inside a batch function has a wait-for edge of its own to
                        // hold: it gets a waiter of its own.
                        Some(last)
                            if edge.is_none() && registrar.is_waiting_on(&last.waiter, batch) =>
                        {
                            last.loads.push((slot, resolver));
                        }
                        _ => {
                            let mut waiter = registrar.register_owned(batch);
                            waiter.hold_edge(edge);
                            waiting.push(Waiting {
                                waiter,
                                loads: vec![(slot, resolver)],
                            });
                        }
                    }
                    deferred
                }
            });
        });
        drop(waiting);
        self.mark_due();
    }

    fn mark_due(&self) {
        if self.waiting.borrow().is_empty() || self.due.replace(true) {
            return;
        }
        match self.runner.upgrade() {
            Some(loaders) => loaders.mark_due(self.me.clone()),
            // The runner is gone: these loads stay unresolved, and reading them says so.
            None => self.due.set(false),
        }
    }
}

impl<S: Loader, C: CacheKey> Round for Inner<S, C> {
    fn run_round(&self) {
        self.due.set(false);
        let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        // Send what has collected; keys that continuations queue below form the next round.
        self.loader.dispatch();
        let mut cx = Context::from_waker(Waker::noop());
        let mut answered = Vec::with_capacity(waiting.len());
        for mut w in waiting {
            // Every batch this round waits on is sealed and its batch function is synchronous,
            // so the poll that starts it finishes it, and the other waiters find it finished. A
            // waiter that still waits would be kept for a later round, without making the loader
            // due again, so that `run` always ends; until answered, its values read as
            // `Unresolved`.
            match w.waiter.poll(&mut cx) {
                Poll::Ready(()) => answered.push(w),
                Poll::Pending => self.waiting.borrow_mut().push(w),
            }
        }
        // Continuations run last, with no borrow held: they may load from any loader, this one
        // included.
        for Waiting { waiter, loads } in answered {
            for (slot, resolver) in loads {
                resolver.resolve(waiter.answer(slot));
            }
        }
    }

    fn withdraw(&self) {
        // Dropping the waiters withdraws them; dropping the resolvers drops their
        // continuations, and the loaders those hold.
        drop(std::mem::take(&mut *self.waiting.borrow_mut()));
    }
}

impl<S: Loader, C: CacheKey> Clone for DataLoader<S, C> {
    fn clone(&self) -> Self {
        DataLoader {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Loader, C: CacheKey> fmt::Debug for DataLoader<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataLoader")
            .field("name", &self.name())
            .field("waiting", &self.inner.waiting.borrow().len())
            .finish_non_exhaustive()
    }
}
