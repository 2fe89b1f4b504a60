//! [`LoaderContext`]: a resolver's way to its request's loaders, in one call.

use async_graphql::{Context, Error, Result};
use coalesce_loader::{CacheKey, DataLoader, Loader, Loaders};

/// Finds the request's loaders from a resolver's [`Context`]: `ctx.loader::<UserLoader>()?`.
///
/// Each method fails with an error a GraphQL client can read (a field error, with `?`) when the
/// request has no such loader, saying what to add and where, instead of panicking.
///
/// ```
/// use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema};
/// use coalesce_loader::{DataLoader, Loader, Loaders};
/// use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};
///
/// struct Doubler;
///
/// impl Loader for Doubler {
///     type Key = i32;
///     type Output = Vec<Result<i32, Self::Error>>;
///     type Error = std::convert::Infallible;
///     async fn load_batch(&self, keys: &[i32]) -> Result<Self::Output, Self::Error> {
///         Ok(keys.iter().map(|k| Ok(k * 2)).collect())
///     }
/// }
///
/// struct Query;
///
/// #[Object]
/// impl Query {
///     async fn double(&self, ctx: &Context<'_>, n: i32) -> async_graphql::Result<i32> {
///         Ok(ctx.loader::<Doubler>()?.load(n).await?)
///     }
/// }
///
/// let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
///     .extension(LoaderExtension::new(|_| Loaders::new().with(DataLoader::new(Doubler))))
///     .finish();
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let response = schema.execute("{ double(n: 21) }").await;
/// assert_eq!(response.data.into_json().unwrap(), serde_json::json!({ "double": 42 }));
/// # });
/// ```
pub trait LoaderContext {
    /// The request's [`Loaders`].
    fn loaders(&self) -> Result<&Loaders>;

    /// The request's loader whose batch function is `L` (each key its own cache key).
    fn loader<L: Loader>(&self) -> Result<&DataLoader<L>>
    where
        L::Key: CacheKey,
    {
        Ok(self.loaders()?.get::<L>()?)
    }

    /// The request's loader whose batch function is `L` and whose cache key is `C`: one built
    /// with [`with_cache_key`](coalesce_loader::Builder::with_cache_key).
    fn keyed_loader<L: Loader, C: CacheKey>(&self) -> Result<&DataLoader<L, C>> {
        Ok(self.loaders()?.get_keyed::<L, C>()?)
    }
}

impl LoaderContext for Context<'_> {
    fn loaders(&self) -> Result<&Loaders> {
        self.data_opt::<Loaders>().ok_or_else(|| {
            Error::new(
                "this request has no loaders: add `LoaderExtension::new(...)` to the schema \
                 with `Schema::build(...).extension(...)`, or put a `Loaders` in the request's data",
            )
        })
    }
}
