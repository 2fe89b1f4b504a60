//! Where a loader keeps the values it has loaded: any map with get / set / delete / clear.
//!
//! A loader memoizes what its batch function returned, so that the second `load(4)` of a request
//! costs a map lookup instead of a query. [`CacheMap`] is the interface of that memo: `get`, `set`,
//! `delete`, `clear`.
//!
//! The memo holds only *finished* loads. Keys whose batch is still collecting or running are
//! tracked by the loader itself, so a custom map never sees a half-loaded entry, an LRU can never
//! evict a load in flight, and de-duplication of in-flight keys works with every map, [`NoCache`]
//! included. That split is also why `NoCache` and `cache(false)` differ:
//!
//! | configuration | same key twice in one frame | same key again later |
//! |---|---|---|
//! | default ([`HashMap`]) | one key sent to the batch function | served from the map |
//! | [`NoCache`] map | one key sent (joined in flight) | loaded again |
//! | [`Builder::cache(false)`](crate::Builder::cache) | both sent, duplicates included | loaded again |
//!
//! What is stored for a key is a [`CacheEntry`]: the value, or the per-key error the batch function
//! returned for it (per-key errors are cached like values; whole-batch failures are never
//! stored).
//!
//! Built-in maps: [`HashMap`] (unbounded, the default, right for per-request loaders),
//! [`NoCache`], and with the `moka` feature a bounded LRU (`lru`) and an expiring map
//! (`ttl`) for loaders that live longer than a request.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// What a loader's memo stores for a key: the value, or that key's own error.
pub type CacheEntry<V, E> = Result<V, Arc<E>>;

/// The hasher of the maps on the hot path: several times faster than SipHash on short keys, and
/// seeded per process, so keys taken from requests cannot be chosen to collide.
pub(crate) type Hasher = foldhash::fast::RandomState;

/// The memo of finished loads: get / set / delete / clear.
///
/// Implement it to bring your own storage; the loader calls it while holding its internal lock, so
/// each call should be quick and must not call back into the same loader. A map that panics leaves
/// the loader usable (the lock's poisoning is ignored), but the load that triggered the call fails
/// with that panic.
///
/// ```
/// use coalesce_loader::{CacheMap, DataLoader};
/// use std::collections::BTreeMap;
///
/// /// A user cache of one's own: any map with get / set / delete / clear will do.
/// #[derive(Default)]
/// struct UserCache(BTreeMap<u64, coalesce_loader::CacheEntry<String, std::convert::Infallible>>);
///
/// impl CacheMap<u64, coalesce_loader::CacheEntry<String, std::convert::Infallible>> for UserCache {
///     fn get(&mut self, key: &u64) -> Option<coalesce_loader::CacheEntry<String, std::convert::Infallible>> {
///         self.0.get(key).cloned()
///     }
///     fn set(&mut self, key: u64, value: coalesce_loader::CacheEntry<String, std::convert::Infallible>) {
///         self.0.insert(key, value);
///     }
///     fn delete(&mut self, key: &u64) {
///         self.0.remove(key);
///     }
///     fn clear(&mut self) {
///         self.0.clear();
///     }
/// }
///
/// let users = DataLoader::builder(coalesce_loader::from_fn(|ids: Vec<u64>| async move {
///     Ok::<_, std::convert::Infallible>(
///         ids.iter().map(|id| Ok(format!("user {id}"))).collect::<Vec<_>>(),
///     )
/// }))
/// .cache_map(UserCache::default())
/// .build();
///
/// # futures::executor::block_on(async {
/// assert_eq!(users.load(1).await.unwrap(), "user 1");
/// # });
/// ```
pub trait CacheMap<K, V>: Send + 'static {
    /// The stored entry for `key`, if any.
    fn get(&mut self, key: &K) -> Option<V>;
    /// Stores `value` for `key`, replacing what was there.
    fn set(&mut self, key: K, value: V);
    /// Forgets `key`.
    fn delete(&mut self, key: &K);
    /// Forgets every key.
    fn clear(&mut self);
}

/// The default: an unbounded map that grows until the loader is dropped, which is what a
/// per-request loader wants.
impl<K, V, S> CacheMap<K, V> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Clone + Send + 'static,
    S: BuildHasher + Send + 'static,
{
    fn get(&mut self, key: &K) -> Option<V> {
        HashMap::get(self, key).cloned()
    }
    fn set(&mut self, key: K, value: V) {
        self.insert(key, value);
    }
    fn delete(&mut self, key: &K) {
        self.remove(key);
    }
    fn clear(&mut self) {
        HashMap::clear(self);
    }
}

/// A map that remembers nothing. Unlike [`Builder::cache(false)`](crate::Builder::cache), keys
/// already in flight are still joined rather than fetched twice.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

impl<K, V> CacheMap<K, V> for NoCache {
    fn get(&mut self, _: &K) -> Option<V> {
        None
    }
    fn set(&mut self, _: K, _: V) {}
    fn delete(&mut self, _: &K) {}
    fn clear(&mut self) {}
}

#[cfg(feature = "moka")]
mod moka_maps {
    use super::CacheMap;
    use std::hash::Hash;
    use std::time::Duration;

    /// Any `moka` cache is a map: build one with the eviction and expiry settings you need.
    impl<K, V> CacheMap<K, V> for moka::sync::Cache<K, V>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        fn get(&mut self, key: &K) -> Option<V> {
            moka::sync::Cache::get(self, key)
        }
        fn set(&mut self, key: K, value: V) {
            self.insert(key, value);
        }
        fn delete(&mut self, key: &K) {
            self.invalidate(key);
        }
        fn clear(&mut self) {
            self.invalidate_all();
        }
    }

    /// A map that keeps at most `capacity` entries, evicting the least recently used.
    ///
    /// ```
    /// let users = coalesce_loader::DataLoader::builder(coalesce_loader::from_fn(|ids: Vec<u64>| async move {
    ///     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id * 10)).collect::<Vec<_>>())
    /// }))
    /// .cache_map(coalesce_loader::cache::lru(10_000))
    /// .build();
    /// # futures::executor::block_on(async { assert_eq!(users.load(4).await.unwrap(), 40) });
    /// ```
    pub fn lru<K, V>(capacity: u64) -> moka::sync::Cache<K, V>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        moka::sync::Cache::builder()
            .max_capacity(capacity)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .build()
    }

    /// A map whose entries expire `ttl` after they were stored: for loaders that outlive a
    /// request, where a value may go stale.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rates = coalesce_loader::DataLoader::builder(coalesce_loader::from_fn(|codes: Vec<String>| async move {
    ///     Ok::<_, std::convert::Infallible>(codes.iter().map(|_| Ok(1.0_f64)).collect::<Vec<_>>())
    /// }))
    /// .cache_map(coalesce_loader::cache::ttl(Duration::from_secs(30)))
    /// .build();
    /// # futures::executor::block_on(async { assert_eq!(rates.load("EUR".into()).await.unwrap(), 1.0) });
    /// ```
    pub fn ttl<K, V>(ttl: Duration) -> moka::sync::Cache<K, V>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        moka::sync::Cache::builder().time_to_live(ttl).build()
    }
}

#[cfg(feature = "moka")]
pub use moka_maps::{lru, ttl};
