//! A shared second-level cache behind the per-request memo: [`ValueCache`].
//!
//! A loader's memo lives for one request. Servers that run many instances often want a second
//! tier that outlives requests and is shared between instances, such as Redis (the
//! `coalesce-redis` crate). Where that tier is consulted decides whether batching survives:
//! looking it up inside `load` costs one round trip per key and broke batching in
//! java-dataloader once (their #90). coalesce consults it inside the batch, in bulk, as
//! java-dataloader's `ValueCache` does now:
//!
//! 1. the memo answers what it can, and de-duplicates the rest, as without a tier;
//! 2. the batch's keys go to the tier in one [`get_many`](ValueCache::get_many);
//! 3. only the misses go to the batch function;
//! 4. the values it returns are written back in one [`set_many`](ValueCache::set_many); per-key
//!    errors are not, nor is anything from a failed batch.
//!
//! The tier is keyed by the loader's cache key (see [`CacheKey`](crate::CacheKey)), so loads that
//! the memo treats as one key are one entry in the tier too.
//!
//! # Failures
//!
//! A tier that fails (an error, a timeout its implementation enforces, an answer of the wrong
//! length) never fails a load: a failed read counts as all misses, a failed write or delete is
//! skipped. Each failure is counted in [`Stats::tier_errors`](crate::Stats::tier_errors) and,
//! with the `tracing` feature, logged as a warning.
//!
//! # Invalidation
//!
//! [`clear`](crate::DataLoader::clear), [`clear_many`](crate::DataLoader::clear_many) and
//! [`clear_all`](crate::DataLoader::clear_all) forget keys in the memo at once and queue their
//! deletion from the tier. Queued deletions are sent before the loader's next batch reads the
//! tier, so this loader never reads back what it invalidated. A mutation that other instances
//! must see before its response is sent awaits
//! [`clear_shared`](crate::DataLoader::clear_shared) or
//! [`clear_all_shared`](crate::DataLoader::clear_all_shared) instead, which delete from the tier
//! before they return.
//!
//! Like any cache in front of a database, a tier can briefly hold a value that a concurrent
//! write has just changed (a batch that read the old row writes it back after the writer's
//! delete): give entries a time to live.

use std::future::Future;
use std::pin::Pin;

/// A future a [`ValueCache`] returns: boxed, because the loader holds the tier as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a [`ValueCache`] operation failed. Never reaches a load: see the module documentation.
pub type TierError = Box<dyn std::error::Error + Send + Sync>;

/// A shared, asynchronous cache consulted in bulk, once per batch.
///
/// ```
/// use coalesce::tier::{BoxFuture, TierError, ValueCache};
/// use coalesce::DataLoader;
/// use std::collections::HashMap;
/// use std::sync::Mutex;
///
/// /// A process-wide map standing in for Redis.
/// #[derive(Default)]
/// struct SharedMap(Mutex<HashMap<u64, String>>);
///
/// impl ValueCache<u64, String> for SharedMap {
///     fn get_many<'a>(&'a self, keys: &'a [u64]) -> BoxFuture<'a, Result<Vec<Option<String>>, TierError>> {
///         let map = self.0.lock().unwrap();
///         let found = keys.iter().map(|k| map.get(k).cloned()).collect();
///         Box::pin(async move { Ok(found) })
///     }
///     fn set_many<'a>(&'a self, entries: &'a [(&'a u64, &'a String)]) -> BoxFuture<'a, Result<(), TierError>> {
///         self.0.lock().unwrap().extend(entries.iter().map(|(k, v)| (**k, (*v).clone())));
///         Box::pin(async { Ok(()) })
///     }
///     fn delete_many<'a>(&'a self, keys: &'a [u64]) -> BoxFuture<'a, Result<(), TierError>> {
///         let mut map = self.0.lock().unwrap();
///         keys.iter().for_each(|k| { map.remove(k); });
///         Box::pin(async { Ok(()) })
///     }
///     fn clear(&self) -> BoxFuture<'_, Result<(), TierError>> {
///         self.0.lock().unwrap().clear();
///         Box::pin(async { Ok(()) })
///     }
/// }
///
/// let shared = std::sync::Arc::new(SharedMap::default());
/// let loader = || {
///     DataLoader::builder(coalesce::from_fn(|ids: Vec<u64>| async move {
///         Ok::<_, std::convert::Infallible>(ids.iter().map(|id| Ok(format!("user {id}"))).collect::<Vec<_>>())
///     }))
///     .value_cache(shared.clone())
///     .build()
/// };
/// # futures::executor::block_on(async {
/// let (first, second) = (loader(), loader()); // two requests, or two instances
/// assert_eq!(first.load(1).await.unwrap(), "user 1");
/// assert_eq!(second.load(1).await.unwrap(), "user 1");
/// assert_eq!(second.stats().tier_hits, 1); // the second request's batch function never ran
/// # });
/// ```
pub trait ValueCache<K, V>: Send + Sync + 'static {
    /// The entry of each key, in order: `Some` for a hit. Must return one entry per key;
    /// anything else counts as a failure (all misses).
    fn get_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<Vec<Option<V>>, TierError>>;

    /// Stores freshly loaded values.
    fn set_many<'a>(
        &'a self,
        entries: &'a [(&'a K, &'a V)],
    ) -> BoxFuture<'a, Result<(), TierError>>;

    /// Forgets `keys`.
    fn delete_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<(), TierError>>;

    /// Forgets every key of this cache (its namespace, for a shared store).
    fn clear(&self) -> BoxFuture<'_, Result<(), TierError>>;
}

impl<K, V, T: ValueCache<K, V> + ?Sized> ValueCache<K, V> for std::sync::Arc<T> {
    fn get_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<Vec<Option<V>>, TierError>> {
        (**self).get_many(keys)
    }
    fn set_many<'a>(
        &'a self,
        entries: &'a [(&'a K, &'a V)],
    ) -> BoxFuture<'a, Result<(), TierError>> {
        (**self).set_many(entries)
    }
    fn delete_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<(), TierError>> {
        (**self).delete_many(keys)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), TierError>> {
        (**self).clear()
    }
}

/// Tier deletions queued by the synchronous `clear` methods, sent before the next batch.
pub(crate) struct Invalidations<K> {
    pub(crate) all: bool,
    pub(crate) keys: Vec<K>,
}

impl<K> Default for Invalidations<K> {
    fn default() -> Self {
        Invalidations {
            all: false,
            keys: Vec::new(),
        }
    }
}

impl<K> Invalidations<K> {
    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.keys.is_empty()
    }

    /// Queues deletions of `keys`; after a queued `clear`, they are covered already.
    pub(crate) fn delete(&mut self, keys: impl IntoIterator<Item = K>) {
        if !self.all {
            self.keys.extend(keys);
        }
    }

    /// Queues clearing the whole tier, which covers every key deletion queued so far.
    pub(crate) fn clear(&mut self) {
        self.all = true;
        self.keys.clear();
    }
}

/// The tier operation that failed, for stats and logs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Get,
    Set,
    Delete,
    Clear,
}
