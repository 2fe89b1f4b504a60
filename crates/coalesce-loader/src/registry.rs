//! [`Loaders`]: the per-request set of loaders, one value to put in a GraphQL context.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::{CacheKey, DataLoader, Loader, Stats};

/// A request's loaders, found by type: one value holding them all, for a GraphQL context.
///
/// Build it where the request starts, with loaders that capture what the request may see (the
/// caller's identity, a tenant), so that no memo is ever shared across requests or users.
///
/// ```
/// use coalesce_loader::{DataLoader, Loader, Loaders};
///
/// struct UserLoader { viewer: u64 }
/// impl Loader for UserLoader {
///     type Key = u64;
///     type Output = Vec<Result<String, Self::Error>>; // positional: loads give String
///     type Error = std::convert::Infallible;
///     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
///         Ok(ids.iter().map(|id| Ok(format!("user {id}, as seen by {}", self.viewer))).collect())
///     }
/// }
///
/// // Per request:
/// let loaders = Loaders::new().with(DataLoader::new(UserLoader { viewer: 7 }));
/// let context = loaders.clone(); // what the GraphQL executor gets: clones share the loaders
///
/// // In a resolver:
/// # futures::executor::block_on(async {
/// let user = context.get::<UserLoader>()?.load(1).await?;
/// assert_eq!(user, "user 1, as seen by 7");
///
/// // After the request: what each loader did.
/// assert_eq!(loaders.stats()[0].1.batches, 1);
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
///
/// `Loaders` is cheap to clone: put it in the context as it is, not behind an `Arc` (a context
/// looks its data up by type, and `Arc<Loaders>` is another type).
#[derive(Clone, Default)]
pub struct Loaders {
    /// By the loader's whole type, `DataLoader<L, C>`.
    loaders: Arc<HashMap<TypeId, Arc<dyn AnyLoader>>>,
}

/// What the registry needs of any loader, whatever its types.
trait AnyLoader: Any + Send + Sync {
    fn name(&self) -> &str;
    fn stats(&self) -> Stats;
    /// `TypeId::of::<L>()`, to say what was asked for wrongly when a lookup misses.
    fn batch_fn(&self) -> TypeId;
    /// `std::any::type_name` of the loader's cache key.
    fn cache_key(&self) -> &'static str;
}

impl<L: Loader, C: CacheKey> AnyLoader for DataLoader<L, C> {
    fn name(&self) -> &str {
        DataLoader::name(self)
    }
    fn stats(&self) -> Stats {
        DataLoader::stats(self)
    }
    fn batch_fn(&self) -> TypeId {
        TypeId::of::<L>()
    }
    fn cache_key(&self) -> &'static str {
        std::any::type_name::<C>()
    }
}

impl Loaders {
    /// No loaders yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `loader`, replacing one of the same type: for building in one expression.
    pub fn with<L: Loader, C: CacheKey>(mut self, loader: DataLoader<L, C>) -> Self {
        self.insert(loader);
        self
    }

    /// Adds `loader`, returning the one of the same type it replaces. Clones made earlier keep
    /// the loaders they had.
    pub fn insert<L: Loader, C: CacheKey>(
        &mut self,
        loader: DataLoader<L, C>,
    ) -> Option<DataLoader<L, C>> {
        let old = Arc::make_mut(&mut self.loaders)
            .insert(TypeId::of::<DataLoader<L, C>>(), Arc::new(loader))?;
        let old: Arc<dyn Any + Send + Sync> = old;
        old.downcast::<DataLoader<L, C>>()
            .ok()
            .map(|old| (*old).clone())
    }

    /// The loader whose batch function is `L`, each key its own cache key.
    pub fn get<L: Loader>(&self) -> Result<&DataLoader<L>, MissingLoader>
    where
        L::Key: CacheKey,
    {
        self.get_keyed::<L, L::Key>()
    }

    /// The loader whose batch function is `L` and whose cache key is `C`: one built with
    /// [`with_cache_key`](crate::Builder::with_cache_key).
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, Loaders};
    ///
    /// let by_name = DataLoader::with_cache_key(
    ///     coalesce_loader::from_fn(|names: Vec<String>| async move {
    ///         Ok::<_, std::convert::Infallible>(names.iter().map(|n| Ok(n.len())).collect::<Vec<_>>())
    ///     }),
    ///     |name: &String| name.to_lowercase().into_boxed_str(), // case-insensitive
    /// );
    /// let loaders = Loaders::new().with(by_name);
    /// type ByName = coalesce_loader::FnLoader<String, Vec<Result<usize, std::convert::Infallible>>, std::convert::Infallible>;
    /// assert!(loaders.get_keyed::<ByName, Box<str>>().is_ok());
    /// // Asking without the cache key's type says how to ask:
    /// let missed = loaders.get::<ByName>().unwrap_err().to_string();
    /// assert!(missed.contains("get_keyed"), "{missed}");
    /// ```
    pub fn get_keyed<L: Loader, C: CacheKey>(&self) -> Result<&DataLoader<L, C>, MissingLoader> {
        if let Some(loader) = self.loaders.get(&TypeId::of::<DataLoader<L, C>>()) {
            let loader: &dyn Any = &**loader;
            if let Some(loader) = loader.downcast_ref() {
                return Ok(loader);
            }
        }
        let keyed_otherwise = self
            .loaders
            .values()
            .find(|l| l.batch_fn() == TypeId::of::<L>())
            .map(|l| l.cache_key());
        Err(MissingLoader {
            loader: std::any::type_name::<L>(),
            keyed_otherwise,
        })
    }

    /// Each loader's name and [`Stats`], sorted by name: for a response's extensions or a log.
    pub fn stats(&self) -> Vec<(&str, Stats)> {
        let mut all: Vec<_> = self
            .loaders
            .values()
            .map(|l| (l.name(), l.stats()))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }
}

impl fmt::Debug for Loaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.stats()).finish()
    }
}

/// A [`Loaders`] lookup for a loader that was not added: usable with `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingLoader {
    loader: &'static str,
    /// The cache key type of a loader of the same batch function that was added.
    keyed_otherwise: Option<&'static str>,
}

impl fmt::Display for MissingLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.keyed_otherwise {
            Some(cache_key) => write!(
                f,
                "the loader for `{}` in this request's Loaders has cache key `{cache_key}`: \
                 look it up with `get_keyed::<_, {cache_key}>()`",
                self.loader
            ),
            None => write!(
                f,
                "no loader for `{}` in this request's Loaders; add it where the Loaders are built",
                self.loader
            ),
        }
    }
}

impl std::error::Error for MissingLoader {}
