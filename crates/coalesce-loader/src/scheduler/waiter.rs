//! The waiter API, through which the futures and the blocking loader's runner use the state
//! machine: admission ([`Shared::admit_key`], or [`Shared::admit`] with a [`Registrar`] to
//! register waiters), [`Waiter::poll`], which drives the batch when it is the waiter's turn,
//! [`Waiter::answer`], and the waiter's `Drop`, which withdraws it.

use std::borrow::Borrow;
use std::cell::OnceCell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Answers, DriverStep, Outcome, Shared, State, WakeOnDrop, Wakers};
use crate::waits::Edge;
use crate::{CacheKey, Loader, ValueOf};

/// A waiter: the registration of one `load`, of one `load_many` in one of the batches it spans,
/// or of a blocking loader's loads of one round in their batch. Polling it drives the batch when
/// it is the driver's turn; dropping it before the batch completed withdraws it, passing the
/// driver's role to an heir or abandoning the batch if it was the last.
///
/// `S` is how it holds the loader: `&Arc<Shared>` in the futures, which borrow the
/// [`DataLoader`](crate::DataLoader), an `Arc<Shared>` in the blocking loader's waiting loads,
/// which outlive any borrow.
pub(crate) struct Waiter<L: Loader, C: CacheKey, S: Borrow<Arc<Shared<L, C>>>> {
    shared: S,
    answers: Arc<Answers<ValueOf<L>, L::Error>>,
    batch: usize,
    /// This waiter's index in its batch's `wakers`.
    index: u32,
    /// This waiter's edge in the wait-for graph, if it was made inside a batch function. Boxed:
    /// few loads have one, and every `Load` future would otherwise carry its 24 bytes.
    edge: Option<Box<Edge>>,
    /// Set once `poll` found the answers published: there is nothing to withdraw.
    answered: bool,
    cache_key: PhantomData<fn() -> C>,
}

/// The waiter of a `Load` or `LoadMany` future.
pub(crate) type BorrowedWaiter<'a, L, C> = Waiter<L, C, &'a Arc<Shared<L, C>>>;

/// The waiter of a blocking loader's loads.
pub(crate) type OwnedWaiter<L, C> = Waiter<L, C, Arc<Shared<L, C>>>;

impl<L: Loader, C: CacheKey, S: Borrow<Arc<Shared<L, C>>>> Waiter<L, C, S> {
    /// The batch this waiter waits on.
    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    /// The answer for `slot` of this waiter's batch, once [`poll`](Self::poll) is ready.
    pub(crate) fn answer(&self, slot: u32) -> Outcome<L> {
        self.answers
            .get(slot)
            .expect("a completed batch answers its slots")
    }

    /// Holds the wait-for edge of a load of this waiter, if it has one (a load made inside a
    /// batch function), until the waiter is dropped.
    #[inline]
    pub(crate) fn hold_edge(&mut self, edge: Option<Edge>) {
        // Most loads have no edge: skip the match (and the call) for them.
        if edge.is_none() {
            return;
        }
        match (&mut self.edge, edge) {
            (Some(held), Some(edge)) => held.absorb(edge),
            (held, Some(edge)) => *held = Some(Box::new(edge)),
            (_, None) => {}
        }
    }

    /// Ready once the batch has completed; drives the batch if it is this waiter's turn.
    /// Inlined down to the check of the answers, which is all that most polls (every waiter's
    /// last) do.
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Self::is_answered(&self.answers, &mut self.answered, &mut self.edge) {
            return Poll::Ready(());
        }
        self.wait(cx)
    }

    /// Whether the batch's `answers` are published; if so, marks the waiter `answered` and drops
    /// its `edge`. Takes the fields, not `self`, so that `wait` can call it while it holds the
    /// loader's lock through `self.shared`.
    #[inline]
    fn is_answered(
        answers: &Answers<ValueOf<L>, L::Error>,
        answered: &mut bool,
        edge: &mut Option<Box<Edge>>,
    ) -> bool {
        if !answers.are_published() {
            return false;
        }
        *answered = true;
        // Answered: it waits for nothing now, so its wait-for edge goes (a stale one could later
        // be taken for half of a cycle).
        *edge = None;
        true
    }

    /// `poll` before the answers are published: registers the waker, and drives the batch when
    /// it is this waiter's turn. Never inlined, so that the check in `poll` stays small where it
    /// is inlined (in every `Load`'s poll, cache hits included).
    #[inline(never)]
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared: &Arc<Shared<L, C>> = self.shared.borrow();
        loop {
            let mut state = shared.lock();
            // Published first: completion publishes before it releases the lock, so this check
            // under the lock cannot miss it, and the batch below is still this waiter's.
            if Self::is_answered(&self.answers, &mut self.answered, &mut self.edge) {
                return Poll::Ready(());
            }
            let mut unblocked = None;
            let step = state.drive(shared, self.batch, self.index, cx, &mut unblocked);
            let (fut, id) = match step {
                DriverStep::Poll(fut, id) => (fut, id),
                DriverStep::Wait => {
                    // Lock rule: wake after unlocking.
                    drop(state);
                    if let Some(waker) = unblocked {
                        waker.wake();
                    }
                    return Poll::Pending;
                }
                DriverStep::Yield(rewake) => {
                    drop(state);
                    rewake.wake(cx);
                    return Poll::Pending;
                }
            };
            drop(state);
            if shared.poll_batch(self.batch, id, fut, cx).is_pending() {
                return Poll::Pending;
            }
            // The batch completed in that poll (or a panic in its completion left it half
            // done, which the check under the lock above sorts out).
            if Self::is_answered(&self.answers, &mut self.answered, &mut self.edge) {
                return Poll::Ready(());
            }
        }
    }
}

/// Live count: the only place a waiter is withdrawn.
impl<L: Loader, C: CacheKey, S: Borrow<Arc<Shared<L, C>>>> Drop for Waiter<L, C, S> {
    fn drop(&mut self) {
        if !self.answered {
            self.shared
                .borrow()
                .leave(&self.answers, self.batch, self.index);
        }
    }
}

/// A single load's progress: answered, waiting on a batch, or handed out.
pub(crate) enum LoadState<'a, L: Loader, C: CacheKey> {
    Ready(Outcome<L>),
    /// The waiter, and the slot of its batch that answers this load.
    Waiting(BorrowedWaiter<'a, L, C>, u32),
    /// The answer was handed out.
    Taken,
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

/// The handle `admit` passes to its callback, to register waiters while the lock is held.
pub(crate) struct Registrar<'a, 's, L: Loader, C: CacheKey> {
    shared: &'a Arc<Shared<L, C>>,
    state: &'s mut State<L, C>,
}

impl<'a, L: Loader, C: CacheKey> Registrar<'a, '_, L, C> {
    /// Registers a new waiter in `batch`, borrowing the loader.
    pub(crate) fn register(&mut self, batch: usize) -> BorrowedWaiter<'a, L, C> {
        let shared = self.shared;
        self.register_with(shared, batch)
    }

    /// Whether `waiter`, registered by an earlier `admit`, still waits on `batch`, so that a
    /// load queued there can share it. Published first: a completed batch's index may be
    /// another batch's by now, which the answers tell apart.
    pub(crate) fn is_waiting_on<S: Borrow<Arc<Shared<L, C>>>>(
        &self,
        waiter: &Waiter<L, C, S>,
        batch: usize,
    ) -> bool {
        waiter.batch == batch && Arc::ptr_eq(&waiter.answers, &self.state.batches[batch].answers)
    }

    /// Registers a new waiter in `batch` that owns a handle to the loader.
    pub(crate) fn register_owned(&mut self, batch: usize) -> OwnedWaiter<L, C> {
        let shared = Arc::clone(self.shared);
        self.register_with(shared, batch)
    }

    fn register_with<S: Borrow<Arc<Shared<L, C>>>>(
        &mut self,
        shared: S,
        batch: usize,
    ) -> Waiter<L, C, S> {
        let b = &mut self.state.batches[batch];
        b.trace.joined();
        b.wakers.push(None);
        // Live count: withdrawn by the waiter's `Drop`.
        b.live += 1;
        Waiter {
            shared,
            answers: Arc::clone(&b.answers),
            batch,
            index: (b.wakers.len() - 1) as u32,
            edge: None,
            answered: false,
            cache_key: PhantomData,
        }
    }
}

impl<L: Loader, C: CacheKey> Shared<L, C> {
    /// Takes one key in, as [`admit`](Self::admit) does, and registers its waiter: the path of
    /// every `load`, memo hits included, so it skips what only several keys need. A key's batch
    /// is sealed (if it fills up) as the last step of `admit_one`, so no panic can strand the
    /// waker that sealing returns.
    pub(crate) fn admit_key(self: &Arc<Self>, key: L::Key) -> LoadState<'_, L, C> {
        let awaiting = OnceCell::new();
        let mut state = self.lock();
        let mut full = None;
        let placed = match state.admit_one(self, key, &awaiting, &mut full) {
            Admit::Ready(outcome) => LoadState::Ready(outcome),
            Admit::Queued { batch, slot, edge } => {
                let mut registrar = Registrar {
                    shared: self,
                    state: &mut state,
                };
                let mut waiter = registrar.register(batch);
                waiter.hold_edge(edge);
                LoadState::Waiting(waiter, slot)
            }
        };
        // Lock rule: wake after unlocking.
        drop(state);
        // Only a load that fills its batch wakes anyone: a single `Option`, so that a memo hit
        // pays for no list.
        if let Some(driver) = full {
            driver.wake();
        }
        placed
    }

    /// Takes `keys` in: answers memoized ones, joins queued or in-flight ones, queues the rest.
    /// `each` receives every key's place, in order, while the lock is held, so that a
    /// `load_many` registers its waiters in one critical section.
    pub(crate) fn admit<'a>(
        self: &'a Arc<Self>,
        keys: impl IntoIterator<Item = L::Key>,
        mut each: impl FnMut(Admit<L>, &mut Registrar<'a, '_, L, C>),
    ) {
        let keys = keys.into_iter();
        let awaiting = OnceCell::new();
        // Lock rule: declared before the guard, so that even a panic below wakes unlocked.
        let mut wake = WakeOnDrop(Wakers::default());
        let mut state = self.lock();
        if let Some(index) = state.keys.as_mut() {
            // New keys go into the index: grow it once, not step by step.
            index.reserve(keys.size_hint().0);
        }
        for key in keys {
            let mut full = None;
            let place = state.admit_one(self, key, &awaiting, &mut full);
            if full.is_some() {
                wake.0.push(full);
            }
            let mut registrar = Registrar {
                shared: self,
                state: &mut state,
            };
            each(place, &mut registrar);
        }
        // Lock rule: wake after unlocking.
        drop(state);
        drop(wake);
    }
}
