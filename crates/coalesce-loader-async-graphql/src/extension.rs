//! [`LoaderExtension`]: the schema extension that gives every request its own loaders.
//!
//! async-graphql creates an extension's instance per request ([`ExtensionFactory::create`]), and
//! calls `prepare_request` before parsing with the request in hand. That is where the factory
//! runs: it sees the request's data (the caller's identity, put there by the HTTP handler) and
//! the schema's (a pool), and the [`Loaders`] it returns go into the request's data, where
//! [`LoaderContext`](crate::LoaderContext) finds them. So loaders are per request by construction:
//! no resolver can reach another request's memo, and a batched HTTP request (several operations
//! in one JSON array) gives each operation its own.
//!
//! The `execute` hook wraps the whole execution, so it is where the stats are read (every load of
//! the request has been answered when `next.run` returns) and where the request's span is
//! entered: a batch span is opened inside the resolver that drives it, hence under the request's.
//!
//! The rejected alternative is a `Loaders` built by the HTTP handler and passed with
//! `Request::data`: it works (and still works with this crate's [`LoaderContext`]), but every
//! handler, test and subscription must remember to do it, and a forgotten one fails at run time,
//! in the first resolver that loads.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest,
};
use async_graphql::{Data, Request, Response, ServerResult, Value};
use coalesce_loader::Loaders;

type Factory = dyn Fn(&RequestData<'_>) -> Loaders + Send + Sync;

/// A schema extension that builds each request's [`Loaders`] with a factory given once.
///
/// ```
/// use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
/// use coalesce_loader::{DataLoader, Loaders};
/// use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};
///
/// /// The caller, as the HTTP handler found it; put in each request's data.
/// struct Viewer(u64);
///
/// async fn greetings(ids: Vec<u64>) -> Result<Vec<Result<String, String>>, String> {
///     Ok(ids.iter().map(|id| Ok(format!("hello, {id}"))).collect())
/// }
///
/// struct Query;
///
/// #[Object]
/// impl Query {
///     async fn greeting(&self, ctx: &async_graphql::Context<'_>, id: u64) -> async_graphql::Result<String> {
///         Ok(ctx.loader::<coalesce_loader::FnLoader<u64, Vec<Result<String, String>>, String>>()?
///             .load(id)
///             .await?)
///     }
/// }
///
/// let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
///     .extension(
///         LoaderExtension::new(|request| {
///             // What the request may see is fixed here, once per request.
///             let _viewer = request.get::<Viewer>().map(|v| v.0);
///             Loaders::new().with(DataLoader::new(coalesce_loader::from_fn(greetings)))
///         })
///         .stats_in_extensions("loaders"),
///     )
///     .finish();
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let request = async_graphql::Request::new("{ a: greeting(id: 1) b: greeting(id: 2) }").data(Viewer(7));
/// let response = schema.execute(request).await;
/// assert!(response.errors.is_empty(), "{:?}", response.errors);
/// let stats = response.extensions["loaders"].clone().into_json().unwrap();
/// assert_eq!(stats["greetings"]["batches"], 1); // both fields, one batch
/// assert_eq!(stats["greetings"]["keys"], 2);
/// # });
/// ```
#[derive(Clone)]
pub struct LoaderExtension {
    factory: Arc<Factory>,
    /// The key of the stats in the response's `extensions`, if they are to be there.
    stats_key: Option<Arc<str>>,
}

impl LoaderExtension {
    /// Builds each request's loaders with `factory`, which runs once per request, before the
    /// query is parsed, and may read the request's and the schema's data ([`RequestData`]).
    pub fn new(factory: impl Fn(&RequestData<'_>) -> Loaders + Send + Sync + 'static) -> Self {
        LoaderExtension {
            factory: Arc::new(factory),
            stats_key: None,
        }
    }

    /// Adds what each loader did for the request to the response's `extensions` under `key`:
    /// an object with one entry per loader, by name, each the loader's
    /// [`Stats`](coalesce_loader::Stats) in camelCase (`loads`, `batches`, `cacheHits`, ...).
    ///
    /// Off by default: stats tell a caller how the server fetches, which a public API may not
    /// want to show.
    pub fn stats_in_extensions(mut self, key: impl Into<Arc<str>>) -> Self {
        self.stats_key = Some(key.into());
        self
    }
}

impl ExtensionFactory for LoaderExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for LoaderExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let loaders = (self.factory)(&RequestData {
            request: &request.data,
            ctx,
        });
        request.data.insert(loaders);
        next.run(ctx, request).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        #[cfg(feature = "tracing")]
        let mut response = {
            use tracing::Instrument;
            let span = tracing::info_span!(
                "graphql.execute",
                graphql.operation.name = operation_name.unwrap_or_default(),
            );
            next.run(ctx, operation_name).instrument(span).await
        };
        #[cfg(not(feature = "tracing"))]
        let mut response = next.run(ctx, operation_name).await;

        if let (Some(key), Some(loaders)) = (&self.stats_key, ctx.data_opt::<Loaders>()) {
            response
                .extensions
                .insert(key.to_string(), stats_value(loaders));
        }
        response
    }
}

/// The loaders' stats as a GraphQL value: an object by loader name.
fn stats_value(loaders: &Loaders) -> Value {
    let by_name = loaders
        .stats()
        .into_iter()
        .map(|(name, stats)| {
            // `Stats` is plain counters: serializing it cannot fail.
            let stats = async_graphql::to_value(stats).expect("Stats serializes to a value");
            (async_graphql::Name::new(name), stats)
        })
        .collect();
    Value::Object(by_name)
}

/// What the factory of a [`LoaderExtension`] sees of a request: the data the request carries
/// ([`Request::data`], put there by the HTTP handler), then the schema's
/// ([`SchemaBuilder::data`](async_graphql::SchemaBuilder::data)).
pub struct RequestData<'a> {
    request: &'a Data,
    ctx: &'a ExtensionContext<'a>,
}

impl<'a> RequestData<'a> {
    /// The request's data of type `T`, else the schema's, if either has one.
    ///
    /// ```
    /// # use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
    /// # use coalesce_loader::Loaders;
    /// # use coalesce_loader_async_graphql::LoaderExtension;
    /// # struct Query;
    /// # #[Object] impl Query { async fn ok(&self) -> bool { true } }
    /// struct Pool(&'static str);
    /// struct Viewer(u64);
    ///
    /// let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
    ///     .data(Pool("postgres://..."))
    ///     .extension(LoaderExtension::new(|request| {
    ///         assert!(request.get::<Pool>().is_some()); // the schema's
    ///         assert_eq!(request.get::<Viewer>().map(|v| v.0), Some(7)); // the request's
    ///         Loaders::new()
    ///     }))
    ///     .finish();
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let response = schema.execute(async_graphql::Request::new("{ ok }").data(Viewer(7))).await;
    /// # assert!(response.errors.is_empty());
    /// # });
    /// ```
    pub fn get<T: std::any::Any + Send + Sync>(&self) -> Option<&'a T> {
        self.request
            .get(&std::any::TypeId::of::<T>())
            .and_then(|data| data.downcast_ref::<T>())
            .or_else(|| self.ctx.data_opt::<T>())
    }
}
