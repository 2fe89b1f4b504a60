//! [`DataLoader`], the handle callers load through, and the futures its loads return.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use crate::scheduler::{Admit, LoadState, Outcome, Shared, Ticket};
use crate::{Builder, CacheKey, Loader, SameKey, Stats, ValueOf};

/// Batches and memoizes loads by key.
///
/// Cheap to clone (an `Arc`); clones share one memo and one batch queue. Build one per request
/// (see [`Loaders`](crate::Loaders)): the memo then never serves one user's data to another, and
/// never grows for the life of the server.
///
/// See the [crate documentation](crate) for an overview and [`Builder`] for the options.
pub struct DataLoader<L: Loader, C: CacheKey<L::Key> = SameKey> {
    pub(crate) shared: Arc<Shared<L, C>>,
}

impl<L: Loader> DataLoader<L>
where
    SameKey: CacheKey<L::Key>,
{
    /// A loader with the default options: memoized, batched without limit, sent by the
    /// [frame rule](crate::Schedule::Frame).
    pub fn new(loader: L) -> Self {
        Builder::new(loader).build()
    }

    /// Options for a loader; same as [`Builder::new`].
    pub fn builder(loader: L) -> Builder<L> {
        Builder::new(loader)
    }
}

impl<L: Loader, C: CacheKey<L::Key>> DataLoader<L, C> {
    /// Loads one key: its value, or why there is none.
    ///
    /// The key is queued when `load` is called, so loads started before the first `.await`
    /// share a batch, as in aiodataloader:
    ///
    /// ```
    /// # let loader = coalesce::DataLoader::new(coalesce::from_fn(|ids: Vec<u32>| async move {
    /// #     Ok::<_, std::convert::Infallible>(ids.iter().map(|&i| Ok(i * 2)).collect::<Vec<_>>())
    /// # }));
    /// # futures::executor::block_on(async {
    /// let user1 = loader.load(1);
    /// let user2 = loader.load(2);
    /// assert_eq!((user1.await.unwrap(), user2.await.unwrap()), (2, 4));
    /// assert_eq!(loader.stats().batches, 1);
    /// # });
    /// ```
    ///
    /// Dropping the returned future withdraws the load; other loads of the same batch are not
    /// affected, and a batch nobody waits for any more is cancelled.
    pub fn load(&self, key: L::Key) -> Load<'_, L, C> {
        Load {
            shared: &self.shared,
            state: self.shared.admit_key(key),
        }
    }

    /// Loads several keys: one result per key, in order. Never fails as a whole (graphql/dataloader
    /// v2's `loadMany`): each entry is that key's value or that key's error.
    ///
    /// Cheaper than a `join_all` of [`load`](Self::load)s: the keys are queued under one lock
    /// and the future waits once per batch rather than once per key.
    ///
    /// ```
    /// # let loader = coalesce::DataLoader::new(coalesce::from_fn(|ids: Vec<u32>| async move {
    /// #     Ok::<_, std::convert::Infallible>(ids.iter().map(|&i| Ok(i * 2)).collect::<Vec<_>>())
    /// # }));
    /// # futures::executor::block_on(async {
    /// let users = loader.load_many([1, 2, 3]).await;
    /// assert_eq!(users.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [2, 4, 6]);
    /// # });
    /// ```
    pub fn load_many(&self, keys: impl IntoIterator<Item = L::Key>) -> LoadMany<'_, L, C> {
        let keys = keys.into_iter();
        // Built first, so that if a cache-key function or cache map panics midway, the waiters
        // registered so far are withdrawn by its `Drop` rather than lost.
        let mut many = LoadMany {
            shared: &self.shared,
            results: Vec::with_capacity(keys.size_hint().0),
            waits: Vec::new(),
        };
        self.shared.admit(keys, |place, registrar| match place {
            Admit::Ready(outcome) => many.results.push(Some(outcome)),
            Admit::Queued { batch, slot } => {
                let position = many.results.len() as u32;
                many.results.push(None);
                // One waiter per batch, not per key: keys almost always share the open batch,
                // so the search rarely looks past the last entry.
                let wait = match many.waits.iter().rposition(|w| w.ticket.batch() == batch) {
                    Some(i) => &mut many.waits[i],
                    None => {
                        many.waits.push(Wait {
                            ticket: registrar.register(batch),
                            slots: Vec::new(),
                        });
                        many.waits.last_mut().expect("just pushed")
                    }
                };
                wait.slots.push((position, slot));
            }
        });
        many
    }

    /// Forgets `key`: a later load fetches it again. Loads already waiting for it still get the
    /// value being fetched, which is then not memoized. Returns `self` for chaining, as in
    /// `loader.clear(&4).prime(4, user)`.
    pub fn clear(&self, key: &L::Key) -> &Self {
        self.shared.clear(std::iter::once(key));
        self
    }

    /// Forgets each of `keys`.
    pub fn clear_many<Q: Borrow<L::Key>>(&self, keys: impl IntoIterator<Item = Q>) -> &Self {
        self.shared.clear(keys);
        self
    }

    /// Forgets every key: for a mutation whose effects on this loader are unknown.
    pub fn clear_all(&self) -> &Self {
        self.shared.clear_all();
        self
    }

    /// Forgets `keys` here and in the shared tier ([`crate::tier`]), returning once the tier has
    /// forgotten them too: what a mutation awaits so that other instances see its change. The
    /// synchronous [`clear_many`](Self::clear_many) only queues the tier's deletion, to be sent
    /// before this loader's next batch. A tier that fails is counted and logged; the deletion
    /// is retried before the next batch.
    pub async fn clear_shared<Q: Borrow<L::Key>>(&self, keys: impl IntoIterator<Item = Q>) {
        self.shared.clear(keys);
        self.shared.flush_invalidations().await;
    }

    /// Forgets every key here and in the shared tier, returning once the tier has: see
    /// [`clear_shared`](Self::clear_shared).
    pub async fn clear_all_shared(&self) {
        self.shared.clear_all();
        self.shared.flush_invalidations().await;
    }

    /// Memoizes a value loaded some other way, such as by a list query (the seeds'
    /// `getAllPeople`). Never overwrites: a key already memoized or in flight keeps its value
    /// (use [`force_prime`](Self::force_prime) to overwrite). A key queued in a batch not yet
    /// sent is answered with `value` and left out of the batch.
    ///
    /// Does nothing when the loader was built with [`cache(false)`](Builder::cache).
    pub fn prime(&self, key: L::Key, value: ValueOf<L>) -> &Self {
        self.shared.prime(std::iter::once((key, value)), false);
        self
    }

    /// [`prime`](Self::prime)s each `(key, value)` pair.
    pub fn prime_many(&self, entries: impl IntoIterator<Item = (L::Key, ValueOf<L>)>) -> &Self {
        self.shared.prime(entries, false);
        self
    }

    /// Memoizes `value` for `key`, replacing what was there (Strawberry's `prime(force=True)`).
    /// Loads already waiting for a fetch of `key` still get the fetched value; later loads get
    /// `value`.
    pub fn force_prime(&self, key: L::Key, value: ValueOf<L>) -> &Self {
        self.shared.prime(std::iter::once((key, value)), true);
        self
    }

    /// [`force_prime`](Self::force_prime)s each `(key, value)` pair.
    pub fn force_prime_many(
        &self,
        entries: impl IntoIterator<Item = (L::Key, ValueOf<L>)>,
    ) -> &Self {
        self.shared.prime(entries, true);
        self
    }

    /// Sends the collecting batch now instead of when the [`Schedule`](crate::Schedule) would.
    /// Required with [`Schedule::Manual`](crate::Schedule::Manual); harmless otherwise.
    pub fn dispatch(&self) {
        self.shared.dispatch();
    }

    /// What this loader has done so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The loader's name, for stats, logs and errors ([`Builder::name`]).
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The batch function and its context.
    pub fn loader(&self) -> &L {
        &self.shared.loader
    }
}

impl<L: Loader, C: CacheKey<L::Key>> Clone for DataLoader<L, C> {
    fn clone(&self) -> Self {
        DataLoader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<L: Loader, C: CacheKey<L::Key>> fmt::Debug for DataLoader<L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataLoader")
            .field("name", &self.name())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The future of [`DataLoader::load`].
#[must_use = "a load does nothing unless awaited; dropping it withdraws the key"]
pub struct Load<'a, L: Loader, C: CacheKey<L::Key> = SameKey> {
    shared: &'a Arc<Shared<L, C>>,
    state: LoadState<L>,
}

// Nothing in a `Load` is pinned structurally (the future never hands out `Pin<&mut>` to a
// field), so moving it between polls is sound whatever the value type is.
impl<L: Loader, C: CacheKey<L::Key>> Unpin for Load<'_, L, C> {}

impl<L: Loader, C: CacheKey<L::Key>> Future for Load<'_, L, C> {
    type Output = Outcome<L>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<L>> {
        let this = self.get_mut();
        if let LoadState::Waiting(ticket, _) = &mut this.state {
            ready!(this.shared.poll_ticket(ticket, cx));
        }
        Poll::Ready(match std::mem::replace(&mut this.state, LoadState::Done) {
            LoadState::Ready(outcome) => outcome,
            LoadState::Waiting(ticket, slot) => ticket
                .done
                .get(slot)
                .expect("a completed batch answers its slots"),
            LoadState::Done => panic!("`Load` polled after it completed"),
        })
    }
}

impl<L: Loader, C: CacheKey<L::Key>> Drop for Load<'_, L, C> {
    fn drop(&mut self) {
        if let LoadState::Waiting(ticket, _) = &self.state {
            self.shared.leave(ticket);
        }
    }
}

/// The future of [`DataLoader::load_many`].
#[must_use = "a load does nothing unless awaited; dropping it withdraws the keys"]
pub struct LoadMany<'a, L: Loader, C: CacheKey<L::Key> = SameKey> {
    shared: &'a Arc<Shared<L, C>>,
    /// One entry per key, in order; `None` until its batch completes.
    results: Vec<Option<Outcome<L>>>,
    /// One per batch some of the keys wait on.
    waits: Vec<Wait<L>>,
}

struct Wait<L: Loader> {
    ticket: Ticket<ValueOf<L>, L::Error>,
    /// (position in `results`, slot in the batch) of each key waiting on this batch.
    slots: Vec<(u32, u32)>,
}

// As for `Load`: no structural pinning.
impl<L: Loader, C: CacheKey<L::Key>> Unpin for LoadMany<'_, L, C> {}

impl<L: Loader, C: CacheKey<L::Key>> Future for LoadMany<'_, L, C> {
    type Output = Vec<Outcome<L>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<Outcome<L>>> {
        let this = self.get_mut();
        let mut i = 0;
        while i < this.waits.len() {
            let wait = &mut this.waits[i];
            if this.shared.poll_ticket(&mut wait.ticket, cx).is_pending() {
                i += 1;
                continue;
            }
            for &(position, slot) in &wait.slots {
                this.results[position as usize] = wait.ticket.done.get(slot);
            }
            this.waits.swap_remove(i);
        }
        if !this.waits.is_empty() {
            return Poll::Pending;
        }
        Poll::Ready(
            std::mem::take(&mut this.results)
                .into_iter()
                .map(|r| r.expect("every key answered once its batches are done"))
                .collect(),
        )
    }
}

impl<L: Loader, C: CacheKey<L::Key>> Drop for LoadMany<'_, L, C> {
    fn drop(&mut self) {
        for wait in &self.waits {
            self.shared.leave(&wait.ticket);
        }
    }
}
