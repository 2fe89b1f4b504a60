//! [`Runner`], which resolves deferred loads round by round, and [`SyncDataLoader`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Deref;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::deferred::Resolver;
use super::{Blocking, Deferred, SyncLoader, Unresolved};
use crate::scheduler::{Admit, Outcome, OwnedWaiter};
use crate::{Builder, CacheKey, DataLoader};

/// Resolves the deferred loads of one request: what graphql-sync-dataloaders'
/// `DeferredExecutionContext` does for a Python server.
///
/// Build one per request (it is cheap), build the request's loaders with it, then
/// [`run`](Self::run) it, or [`resolve`](Self::resolve) the value you need.
#[derive(Default)]
pub struct Runner {
    loaders: Rc<RunnerLoaders>,
    rounds: Cell<u64>,
}

/// The loaders of one runner, shared with them (they hold it weakly).
#[derive(Default)]
struct RunnerLoaders {
    /// Loaders with keys waiting for the next round, each once.
    due: RefCell<Vec<Weak<dyn Round>>>,
    /// Every loader built with the runner, to withdraw their waiting loads when it is dropped.
    all: RefCell<Vec<Weak<dyn Round>>>,
}

/// A loader as the runner sees it.
trait Round {
    /// Sends this loader's batches and resolves the loads they answer.
    fn run_round(&self);
    /// Withdraws every waiting load: the request is over.
    fn withdraw(&self);
}

impl Runner {
    /// A runner with no loaders yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs rounds until no loader has a key waiting: every deferred load made through this
    /// runner's loaders, and every load their continuations made, is then resolved. Returns how
    /// many rounds that took (0 when nothing was pending).
    pub fn run(&self) -> u64 {
        let mut rounds = 0;
        loop {
            let due = std::mem::take(&mut *self.loaders.due.borrow_mut());
            if due.is_empty() {
                self.rounds.set(self.rounds.get() + rounds);
                return rounds;
            }
            rounds += 1;
            for loader in due.iter().filter_map(Weak::upgrade) {
                loader.run_round();
            }
        }
    }

    /// [`run`](Self::run)s, then takes `value` out: the value, or [`Unresolved`] if it waits on
    /// something this runner cannot resolve.
    pub fn resolve<T: 'static>(&self, value: Deferred<T>) -> Result<T, Unresolved> {
        self.run();
        value.try_take()
    }

    /// Rounds run so far, over all calls of [`run`](Self::run).
    pub fn rounds(&self) -> u64 {
        self.rounds.get()
    }
}

/// A runner dropped with loads still waiting (a request that failed or was abandoned before it
/// resolved everything) withdraws them: their deferred values stay unresolved, and the
/// continuations they hold, which may hold loaders, are dropped instead of kept alive in a cycle.
impl Drop for Runner {
    fn drop(&mut self) {
        let all = std::mem::take(&mut *self.loaders.all.borrow_mut());
        for loader in all.iter().filter_map(Weak::upgrade) {
            loader.withdraw();
        }
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("due", &self.loaders.due.borrow().len())
            .field("rounds", &self.rounds.get())
            .finish()
    }
}

/// A [`DataLoader`] with a synchronous batch function, whose loads are [`Deferred`] values
/// resolved by a [`Runner`]. See the [module documentation](super).
///
/// Everything but `load` and `load_many` (`clear`, `prime`, `stats`, ...) is the underlying
/// `DataLoader`'s, through `Deref`. Cheap to clone; clones share the memo and the runner.
pub struct SyncDataLoader<S: SyncLoader, C: CacheKey = <S as SyncLoader>::Key> {
    inner: Rc<Inner<S, C>>,
}

struct Inner<S: SyncLoader, C: CacheKey> {
    loader: DataLoader<Blocking<S>, C>,
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
struct Waiting<S: SyncLoader, C: CacheKey> {
    waiter: OwnedWaiter<Blocking<S>, C>,
    /// The slot of the batch that answers each load, and where its answer goes.
    loads: Vec<(u32, Resolver<Outcome<Blocking<S>>>)>,
}

impl<S: SyncLoader> SyncDataLoader<S>
where
    S::Key: CacheKey,
{
    /// A loader with default options, resolved by `runner`.
    pub fn new(runner: &Runner, loader: S) -> Self {
        Builder::new(Blocking(loader)).build_sync(runner)
    }
}

impl<S: SyncLoader, C: CacheKey> Builder<Blocking<S>, C> {
    /// The synchronous loader these options describe, resolved by `runner`. The
    /// [`schedule`](Builder::schedule) does not apply: the runner sends each round's batches
    /// itself, one after another, each finished before the next starts, so
    /// [`max_concurrent_batches`](Builder::max_concurrent_batches) only matters if the same
    /// loader is also used from async code through `Deref`.
    pub fn build_sync(self, runner: &Runner) -> SyncDataLoader<S, C> {
        let loader = self.build();
        let inner = Rc::new_cyclic(|me| Inner {
            loader,
            waiting: RefCell::new(Vec::new()),
            due: Cell::new(false),
            runner: Rc::downgrade(&runner.loaders),
            me: me.clone(),
        });
        let weak: Weak<Inner<S, C>> = Rc::downgrade(&inner);
        runner.loaders.all.borrow_mut().push(weak);
        SyncDataLoader { inner }
    }
}

impl<S: SyncLoader, C: CacheKey> SyncDataLoader<S, C> {
    /// Loads one key: a [`Deferred`] value or error, known once the runner has run (at once for
    /// a memoized key).
    pub fn load(&self, key: S::Key) -> Deferred<Outcome<Blocking<S>>> {
        let mut deferred = None;
        self.inner
            .enqueue(std::iter::once(key), |one| deferred = Some(one));
        deferred.expect("one deferred value per key")
    }

    /// Loads several keys: one result per key, in order, never failing as a whole.
    pub fn load_many(
        &self,
        keys: impl IntoIterator<Item = S::Key>,
    ) -> Deferred<Vec<Outcome<Blocking<S>>>> {
        let keys = keys.into_iter();
        let mut all = Vec::with_capacity(keys.size_hint().0);
        self.inner.enqueue(keys, |one| all.push(one));
        Deferred::join_all(all)
    }
}

impl<S: SyncLoader, C: CacheKey> Inner<S, C> {
    /// Admits `keys` under one lock, as the futures' `load_many` does, and gives `each` every
    /// key's deferred value, in order: ready for a memo hit, else resolved by a later round.
    fn enqueue(
        &self,
        keys: impl IntoIterator<Item = S::Key>,
        mut each: impl FnMut(Deferred<Outcome<Blocking<S>>>),
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
            Some(loaders) => loaders.due.borrow_mut().push(self.me.clone()),
            // The runner is gone: these loads stay unresolved, and reading them says so.
            None => self.due.set(false),
        }
    }
}

impl<S: SyncLoader, C: CacheKey> Round for Inner<S, C> {
    fn run_round(&self) {
        self.due.set(false);
        let mut waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        // Send what has collected; keys that continuations queue below form the next round.
        self.loader.dispatch();
        let mut cx = Context::from_waker(Waker::noop());
        let mut answered = Vec::with_capacity(waiting.len());
        // A synchronous batch completes inside the poll that starts it, so a waiter is answered
        // by its first poll, unless it waits for a `max_concurrent_batches` permit, which the
        // batches polled before it free: poll again while that makes progress.
        loop {
            let before = waiting.len();
            let mut pending = Vec::new();
            for mut w in waiting {
                match w.waiter.poll(&mut cx) {
                    Poll::Ready(()) => answered.push(w),
                    Poll::Pending => pending.push(w),
                }
            }
            waiting = pending;
            if waiting.is_empty() || waiting.len() == before {
                break;
            }
        }
        // Only a batch driven from elsewhere (an async load of the same key through `Deref`)
        // can leave a waiter here. It is kept for a later round but does not make the loader
        // due again, so `run` always ends; until answered, its values read as `Unresolved`.
        self.waiting.borrow_mut().extend(waiting);
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

impl<S: SyncLoader, C: CacheKey> Deref for SyncDataLoader<S, C> {
    type Target = DataLoader<Blocking<S>, C>;

    fn deref(&self) -> &Self::Target {
        &self.inner.loader
    }
}

impl<S: SyncLoader, C: CacheKey> Clone for SyncDataLoader<S, C> {
    fn clone(&self) -> Self {
        SyncDataLoader {
            inner: self.inner.clone(),
        }
    }
}

impl<S: SyncLoader, C: CacheKey> fmt::Debug for SyncDataLoader<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncDataLoader")
            .field("name", &self.name())
            .field("waiting", &self.inner.waiting.borrow().len())
            .finish_non_exhaustive()
    }
}
