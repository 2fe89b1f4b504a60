//! [`Builder`]: the options of a [`DataLoader`].

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::cache::Memo;
use crate::scheduler::{Config, Shared};
use crate::tier::Tier;
use crate::{CacheEntry, CacheKey, CacheMap, DataLoader, Loader, SameKey, Schedule, ValueOf};

/// The options of a [`DataLoader`], named as in graphql/dataloader, aiodataloader and Strawberry.
///
/// ```
/// use coalesce::{DataLoader, Schedule};
///
/// let loader = DataLoader::builder(coalesce::from_fn(|ids: Vec<u64>| async move {
///     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id)).collect::<Vec<_>>())
/// }))
/// .name("users")
/// .max_batch_size(500) // SQLite binds at most 32766 parameters; PostgreSQL 65535
/// .max_concurrent_batches(4) // never more than 4 queries of this loader at once
/// .build();
/// assert_eq!(loader.name(), "users");
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<L, C = SameKey, M = DefaultCacheMap, T = NoValueCache> {
    loader: L,
    key_fn: C,
    cache_map: M,
    value_cache: T,
    cache: bool,
    batch: bool,
    name: Option<Arc<str>>,
    max_batch_size: usize,
    max_concurrent_batches: usize,
    schedule: Schedule,
}

/// The memo a loader gets unless [`Builder::cache_map`] says otherwise: an unbounded `HashMap`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultCacheMap;

/// A memo given to [`Builder::cache_map`], kept as is until [`build`](Builder::build).
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomCacheMap<M>(M);

/// What a [`Builder`] holds as the memo-to-be: [`DefaultCacheMap`] or a [`CustomCacheMap`].
///
/// This indirection lets [`Builder::cache_map`] and [`Builder::cache_key_fn`] be called in any
/// order, while a map indexed by the wrong key type is still a compile error at
/// [`build`](Builder::build). Implement [`CacheMap`] for your own maps, not this.
pub trait IntoCacheMap<K, V> {
    #[doc(hidden)]
    fn into_memo(self) -> Memo<K, V>;
}

impl<K, V, M: CacheMap<K, V>> IntoCacheMap<K, V> for CustomCacheMap<M> {
    fn into_memo(self) -> Memo<K, V> {
        Memo::Custom(Box::new(self.0))
    }
}

impl<K: Hash + Eq, V> IntoCacheMap<K, V> for DefaultCacheMap {
    fn into_memo(self) -> Memo<K, V> {
        Memo::Default(HashMap::default())
    }
}

/// The default shared tier: none.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoValueCache;

/// A shared tier given to [`Builder::value_cache`], kept as is until [`build`](Builder::build).
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomValueCache<T>(T);

/// What a [`Builder`] holds as the shared tier-to-be: [`NoValueCache`] or a [`CustomValueCache`].
/// Like [`IntoCacheMap`], it lets the tier be given before or after the cache-key function.
pub trait IntoValueCache<K, V> {
    /// The tier, if any.
    fn into_value_cache(self) -> Option<Tier<K, V>>;
}

impl<K, V> IntoValueCache<K, V> for NoValueCache {
    fn into_value_cache(self) -> Option<Tier<K, V>> {
        None
    }
}

impl<K, V, T: Into<Tier<K, V>>> IntoValueCache<K, V> for CustomValueCache<T> {
    fn into_value_cache(self) -> Option<Tier<K, V>> {
        Some(self.0.into())
    }
}

impl<L: Loader> Builder<L> {
    /// Options for a loader with `loader` as its batch function, all at their defaults.
    ///
    /// [`DataLoader::builder`] is the same, for keys that are their own cache keys; start here
    /// when the keys are not `Hash + Eq` and [`cache_key_fn`](Self::cache_key_fn) will say how
    /// to compare them.
    pub fn new(loader: L) -> Self {
        Builder {
            loader,
            key_fn: SameKey,
            cache_map: DefaultCacheMap,
            value_cache: NoValueCache,
            cache: true,
            batch: true,
            name: None,
            max_batch_size: usize::MAX,
            max_concurrent_batches: usize::MAX,
            schedule: Schedule::Frame,
        }
    }
}

impl<L: Loader, C, M, T> Builder<L, C, M, T> {
    /// The name in [stats](crate::Loaders::stats), logs, `tracing` spans and error messages.
    /// Defaults to the batch function's type name.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Memoize loads (the default), or not: with `false`, every load reaches the batch
    /// function, duplicates included, as with aiodataloader's `cache=False`. Clearing and
    /// priming then do nothing.
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
    /// into several batches, all sent. Unlimited by default. Zero counts as one.
    pub fn max_batch_size(mut self, max: usize) -> Self {
        self.max_batch_size = max.max(1);
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
    pub fn max_concurrent_batches(mut self, max: usize) -> Self {
        self.max_concurrent_batches = max.max(1);
        self
    }

    /// When a batch is sent; the [frame rule](Schedule::Frame) by default.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// The memo to use instead of an unbounded `HashMap`; see [`crate::cache`].
    pub fn cache_map<M2>(self, cache_map: M2) -> Builder<L, C, CustomCacheMap<M2>, T> {
        self.retype(|key_fn| key_fn, |_| CustomCacheMap(cache_map), |tier| tier)
    }

    /// A shared second-level cache consulted in bulk once per batch, behind the memo: see
    /// [`crate::tier`] (and the `coalesce-redis` crate for Redis). Build the [`Tier`] once per
    /// process and give each loader a clone: it keeps the deletions its loaders owe.
    pub fn value_cache<T2>(self, value_cache: T2) -> Builder<L, C, M, CustomValueCache<T2>> {
        self.retype(
            |key_fn| key_fn,
            |cache_map| cache_map,
            |_| CustomValueCache(value_cache),
        )
    }

    /// Memoize and de-duplicate by what `f` returns instead of by the key itself (Strawberry's
    /// `cache_key_fn`): for object keys, or keys that are equal in the ways that matter.
    ///
    /// ```
    /// use coalesce::Builder;
    ///
    /// #[derive(Clone)]
    /// struct User { id: u64, name: &'static str } // not Hash: compared by id
    ///
    /// let echo = Builder::new(coalesce::from_fn(|users: Vec<User>| async move {
    ///     Ok::<_, std::convert::Infallible>(users.into_iter().map(|u| Ok(u.name)).collect::<Vec<_>>())
    /// }))
    /// .cache_key_fn(|user: &User| user.id)
    /// .build();
    /// # futures::executor::block_on(async {
    /// let first = echo.load(User { id: 1, name: "Nick" }).await.unwrap();
    /// let again = echo.load(User { id: 1, name: "Nicholas" }).await.unwrap();
    /// assert_eq!((first, again), ("Nick", "Nick")); // the second load was a memo hit
    /// # });
    /// ```
    pub fn cache_key_fn<F>(self, f: F) -> Builder<L, F, M, T>
    where
        F: CacheKey<L::Key>,
    {
        self.retype(|_| f, |cache_map| cache_map, |tier| tier)
    }
}

impl<L, C, M, T> Builder<L, C, M, T> {
    /// The same options with another cache-key function, memo or tier: the one place that knows
    /// every field, so that adding an option cannot miss a setter.
    fn retype<C2, M2, T2>(
        self,
        key_fn: impl FnOnce(C) -> C2,
        cache_map: impl FnOnce(M) -> M2,
        value_cache: impl FnOnce(T) -> T2,
    ) -> Builder<L, C2, M2, T2> {
        let Builder {
            loader,
            key_fn: k,
            cache_map: m,
            value_cache: t,
            cache,
            batch,
            name,
            max_batch_size,
            max_concurrent_batches,
            schedule,
        } = self;
        Builder {
            loader,
            key_fn: key_fn(k),
            cache_map: cache_map(m),
            value_cache: value_cache(t),
            cache,
            batch,
            name,
            max_batch_size,
            max_concurrent_batches,
            schedule,
        }
    }
}

impl<L, C, M, T> Builder<L, C, M, T>
where
    L: Loader,
    C: CacheKey<L::Key>,
    M: IntoCacheMap<C::Key, CacheEntry<ValueOf<L>, L::Error>>,
    T: IntoValueCache<C::Key, ValueOf<L>>,
{
    /// The loader.
    pub fn build(self) -> DataLoader<L, C> {
        let config = Config {
            name: self
                .name
                .unwrap_or_else(|| Arc::from(std::any::type_name::<L>())),
            max_batch_size: if self.batch { self.max_batch_size } else { 1 },
            max_concurrent_batches: self.max_concurrent_batches,
            schedule: self.schedule,
        };
        let cache = self.cache.then(|| self.cache_map.into_memo());
        let tier = self.value_cache.into_value_cache();
        DataLoader {
            shared: Arc::new(Shared::new(self.loader, self.key_fn, config, cache, tier)),
        }
    }
}
