//! The scheduler: how loads become batches, and how every waiter gets its answer.
//!
//! # Design
//!
//! coalesce spawns nothing and owns no timer. The futures returned by `load` and `load_many`
//! (*waiters*) do all the work themselves, so the loader runs on any executor, or none
//! (`futures::executor::block_on`), and a batch costs no task.
//!
//! All shared state of one loader sits in [`State`], behind one `std::sync::Mutex`. The lock is
//! held only for bookkeeping: never across an `.await`, never while the batch function runs, and
//! never while a waker is woken or a batch future is dropped (either can run arbitrary code,
//! including loads on this very loader). The only user code that runs under it is what the memo
//! is made of: the cache-key function, the [`CacheMap`], and the keys' `Hash`/`Eq` and values'
//! `Clone`/`Drop`, none of which may load from this loader. A batch's results are published
//! once, in a `OnceLock` that waiters read without the lock. One mutex with those rules cannot
//! deadlock with itself or with other loaders' mutexes, whatever the batch functions load; that
//! is why the reliability suite argues correctness from this invariant rather than
//! model-checking a lock-free design.
//!
//! # A batch's life
//!
//! ```text
//!             load / load_many                          driver's poll
//!  (none) ──────────────────────► Collecting ──────────────────────────► Sealed
//!                                  │   ▲  │   frame rule met, dispatch(),      │
//!                                  │   └──┘   or max_batch_size reached        │ a permit is free
//!                                  │  more keys join                           ▼ (max_concurrent_batches)
//!                                  │                                        Running ── batch future
//!                                  │                                           │       polled by the driver
//!                  last waiter     │                                           │ Ready, Err, panic
//!                  dropped         ▼                                           ▼
//!                             Abandoned ◄─── last waiter dropped ───────  Completed: results published,
//!                       keys forgotten, future                            memo written, waiters woken
//!                       dropped, nothing cached
//! ```
//!
//! - **Collecting**: the loader's one *open* batch. `load` appends its key (a new slot) unless the
//!   key is memoized (answered at once) or already queued or in flight (the load joins that slot:
//!   de-duplication, tracked in `pending`).
//! - **Driver**: the first waiter polled for a batch becomes its driver. Only the driver moves the
//!   batch forward: it applies the [`Schedule`](crate::Schedule), starts the batch function, and
//!   polls the batch future from inside its own `poll`. Everyone else only registers a waker.
//! - **Hand-off**: a driver that is dropped (a cancelled request, a `select!` that lost) passes the
//!   role on: it wakes another waiter, which becomes the driver at its next poll and re-polls the
//!   batch future with its own waker. A batch whose first caller is cancelled still completes for
//!   everyone else, and no fetch is started twice.
//! - **Abandoned**: when the last waiter of a batch is dropped, nobody wants its keys. The batch is
//!   removed, its keys leave `pending` (the next load of them starts afresh) and its future is
//!   dropped, which cancels the fetch. Nothing leaks and nothing half-done is cached.
//! - **Completed**: the driver takes the lock once, publishes the results, moves per-key values and
//!   per-key errors from `pending` into the memo (whole-batch failures are not memoized), and wakes
//!   every waiter after releasing the lock. The results are published before any user code runs,
//!   so a panicking `Clone`, `Hash` or cache map cannot withhold an answer; `pending` entries such
//!   a panic leaves behind are recognised as stale by their batch id and dropped.
//! - **Permits**: with `max_concurrent_batches`, a sealed batch waits in `queued` for a running
//!   one to finish. Every event that frees a permit (completion, abandonment, a woken batch
//!   dropped before it used its permit) wakes the next queued driver. A batch that a running
//!   batch waits for (a waiter of it was polled inside a batch future) runs on that batch's
//!   permit instead of waiting for one, whoever drives it; [`crate::waits`] explains why that
//!   rules out deadlocks, and how cycles between batches become `LoadError::Cycle`.
//!
//! The batch future borrows nothing: it owns its keys and an `Arc` of the loader, so it can move
//! from driver to driver. Panics in it are caught at the driver's `poll` and become
//! [`LoadError::Panic`] for every waiter of the batch.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::cache::{Hasher, Memo};
use crate::error::{BatchFailure, panic_message};
use crate::key::KeyFn;
use crate::tier::Op;
use crate::waits::{self, Edge};
use crate::{BatchOutput, CacheEntry, CacheKey, LoadError, Loader, Schedule, Stats, ValueOf};

/// A load's answer.
pub(crate) type Outcome<L> = crate::LoadResult<L>;

type Entry<L> = CacheEntry<ValueOf<L>, <L as Loader>::Error>;
type MemoOf<L, C> = Memo<C, Entry<L>>;
type Tier<L, C> = crate::tier::Tier<C, ValueOf<L>>;
type Aligned<L> = Vec<Result<ValueOf<L>, <L as Loader>::Error>>;
type BatchFuture<L> =
    Pin<Box<dyn Future<Output = Result<Aligned<L>, BatchFailure<<L as Loader>::Error>>> + Send>>;

/// The settings a [`Builder`](crate::Builder) fixes for a loader's lifetime.
pub(crate) struct Config {
    pub(crate) name: Arc<str>,
    pub(crate) max_batch_size: usize,
    pub(crate) max_concurrent_batches: usize,
    pub(crate) schedule: Schedule,
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
    /// The memo of finished loads; `None` when the loader was built with `cache(false)`.
    cache: Option<MemoOf<L, C>>,
    /// Keys queued or in flight, and where their answer will be: de-duplication.
    pending: HashMap<C, SlotRef, Hasher>,
    /// Every batch not yet completed or abandoned.
    batches: Slab<Batch<L, C>>,
    /// The batch new keys join, if one is collecting.
    open: Option<usize>,
    /// Batches whose batch function has been called and not yet returned.
    running: usize,
    /// Sealed batches waiting for `running` to drop below `max_concurrent_batches`, oldest
    /// first, as (index, id). An entry whose batch is gone, or no longer `queued`, is skipped
    /// when reached: removing entries from the middle would cost a scan per batch.
    queued: VecDeque<(usize, u64)>,
    stats: Stats,
}

#[derive(Clone, Copy)]
struct SlotRef {
    batch: usize,
    id: u64,
    slot: u32,
}

enum Phase<L: Loader> {
    Collecting,
    Sealed,
    /// The batch future; `None` while the driver has it out to poll it.
    Running(Option<BatchFuture<L>>),
}

struct Batch<L: Loader, C: CacheKey> {
    /// Unique across all loaders, for cycle detection.
    id: u64,
    done: Arc<Done<ValueOf<L>, L::Error>>,
    /// The key of each slot; moved into the batch future when it starts.
    keys: Vec<L::Key>,
    /// The cache key of each slot (empty when the cache is off), to find the slot's `pending`
    /// entry when the batch completes.
    cache_keys: Vec<C>,
    /// Slots answered by `prime` before the batch was sent: not sent to the batch function.
    primed: Vec<(u32, ValueOf<L>)>,
    slots: u32,
    /// One entry per waiter (a `load`, or a `load_many` with keys in this batch); `None` until
    /// the waiter is first polled and after it is dropped.
    wakers: Vec<Option<Waker>>,
    /// No polled waiter sits before this index in `wakers`: where the search for an heir
    /// starts, so that dropping waiters front to back costs no scan over the dropped ones.
    first_polled: u32,
    live: u32,
    /// Whether a running batch waits for this one: it then never waits for a permit (see
    /// [`crate::waits`]).
    awaited_by_running: bool,
    /// Whether this batch has an entry in `State::queued` that counts.
    queued: bool,
    driver: Option<u32>,
    phase: Phase<L>,
    #[cfg(feature = "tokio")]
    deadline: Option<tokio::time::Instant>,
}

/// A batch's published answer, shared by its waiters through an `Arc`.
pub(crate) struct Done<V, E> {
    results: OnceLock<Results<V, E>>,
}

enum Results<V, E> {
    Slots(Vec<Result<V, LoadError<E>>>),
    Failed(LoadError<E>),
}

impl<V: Clone, E> Done<V, E> {
    /// The answer for `slot`, once the batch has completed.
    pub(crate) fn get(&self, slot: u32) -> Option<Result<V, LoadError<E>>> {
        Some(match self.results.get()? {
            Results::Slots(slots) => slots[slot as usize].clone(),
            Results::Failed(err) => Err(err.clone()),
        })
    }
}

/// A waiter's registration in one batch. Held by the `Load` / `LoadMany` futures, which must call
/// [`Shared::leave`] if they are dropped before it is done.
pub(crate) struct Ticket<V, E> {
    pub(crate) done: Arc<Done<V, E>>,
    batch: usize,
    waiter: u32,
    /// Frame rule: the batch's size at this waiter's last poll as its driver.
    seen: u32,
    /// How often this waiter has yielded as the driver: in a row without growth for the frame
    /// rule, in all for `Schedule::Yields`.
    yields: u32,
    #[cfg(feature = "tokio")]
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// This waiter's edge in the wait-for graph, if it was made inside a batch function.
    edge: Option<Edge>,
}

impl<V, E> Ticket<V, E> {
    /// The batch this ticket waits on.
    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.results.get().is_some()
    }

    /// Holds the wait-for edge of another load of this waiter (a `load_many` key).
    pub(crate) fn hold_edge(&mut self, edge: Option<Edge>) {
        match (&mut self.edge, edge) {
            (Some(held), Some(edge)) => held.absorb(edge),
            (held, edge @ Some(_)) => *held = edge,
            (_, None) => {}
        }
    }
}

/// A single load's progress: answered, waiting on a batch, or handed out.
pub(crate) enum LoadState<L: Loader> {
    Ready(Outcome<L>),
    Waiting(Ticket<ValueOf<L>, L::Error>, u32),
    Done,
}

/// Where `admit` put a key.
pub(crate) enum Admit<L: Loader> {
    /// Answered at once: a memo hit, or a cycle.
    Ready(Outcome<L>),
    /// In batch `batch`, slot `slot`; `edge` is the wait-for edge of a load made inside a batch
    /// function, for the waiter to hold.
    Queued {
        batch: usize,
        slot: u32,
        edge: Option<Edge>,
    },
}

/// Frame rule: how many trips through the executor in a row must add no key before a batch is
/// sent. One would miss loads made by futures that yield once before loading (tokio's cooperative
/// budget can force exactly that on a resolver); each extra round costs one executor trip per
/// batch, not per load.
const QUIET_ROUNDS: u32 = 2;

static NEXT_BATCH_ID: AtomicU64 = AtomicU64::new(0);

/// What the driver's step under the lock decided.
enum Step<L: Loader> {
    /// Poll this batch future (of the batch with this id), unlocked.
    Poll(BatchFuture<L>, u64),
    /// Yield to the executor: wake this task once the lock is released, and return `Pending`.
    Yield,
    /// Wait: a waker is registered where the awaited event will fire it.
    Wait,
}

/// Wakes the wakers it holds when dropped, so that waiters are woken even when a step between
/// collecting the wakers and waking them panics (a custom cache map, say).
/// Holds `Option`s so that a batch's own waker list (with the dropped waiters' `None`s) can be
/// handed over as it is, without copying it.
struct WakeOnDrop(Vec<Option<Waker>>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        // Usually empty (a memo hit wakes nobody): skip the iterator's setup and teardown.
        if !self.0.is_empty() {
            for waker in std::mem::take(&mut self.0).into_iter().flatten() {
                waker.wake();
            }
        }
    }
}

impl<L: Loader, C: CacheKey> Shared<L, C> {
    pub(crate) fn new(
        loader: L,
        key_fn: KeyFn<L::Key, C>,
        config: Config,
        cache: Option<MemoOf<L, C>>,
        tier: Option<Tier<L, C>>,
    ) -> Self {
        Shared {
            loader,
            key_fn,
            config,
            tier,
            state: Mutex::new(State {
                cache,
                pending: HashMap::default(),
                batches: Slab::new(),
                open: None,
                running: 0,
                queued: VecDeque::new(),
                stats: Stats::default(),
            }),
        }
    }

    /// The state, even if a panicking cache map poisoned the lock: every step below leaves the
    /// state consistent before it calls user code, so poisoning carries no information here.
    fn lock(&self) -> MutexGuard<'_, State<L, C>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Runs `f` with the lock held and the memo present, if the loader caches at all.
    fn with_cache(&self, f: impl FnOnce(&mut State<L, C>)) {
        let mut state = self.lock();
        if state.cache.is_some() {
            f(&mut state)
        }
    }

    /// Takes one key in, as [`admit`](Self::admit) does, and registers its waiter: the path of
    /// every `load`, memo hits included, so it skips what only several keys need. A key's batch
    /// is sealed (if it fills up) as the last step of `admit_one`, so no panic can strand the
    /// waker that sealing returns.
    pub(crate) fn admit_key(&self, key: L::Key) -> LoadState<L> {
        let awaiting = waits::awaiting();
        let mut state = self.lock();
        let mut wake = Vec::new();
        let placed = match state.admit_one(self, key, awaiting, &mut wake) {
            Admit::Ready(outcome) => LoadState::Ready(outcome),
            Admit::Queued { batch, slot, edge } => {
                let mut ticket = Registrar { state: &mut state }.register(batch);
                ticket.hold_edge(edge);
                LoadState::Waiting(ticket, slot)
            }
        };
        drop(state);
        for waker in wake.into_iter().flatten() {
            waker.wake();
        }
        placed
    }

    /// Takes `keys` in: answers memoized ones, joins queued or in-flight ones, queues the rest.
    /// `each` receives every key's place, in order, while the lock is held, so that a
    /// `load_many` registers its waiters in one critical section.
    pub(crate) fn admit(
        &self,
        keys: impl IntoIterator<Item = L::Key>,
        mut each: impl FnMut(Admit<L>, &mut Registrar<'_, L, C>),
    ) {
        let keys = keys.into_iter();
        let awaiting = waits::awaiting();
        let mut state = self.lock();
        if state.cache.is_some() {
            // New keys go into `pending`: grow it once, not step by step.
            state.pending.reserve(keys.size_hint().0);
        }
        let mut wake = WakeOnDrop(Vec::new());
        for key in keys {
            let place = state.admit_one(self, key, awaiting, &mut wake.0);
            each(place, &mut Registrar { state: &mut state });
        }
        drop(state);
        drop(wake);
    }

    /// Polls `ticket` until its batch has completed, driving the batch if it is this waiter's turn.
    pub(crate) fn poll_ticket(
        self: &Arc<Self>,
        ticket: &mut Ticket<ValueOf<L>, L::Error>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        loop {
            if ticket.is_done() {
                return Poll::Ready(());
            }
            let mut state = self.lock();
            // Completion publishes the results before it releases the lock, so this check under
            // the lock cannot miss one, and the batch below still exists.
            if ticket.is_done() {
                return Poll::Ready(());
            }
            let mut unblocked = None;
            let step = state.drive(self, ticket, cx, &mut unblocked);
            let (mut fut, id) = match step {
                Step::Poll(fut, id) => (fut, id),
                Step::Wait => {
                    drop(state);
                    if let Some(waker) = unblocked {
                        waker.wake();
                    }
                    return Poll::Pending;
                }
                Step::Yield => {
                    drop(state);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            };
            drop(state);

            // Polled unlocked: the batch function may load from this loader or any other.
            let result = waits::driving(id, || {
                catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)))
            });
            let outcome = match result {
                Ok(Poll::Pending) => {
                    let mut state = self.lock();
                    state.batches[ticket.batch].phase = Phase::Running(Some(fut));
                    return Poll::Pending;
                }
                Ok(Poll::Ready(outcome)) => outcome,
                Err(payload) => Err(BatchFailure::Panic(panic_message(&*payload))),
            };
            // The finished future may own values whose drop runs user code: drop it unlocked.
            drop(fut);
            self.complete(ticket.batch, outcome);
        }
    }

    /// Publishes a finished batch's outcome, memoizes it, and wakes its waiters.
    fn complete(&self, index: usize, outcome: Result<Aligned<L>, BatchFailure<L::Error>>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let batch = state.batches.remove(index);
        state.running -= 1;
        let mut wake = WakeOnDrop(batch.wakers);
        wake.0
            .push(state.next_queued_driver(self.config.max_concurrent_batches));

        // Only moves up to the publication: every waiter has its answer before any user code
        // (values' Clone, cache keys' Hash and Eq, the cache map) can panic below.
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
                tracing::warn!(loader = %self.config.name, failure = failure.kind(), "batch failed");
                let err = failure.into_load_error(&self.config.name);
                if batch.primed.is_empty() {
                    Results::Failed(err)
                } else {
                    let failed =
                        (0..batch.slots as usize - batch.primed.len()).map(|_| Err(err.clone()));
                    Results::Slots(merge_primed(failed.collect(), batch.primed, |r| r))
                }
            }
        };
        let results = batch.done.results.get_or_init(|| results);

        // Memoize. A panic here leaves some `pending` entries pointing at this batch; they are
        // recognised as stale by its id (see `State::pending_slot`), so nothing wrong is served.
        let memoized = catch_unwind(AssertUnwindSafe(|| {
            if let (Results::Slots(_), Some(cache)) = (results, state.cache.as_mut()) {
                cache.reserve(batch.cache_keys.len());
            }
            for (slot, cache_key) in batch.cache_keys.iter().enumerate() {
                // One lookup in the common case, where the entry is this slot's.
                let Some(p) = state.pending.remove(cache_key) else {
                    continue; // cleared or primed: the answer goes to this batch's waiters only
                };
                if p.id != batch.id || p.slot as usize != slot {
                    // Cleared, then queued again in another slot: that slot will answer it.
                    state.pending.insert(cache_key.clone(), p);
                    continue;
                }
                let (Results::Slots(slots), Some(cache)) = (results, state.cache.as_mut()) else {
                    continue; // a failed batch is not memoized
                };
                let entry = match &slots[slot] {
                    Ok(v) => Ok(v.clone()),
                    Err(LoadError::Key(e)) => Err(Arc::clone(e)),
                    Err(_) => continue,
                };
                cache.set(cache_key.clone(), entry);
            }
        }));
        drop(guard);
        drop(wake);
        if let Err(panic) = memoized {
            resume_unwind(panic);
        }
    }

    /// A waiter gives up before its batch completed.
    pub(crate) fn leave(&self, ticket: &Ticket<ValueOf<L>, L::Error>) {
        if ticket.is_done() {
            return;
        }
        let mut state = self.lock();
        if ticket.is_done() {
            return;
        }
        let batch = &mut state.batches[ticket.batch];
        batch.wakers[ticket.waiter as usize] = None;
        batch.live -= 1;
        if batch.live == 0 {
            let (abandoned, next) = state.abandon(ticket.batch, self.config.max_concurrent_batches);
            drop(state);
            // Dropping the batch future cancels the fetch and may run user code: unlocked.
            drop(abandoned);
            if let Some(waker) = next {
                waker.wake();
            }
            return;
        }
        if batch.driver.is_none_or(|driver| driver == ticket.waiter) {
            batch.driver = None;
            // Hand the batch to another waiter that has been polled: it claims the driver's role
            // at its next poll. Also when there was no driver: this waiter may have been the heir
            // woken by an earlier hand-off, dropped before it could claim; the next one is woken
            // in its place. Waiters never polled yet claim the role when they are.
            let heir = batch.first_polled_waker().cloned();
            drop(state);
            if let Some(waker) = heir {
                waker.wake();
            }
        }
    }

    /// Seals the collecting batch now, whatever the schedule.
    pub(crate) fn dispatch(&self) {
        let mut state = self.lock();
        let waker = state.seal_open();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Forgets `keys` in the memo, and queues their deletion from the tier.
    pub(crate) fn clear(&self, keys: impl IntoIterator<Item = impl std::borrow::Borrow<L::Key>>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.cache.is_none() && self.tier.is_none() {
            return;
        }
        let mut owed = Vec::new();
        for key in keys {
            let cache_key = self.key_fn.cache_key(key.borrow());
            if let Some(cache) = state.cache.as_mut() {
                state.pending.remove(&*cache_key);
                cache.delete(&cache_key);
            }
            if self.tier.is_some() {
                owed.push(cache_key.into_owned());
            }
        }
        drop(guard);
        if let Some(tier) = &self.tier {
            tier.owe(owed);
        }
    }

    /// Forgets every key in the memo, and queues clearing the tier.
    pub(crate) fn clear_all(&self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(cache) = state.cache.as_mut() {
            cache.clear();
            state.pending.clear();
        }
        drop(guard);
        if let Some(tier) = &self.tier {
            tier.owe_all();
        }
    }

    /// Sends the deletions the tier owes (this loader's and any other's) now. What fails, or is
    /// dropped in flight, stays owed: see [`crate::tier`].
    pub(crate) async fn settle(&self) {
        if let Some(tier) = &self.tier {
            if let Err((op, e)) = tier.settle().await {
                self.tier_failed(op, &*e);
            }
        }
    }

    /// Counts and logs a failed tier operation, which never fails a load.
    fn tier_failed(&self, op: Op, error: &dyn std::fmt::Display) {
        self.lock().stats.tier_errors += 1;
        #[cfg(feature = "tracing")]
        tracing::warn!(loader = %self.config.name, ?op, %error, "shared cache failed; treated as a miss");
        #[cfg(not(feature = "tracing"))]
        let _ = (op, error);
    }

    /// Calls the batch function for `keys` and lines its answer up with them.
    async fn fetch(&self, keys: &[L::Key]) -> Result<Aligned<L>, BatchFailure<L::Error>> {
        if keys.is_empty() {
            // Every key was primed while queued, or found in the tier: nothing to fetch.
            return Ok(Vec::new());
        }
        let count = keys.len();
        match self.loader.load_batch(keys).await {
            // `align` of a user's own `BatchOutput` is checked too: with the lengths off, no
            // answer can be trusted to belong to the key at its position.
            Ok(output) => match output.align(keys) {
                Ok(values) if values.len() == count => Ok(values),
                Ok(values) => Err(BatchFailure::WrongLength {
                    keys: count,
                    values: values.len(),
                }),
                Err(values) => Err(BatchFailure::WrongLength {
                    keys: count,
                    values,
                }),
            },
            Err(e) => Err(BatchFailure::Error(e)),
        }
    }

    /// [`fetch`](Self::fetch) through the tier: one bulk read, the batch function for the misses
    /// only, one bulk write of what it returned (per-key errors excepted).
    async fn fetch_through(
        &self,
        tier: &Tier<L, C>,
        keys: Vec<L::Key>,
    ) -> Result<Aligned<L>, BatchFailure<L::Error>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let cache_keys: Vec<_> = keys
            .iter()
            .map(|key| self.key_fn.cache_key(key).into_owned())
            .collect();
        let found = match tier.get_many(&cache_keys).await {
            Ok(found) => found,
            Err((op, e)) => {
                self.tier_failed(op, &*e);
                Vec::new()
            }
        };
        let mut found = found.into_iter();
        let mut hits = Vec::with_capacity(keys.len());
        let (mut miss_keys, mut miss_cache_keys) = (Vec::new(), Vec::new());
        for (key, cache_key) in keys.into_iter().zip(cache_keys) {
            let hit = found.next().flatten();
            if hit.is_none() {
                miss_keys.push(key);
                miss_cache_keys.push(cache_key);
            }
            hits.push(hit);
        }
        {
            let stats = &mut self.lock().stats;
            stats.tier_hits += (hits.len() - miss_keys.len()) as u64;
            count_batch(stats, miss_keys.len());
        }

        let fetched = self.fetch(&miss_keys).await?;
        let fresh: Vec<_> = miss_cache_keys
            .iter()
            .zip(&fetched)
            .filter_map(|(cache_key, value)| Some((cache_key, value.as_ref().ok()?)))
            .collect();
        if !fresh.is_empty() {
            if let Err((op, e)) = tier.set_many(&fresh).await {
                self.tier_failed(op, &*e);
            }
        }
        drop(fresh);

        let mut fetched = fetched.into_iter();
        Ok(hits
            .into_iter()
            .map(|hit| match hit {
                Some(value) => Ok(value),
                None => fetched.next().expect("one answer per miss"),
            })
            .collect())
    }

    /// Memoizes values loaded some other way. A key already memoized or in flight is left alone
    /// unless `force`; a key queued in a batch not yet sent is answered with the value and taken
    /// out of the batch (it will not be fetched), as in Strawberry.
    pub(crate) fn prime(
        &self,
        entries: impl IntoIterator<Item = (L::Key, ValueOf<L>)>,
        force: bool,
    ) {
        let mut wake = WakeOnDrop(Vec::new());
        self.with_cache(|state| {
            for (key, value) in entries {
                let cache_key = self.key_fn.cache_key(&key);
                if let Some(p) = state.pending_slot(&cache_key) {
                    let batch = &mut state.batches[p.batch];
                    if matches!(batch.phase, Phase::Collecting | Phase::Sealed) {
                        batch.primed.push((p.slot, value.clone()));
                        if batch.primed.len() == batch.slots as usize {
                            // Nothing is left to fetch: make sure the driver notices.
                            wake.0.push(state.seal(p.batch));
                        }
                    } else if !force {
                        continue;
                    }
                    // Primed or overwritten: the batch's own answer for this key is not memoized.
                    state.pending.remove(&*cache_key);
                } else if !force
                    && state
                        .cache
                        .as_mut()
                        .is_some_and(|c| c.get(&cache_key).is_some())
                {
                    continue;
                }
                if let Some(cache) = state.cache.as_mut() {
                    cache.set(cache_key.into_owned(), Ok(value));
                }
            }
        });
    }
}

/// Counts a call of the batch function with `keys` keys; none when there is nothing to send.
fn count_batch(stats: &mut Stats, keys: usize) {
    if keys > 0 {
        stats.batches += 1;
        stats.keys += keys as u64;
        stats.largest_batch = stats.largest_batch.max(keys as u64);
    }
}

/// Puts the answers of primed slots (sorted by slot) among the answers for the others.
fn merge_primed<V, E, T>(
    sent: Vec<T>,
    primed: Vec<(u32, V)>,
    convert: impl Fn(T) -> Result<V, LoadError<E>>,
) -> Vec<Result<V, LoadError<E>>> {
    if primed.is_empty() {
        return sent.into_iter().map(convert).collect();
    }
    let total = sent.len() + primed.len();
    let mut sent = sent.into_iter();
    let mut primed = primed.into_iter().peekable();
    (0..total as u32)
        .map(|slot| match primed.next_if(|&(s, _)| s == slot) {
            Some((_, value)) => Ok(value),
            None => convert(sent.next().expect("one sent answer per unprimed slot")),
        })
        .collect()
}

/// The handle `admit` passes to its callback, to register waiters while the lock is held.
pub(crate) struct Registrar<'s, L: Loader, C: CacheKey> {
    state: &'s mut State<L, C>,
}

impl<L: Loader, C: CacheKey> Registrar<'_, L, C> {
    /// Registers a new waiter in `batch`.
    pub(crate) fn register(&mut self, batch: usize) -> Ticket<ValueOf<L>, L::Error> {
        let b = &mut self.state.batches[batch];
        b.wakers.push(None);
        b.live += 1;
        Ticket {
            done: Arc::clone(&b.done),
            batch,
            waiter: (b.wakers.len() - 1) as u32,
            seen: 0,
            yields: 0,
            #[cfg(feature = "tokio")]
            sleep: None,
            edge: None,
        }
    }
}

impl<L: Loader, C: CacheKey> State<L, C> {
    /// Takes one key in. `awaiting` is the batch whose batch function makes this load, if any:
    /// the load then gets a wait-for edge, or a cycle error if that edge would close a cycle.
    fn admit_one(
        &mut self,
        shared: &Shared<L, C>,
        key: L::Key,
        awaiting: Option<u64>,
        wake: &mut Vec<Option<Waker>>,
    ) -> Admit<L> {
        self.stats.loads += 1;
        let cache_key = match self.cache.as_mut() {
            None => None,
            Some(cache) => {
                let cache_key = shared.key_fn.cache_key(&key);
                if let Some(entry) = cache.get(&cache_key) {
                    self.stats.cache_hits += 1;
                    return Admit::Ready(entry.map_err(LoadError::Key));
                }
                if let Some(p) = self.pending_slot(&cache_key) {
                    self.stats.deduplicated += 1;
                    let edge = match awaiting {
                        None => None,
                        Some(from) => match waits::wait_for(from, p.id, &shared.config.name) {
                            Ok(edge) => Some(edge),
                            Err(path) => {
                                let loader = Arc::clone(&shared.config.name);
                                return Admit::Ready(Err(LoadError::Cycle { loader, path }));
                            }
                        },
                    };
                    return Admit::Queued {
                        batch: p.batch,
                        slot: p.slot,
                        edge,
                    };
                }
                Some(Cow::into_owned(cache_key))
            }
        };

        let index = match self.open {
            Some(index) => index,
            None => {
                let index = self.batches.insert(Batch::new(&shared.config));
                self.open = Some(index);
                index
            }
        };
        let batch = &mut self.batches[index];
        let slot = batch.slots;
        batch.slots += 1;
        batch.keys.push(key);
        if let Some(cache_key) = cache_key {
            let slot_ref = SlotRef {
                batch: index,
                id: batch.id,
                slot,
            };
            batch.cache_keys.push(cache_key.clone());
            self.pending.insert(cache_key, slot_ref);
        }
        // A batch still collecting waits for nothing yet, so this edge cannot close a cycle.
        let edge = awaiting.map(|from| {
            waits::wait_for(from, batch.id, &shared.config.name)
                .expect("a collecting batch waits for nothing")
        });
        if batch.slots as usize >= shared.config.max_batch_size {
            wake.push(self.seal_open());
        }
        Admit::Queued {
            batch: index,
            slot,
            edge,
        }
    }

    /// Seals the open batch, returning a waker for its driver (or any waiter) so that it starts.
    fn seal_open(&mut self) -> Option<Waker> {
        let index = self.open?;
        self.seal(index)
    }

    fn seal(&mut self, index: usize) -> Option<Waker> {
        if self.open == Some(index) {
            self.open = None;
        }
        let batch = &mut self.batches[index];
        if matches!(batch.phase, Phase::Collecting) {
            batch.phase = Phase::Sealed;
        }
        batch.driver_waker()
    }

    /// The driver's step under the lock: applies the schedule, takes a permit, and hands out the
    /// batch future to poll, or `None` when the waiter should wait (its waker is registered).
    /// A waiter polled inside a running batch marks its batch as awaited by one; if that batch
    /// was waiting for a permit, `unblocked` gets its driver's waker, to wake once unlocked.
    fn drive(
        &mut self,
        shared: &Arc<Shared<L, C>>,
        ticket: &mut Ticket<ValueOf<L>, L::Error>,
        cx: &mut Context<'_>,
        unblocked: &mut Option<Waker>,
    ) -> Step<L> {
        let index = ticket.batch;
        let batch = &mut self.batches[index];
        match &mut batch.wakers[ticket.waiter as usize] {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        // Restores `first_polled`'s invariant: this waiter is polled now.
        batch.first_polled = batch.first_polled.min(ticket.waiter);
        if !batch.awaited_by_running && waits::awaiting().is_some() {
            batch.awaited_by_running = true;
            if batch.queued {
                *unblocked = batch.driver_waker();
            }
        }
        match batch.driver {
            None => batch.driver = Some(ticket.waiter),
            Some(driver) if driver == ticket.waiter => {}
            Some(_) => return Step::Wait,
        }

        if let Phase::Collecting = batch.phase {
            match batch.schedule(&shared.config, ticket, cx) {
                Verdict::Send => {
                    self.seal(index);
                }
                Verdict::Yield => return Step::Yield,
                Verdict::Wait => return Step::Wait,
            }
        }
        let batch = &mut self.batches[index];
        let id = batch.id;
        match &mut batch.phase {
            Phase::Collecting => unreachable!("sealed above"),
            Phase::Running(fut) => Step::Poll(
                fut.take().expect("only the driver takes the batch future"),
                id,
            ),
            Phase::Sealed => {
                // A batch that a running batch waits for runs on that batch's permit: waiting
                // for a permit could wait for the very batch that holds it (see `waits`).
                if self.running >= shared.config.max_concurrent_batches && !batch.awaited_by_running
                {
                    if !batch.queued {
                        batch.queued = true;
                        self.queued.push_back((index, id));
                    }
                    return Step::Wait;
                }
                batch.queued = false;
                self.running += 1;
                let keys = batch.take_keys_to_send();
                if shared.tier.is_none() {
                    // Every key goes to the batch function: count it under this lock. With a
                    // tier, only the misses do, which `fetch_through` counts.
                    count_batch(&mut self.stats, keys.len());
                }
                batch.phase = Phase::Running(None);
                Step::Poll(start(shared, keys), id)
            }
        }
    }

    /// Removes a batch nobody waits for any more. Returns it, to be dropped unlocked, and the
    /// waker of a queued batch's driver if this frees a permit.
    fn abandon(&mut self, index: usize, max_concurrent: usize) -> (Batch<L, C>, Option<Waker>) {
        let batch = self.batches.remove(index);
        if self.open == Some(index) {
            self.open = None;
        }
        // Its entry in `queued`, if any, is skipped when reached: the batch is gone.
        if let Phase::Running(_) = batch.phase {
            self.running -= 1;
        }
        // Also when this batch was not running: it may have been handed a freed permit (popped
        // from the queue and woken) and dropped before using it. The permit passes on.
        let next = self.next_queued_driver(max_concurrent);
        for cache_key in &batch.cache_keys {
            if self
                .pending
                .get(cache_key)
                .is_some_and(|p| p.id == batch.id)
            {
                self.pending.remove(cache_key);
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

    /// Where a queued or in-flight key will be answered, if it still will. An entry whose batch
    /// is gone (a panic in `complete` left it behind) is stale: it is dropped, not trusted.
    fn pending_slot(&mut self, cache_key: &C) -> Option<SlotRef> {
        let p = *self.pending.get(cache_key)?;
        if self.batches.get(p.batch).is_some_and(|b| b.id == p.id) {
            Some(p)
        } else {
            self.pending.remove(cache_key);
            None
        }
    }
}

impl<L: Loader, C: CacheKey> Batch<L, C> {
    #[cfg_attr(not(feature = "tokio"), allow(unused_variables))]
    fn new(config: &Config) -> Self {
        Batch {
            id: NEXT_BATCH_ID.fetch_add(1, Ordering::Relaxed),
            done: Arc::new(Done {
                results: OnceLock::new(),
            }),
            keys: Vec::new(),
            cache_keys: Vec::new(),
            primed: Vec::new(),
            slots: 0,
            wakers: Vec::new(),
            first_polled: 0,
            live: 0,
            awaited_by_running: false,
            queued: false,
            driver: None,
            phase: Phase::Collecting,
            #[cfg(feature = "tokio")]
            deadline: match config.schedule {
                Schedule::Window(window) => Some(tokio::time::Instant::now() + window),
                _ => None,
            },
        }
    }

    /// The keys for the batch function: every slot's, except the slots primed while queued.
    fn take_keys_to_send(&mut self) -> Vec<L::Key> {
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

    /// The waker of the driver, or of any polled waiter when there is no driver (it will claim
    /// the role at its next poll).
    fn driver_waker(&mut self) -> Option<Waker> {
        match self.driver.and_then(|d| self.wakers[d as usize].as_ref()) {
            Some(driver) => Some(driver.clone()),
            None => self.first_polled_waker().cloned(),
        }
    }

    /// The waker of the first polled waiter still waiting, advancing `first_polled` past the
    /// dropped and unpolled ones: amortized constant time when waiters are dropped in order.
    fn first_polled_waker(&mut self) -> Option<&Waker> {
        let start = self.first_polled as usize;
        match self.wakers[start..].iter().position(Option::is_some) {
            Some(offset) => {
                self.first_polled = (start + offset) as u32;
                self.wakers[start + offset].as_ref()
            }
            None => {
                self.first_polled = self.wakers.len() as u32;
                None
            }
        }
    }

    /// The schedule's verdict for a collecting batch, asked by its driver.
    fn schedule(
        &self,
        config: &Config,
        ticket: &mut Ticket<ValueOf<L>, L::Error>,
        #[cfg_attr(not(feature = "tokio"), allow(unused_variables))] cx: &mut Context<'_>,
    ) -> Verdict {
        match config.schedule {
            Schedule::Frame => {
                // Yield until QUIET_ROUNDS trips through the executor in a row add no key: every
                // load made in this frame, even by a future that yielded once first, is then in.
                if ticket.seen != self.slots {
                    ticket.seen = self.slots;
                    ticket.yields = 0;
                    return Verdict::Yield;
                }
                ticket.yields += 1;
                if ticket.yields >= QUIET_ROUNDS {
                    Verdict::Send
                } else {
                    Verdict::Yield
                }
            }
            Schedule::Yields(n) => {
                if ticket.yields >= n {
                    return Verdict::Send;
                }
                ticket.yields += 1;
                Verdict::Yield
            }
            #[cfg(feature = "tokio")]
            Schedule::Window(_) => {
                let deadline = self.deadline.expect("windowed batches have a deadline");
                let sleep = ticket
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                // Registers the timer's wake-up; tokio's timer runs no user code here.
                if sleep.as_mut().poll(cx).is_ready() {
                    Verdict::Send
                } else {
                    Verdict::Wait
                }
            }
            Schedule::Manual => Verdict::Wait,
        }
    }
}

/// What the schedule says about a collecting batch.
enum Verdict {
    Send,
    Yield,
    Wait,
}

/// The batch future: calls the batch function, through the tier if there is one, after sending
/// the deletions the tier owes.
fn start<L: Loader, C: CacheKey>(shared: &Arc<Shared<L, C>>, keys: Vec<L::Key>) -> BatchFuture<L> {
    #[cfg(feature = "tracing")]
    let span =
        tracing::debug_span!("coalesce.batch", loader = %shared.config.name, keys = keys.len());
    let shared = Arc::clone(shared);
    let fut = async move {
        match &shared.tier {
            None => shared.fetch(&keys).await,
            Some(tier) => {
                if tier.owes() {
                    shared.settle().await;
                }
                shared.fetch_through(tier, keys).await
            }
        }
    };
    #[cfg(feature = "tracing")]
    let fut = tracing::Instrument::instrument(fut, span);
    Box::pin(fut)
}
