//! Cache keys: which loads count as "the same key".
//!
//! By default a load key is its own cache key, so two loads are the same when their keys are `==`.
//! A cache-key function changes that: the loader memoizes and de-duplicates by what the function
//! returns, so object keys that are equal in the ways that matter (`User(1, "Nick")` twice, or a
//! composite `(tenant, id)` normalized) share one entry. The cache key's *type* is the second
//! parameter of [`DataLoader<L, C>`](crate::DataLoader); the function itself is given where the
//! loader is built ([`Builder::with_cache_key`](crate::Builder::with_cache_key)), so that a
//! loader's type never names a closure.
//!
//! A cache-key function is kept as a boxed closure. Making it a type parameter, as coalesce 0.1
//! did, saves one indirect call per load but makes every loader with a key function a type
//! nobody can write down. The default needs no function at all: the key is borrowed as its own
//! cache key, through a type check that the compiler resolves (the two types are known equal
//! wherever that variant can be built), so a memo hit makes no call for it.

use std::any::Any;
use std::borrow::Cow;
use std::hash::Hash;

/// What a cache key must be: hashable, comparable, cloneable and shareable across threads.
///
/// Implemented for every type with those properties; never implemented by hand.
pub trait CacheKey: Hash + Eq + Clone + Send + Sync + 'static {}

impl<T: Hash + Eq + Clone + Send + Sync + 'static> CacheKey for T {}

/// How a loader turns a load key into its cache key.
pub(crate) enum KeyFn<K, C> {
    /// The key is its own cache key (`C` is `K`: only [`KeyFn::same`] builds it): looked up by
    /// reference, never cloned.
    Same,
    /// A cache-key function given to the builder.
    Custom(Box<dyn Fn(&K) -> C + Send + Sync>),
}

impl<K: CacheKey> KeyFn<K, K> {
    /// The default: a key is its own cache key.
    pub(crate) fn same() -> Self {
        KeyFn::Same
    }
}

impl<K: 'static, C: Clone + 'static> KeyFn<K, C> {
    /// The cache key of `key`; borrowed when it is `key` itself.
    #[inline]
    pub(crate) fn cache_key<'k>(&self, key: &'k K) -> Cow<'k, C> {
        match self {
            // `K` and `C` are one type here, so the check is decided at compile time.
            KeyFn::Same => Cow::Borrowed(
                (key as &dyn Any)
                    .downcast_ref()
                    .expect("`KeyFn::Same` is built only where the cache key is the key"),
            ),
            KeyFn::Custom(f) => Cow::Owned(f(key)),
        }
    }
}
