//! [`Context`]: a juniper context that carries a request's own data and its loaders.

use coalesce_loader::{CacheKey, DataLoader, Loader, Loaders, MissingLoader};

/// One request's juniper context: your data for the request (`T`: a pool, the viewer) and the
/// request's [`Loaders`].
///
/// Name it in your objects with `#[graphql_object(context = Context<AppData>)]`, and build one
/// per request with a [`ContextFactory`](crate::ContextFactory), so that no memo outlives its
/// request.
///
/// ```
/// use coalesce_loader::{DataLoader, Loaders};
/// use coalesce_loader_juniper::Context;
/// use juniper::{EmptyMutation, EmptySubscription, FieldResult, RootNode, graphql_object};
///
/// type Doubler = coalesce_loader::FnLoader<i32, Vec<Result<i32, std::convert::Infallible>>, std::convert::Infallible>;
///
/// struct Viewer { name: String }
///
/// struct Query;
///
/// #[graphql_object(context = Context<Viewer>)]
/// impl Query {
///     fn viewer(context: &Context<Viewer>) -> &str {
///         &context.data().name
///     }
///
///     async fn double(context: &Context<Viewer>, n: i32) -> FieldResult<i32> {
///         Ok(context.loader::<Doubler>()?.load(n).await?)
///     }
/// }
///
/// let doubler: DataLoader<Doubler> = DataLoader::new(coalesce_loader::from_fn(|ns: Vec<i32>| async move {
///     Ok(ns.iter().map(|n| Ok(n * 2)).collect())
/// }));
/// let context = Context::new(Viewer { name: "ada".into() }, Loaders::new().with(doubler));
/// let schema = RootNode::new(Query, EmptyMutation::new(), EmptySubscription::new());
/// # futures::executor::block_on(async {
/// let (data, errors) =
///     juniper::execute("{ viewer double(n: 21) }", None, &schema, &Default::default(), &context)
///         .await
///         .unwrap();
/// assert!(errors.is_empty());
/// assert_eq!(data, juniper::graphql_value!({ "viewer": "ada", "double": 42 }));
/// # });
/// ```
#[derive(Debug)]
pub struct Context<T> {
    data: T,
    loaders: Loaders,
}

impl<T> juniper::Context for Context<T> {}

impl<T> Context<T> {
    /// A context of `data` and `loaders`. A [`ContextFactory`](crate::ContextFactory) calls it
    /// with loaders made for `data`; call it yourself where something else builds the context,
    /// such as a test.
    ///
    /// ```
    /// use coalesce_loader::Loaders;
    /// use coalesce_loader_juniper::Context;
    ///
    /// let context = Context::new(7_u64, Loaders::new());
    /// assert_eq!(*context.data(), 7);
    /// ```
    pub fn new(data: T, loaders: Loaders) -> Self {
        Self { data, loaders }
    }

    /// The request's own data: what the context was built with.
    ///
    /// ```
    /// use coalesce_loader::Loaders;
    /// use coalesce_loader_juniper::Context;
    ///
    /// struct AppData { viewer: u64 }
    ///
    /// let context = Context::new(AppData { viewer: 7 }, Loaders::new());
    /// assert_eq!(context.data().viewer, 7);
    /// ```
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The request's loaders, all of them: for their [`stats`](Loaders::stats), or to hand
    /// them to code that takes a [`Loaders`].
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, Loaders};
    /// use coalesce_loader_juniper::Context;
    ///
    /// let squares = DataLoader::new(coalesce_loader::from_fn(|ns: Vec<u32>| async move {
    ///     Ok::<_, std::convert::Infallible>(ns.iter().map(|n| Ok(n * n)).collect::<Vec<_>>())
    /// }));
    /// let context = Context::new((), Loaders::new().with(squares));
    /// assert_eq!(context.loaders().stats()[0].1.loads, 0);
    /// ```
    pub fn loaders(&self) -> &Loaders {
        &self.loaders
    }

    /// The request's loader whose batch function is `L`, each key its own cache key.
    ///
    /// A loader that was not registered is an `Err` naming `L`; with `?` in a resolver that
    /// returns `juniper::FieldResult`, it becomes that field's error, and the rest of the
    /// response still resolves.
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, Loader, Loaders};
    /// use coalesce_loader_juniper::Context;
    ///
    /// struct UserLoader;
    /// impl Loader for UserLoader {
    ///     type Key = u64;
    ///     type Output = Vec<Result<String, Self::Error>>;
    ///     type Error = std::convert::Infallible;
    ///     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
    ///         Ok(ids.iter().map(|id| Ok(format!("user {id}"))).collect())
    ///     }
    /// }
    /// struct PostLoader;
    /// # impl Loader for PostLoader {
    /// #     type Key = u64;
    /// #     type Output = Vec<Result<String, Self::Error>>;
    /// #     type Error = std::convert::Infallible;
    /// #     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
    /// #         Ok(ids.iter().map(|id| Ok(format!("post {id}"))).collect())
    /// #     }
    /// # }
    ///
    /// let context = Context::new((), Loaders::new().with(DataLoader::new(UserLoader)));
    /// # futures::executor::block_on(async {
    /// assert_eq!(context.loader::<UserLoader>()?.load(1).await?, "user 1");
    ///
    /// let missing = context.loader::<PostLoader>().unwrap_err().to_string();
    /// assert!(missing.contains("PostLoader"), "{missing}");
    /// # Ok::<_, juniper::FieldError>(()) }).unwrap();
    /// ```
    pub fn loader<L: Loader>(&self) -> Result<&DataLoader<L>, MissingLoader>
    where
        L::Key: CacheKey,
    {
        self.loaders.get::<L>()
    }

    /// The request's loader whose batch function is `L` and whose cache key is `C`: one built
    /// with [`with_cache_key`](coalesce_loader::Builder::with_cache_key).
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, FnLoader, Loaders};
    /// use coalesce_loader_juniper::Context;
    /// use std::convert::Infallible;
    ///
    /// type ByEmail = FnLoader<String, Vec<Result<usize, Infallible>>, Infallible>;
    ///
    /// let by_email: DataLoader<ByEmail, String> = DataLoader::with_cache_key(
    ///     coalesce_loader::from_fn(|emails: Vec<String>| async move {
    ///         Ok(emails.iter().map(|e| Ok(e.len())).collect())
    ///     }),
    ///     |email: &String| email.to_lowercase(), // case-insensitive
    /// );
    /// let context = Context::new((), Loaders::new().with(by_email));
    /// # futures::executor::block_on(async {
    /// let users = context.keyed_loader::<ByEmail, String>()?;
    /// let (a, b) = futures::join!(users.load("Ada@example.com".into()), users.load("ada@EXAMPLE.com".into()));
    /// assert_eq!(a?, b?);
    /// assert_eq!(users.stats().keys, 1);
    /// # Ok::<_, juniper::FieldError>(()) }).unwrap();
    /// ```
    pub fn keyed_loader<L: Loader, C: CacheKey>(&self) -> Result<&DataLoader<L, C>, MissingLoader> {
        self.loaders.get_keyed::<L, C>()
    }
}
