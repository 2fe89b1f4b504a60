//! [`Builder`]: the options of a [`DataLoader`].

use std::sync::{Arc, OnceLock};

use crate::key::KeyFn;
use crate::scheduler::{Config, CustomMemo, KeyIndex, Shared};
use crate::tier::Tier;
use crate::{CacheEntry, CacheKey, CacheMap, DataLoader, Loader, Schedule, ValueOf};

/// [`Builder::n_plus_one_after`]'s default.
const DEFAULT_N_PLUS_ONE_AFTER: u32 = 10;

/// A memo of the user's own for loader `L` with cache key `C`.
type MemoOf<L, C> = CustomMemo<C, CacheEntry<ValueOf<L>, <L as Loader>::Error>>;

/// The options of a [`DataLoader`].
///
/// Its type is the loader's: `Builder<L, C>` builds a [`DataLoader<L, C>`], whatever options are
/// set, in any order, so a function can take a builder, set some options and hand it on.
///
/// ```
/// use coalesce_loader::{Builder, DataLoader, Schedule};
///
/// let loader = DataLoader::builder(coalesce_loader::from_fn(|ids: Vec<u64>| async move {
///     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id)).collect::<Vec<_>>())
/// }))
/// .name("users")
/// .max_batch_size(500) // SQLite binds at most 32766 parameters; PostgreSQL 65535
/// .max_concurrent_batches(4) // never more than 4 queries of this loader at once
/// .build();
/// assert_eq!(loader.name(), "users");
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<L: Loader, C = <L as Loader>::Key> {
    loader: L,
    key_fn: KeyFn<L::Key, C>,
    /// A memo of the user's own; the built-in map otherwise.
    cache_map: Option<MemoOf<L, C>>,
    tier: Option<Tier<C, ValueOf<L>>>,
    cache: bool,
    batch: bool,
    name: Option<Arc<str>>,
    max_batch_size: usize,
    max_concurrent_batches: usize,
    schedule: Schedule,
    n_plus_one_after: Option<u32>,
}

impl<L: Loader> Builder<L>
where
    L::Key: CacheKey,
{
    /// Options for a loader with `loader` as its batch function, all at their defaults; each
    /// key is its own cache key. Same as [`DataLoader::builder`].
    pub fn new(loader: L) -> Self {
        Self::with_key_fn(loader, KeyFn::same())
    }
}

impl<L: Loader, C: CacheKey> Builder<L, C> {
    /// Options for a loader that memoizes and de-duplicates by what `cache_key` returns instead
    /// of by the key itself: for object keys, or keys that are equal in the ways that matter.
    /// The keys need not be `Hash` or `Eq`; the loader's type names the cache key's type, never
    /// the function.
    ///
    /// ```
    /// use coalesce_loader::{Builder, DataLoader, FnLoader};
    ///
    /// #[derive(Clone)]
    /// struct User { id: u64, name: &'static str } // not Hash: compared by id
    ///
    /// // A type that can be written down: a struct field, a function's return type.
    /// type Names = DataLoader<FnLoader<User, Vec<Result<&'static str, std::convert::Infallible>>, std::convert::Infallible>, u64>;
    ///
    /// let names: Names = Builder::with_cache_key(
    ///     coalesce_loader::from_fn(|users: Vec<User>| async move {
    ///         Ok(users.into_iter().map(|u| Ok(u.name)).collect())
    ///     }),
    ///     |user: &User| user.id,
    /// )
    /// .build();
    /// # futures::executor::block_on(async {
    /// let first = names.load(User { id: 1, name: "Nick" }).await.unwrap();
    /// let again = names.load(User { id: 1, name: "Nicholas" }).await.unwrap();
    /// assert_eq!((first, again), ("Nick", "Nick")); // the second load was a memo hit
    /// # });
    /// ```
    pub fn with_cache_key(
        loader: L,
        cache_key: impl Fn(&L::Key) -> C + Send + Sync + 'static,
    ) -> Self {
        Self::with_key_fn(loader, KeyFn::Custom(Box::new(cache_key)))
    }

    fn with_key_fn(loader: L, key_fn: KeyFn<L::Key, C>) -> Self {
        Builder {
            loader,
            key_fn,
            cache_map: None,
            tier: None,
            cache: true,
            batch: true,
            name: None,
            max_batch_size: usize::MAX,
            max_concurrent_batches: usize::MAX,
            schedule: Schedule::Frame,
            n_plus_one_after: Some(DEFAULT_N_PLUS_ONE_AFTER),
        }
    }

    /// The name in [stats](crate::Loaders::stats), logs, `tracing` spans and error messages.
    /// Defaults to the batch function's own [`name`](Loader::name): its type's name without
    /// the module path, or the function given to [`from_fn`](crate::from_fn).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Memoize loads (the default), or not: with `false`, every load reaches the batch
    /// function, duplicates included, and nothing is remembered. Clearing and priming then do
    /// nothing: a [`prime`](DataLoader::prime) is not kept, and a load of its key already
    /// queued is not answered with it but gets what the batch function returns.
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = cache;
        self
    }

    /// Batch loads (the default), or send each load alone, as soon as it is polled.
    pub fn batch(mut self, batch: bool) -> Self {
        self.batch = batch;
        self
    }

    /// The most keys one call of the batch function gets; a frame with more keys is split
    /// into several batches, all sent. Unlimited by default.
    ///
    /// # Panics
    ///
    /// If `max` is zero: no key could ever be sent.
    pub fn max_batch_size(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "max_batch_size(0): a batch of at most zero keys could never be sent; use 1 to send \
             each key alone, or batch(false)"
        );
        self.max_batch_size = max;
        self
    }

    /// The most batches of this loader running at once; more wait, in order, for one to
    /// finish. Protects a database from a burst of batches. Unlimited by default.
    ///
    /// A batch that a running batch function waits for (it loads from this loader, directly or
    /// through others) never waits for a permit: it runs on the permit of the batch that needs
    /// it, since waiting could wait for that very batch. So batches of loaders that load from
    /// each other cannot deadlock on their limits; such nested batches are bounded by the
    /// number of running batches that need them.
    ///
    /// # Panics
    ///
    /// If `max` is zero: no batch could ever run.
    pub fn max_concurrent_batches(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "max_concurrent_batches(0): no batch could ever run; leave it unset for no limit"
        );
        self.max_concurrent_batches = max;
        self
    }

    /// When a batch is sent; the [frame rule](Schedule::Frame) by default.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// After how many batches of one key in a row the loader suspects an N+1: a resolver that
    /// awaits its loads one by one, so that each is a batch of its own. Each such run counts in
    /// [`Stats::single_key_runs`](crate::Stats::single_key_runs), and with the `tracing` feature
    /// the loader's first one logs a warning naming the loader. `None` turns it off; a loader
    /// built with [`batch(false)`](Self::batch) or a `max_batch_size` of 1 never suspects one.
    ///
    /// 10 by default: a query nesting a field through one loader ten levels deep (`bestFriend {
    /// bestFriend { ... } }`, one key per level) is rare, while a resolver looping over a list of
    /// ten or more awaiting each load is the pattern to catch. A loader shared by many requests,
    /// rather than built per request, sees unrelated single loads as a run: turn it off there.
    ///
    /// ```
    /// use coalesce_loader::DataLoader;
    ///
    /// let users = DataLoader::builder(coalesce_loader::from_fn(|ids: Vec<u32>| async move {
    ///     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id)).collect::<Vec<_>>())
    /// }))
    /// .n_plus_one_after(Some(3))
    /// .build();
    /// # futures::executor::block_on(async {
    /// for id in 0..3 {
    ///     users.load(id).await.unwrap(); // one by one: three batches of one key
    /// }
    /// assert_eq!(users.stats().single_key_runs, 1);
    /// let _ = users.load_many([10, 11]).await; // together: one batch of two
    /// assert_eq!(users.stats().single_key_runs, 1);
    /// # });
    /// ```
    pub fn n_plus_one_after(mut self, batches: Option<u32>) -> Self {
        self.n_plus_one_after = batches;
        self
    }

    /// The memo to use instead of an unbounded `HashMap`; see [`crate::cache`].
    pub fn cache_map(
        mut self,
        cache_map: impl CacheMap<C, CacheEntry<ValueOf<L>, L::Error>>,
    ) -> Self {
        self.cache_map = Some(Box::new(cache_map));
        self
    }

    /// A shared second-level cache consulted in bulk once per batch, behind the memo: see
    /// [`crate::tier`] (and the `coalesce-loader-redis` crate for Redis). Build the [`Tier`] once per
    /// process and give each loader a clone: it keeps the deletions its loaders owe.
    ///
    /// Takes an `Option` too, so that a tier that is configured or not is one line:
    /// `builder.value_cache(shared.clone())` with `shared: Option<Tier<_, _>>`.
    pub fn value_cache(mut self, tier: impl Into<Option<Tier<C, ValueOf<L>>>>) -> Self {
        self.tier = tier.into();
        self
    }

    /// The loader.
    pub fn build(self) -> DataLoader<L, C> {
        let max_batch_size = if self.batch { self.max_batch_size } else { 1 };
        let config = Config {
            name: self.name.map(OnceLock::from).unwrap_or_default(),
            max_batch_size,
            max_concurrent_batches: self.max_concurrent_batches,
            schedule: self.schedule,
            // One key per batch is what such a loader is for.
            n_plus_one_after: self.n_plus_one_after.filter(|_| max_batch_size > 1),
        };
        let keys = self.cache.then(|| KeyIndex::new(self.cache_map));
        DataLoader {
            shared: Arc::new(Shared::new(
                self.loader,
                self.key_fn,
                config,
                keys,
                self.tier,
            )),
        }
    }
}
