//! [`DataLoader`], the handle callers load through, and the futures its loads return.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker, ready};

use crate::scheduler::{Admit, BorrowedWaiter, LoadState, Outcome, Shared};
use crate::{Builder, CacheKey, LoadResult, Loader, Stats, ValueOf};

/// Batches and memoizes loads by key.
///
/// Cheap to clone (an `Arc`); clones share one memo and one batch queue. Build one per request
/// (see [`Loaders`](crate::Loaders)): the memo then never serves one user's data to another, and
/// never grows for the life of the server.
///
/// See the [crate documentation](crate) for an overview and [`Builder`] for the options.
pub struct DataLoader<L: Loader, C: CacheKey = <L as Loader>::Key> {
    pub(crate) shared: Arc<Shared<L, C>>,
}

impl<L: Loader> DataLoader<L>
where
    L::Key: CacheKey,
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

impl<L: Loader, C: CacheKey> DataLoader<L, C> {
    /// A loader with the default options that memoizes by what `cache_key` returns: see
    /// [`Builder::with_cache_key`].
    pub fn with_cache_key(
        loader: L,
        cache_key: impl Fn(&L::Key) -> C + Send + Sync + 'static,
    ) -> Self {
        Builder::with_cache_key(loader, cache_key).build()
    }
}

impl<L: Loader, C: CacheKey> DataLoader<L, C> {
    /// Loads one key: its value, or why there is none.
    ///
    /// The key is queued when `load` is called, so loads started before the first `.await`
    /// share a batch:
    ///
    /// ```
    /// # let loader = coalesce_loader::DataLoader::new(coalesce_loader::from_fn(|ids: Vec<u32>| async move {
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
    /// A key already memoized is a cache hit, answered at the load's first poll, before the
    /// batch that is collecting is sent: a hit adds no key to any batch, so holding it back
    /// until that batch resolves would only delay the resolver. A key already queued or in
    /// flight is joined, not sent again (unless the loader was built with
    /// [`cache(false)`](Builder::cache)).
    ///
    /// Dropping the returned future withdraws the load; other loads of the same batch are not
    /// affected, and a batch nobody waits for any more is cancelled.
    pub fn load(&self, key: L::Key) -> Load<'_, L, C> {
        Load {
            state: self.shared.admit_key(key),
        }
    }

    /// Loads several keys: one result per key, in order. Never fails as a whole: each entry is
    /// that key's value or that key's error.
    ///
    /// Cheaper than a `join_all` of [`load`](Self::load)s: the keys are queued under one lock
    /// and the future waits once per batch rather than once per key.
    ///
    /// ```
    /// # let loader = coalesce_loader::DataLoader::new(coalesce_loader::from_fn(|ids: Vec<u32>| async move {
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
        // registered so far are withdrawn when it is dropped rather than lost.
        let mut many = LoadMany {
            results: Vec::with_capacity(keys.size_hint().0),
            waits: Vec::new(),
            unanswered: 0,
            woken: None,
        };
        // Batch index -> position in `waits`, built once there are many waits.
        let mut wait_of = HashMap::new();
        self.shared.admit(keys, |place, registrar| match place {
            Admit::Ready(outcome) => many.results.push(Some(outcome)),
            Admit::Queued { batch, slot, edge } => {
                let position = many.results.len() as u32;
                many.results.push(None);
                // One waiter per batch, not per key. Keys almost always join the newest batch
                // (the last wait); a key already queued in an older batch is looked up, by
                // index once there are many batches, so that admission stays linear.
                let found = match many.waits.last() {
                    Some(last) if last.waiter.batch() == batch => Some(many.waits.len() - 1),
                    _ if many.waits.len() < INDEX_WAITS_FROM => {
                        many.waits.iter().position(|w| w.waiter.batch() == batch)
                    }
                    _ => {
                        if wait_of.is_empty() {
                            wait_of.extend(
                                many.waits
                                    .iter()
                                    .enumerate()
                                    .map(|(i, w)| (w.waiter.batch(), i)),
                            );
                        }
                        wait_of.get(&batch).copied()
                    }
                };
                let wait = match found {
                    Some(i) => &mut many.waits[i],
                    None => {
                        if !wait_of.is_empty() {
                            wait_of.insert(batch, many.waits.len());
                        }
                        many.waits.push(Wait {
                            waiter: registrar.register(batch),
                            slots: Vec::new(),
                            waker: None,
                        });
                        many.waits.last_mut().expect("just pushed")
                    }
                };
                wait.waiter.hold_edge(edge);
                wait.slots.push((position, slot));
            }
        });
        many.unanswered = many.waits.len();
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
    /// been told: what a mutation awaits so that other instances see its change. The synchronous
    /// [`clear_many`](Self::clear_many) only makes the tier owe the deletion, sent by the next
    /// batch through the tier. A deletion that fails, or that is dropped in flight, stays owed:
    /// no loader of this process reads those keys from the tier until it is confirmed, and every
    /// batch through the tier sends it again.
    pub async fn clear_shared<Q: Borrow<L::Key>>(&self, keys: impl IntoIterator<Item = Q>) {
        self.shared.clear(keys);
        self.shared.settle().await;
    }

    /// Forgets every key here and in the shared tier, returning once the tier has: see
    /// [`clear_shared`](Self::clear_shared).
    pub async fn clear_all_shared(&self) {
        self.shared.clear_all();
        self.shared.settle().await;
    }

    /// Memoizes a value loaded some other way, such as by a list query (a `users` field that
    /// fetched every user). Never overwrites: a key already memoized or in flight keeps its value
    /// (use [`force_prime`](Self::force_prime) to overwrite). A key queued in a batch not yet
    /// sent is answered with `value` and left out of the batch.
    ///
    /// Does nothing when the loader was built with [`cache(false)`](Builder::cache): with no
    /// memo there is nowhere to keep the value, and a load of `key` already queued is not
    /// answered with it but gets what the batch function returns.
    pub fn prime(&self, key: L::Key, value: ValueOf<L>) -> &Self {
        self.shared.prime(std::iter::once((key, Ok(value))), false);
        self
    }

    /// [`prime`](Self::prime)s each `(key, value)` pair.
    pub fn prime_many(&self, entries: impl IntoIterator<Item = (L::Key, ValueOf<L>)>) -> &Self {
        self.shared
            .prime(entries.into_iter().map(|(k, v)| (k, Ok(v))), false);
        self
    }

    /// Memoizes an error for `key`: its loads fail with [`LoadError::Key`](crate::LoadError::Key)
    /// carrying `error`, as if the batch function had returned it for that key, and the batch
    /// function is not called for it. Like [`prime`](Self::prime), never overwrites, and answers a
    /// load of `key` queued in a batch not yet sent.
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, LoadError};
    ///
    /// let users = DataLoader::new(coalesce_loader::from_fn(|ids: Vec<u64>| async move {
    ///     Ok::<_, String>(ids.iter().map(|id| Ok(format!("user {id}"))).collect::<Vec<_>>())
    /// }));
    /// users.prime_error(7, "user 7 is banned".to_string());
    /// # futures::executor::block_on(async {
    /// let err = users.load(7).await.unwrap_err();
    /// assert!(matches!(err, LoadError::Key(_)));
    /// assert_eq!(err.to_string(), "user 7 is banned");
    /// assert_eq!(users.stats().batches, 0, "the batch function was not called");
    /// # });
    /// ```
    pub fn prime_error(&self, key: L::Key, error: L::Error) -> &Self {
        self.shared
            .prime(std::iter::once((key, Err(Arc::new(error)))), false);
        self
    }

    /// Memoizes `value` for `key`, replacing what was there.
    /// Loads already waiting for a fetch of `key` still get the fetched value; later loads get
    /// `value`.
    pub fn force_prime(&self, key: L::Key, value: ValueOf<L>) -> &Self {
        self.shared.prime(std::iter::once((key, Ok(value))), true);
        self
    }

    /// [`force_prime`](Self::force_prime)s each `(key, value)` pair.
    pub fn force_prime_many(
        &self,
        entries: impl IntoIterator<Item = (L::Key, ValueOf<L>)>,
    ) -> &Self {
        self.shared
            .prime(entries.into_iter().map(|(k, v)| (k, Ok(v))), true);
        self
    }

    /// Sends the collecting batch now instead of when the [`Schedule`](crate::Schedule) would,
    /// and starts it: the batch function has been called when `dispatch` returns (it runs up to
    /// its first `.await` that is not ready, on this thread). Batches that filled up
    /// ([`max_batch_size`](crate::Builder::max_batch_size)) and have not started yet start too.
    /// A batch over [`max_concurrent_batches`](crate::Builder::max_concurrent_batches) waits for
    /// a permit as usual; with a [`value_cache`](crate::Builder::value_cache), the shared tier is
    /// read first and the batch function is called once it has answered.
    ///
    /// Required with [`Schedule::Manual`](crate::Schedule::Manual); harmless otherwise. Loads
    /// still have to be awaited for their answers.
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, Schedule};
    /// use std::convert::Infallible;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let fetched = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&fetched);
    /// let loader = DataLoader::builder(coalesce_loader::from_fn(move |keys: Vec<u32>| {
    ///     log.lock().unwrap().extend_from_slice(&keys);
    ///     let values: Vec<Result<u32, Infallible>> = keys.iter().map(|k| Ok(k * 2)).collect();
    ///     async move { Ok(values) }
    /// }))
    /// .schedule(Schedule::Manual)
    /// .build();
    ///
    /// let (a, b) = (loader.load(1), loader.load(2));
    /// loader.dispatch();
    /// assert_eq!(*fetched.lock().unwrap(), [1, 2]); // fetched before anything was awaited
    /// let (a, b) = futures::executor::block_on(async { futures::join!(a, b) });
    /// assert_eq!((a.unwrap(), b.unwrap()), (2, 4));
    /// ```
    pub fn dispatch(&self) {
        self.shared.dispatch();
    }

    /// What this loader has done so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The loader's name, for stats, logs and errors ([`Builder::name`]).
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// The batch function and its context.
    pub fn loader(&self) -> &L {
        &self.shared.loader
    }
}

impl<L: Loader, C: CacheKey> Clone for DataLoader<L, C> {
    fn clone(&self) -> Self {
        DataLoader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<L: Loader, C: CacheKey> fmt::Debug for DataLoader<L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataLoader")
            .field("name", &self.name())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// How many batches a `load_many` spans before it finds a key's batch through an index rather
/// than a scan.
const INDEX_WAITS_FROM: usize = 8;

/// The future of [`DataLoader::load`].
#[must_use = "a load does nothing unless awaited; dropping it withdraws the key"]
pub struct Load<'a, L: Loader, C: CacheKey = <L as Loader>::Key> {
    /// Dropping it withdraws the load (its waiter's `Drop`).
    state: LoadState<'a, L, C>,
}

// Nothing in a `Load` is pinned structurally (the future never hands out `Pin<&mut>` to a
// field), so moving it between polls is sound whatever the value type is.
impl<L: Loader, C: CacheKey> Unpin for Load<'_, L, C> {}

impl<L: Loader, C: CacheKey> Future for Load<'_, L, C> {
    type Output = LoadResult<L>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LoadResult<L>> {
        let this = self.get_mut();
        if let LoadState::Waiting(waiter, _) = &mut this.state {
            ready!(waiter.poll(cx));
        }
        // Each arm returns on its own: a memo hit's answer then goes straight out, not through
        // a copy shared with the waiting arm.
        match std::mem::replace(&mut this.state, LoadState::Taken) {
            LoadState::Ready(outcome) => Poll::Ready(outcome),
            LoadState::Waiting(waiter, slot) => Poll::Ready(waiter.answer(slot)),
            LoadState::Taken => panic!("`Load` polled after it completed"),
        }
    }
}

/// The future of [`DataLoader::load_many`].
#[must_use = "a load does nothing unless awaited; dropping it withdraws the keys"]
pub struct LoadMany<'a, L: Loader, C: CacheKey = <L as Loader>::Key> {
    /// One entry per key, in order; `None` until its batch completes.
    results: Vec<Option<Outcome<L>>>,
    /// One per batch some of the keys wait on; dropping them withdraws the keys, front to back.
    waits: Vec<Wait<'a, L, C>>,
    /// How many of `waits` are not answered yet.
    unanswered: usize,
    /// With several batches: which of them were woken since they were last polled.
    woken: Option<Arc<Woken>>,
}

struct Wait<'a, L: Loader, C: CacheKey> {
    waiter: BorrowedWaiter<'a, L, C>,
    /// (position in `results`, slot in the batch) of each key waiting on this batch; emptied
    /// once they are answered.
    slots: Vec<(u32, u32)>,
    /// This wait's own waker, when the future waits on several batches.
    waker: Option<(Arc<WaitWaker>, Waker)>,
}

/// The waits of a `LoadMany` woken since their last poll. Keys spread over many batches (a
/// `max_batch_size`, a permit limit) would otherwise cost a poll of every waiting batch per
/// wake-up: quadratic in the number of batches.
#[derive(Default)]
struct Woken {
    waits: Mutex<Vec<usize>>,
    task: Mutex<Option<Waker>>,
}

/// The waker a `LoadMany` registers for one of its waits: notes the wait, then wakes the task.
struct WaitWaker {
    wait: usize,
    /// Set while the wait is in `Woken::waits`, so that it is noted once per poll.
    noted: AtomicBool,
    woken: Arc<Woken>,
}

impl Wake for WaitWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.noted.swap(true, Ordering::AcqRel) {
            lock(&self.woken.waits).push(self.wait);
        }
        // Cloned out first: waking may run code that wakes this future again.
        let task = lock(&self.woken.task).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// A lock held only for a push, a take or a clone: a panic elsewhere cannot leave it torn.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// As for `Load`: no structural pinning.
impl<L: Loader, C: CacheKey> Unpin for LoadMany<'_, L, C> {}

impl<L: Loader, C: CacheKey> LoadMany<'_, L, C> {
    /// Polls wait `i` with its own waker, or `cx`'s when it has none; once its batch is done,
    /// moves its answers into `results`.
    fn poll_wait(&mut self, i: usize, cx: &mut Context<'_>) {
        let wait = &mut self.waits[i];
        if wait.slots.is_empty() {
            return; // answered at an earlier poll
        }
        let polled = match &wait.waker {
            Some((note, waker)) => {
                note.noted.store(false, Ordering::Release);
                wait.waiter.poll(&mut Context::from_waker(waker))
            }
            None => wait.waiter.poll(cx),
        };
        if polled.is_pending() {
            return;
        }
        for (position, slot) in std::mem::take(&mut wait.slots) {
            self.results[position as usize] = Some(wait.waiter.answer(slot));
        }
        self.unanswered -= 1;
    }

    /// Gives every wait a waker of its own that notes it in `woken`.
    fn watch_each(&mut self, cx: &Context<'_>) -> Arc<Woken> {
        let woken = Arc::new(Woken::default());
        *lock(&woken.task) = Some(cx.waker().clone());
        for (i, wait) in self.waits.iter_mut().enumerate() {
            let note = Arc::new(WaitWaker {
                wait: i,
                noted: AtomicBool::new(false),
                woken: Arc::clone(&woken),
            });
            wait.waker = Some((Arc::clone(&note), Waker::from(note)));
        }
        woken
    }
}

impl<L: Loader, C: CacheKey> Future for LoadMany<'_, L, C> {
    type Output = Vec<LoadResult<L>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<LoadResult<L>>> {
        let this = self.get_mut();
        if this.unanswered == 0 {
            // Nothing to wait for (every key was memoized), or all answered.
        } else if this.waits.len() == 1 {
            // One batch, the common case: no wake-up bookkeeping.
            this.poll_wait(0, cx);
        } else if let Some(woken) = this.woken.clone() {
            {
                let mut task = lock(&woken.task);
                if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                    *task = Some(cx.waker().clone());
                }
            }
            // Only the waits woken since their last poll can have moved on.
            loop {
                let noted = std::mem::take(&mut *lock(&woken.waits));
                if noted.is_empty() {
                    break;
                }
                for i in noted {
                    this.poll_wait(i, cx);
                }
            }
        } else {
            // First poll over several batches: each gets a waker of its own, then a poll.
            this.woken = Some(this.watch_each(cx));
            for i in 0..this.waits.len() {
                this.poll_wait(i, cx);
            }
        }
        if this.unanswered > 0 {
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
