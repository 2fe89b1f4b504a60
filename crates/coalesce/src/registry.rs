//! [`Loaders`]: the per-request set of loaders, one value to put in a GraphQL context.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

use crate::{CacheKey, DataLoader, Loader, SameKey, Stats};

/// A request's loaders, found by type: what a `create_loaders(auth_token)` dictionary is in a
/// Python GraphQL server, as one value for a GraphQL context.
///
/// Build it where the request starts, with loaders that capture what the request may see (the
/// caller's identity, a tenant), so that no memo is ever shared across requests or users.
///
/// ```
/// use coalesce::{DataLoader, Loader, Loaders};
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
///
/// // In a resolver:
/// # futures::executor::block_on(async {
/// let user = loaders.get::<UserLoader>()?.load(1).await?;
/// assert_eq!(user, "user 1, as seen by 7");
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Default)]
pub struct Loaders {
    loaders: HashMap<TypeId, Box<dyn AnyLoader>>,
}

/// What the registry needs of any loader, whatever its types.
trait AnyLoader: Any + Send + Sync {
    fn name(&self) -> &str;
    fn stats(&self) -> Stats;
}

impl<L: Loader, C: CacheKey<L::Key>> AnyLoader for DataLoader<L, C> {
    fn name(&self) -> &str {
        DataLoader::name(self)
    }
    fn stats(&self) -> Stats {
        DataLoader::stats(self)
    }
}

impl Loaders {
    /// No loaders yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `loader`, replacing one of the same type.
    pub fn with<L: Loader, C: CacheKey<L::Key>>(mut self, loader: DataLoader<L, C>) -> Self {
        self.insert(loader);
        self
    }

    /// Adds `loader`, returning the one of the same type it replaces.
    pub fn insert<L: Loader, C: CacheKey<L::Key>>(
        &mut self,
        loader: DataLoader<L, C>,
    ) -> Option<DataLoader<L, C>> {
        let old = self
            .loaders
            .insert(TypeId::of::<DataLoader<L, C>>(), Box::new(loader))?;
        let old: Box<dyn Any> = old;
        old.downcast().ok().map(|old| *old)
    }

    /// The loader whose batch function is `L`.
    pub fn get<L: Loader>(&self) -> Result<&DataLoader<L>, MissingLoader>
    where
        SameKey: CacheKey<L::Key>,
    {
        self.get_keyed::<L, SameKey>()
    }

    /// The loader whose batch function is `L` and whose cache-key function is `C`.
    pub fn get_keyed<L: Loader, C: CacheKey<L::Key>>(
        &self,
    ) -> Result<&DataLoader<L, C>, MissingLoader> {
        self.loaders
            .get(&TypeId::of::<DataLoader<L, C>>())
            .and_then(|loader| {
                let loader: &dyn Any = &**loader;
                loader.downcast_ref()
            })
            .ok_or(MissingLoader {
                loader: std::any::type_name::<L>(),
            })
    }

    /// Every loader's name and stats, sorted by name: what a response's `extensions` can show.
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

/// [`Loaders::get`] found no loader of the type asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingLoader {
    loader: &'static str,
}

impl fmt::Display for MissingLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no loader for `{}` in this request's Loaders; add it where the Loaders are built",
            self.loader
        )
    }
}

impl std::error::Error for MissingLoader {}
