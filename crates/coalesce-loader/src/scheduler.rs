//! The scheduler: the state machine of waiters and batches, by which loads become batches and
//! every waiter gets its answer.
//!
//! # Design
//!
//! coalesce spawns nothing and owns no timer. The futures returned by `load` and `load_many`
//! hold *waiters* ([`Waiter`](waiter::Waiter)), and the waiters do all the work themselves, so the loader runs on
//! any executor, or none (`futures::executor::block_on`), and a batch costs no task. The
//! blocking loader's runner ([`crate::blocking`]) holds waiters too, and polls them with a no-op
//! waker.
//!
//! All shared state of one loader sits in [`State`], behind one `std::sync::Mutex`. The lock is
//! held only for bookkeeping, under the rules below. A batch's answers are published once, in
//! [`Answers`], which waiters read without the lock. One mutex with those rules cannot deadlock
//! with itself or with other loaders' mutexes, whatever the batch functions load; that is why the
//! reliability suite argues correctness from these invariants rather than model-checking a
//! lock-free design.
//!
//! # A batch's life
//!
//! ```text
//!              load, load_many
//!   (none) ─────────────────────► Collecting ◄──┐ more keys join
//!                                   │      └─────┘
//!                                   │ at the driver's poll, the schedule decides Send;
//!                                   │ or dispatch(), a full batch, every slot primed
//!                                   ▼
//!                                 Sealed ◄──┐ at the driver's poll, no permit is free:
//!                                   │   └────┘ queued (max_concurrent_batches)
//!                                   │ at the driver's poll or in dispatch(): a permit is
//!                                   │ free, or a running batch awaits this one
//!                                   ▼
//!                                 Running ── the driver polls the batch future (dispatch()
//!                                   │        polls it once first)
//!                                   │
//!                                   │ Ready, Err or panic
//!                                   ▼
//!                                 Completed: answers published, memo written, waiters woken
//!
//!   Collecting, Sealed, Running ── last waiter dropped ──► Abandoned: keys forgotten,
//!                                                          future dropped, nothing cached
//! ```
//!
//! Collecting, Sealed and Running are the batch's [`Phase`]; a completed or abandoned batch is
//! removed from [`State::batches`].
//!
//! - **Collecting**: the loader's one *open* batch. `load` appends its key (a new slot) unless the
//!   key is memoized (answered at once) or already queued or in flight (the load joins that slot:
//!   de-duplication, through the key's [`InFlight`] entry in the [`KeyIndex`]).
//! - **Driver**: the first waiter polled for a batch becomes its driver. Only the driver moves the
//!   batch forward: it asks the [`Schedule`] for a [`Decision`], starts the batch
//!   function, and polls the batch future from inside its own `poll`. Everyone else only
//!   registers a waker.
//! - **Heir**: a driver that is dropped (a cancelled request, a `select!` that lost) passes the
//!   role on: it wakes an *heir*, the first polled waiter still waiting, which becomes the driver
//!   at its next poll and re-polls the batch future with its own waker. A batch whose first caller
//!   is cancelled still completes for everyone else, and no fetch is started twice.
//! - **Sealed**: no key joins any more. With `max_concurrent_batches`, a sealed batch waits in
//!   `queued` for a *permit*: for a running batch to finish.
//! - **Running**: the batch future ([`pipeline`]) is out, owned by the batch between polls.
//!   `dispatch()` starts the batches it seals itself, polling each future once on the calling
//!   thread, so that the batch function has begun when it returns; it polls with the driver's
//!   waker, and the driver carries on from there.
//! - **Abandoned**: when the last waiter of a batch is dropped, nobody wants its keys. The batch is
//!   removed, its keys' in-flight entries go (the next load of them starts afresh) and its future is
//!   dropped, which cancels the fetch. Nothing leaks and nothing half-done is cached.
//! - **Completed**: the driver takes the lock once, publishes the answers, replaces its keys'
//!   in-flight entries by their per-key values and per-key errors (memoized; whole-batch failures
//!   are not), and wakes every waiter after releasing the lock.
//!
//! # Invariants
//!
//! Each is restated, by its name, on the lines that rely on it.
//!
//! - **Lock rule**: the lock is never held across an `.await`, while the batch function runs or a
//!   batch future is polled or dropped, or while a waker is woken (any of them can run arbitrary
//!   code, including loads on this very loader). The only user code run under it is what the
//!   memo is made of: the cache-key function, the [`CacheMap`](crate::CacheMap), and the keys'
//!   `Hash`/`Eq` and values' `Clone`/`Drop`, none of which may load from this loader.
//! - **Published first**: a batch's answers are published before any user code runs in its
//!   completion, so a panicking `Clone`, `Hash` or cache map cannot withhold an answer. A waiter
//!   whose answers are published never touches its batch again: it is gone, and its slab index
//!   may belong to another batch.
//! - **Stale in-flight**: an `InFlight` entry is trusted only while its batch exists with the id
//!   it names; a panic in completion can leave entries behind, which are dropped when found.
//! - **One driver**: at most one waiter is a batch's driver. The batch future is taken out of
//!   `Running` only by the driver or by a `dispatch` that has just started the batch, never by
//!   both at once (whoever finds it out waits), and whoever took it puts it back before
//!   returning; a `dispatch` then wakes the driver, which may have found it out.
//! - **Live count**: `live` counts a batch's waiters not yet dropped; the batch is abandoned when
//!   it reaches zero, and a waiter is withdrawn exactly once, by its `Drop`.
//! - **First polled**: no polled waiter sits before `first_polled` in a batch's `wakers`: where
//!   the search for an heir starts, so that dropping waiters front to back costs no scan.
//! - **Permits**: `running` counts the batches in `Running`. Every event that frees a permit
//!   (completion, abandonment, a woken batch dropped before it used its permit) wakes the next
//!   queued driver. A batch that a running batch waits for (a waiter of it was polled inside a
//!   batch future) runs on that batch's permit instead of waiting for one, whoever drives it;
//!   [`crate::waits`] explains why that rules out deadlocks, and how cycles between batches become
//!   `LoadError::Cycle`.
//!
//! The batch future borrows nothing: it owns its keys and an `Arc` of the loader, so it can move
//! from driver to driver. Panics in it are caught at the driver's `poll` and become
//! [`LoadError::Panic`] for every waiter of the batch.
//!
//! How loads reach this state machine (admission, polling, withdrawal) is in [`waiter`]; what a
//! batch future does is in [`pipeline`]; where a key's memoized answer or in-flight slot is kept
//! is in [`key_index`]; `clear` and `prime`, which change them from outside any batch, are in
//! [`memo`]; the schedule's decision is next to [`Schedule`].

mod inline_vec;
mod key_index;
mod memo;
mod pipeline;
mod trace;
mod waiter;
mod wakers;

pub(crate) use key_index::{CustomMemo, KeyIndex};
pub(crate) use waiter::{Admit, BorrowedWaiter, LoadState, OwnedWaiter};

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use self::inline_vec::InlineVec;
use self::key_index::{Found, InFlight};
use self::pipeline::{Aligned, BatchFuture, batch_future};
use self::trace::{BatchTrace, Sent};
use self::wakers::Wakers;
use crate::error::{BatchFailure, panic_message};
use crate::key::KeyFn;
use crate::schedule::{Decision, Opened, Pace, Rewake};
use crate::waits;
use crate::{CacheEntry, CacheKey, LoadError, Loader, Schedule, Stats, ValueOf};

/// A load's answer.
pub(crate) type Outcome<L> = crate::LoadResult<L>;

pub(crate) type Entry<L> = CacheEntry<ValueOf<L>, <L as Loader>::Error>;
type KeysOf<L, C> = KeyIndex<C, Entry<L>>;
type Tier<L, C> = crate::tier::Tier<C, ValueOf<L>>;

/// The settings a [`Builder`](crate::Builder) fixes for a loader's lifetime.
pub(crate) struct Config {
    /// Set by [`Builder::name`](crate::Builder::name), or else the batch function's own name
    /// once something asks for it ([`Shared::name`]): most loaders are built per request and
    /// never fail or trace, and that name costs a search through its type's path and an
    /// allocation.
    pub(crate) name: OnceLock<Arc<str>>,
    pub(crate) max_batch_size: usize,
    pub(crate) max_concurrent_batches: usize,
    pub(crate) schedule: Schedule,
    /// After how many batches of one key in a row to suspect an N+1 (`None`: never).
    pub(crate) n_plus_one_after: Option<u32>,
}

/// Everything a [`DataLoader`](crate::DataLoader) handle points to.
pub(crate) struct Shared<L: Loader, C: CacheKey> {
    pub(crate) loader: L,
    pub(crate) key_fn: KeyFn<L::Key, C>,
    pub(crate) config: Config,
    /// The shared second-level cache, if any: see [`crate::tier`].
    tier: Option<Tier<L, C>>,
    state: Mutex<State<L, C>>,
}

struct State<L: Loader, C: CacheKey> {
    /// The memo of finished loads, and where the answers of keys queued or in flight will be
    /// (de-duplication); `None` when the loader was built with `cache(false)`.
    keys: Option<KeysOf<L, C>>,
    /// Every batch not yet completed or abandoned.
    batches: Slab<Batch<L, C>>,
    /// The batch new keys join, if one is collecting.
    open: Option<usize>,
    /// Permits: the batches in `Running`.
    running: usize,
    /// Sealed batches waiting for `running` to drop below `max_concurrent_batches`, oldest
    /// first, as (index, id). An entry whose batch is gone, or no longer `queued`, is skipped
    /// when reached: removing entries from the middle would cost a scan per batch.
    queued: VecDeque<(usize, u64)>,
    stats: Stats,
    /// How many of the last batches sent had one key each, in a row (the N+1 warning).
    single_key_run: u32,
}

enum Phase<L: Loader> {
    Collecting,
    Sealed,
    /// The batch future; `None` while the driver has it out to poll it (one driver).
    Running(Option<BatchFuture<L>>),
}

struct Batch<L: Loader, C: CacheKey> {
    /// Unique across all loaders, for cycle detection and stale in-flight entries.
    id: u64,
    answers: Arc<Answers<ValueOf<L>, L::Error>>,
    /// The key of each slot; moved into the batch future when it starts.
    keys: InlineVec<L::Key>,
    /// The cache key of each slot (empty when the cache is off), to find the slot's in-flight
    /// entry when the batch completes.
    cache_keys: InlineVec<C>,
    /// Slots answered by `prime` before the batch was sent: not sent to the batch function.
    primed: Vec<(u32, Entry<L>)>,
    slots: u32,
    /// One entry per waiter (a `load`, a `load_many` with keys in this batch, or a blocking
    /// loader's loads of one round); `None` until the waiter is first polled and after it is
    /// dropped.
    wakers: Wakers,
    /// First polled: no polled waiter sits before this index in `wakers`.
    first_polled: u32,
    /// Live count: waiters registered and not yet dropped.
    live: u32,
    /// Whether a running batch waits for this one: it then never waits for a permit (see
    /// [`crate::waits`]).
    awaited_by_running: bool,
    /// Whether this batch has an entry in `State::queued` that counts.
    queued: bool,
    /// The driver's index in `wakers`, once a waiter has claimed the role.
    driver: Option<u32>,
    phase: Phase<L>,
    opened: Opened,
    /// The driver's progress through the schedule.
    pace: Pace,
    trace: BatchTrace,
}

/// A batch's published answers, shared by its waiters through an `Arc`.
struct Answers<V, E> {
    results: OnceLock<Results<V, E>>,
}

enum Results<V, E> {
    Slots(InlineVec<Result<V, LoadError<E>>>),
    Failed(LoadError<E>),
}

impl<V: Clone, E> Answers<V, E> {
    /// The answer for `slot`, once the batch has completed.
    fn get(&self, slot: u32) -> Option<Result<V, LoadError<E>>> {
        Some(match self.results.get()? {
            Results::Slots(slots) => slots[slot as usize].clone(),
            Results::Failed(err) => Err(err.clone()),
        })
    }

    fn are_published(&self) -> bool {
        self.results.get().is_some()
    }
}

static NEXT_BATCH_ID: AtomicU64 = AtomicU64::new(0);

/// What the driver's step under the lock decided.
enum DriverStep<L: Loader> {
    /// Poll this batch future (of the batch with this id), unlocked.
    Poll(BatchFuture<L>, u64),
    /// Yield to the executor: once the lock is released, wake this task as the [`Rewake`] says,
    /// and return `Pending`.
    Yield(Rewake),
    /// Wait: a waker is registered where the awaited event will fire it.
    Wait,
}

/// Wakes the wakers it holds when dropped, so that waiters are woken even when a step between
/// collecting the wakers and waking them panics (a custom cache map, say). Lock rule: drop it
/// after the guard. Holds a [`Wakers`] so that a batch's own waker list (with the dropped waiters'
/// `None`s) can be handed over as it is, without copying it.
struct WakeOnDrop(Wakers);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        // Usually empty (a memo hit wakes nobody): skip the iterator's setup and teardown.
        if !self.0.is_empty() {
            self.0.wake_all();
        }
    }
}

impl<L: Loader, C: CacheKey> Shared<L, C> {
    pub(crate) fn new(
        loader: L,
        key_fn: KeyFn<L::Key, C>,
        config: Config,
        keys: Option<KeysOf<L, C>>,
        tier: Option<Tier<L, C>>,
    ) -> Self {
        Shared {
            loader,
            key_fn,
            config,
            tier,
            state: Mutex::new(State {
                keys,
                batches: Slab::new(),
                open: None,
                running: 0,
                queued: VecDeque::new(),
                stats: Stats::default(),
                single_key_run: 0,
            }),
        }
    }

    /// The state, even if a panicking cache map poisoned the lock: every step leaves the
    /// state consistent before it calls user code, so poisoning carries no information here.
    fn lock(&self) -> MutexGuard<'_, State<L, C>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// The loader's name, for stats, logs, spans and errors.
    pub(crate) fn name(&self) -> &Arc<str> {
        self.config
            .name
            .get_or_init(|| Arc::from(self.loader.name()))
    }

    /// Publishes a finished batch's outcome, memoizes it, and wakes its waiters; unless the
    /// batch was abandoned while its future was out with a `dispatch` (then `index` may be
    /// another batch's, told apart by `id`).
    fn complete(&self, index: usize, id: u64, outcome: Result<Aligned<L>, BatchFailure<L::Error>>) {
        let mut guard = self.lock();
        if guard.batches.get(index).is_none_or(|b| b.id != id) {
            drop(guard);
            // Lock rule: the outcome's values may run user code when dropped.
            drop(outcome);
            return;
        }
        let state = &mut *guard;
        let batch = state.batches.remove(index);
        // Permits: this batch's is free.
        state.running -= 1;
        let mut wake = WakeOnDrop(batch.wakers);
        // Only when there is one: a batch's single waiter keeps its list inline.
        if let Some(next) = state.next_queued_driver(self.config.max_concurrent_batches) {
            wake.0.push(Some(next));
        }

        // Published first: only moves up to the publication, so every waiter has its answer
        // before any user code (values' Clone, cache keys' Hash and Eq, the cache map) can panic.
        let (primed, failure) = (batch.primed.len(), outcome.as_ref().err().map(|f| f.kind()));
        let results = match outcome {
            Ok(values) => {
                state.stats.key_errors += values.iter().filter(|v| v.is_err()).count() as u64;
                Results::Slots(merge_primed(values, batch.primed, |v| {
                    v.map_err(|e| LoadError::Key(Arc::new(e)))
                }))
            }
            Err(failure) => {
                state.stats.failed_batches += 1;
                #[cfg(feature = "tracing")]
                tracing::warn!(loader = %self.name(), failure = failure.kind(), "batch failed");
                let err = failure.into_load_error(self.name());
                if batch.primed.is_empty() {
                    Results::Failed(err)
                } else {
                    let failed =
                        (0..batch.slots as usize - batch.primed.len()).map(|_| Err(err.clone()));
                    Results::Slots(merge_primed(failed, batch.primed, |r| r))
                }
            }
        };
        let results = batch.answers.results.get_or_init(|| results);
        // Published first: the span's fields go to the subscriber, which is user code.
        batch.trace.complete(primed, failure);

        // Memoize. Stale in-flight: a panic here leaves some in-flight entries pointing at this
        // batch; they are recognised by its id (see `KeyIndex::find`), never served.
        let memoized = catch_unwind(AssertUnwindSafe(|| {
            let Some(keys) = state.keys.as_mut() else {
                return;
            };
            for (slot, cache_key) in batch.cache_keys.iter().enumerate() {
                let at = InFlight::new(index, batch.id, slot as u32);
                keys.settle(cache_key, at, || match results {
                    Results::Slots(slots) => match &slots[slot] {
                        Ok(v) => Some(Ok(v.clone())),
                        Err(LoadError::Key(e)) => Some(Err(Arc::clone(e))),
                        Err(_) => None,
                    },
                    Results::Failed(_) => None, // a failed batch is not memoized
                });
            }
        }));
        // Lock rule: wake after unlocking.
        drop(guard);
        drop(wake);
        if let Err(panic) = memoized {
            resume_unwind(panic);
        }
    }

    /// Withdraws waiter `waiter` of batch `index`, whose answers are `answers`: it gives up
    /// before its batch completed. Called by the waiter's `Drop` only (live count).
    fn leave(&self, answers: &Answers<ValueOf<L>, L::Error>, index: usize, waiter: u32) {
        // Published first: a completed batch is gone; its index may be another batch's.
        if answers.are_published() {
            return;
        }
        let mut state = self.lock();
        if answers.are_published() {
            return;
        }
        let batch = &mut state.batches[index];
        batch.wakers[waiter as usize] = None;
        batch.live -= 1;
        if batch.live == 0 {
            let (abandoned, next) = state.abandon(index, self.config.max_concurrent_batches);
            drop(state);
            // Lock rule: dropping the batch future cancels the fetch and may run user code.
            drop(abandoned);
            if let Some(waker) = next {
                waker.wake();
            }
            return;
        }
        if batch.driver.is_none_or(|driver| driver == waiter) {
            batch.driver = None;
            // Heir: hand the batch to another waiter that has been polled: it claims the
            // driver's role at its next poll. Also when there was no driver: this waiter may have
            // been the heir woken by an earlier hand-off, dropped before it could claim; the next
            // one is woken in its place. Waiters never polled yet claim the role when they are.
            let heir = batch.first_polled_waker().cloned();
            drop(state);
            if let Some(waker) = heir {
                waker.wake();
            }
        }
    }

    /// Seals the collecting batch now, whatever the schedule, and starts every sealed batch a
    /// permit allows, oldest first: their batch futures are polled once here, so the batch
    /// functions have begun when this returns. Each future is polled with its driver's waker
    /// (none yet if no waiter was polled: the first one polled re-polls it with its own), then put
    /// back, and the driver woken, since it may have found the future out meanwhile.
    pub(crate) fn dispatch(self: &Arc<Self>) {
        let mut state = self.lock();
        // Its driver is woken once the batch has started, below.
        state.seal_open(Sent::Dispatch);
        let mut sealed: Vec<(usize, u64)> = state
            .batches
            .iter()
            .filter(|(_, b)| matches!(b.phase, Phase::Sealed))
            .map(|(index, b)| (index, b.id))
            .collect();
        drop(state);
        sealed.sort_unstable_by_key(|&(_, id)| id);
        for (index, id) in sealed {
            self.start_now(index, id);
        }
    }

    /// Starts batch `index` (if it is still the sealed batch `id`) and polls its future once,
    /// with its driver's waker.
    fn start_now(self: &Arc<Self>, index: usize, id: u64) {
        let mut state = self.lock();
        let Some(batch) = state.batches.get_mut(index).filter(|b| b.id == id) else {
            return; // abandoned since, its index maybe reused
        };
        if !matches!(batch.phase, Phase::Sealed) {
            return; // its driver started it first
        }
        let started = state.start(self, index);
        let driver = state.batches[index].driver_waker();
        drop(state);
        let Some(fut) = started else {
            // No permit: queued. The driver learns so at its next poll.
            if let Some(waker) = driver {
                waker.wake();
            }
            return;
        };
        let mut cx = Context::from_waker(driver.as_ref().unwrap_or(Waker::noop()));
        if self.poll_batch(index, id, fut, &mut cx).is_pending() {
            // The driver may have found the future out meanwhile, and waits to be woken.
            let driver = self
                .lock()
                .batches
                .get_mut(index)
                .filter(|b| b.id == id)
                .and_then(|b| b.driver_waker());
            if let Some(waker) = driver {
                waker.wake();
            }
        }
    }

    /// Polls the future of batch `index` (`id`), which the caller took out of `Running`,
    /// unlocked; puts it back if it is pending, or completes the batch if it finished.
    pub(super) fn poll_batch(
        self: &Arc<Self>,
        index: usize,
        id: u64,
        mut fut: BatchFuture<L>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        // Lock rule: polled unlocked, since the batch function may load from this loader or any
        // other.
        let result = waits::driving(id, || {
            catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)))
        });
        let outcome = match result {
            Ok(Poll::Pending) => {
                let mut state = self.lock();
                match state.batches.get_mut(index).filter(|b| b.id == id) {
                    // One driver: the future goes back before its poll returns.
                    Some(batch) => batch.phase = Phase::Running(Some(fut)),
                    // Only a `dispatch` gets here: every waiter left while it had the future
                    // out, so the batch was abandoned. Lock rule: dropping the future cancels
                    // the fetch and may run user code.
                    None => {
                        drop(state);
                        drop(fut);
                    }
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(outcome)) => outcome,
            Err(payload) => Err(BatchFailure::Panic(panic_message(&*payload))),
        };
        // Lock rule: the finished future may own values whose drop runs user code.
        drop(fut);
        self.complete(index, id, outcome);
        Poll::Ready(())
    }
}

/// Puts the answers of primed slots (sorted by slot) among the answers for the others.
fn merge_primed<V, E, T>(
    sent: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
    primed: Vec<(u32, CacheEntry<V, E>)>,
    convert: impl Fn(T) -> Result<V, LoadError<E>>,
) -> InlineVec<Result<V, LoadError<E>>> {
    let mut sent = sent.into_iter();
    if primed.is_empty() {
        return sent.map(convert).collect();
    }
    let total = sent.len() + primed.len();
    let mut primed = primed.into_iter().peekable();
    (0..total as u32)
        .map(|slot| match primed.next_if(|&(s, _)| s == slot) {
            Some((_, entry)) => entry.map_err(LoadError::Key),
            None => convert(sent.next().expect("one sent answer per unprimed slot")),
        })
        .collect()
}

impl<L: Loader, C: CacheKey> State<L, C> {
    /// Takes one key in. `awaiting` is the batch whose batch function makes this load, if any:
    /// the load then gets a wait-for edge, or a cycle error if that edge would close a cycle.
    /// It is read only when a key is not memoized: a memo hit waits for nothing, and is the one
    /// path where reading the thread-local would be a measurable share of the cost. A key that
    /// fills its batch seals it and leaves the driver's waker in `full`, for the caller to wake
    /// once unlocked (an out-parameter, not a field of `Admit`, which every load returns and
    /// almost none would fill).
    fn admit_one(
        &mut self,
        shared: &Shared<L, C>,
        key: L::Key,
        awaiting: &OnceCell<Option<u64>>,
        full: &mut Option<Waker>,
    ) -> Admit<L> {
        self.stats.loads += 1;
        let cache_key = match self.keys.as_mut() {
            None => None,
            Some(keys) => {
                let cache_key = shared.key_fn.cache_key(&key);
                match keys.find(&cache_key, live(&self.batches)) {
                    Found::Done(entry) => {
                        self.stats.cache_hits += 1;
                        #[cfg(feature = "tracing")]
                        if let Some(open) = self.open {
                            self.batches[open].trace.memo_hit();
                        }
                        return Admit::Ready(entry.map_err(LoadError::Key));
                    }
                    Found::InFlight(p) => {
                        self.stats.deduplicated += 1;
                        #[cfg(feature = "tracing")]
                        self.batches[p.batch()].trace.deduplicated();
                        let edge = match *awaiting.get_or_init(waits::awaiting) {
                            None => None,
                            Some(from) => match waits::wait_for(from, p.id, shared.name()) {
                                Ok(edge) => Some(edge),
                                Err(path) => {
                                    let loader = Arc::clone(shared.name());
                                    return Admit::Ready(Err(LoadError::Cycle { loader, path }));
                                }
                            },
                        };
                        return Admit::Queued {
                            batch: p.batch(),
                            slot: p.slot,
                            edge,
                        };
                    }
                    Found::Absent(absent) => Some((Cow::into_owned(cache_key), absent)),
                }
            }
        };

        let index = match self.open {
            Some(index) => index,
            None => {
                let index = self.batches.insert(Batch::new(shared));
                self.open = Some(index);
                index
            }
        };
        let batch = &mut self.batches[index];
        let slot = batch.slots;
        batch.slots += 1;
        batch.keys.push(key);
        if let (Some((cache_key, absent)), Some(keys)) = (cache_key, self.keys.as_mut()) {
            let in_flight = InFlight::new(index, batch.id, slot);
            batch.cache_keys.push(cache_key.clone());
            // Found absent above, and the index not changed since.
            keys.insert_in_flight(absent, cache_key, in_flight);
        }
        // A batch still collecting waits for nothing yet, so this edge cannot close a cycle.
        let edge = awaiting.get_or_init(waits::awaiting).map(|from| {
            waits::wait_for(from, batch.id, shared.name())
                .expect("a collecting batch waits for nothing")
        });
        if batch.slots as usize >= shared.config.max_batch_size {
            *full = self.seal_open(Sent::Full);
        }
        Admit::Queued {
            batch: index,
            slot,
            edge,
        }
    }

    /// Seals the open batch, returning a waker for its driver (or any waiter) so that it starts.
    fn seal_open(&mut self, why: Sent) -> Option<Waker> {
        let index = self.open?;
        self.seal(index, why)
    }

    /// Collecting → Sealed, for reason `why` (a batch already sealed or running stays as it is).
    fn seal(&mut self, index: usize, why: Sent) -> Option<Waker> {
        if self.open == Some(index) {
            self.open = None;
        }
        let batch = &mut self.batches[index];
        if matches!(batch.phase, Phase::Collecting) {
            batch.phase = Phase::Sealed;
            batch.trace.sent(why);
        }
        batch.driver_waker()
    }

    /// The step under the lock of waiter `waiter` of batch `index`: claims the driver's role if
    /// nobody holds it; as the driver, asks the schedule, takes a permit, and hands out the batch
    /// future to poll. A waiter polled inside a running batch marks its batch as awaited by one;
    /// if that batch was waiting for a permit, `unblocked` gets its driver's waker, to wake once
    /// unlocked.
    fn drive(
        &mut self,
        shared: &Arc<Shared<L, C>>,
        index: usize,
        waiter: u32,
        cx: &mut Context<'_>,
        unblocked: &mut Option<Waker>,
    ) -> DriverStep<L> {
        let batch = &mut self.batches[index];
        match &mut batch.wakers[waiter as usize] {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        // First polled: restored, since this waiter is polled now.
        batch.first_polled = batch.first_polled.min(waiter);
        if !batch.awaited_by_running && waits::awaiting().is_some() {
            batch.awaited_by_running = true;
            if batch.queued {
                *unblocked = batch.driver_waker();
            }
        }
        // One driver.
        match batch.driver {
            None => {
                batch.driver = Some(waiter);
                // An heir that takes over starts counting afresh.
                batch.pace = Pace::default();
            }
            Some(driver) if driver == waiter => {}
            Some(_) => return DriverStep::Wait,
        }

        if let Phase::Collecting = batch.phase {
            let decision =
                shared
                    .config
                    .schedule
                    .decide(&batch.opened, &mut batch.pace, batch.slots, cx);
            match decision {
                Decision::Send => {
                    self.seal(index, Sent::Schedule(shared.config.schedule));
                }
                Decision::Yield => return DriverStep::Yield(batch.pace.rewake()),
                Decision::Wait => return DriverStep::Wait,
            }
        }
        let batch = &mut self.batches[index];
        let id = batch.id;
        match &mut batch.phase {
            Phase::Collecting => unreachable!("sealed above"),
            Phase::Running(fut) => match fut.take() {
                Some(fut) => DriverStep::Poll(fut, id),
                // Out with a `dispatch`, which puts it back and then wakes the driver.
                None => DriverStep::Wait,
            },
            Phase::Sealed => match self.start(shared, index) {
                Some(fut) => DriverStep::Poll(fut, id),
                None => DriverStep::Wait,
            },
        }
    }

    /// Sealed → Running: takes a permit and builds the batch future, which the caller polls
    /// unlocked, the batch's phase being `Running(None)` meanwhile. `None` when no permit is
    /// free: the batch is queued, and its driver is woken when one frees.
    fn start(&mut self, shared: &Arc<Shared<L, C>>, index: usize) -> Option<BatchFuture<L>> {
        let batch = &mut self.batches[index];
        // Permits: a batch that a running batch waits for runs on that batch's permit, since
        // waiting for one could wait for the very batch that holds it (`waits`).
        if self.running >= shared.config.max_concurrent_batches && !batch.awaited_by_running {
            if !batch.queued {
                batch.queued = true;
                self.queued.push_back((index, batch.id));
            }
            return None;
        }
        batch.queued = false;
        self.running += 1;
        let keys = batch.take_keys_to_send();
        if shared.tier.is_none() {
            // Every key goes to the batch function: count it under this lock. With a tier,
            // only the misses do, which the pipeline counts.
            self.count_batch(shared, keys.len());
        }
        let batch = &mut self.batches[index];
        batch.phase = Phase::Running(None);
        Some(batch_future(shared, keys, &batch.trace))
    }

    /// Removes a batch nobody waits for any more. Returns it, to be dropped unlocked (lock
    /// rule), and the waker of a queued batch's driver if this frees a permit.
    fn abandon(&mut self, index: usize, max_concurrent: usize) -> (Batch<L, C>, Option<Waker>) {
        let batch = self.batches.remove(index);
        if self.open == Some(index) {
            self.open = None;
        }
        // Its entry in `queued`, if any, is skipped when reached: the batch is gone.
        if let Phase::Running(_) = batch.phase {
            self.running -= 1;
        }
        // Permits: also when this batch was not running, since it may have been handed a freed
        // permit (popped from the queue and woken) and dropped before using it.
        let next = self.next_queued_driver(max_concurrent);
        if let Some(keys) = self.keys.as_mut() {
            for cache_key in &batch.cache_keys {
                keys.forget_in_flight(cache_key, batch.id);
            }
        }
        (batch, next)
    }

    /// If a permit is free, the waker of the oldest batch waiting for one. Batches without a
    /// polled waiter are skipped: they check for a permit themselves when first polled.
    fn next_queued_driver(&mut self, max_concurrent: usize) -> Option<Waker> {
        if self.running >= max_concurrent {
            return None;
        }
        while let Some((index, id)) = self.queued.pop_front() {
            let Some(batch) = self
                .batches
                .get_mut(index)
                .filter(|b| b.id == id && b.queued)
            else {
                continue; // abandoned, or started on an inherited permit
            };
            // Re-queued at its driver's next poll if another batch takes the permit first.
            batch.queued = false;
            if let Some(waker) = batch.driver_waker() {
                return Some(waker);
            }
        }
        None
    }
}

/// Whether an in-flight entry's batch still exists, for [`KeyIndex::find`]. Stale in-flight: an
/// entry whose batch is gone (a panic in `complete` left it behind) is not trusted.
fn live<L: Loader, C: CacheKey>(batches: &Slab<Batch<L, C>>) -> impl Fn(&InFlight) -> bool + '_ {
    |p| batches.get(p.batch()).is_some_and(|b| b.id == p.id)
}

impl<L: Loader, C: CacheKey> Batch<L, C> {
    fn new(shared: &Shared<L, C>) -> Self {
        Batch {
            id: NEXT_BATCH_ID.fetch_add(1, Ordering::Relaxed),
            answers: Arc::new(Answers {
                results: OnceLock::new(),
            }),
            keys: InlineVec::Empty,
            cache_keys: InlineVec::Empty,
            primed: Vec::new(),
            slots: 0,
            wakers: Wakers::default(),
            first_polled: 0,
            live: 0,
            awaited_by_running: false,
            queued: false,
            driver: None,
            phase: Phase::Collecting,
            opened: shared.config.schedule.open(),
            pace: Pace::default(),
            trace: BatchTrace::open(|| shared.name()),
        }
    }

    /// The keys for the batch function: every slot's, except the slots primed while queued.
    fn take_keys_to_send(&mut self) -> InlineVec<L::Key> {
        let keys = std::mem::take(&mut self.keys);
        if self.primed.is_empty() {
            return keys;
        }
        self.primed.sort_unstable_by_key(|&(slot, _)| slot);
        let mut primed = self
            .primed
            .iter()
            .map(|&(slot, _)| slot as usize)
            .peekable();
        keys.into_iter()
            .enumerate()
            .filter(|&(slot, _)| primed.next_if_eq(&slot).is_none())
            .map(|(_, key)| key)
            .collect()
    }

    /// The waker of the driver, or of an heir (the first polled waiter) when there is no driver:
    /// it will claim the role at its next poll.
    fn driver_waker(&mut self) -> Option<Waker> {
        match self.driver.and_then(|d| self.wakers[d as usize].as_ref()) {
            Some(driver) => Some(driver.clone()),
            None => self.first_polled_waker().cloned(),
        }
    }

    /// The waker of the first polled waiter still waiting, advancing `first_polled` past the
    /// dropped and unpolled ones: amortized constant time when waiters are dropped in order.
    fn first_polled_waker(&mut self) -> Option<&Waker> {
        match self.wakers.next_waker(self.first_polled as usize) {
            Some(index) => {
                self.first_polled = index as u32;
                self.wakers[index].as_ref()
            }
            None => {
                self.first_polled = self.wakers.len() as u32;
                None
            }
        }
    }
}
