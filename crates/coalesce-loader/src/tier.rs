//! A shared second-level cache behind the per-request memo: [`ValueCache`].
//!
//! A loader's memo lives for one request. Servers that run many instances often want a second
//! tier that outlives requests and is shared between instances, such as Redis (the
//! `coalesce-loader-redis` crate). Where that tier is consulted decides whether batching survives:
//! looking it up inside `load` costs one round trip per key, and a load that waits for the tier
//! before it queues its key can miss the batch it belongs in. coalesce consults it inside the
//! batch, in bulk:
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
//! [`clear_all`](crate::DataLoader::clear_all) forget keys in the memo at once and *owe* their
//! deletion to the tier. An owed deletion belongs to the [`Tier`], not to the loader that made
//! it, so it outlives the request: it is sent before the next batch of any loader on the tier
//! reads it, and sent again by every later batch until the tier confirms it. Until then no loader
//! of the process reads that key from the tier, nor writes it back. A deletion is confirmed only
//! by the tier's answer: a batch or a `clear_shared` that is dropped mid-deletion (a timeout, a
//! `select!`, a client that went away) leaves it owed, and a failed one stays owed through an
//! outage.
//!
//! A mutation that other instances must see before its response is sent awaits
//! [`clear_shared`](crate::DataLoader::clear_shared) or
//! [`clear_all_shared`](crate::DataLoader::clear_all_shared), which send what is owed before they
//! return.
//!
//! # What bounds staleness in other instances
//!
//! While the tier is unreachable, no instance can read it either: they all answer from their
//! batch functions. An instance that could not delete an entry keeps owing it, and sends it with
//! its next batch once the tier answers again, so another instance can read the old entry only
//! between the tier's recovery and that next batch, and never for longer than the entry's time to
//! live. If more than [`MAX_OWED_KEYS`] keys are owed at once, the tier owes a whole
//! [`clear`](ValueCache::clear) instead, which keeps memory bounded through a long outage.
//!
//! Like any cache in front of a database, a tier can also briefly hold a value that a concurrent
//! write has just changed (a batch that read the old row writes it back after the writer's
//! delete): give entries a time to live.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

/// A future a [`ValueCache`] returns: boxed, because the loader holds the tier as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a [`ValueCache`] operation failed. Never reaches a load: see the module documentation.
pub type TierError = Box<dyn std::error::Error + Send + Sync>;

/// A shared, asynchronous cache consulted in bulk, once per batch.
///
/// ```
/// use coalesce_loader::tier::{BoxFuture, TierError, ValueCache};
/// use coalesce_loader::DataLoader;
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
/// // Once per process:
/// let shared = coalesce_loader::tier::Tier::new(SharedMap::default());
/// // Per request:
/// let loader = || {
///     DataLoader::builder(coalesce_loader::from_fn(|ids: Vec<u64>| async move {
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

/// How many keys a tier may owe deletions for before it owes a whole `clear` instead.
pub const MAX_OWED_KEYS: usize = 4096;

/// A [`ValueCache`] as loaders share it: cheap to clone, one per process (and per namespace).
///
/// Build it once, where the process starts, and give each request's loaders a clone: the tier
/// keeps the deletions its loaders owe (see the [module documentation](self)), so that they
/// outlive the request that cleared the keys.
///
/// ```
/// # use coalesce_loader::tier::{BoxFuture, TierError, ValueCache};
/// # struct Nothing;
/// # impl ValueCache<u64, String> for Nothing {
/// #     fn get_many<'a>(&'a self, keys: &'a [u64]) -> BoxFuture<'a, Result<Vec<Option<String>>, TierError>> {
/// #         Box::pin(async move { Ok(vec![None; keys.len()]) })
/// #     }
/// #     fn set_many<'a>(&'a self, _: &'a [(&'a u64, &'a String)]) -> BoxFuture<'a, Result<(), TierError>> { Box::pin(async { Ok(()) }) }
/// #     fn delete_many<'a>(&'a self, _: &'a [u64]) -> BoxFuture<'a, Result<(), TierError>> { Box::pin(async { Ok(()) }) }
/// #     fn clear(&self) -> BoxFuture<'_, Result<(), TierError>> { Box::pin(async { Ok(()) }) }
/// # }
/// use coalesce_loader::tier::Tier;
///
/// let tier = Tier::new(Nothing); // once per process
/// let per_request = || {
///     coalesce_loader::DataLoader::builder(coalesce_loader::from_fn(|ids: Vec<u64>| async move {
///         Ok::<_, std::convert::Infallible>(ids.iter().map(|id| Ok(format!("user {id}"))).collect::<Vec<_>>())
///     }))
///     .value_cache(tier.clone())
///     .build()
/// };
/// # futures::executor::block_on(async {
/// assert_eq!(per_request().load(1).await.unwrap(), "user 1");
/// # });
/// ```
pub struct Tier<K, V> {
    cache: Arc<dyn ValueCache<K, V>>,
    owed: Owed<K>,
}

impl<K, V> Clone for Tier<K, V> {
    fn clone(&self) -> Self {
        Tier {
            cache: Arc::clone(&self.cache),
            owed: self.owed.clone(),
        }
    }
}

impl<K: Hash + Eq + Clone + 'static, V: 'static> Tier<K, V> {
    /// The tier of `cache`, owing nothing yet.
    pub fn new(cache: impl ValueCache<K, V>) -> Self {
        Self::sharing(cache, Owed::default())
    }

    /// The tier of `cache`, sharing the deletions that `owed` tracks with every other tier built
    /// with it: for an implementation that hands out a cache per call (one per request and
    /// tenant, say) over one shared namespace.
    pub fn sharing(cache: impl ValueCache<K, V>, owed: Owed<K>) -> Self {
        Tier {
            cache: Arc::new(cache),
            owed,
        }
    }

    /// The deletions this tier owes, to share with [`sharing`](Self::sharing).
    pub fn owed(&self) -> &Owed<K> {
        &self.owed
    }

    /// Owes the deletion of `keys`.
    pub(crate) fn owe(&self, keys: impl IntoIterator<Item = K>) {
        self.owed.lock().owe(keys);
    }

    /// Owes clearing the whole tier.
    pub(crate) fn owe_all(&self) {
        self.owed.lock().owe_all();
    }

    /// Whether any deletion is owed: the batch sends them first.
    pub(crate) fn owes(&self) -> bool {
        !self.owed.lock().is_empty()
    }

    /// Sends every owed deletion; those the tier confirms are no longer owed. Cancel-safe: a
    /// deletion dropped in flight stays owed.
    pub(crate) async fn settle(&self) -> Result<(), (Op, TierError)> {
        let (all, keys, upto) = {
            let owed = self.owed.lock();
            if owed.is_empty() {
                return Ok(());
            }
            (
                owed.all.is_some(),
                owed.keys.keys().cloned().collect::<Vec<_>>(),
                owed.seq,
            )
        };
        if all {
            self.cache.clear().await.map_err(|e| (Op::Clear, e))?;
        } else {
            self.cache
                .delete_many(&keys)
                .await
                .map_err(|e| (Op::Delete, e))?;
        }
        self.owed.lock().confirm(all, &keys, upto);
        Ok(())
    }

    /// The tier's entry of each key, `None` for those it does not hold and for those whose
    /// deletion is owed (they are not asked for). Must be answered one entry per key.
    pub(crate) async fn get_many(&self, keys: &[K]) -> Result<Vec<Option<V>>, (Op, TierError)> {
        let readable: Option<Vec<bool>> = {
            let owed = self.owed.lock();
            if owed.all.is_some() {
                return Ok(keys.iter().map(|_| None).collect());
            }
            (!owed.keys.is_empty())
                .then(|| keys.iter().map(|k| !owed.keys.contains_key(k)).collect())
        };
        let Some(readable) = readable else {
            return self.checked_get(keys).await;
        };
        let asked: Vec<K> = keys
            .iter()
            .zip(&readable)
            .filter(|(_, ok)| **ok)
            .map(|(k, _)| k.clone())
            .collect();
        let mut found = if asked.is_empty() {
            Vec::new().into_iter()
        } else {
            self.checked_get(&asked).await?.into_iter()
        };
        Ok(readable
            .into_iter()
            .map(|ok| if ok { found.next().flatten() } else { None })
            .collect())
    }

    async fn checked_get(&self, keys: &[K]) -> Result<Vec<Option<V>>, (Op, TierError)> {
        match self.cache.get_many(keys).await {
            Ok(found) if found.len() == keys.len() => Ok(found),
            Ok(found) => Err((
                Op::Get,
                format!("{} entries for {} keys", found.len(), keys.len()).into(),
            )),
            Err(e) => Err((Op::Get, e)),
        }
    }

    /// Stores fresh values, except for keys whose deletion is owed: a value read before the
    /// change that made it owed must not land after the deletion.
    pub(crate) async fn set_many(&self, entries: &[(&K, &V)]) -> Result<(), (Op, TierError)> {
        let kept: Option<Vec<(&K, &V)>> = {
            let owed = self.owed.lock();
            if owed.all.is_some() {
                return Ok(());
            }
            (!owed.keys.is_empty()).then(|| {
                entries
                    .iter()
                    .filter(|(k, _)| !owed.keys.contains_key(*k))
                    .copied()
                    .collect()
            })
        };
        let entries = kept.as_deref().unwrap_or(entries);
        if entries.is_empty() {
            return Ok(());
        }
        self.cache.set_many(entries).await.map_err(|e| (Op::Set, e))
    }
}

/// The deletions a [`Tier`] owes: cheap to clone, clones share one set. See
/// [`Tier::sharing`].
pub struct Owed<K>(Arc<Mutex<OwedSet<K>>>);

impl<K> Clone for Owed<K> {
    fn clone(&self) -> Self {
        Owed(Arc::clone(&self.0))
    }
}

impl<K> Default for Owed<K> {
    fn default() -> Self {
        Owed(Arc::new(Mutex::new(OwedSet {
            keys: HashMap::new(),
            all: None,
            seq: 0,
        })))
    }
}

impl<K> Owed<K> {
    /// The set, even if a panicking `Hash` of a key poisoned the lock: every step leaves it
    /// consistent, and at worst a deletion is owed (sent again) that need not be.
    fn lock(&self) -> MutexGuard<'_, OwedSet<K>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct OwedSet<K> {
    /// Each owed key, with the sequence number of its latest `clear`.
    keys: HashMap<K, u64>,
    /// The sequence number of the latest owed `clear` of the whole tier, if one is owed.
    all: Option<u64>,
    /// Counts the clears: a deletion confirms only the clears made before it was sent, so a key
    /// cleared again while its deletion is in flight stays owed.
    seq: u64,
}

impl<K: Hash + Eq> OwedSet<K> {
    fn is_empty(&self) -> bool {
        self.all.is_none() && self.keys.is_empty()
    }

    fn owe(&mut self, keys: impl IntoIterator<Item = K>) {
        self.seq += 1;
        if self.all.is_some() {
            // An owed clear covers every key; it cannot be confirmed by a clear sent before it.
            self.all = Some(self.seq);
            return;
        }
        let seq = self.seq;
        self.keys.extend(keys.into_iter().map(|k| (k, seq)));
        if self.keys.len() > MAX_OWED_KEYS {
            self.owe_all();
        }
    }

    fn owe_all(&mut self) {
        self.seq += 1;
        self.all = Some(self.seq);
        self.keys.clear();
    }

    /// The tier confirmed a deletion sent when the sequence was at `upto`: of `keys`, or of
    /// everything if `all`.
    fn confirm(&mut self, all: bool, keys: &[K], upto: u64) {
        if all {
            if self.all.is_some_and(|seq| seq <= upto) {
                self.all = None;
            }
            self.keys.retain(|_, seq| *seq > upto);
        } else {
            for key in keys {
                if self.keys.get(key).is_some_and(|&seq| seq <= upto) {
                    self.keys.remove(key);
                }
            }
        }
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
