//! Cache keys: which loads count as "the same key".
//!
//! By default a load key is its own cache key, so two loads are the same when their keys are
//! `==`. Strawberry's and graphql/dataloader's `cache_key_fn` changes that: the loader memoizes and
//! de-duplicates by what the function returns, so object keys that are equal in the ways that
//! matter (`User(1, "Nick")` twice, or a composite `(tenant, id)` normalized) share one entry.
//!
//! The mapping is a type parameter of [`DataLoader`](crate::DataLoader) rather than a boxed
//! closure: the default [`SameKey`] looks keys up by reference, with no clone and no call through a
//! pointer, which keeps a cache hit to a hash and a compare.

use std::borrow::Cow;
use std::hash::Hash;

/// Maps a load key to the key the loader memoizes and de-duplicates by.
///
/// Implemented by [`SameKey`] (the default) and by every `Fn(&K) -> C` closure or function, which
/// is what [`Builder::cache_key_fn`](crate::Builder::cache_key_fn) takes.
pub trait CacheKey<K>: Send + Sync + 'static {
    /// The key the memo is indexed by.
    type Key: Hash + Eq + Clone + Send + Sync + 'static;

    /// The cache key of `key`; borrowed when it is `key` itself.
    fn cache_key<'k>(&self, key: &'k K) -> Cow<'k, Self::Key>;
}

/// The default mapping: a key is its own cache key.
#[derive(Clone, Copy, Debug, Default)]
pub struct SameKey;

impl<K> CacheKey<K> for SameKey
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Key = K;

    #[inline]
    fn cache_key<'k>(&self, key: &'k K) -> Cow<'k, K> {
        Cow::Borrowed(key)
    }
}

impl<K, C, F> CacheKey<K> for F
where
    F: Fn(&K) -> C + Send + Sync + 'static,
    C: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Key = C;

    #[inline]
    fn cache_key<'k>(&self, key: &'k K) -> Cow<'k, C> {
        Cow::Owned(self(key))
    }
}
