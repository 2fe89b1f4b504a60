//! [`ContextFactory`]: registered once, it makes every request's [`Context`] with fresh loaders.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use coalesce_loader::{Loaders, Stats};
use juniper::http::{GraphQLBatchRequest, GraphQLBatchResponse, GraphQLRequest, GraphQLResponse};
use juniper::{GraphQLSubscriptionType, GraphQLType, GraphQLTypeAsync, RootNode, ScalarValue};

use crate::Context;

/// Makes each request's [`Context`] from the request's data: your function builds the request's
/// [`Loaders`] from it (capturing the pool, the viewer), so loaders are per request by
/// construction, as a Strawberry `get_context` returns a fresh `DataLoader` each time.
///
/// Build it once, next to the schema; it is cheap to clone, for handlers that need their own.
///
/// ```
/// use coalesce_loader::{DataLoader, Loaders};
/// use coalesce_loader_juniper::ContextFactory;
///
/// struct AppData { viewer: u64 }
///
/// let factory = ContextFactory::new(|app: &AppData| {
///     let viewer = app.viewer;
///     Loaders::new().with(DataLoader::new(coalesce_loader::from_fn(move |ids: Vec<u64>| async move {
///         Ok::<_, std::convert::Infallible>(
///             ids.iter().map(|id| Ok(format!("user {id}, as seen by {viewer}"))).collect::<Vec<_>>(),
///         )
///     })))
/// });
///
/// // Per request: two requests, two sets of loaders.
/// let first = factory.context(AppData { viewer: 1 });
/// let second = factory.context(AppData { viewer: 2 });
/// assert_eq!((first.data().viewer, second.data().viewer), (1, 2));
/// assert_eq!(first.loaders().stats().len(), 1);
/// ```
pub struct ContextFactory<T> {
    make_loaders: Arc<dyn Fn(&T) -> Loaders + Send + Sync>,
}

impl<T> ContextFactory<T> {
    /// A factory whose contexts get the loaders `make_loaders` builds for their request's data.
    ///
    /// ```
    /// use coalesce_loader::Loaders;
    /// use coalesce_loader_juniper::ContextFactory;
    ///
    /// // A request whose data is its viewer's id, and which needs no loader yet.
    /// let factory = ContextFactory::new(|_viewer: &u64| Loaders::new());
    /// assert!(factory.context(7).loaders().stats().is_empty());
    /// ```
    pub fn new(make_loaders: impl Fn(&T) -> Loaders + Send + Sync + 'static) -> Self {
        Self {
            make_loaders: Arc::new(make_loaders),
        }
    }

    /// A request's context: `data`, with the loaders made for it. For running juniper yourself
    /// (`juniper::execute`, a subscription); [`execute`](Self::execute) does it for a request.
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, FnLoader, Loaders};
    /// use coalesce_loader_juniper::{Context, ContextFactory};
    /// use juniper::{EmptyMutation, EmptySubscription, FieldResult, RootNode, graphql_object};
    /// use std::convert::Infallible;
    ///
    /// type Lengths = FnLoader<String, Vec<Result<i32, Infallible>>, Infallible>;
    ///
    /// struct Query;
    ///
    /// #[graphql_object(context = Context<()>)]
    /// impl Query {
    ///     async fn length(context: &Context<()>, word: String) -> FieldResult<i32> {
    ///         Ok(context.loader::<Lengths>()?.load(word).await?)
    ///     }
    /// }
    ///
    /// let factory = ContextFactory::new(|_: &()| {
    ///     let lengths: DataLoader<Lengths> = DataLoader::builder(coalesce_loader::from_fn(
    ///         |words: Vec<String>| async move { Ok(words.iter().map(|w| Ok(w.len() as i32)).collect()) },
    ///     ))
    ///     .name("lengths")
    ///     .build();
    ///     Loaders::new().with(lengths)
    /// });
    /// let schema = RootNode::new(Query, EmptyMutation::new(), EmptySubscription::new());
    /// let context = factory.context(());
    /// let query = r#"{ a: length(word: "ada") b: length(word: "grace") }"#;
    /// # futures::executor::block_on(async {
    /// let (data, _) = juniper::execute(query, None, &schema, &Default::default(), &context).await.unwrap();
    /// assert_eq!(data, juniper::graphql_value!({ "a": 3, "b": 5 }));
    /// let stats = context.loaders().stats();
    /// assert_eq!((stats[0].0, stats[0].1.batches), ("lengths", 1));
    /// # });
    /// ```
    pub fn context(&self, data: T) -> Context<T> {
        let loaders = (self.make_loaders)(&data);
        Context::new(data, loaders)
    }

    /// Runs `request` on `schema` with a fresh context for `data`, and returns juniper's
    /// response with what each loader did.
    ///
    /// With the `tracing` feature, the request runs in a `graphql.execute` span (its
    /// `graphql.operation.name` field the operation's name), under which the loaders'
    /// `coalesce.batch` spans nest.
    ///
    /// ```
    /// use coalesce_loader::Loaders;
    /// use coalesce_loader_juniper::{Context, ContextFactory};
    /// use juniper::http::GraphQLRequest;
    /// use juniper::{EmptyMutation, EmptySubscription, RootNode, graphql_object};
    ///
    /// struct Query;
    ///
    /// #[graphql_object(context = Context<String>)]
    /// impl Query {
    ///     fn viewer(context: &Context<String>) -> &str {
    ///         context.data()
    ///     }
    /// }
    ///
    /// let schema = RootNode::new(Query, EmptyMutation::new(), EmptySubscription::new());
    /// let factory = ContextFactory::new(|_: &String| Loaders::new());
    /// let request = GraphQLRequest::new("{ viewer }".into(), None, None);
    /// # futures::executor::block_on(async {
    /// let executed = factory.execute(&schema, &request, "ada".to_string()).await;
    /// assert!(executed.response.is_ok());
    /// let json = serde_json::to_value(&executed.response).unwrap();
    /// assert_eq!(json, serde_json::json!({ "data": { "viewer": "ada" } }));
    /// # });
    /// ```
    pub async fn execute<Q, M, Sub, S>(
        &self,
        schema: &RootNode<Q, M, Sub, S>,
        request: &GraphQLRequest<S>,
        data: T,
    ) -> Executed<GraphQLResponse<S>>
    where
        T: Sync,
        Q: GraphQLTypeAsync<S, Context = Context<T>>,
        Q::TypeInfo: Sync,
        M: GraphQLTypeAsync<S, Context = Context<T>>,
        M::TypeInfo: Sync,
        Sub: GraphQLType<S, Context = Context<T>> + Sync,
        Sub::TypeInfo: Sync,
        S: ScalarValue + Send + Sync,
    {
        let context = self.context(data);
        let operation = || Cow::Borrowed(request.operation_name.as_deref().unwrap_or_default());
        let response = in_request_span(operation, request.execute(schema, &context)).await;
        Executed::new(response, context.loaders())
    }

    /// Runs a single request or a batch of them (a JSON array of operations), as
    /// `juniper_axum::extract::JuniperRequest` and juniper's other HTTP integrations hand it over,
    /// with one fresh context for `data`: the operations of a batch share its loaders, so they
    /// batch together.
    ///
    /// With `juniper_axum`, a handler answers
    /// `JuniperResponse(factory.execute_batch(&schema, &request.0, data).await.response)`.
    /// With the `tracing` feature, the whole batch runs in one `graphql.execute` span, its
    /// `graphql.operation.name` field the operations' names, comma-separated.
    ///
    /// ```
    /// use coalesce_loader::Loaders;
    /// use coalesce_loader_juniper::{Context, ContextFactory};
    /// use juniper::http::GraphQLBatchRequest;
    /// use juniper::{EmptyMutation, EmptySubscription, RootNode, graphql_object};
    ///
    /// struct Query;
    ///
    /// #[graphql_object(context = Context<String>)]
    /// impl Query {
    ///     fn viewer(context: &Context<String>) -> &str {
    ///         context.data()
    ///     }
    /// }
    ///
    /// let schema = RootNode::new(Query, EmptyMutation::new(), EmptySubscription::new());
    /// let factory = ContextFactory::new(|_: &String| Loaders::new());
    /// let body = r#"[{ "query": "{ viewer }" }, { "query": "{ v: viewer }" }]"#;
    /// let request: GraphQLBatchRequest = serde_json::from_str(body).unwrap();
    /// # futures::executor::block_on(async {
    /// let executed = factory.execute_batch(&schema, &request, "ada".to_string()).await;
    /// let json = serde_json::to_value(&executed.response).unwrap();
    /// assert_eq!(json, serde_json::json!([{ "data": { "viewer": "ada" } }, { "data": { "v": "ada" } }]));
    /// # });
    /// ```
    pub async fn execute_batch<Q, M, Sub, S>(
        &self,
        schema: &RootNode<Q, M, Sub, S>,
        request: &GraphQLBatchRequest<S>,
        data: T,
    ) -> Executed<GraphQLBatchResponse<S>>
    where
        T: Sync,
        Q: GraphQLTypeAsync<S, Context = Context<T>>,
        Q::TypeInfo: Sync,
        M: GraphQLTypeAsync<S, Context = Context<T>>,
        M::TypeInfo: Sync,
        Sub: GraphQLSubscriptionType<S, Context = Context<T>>,
        Sub::TypeInfo: Sync,
        S: ScalarValue + Send + Sync,
    {
        let context = self.context(data);
        let operations = || {
            let names = request.operation_names();
            Cow::Owned(
                names
                    .iter()
                    .map(|name| name.unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        };
        let response = in_request_span(operations, request.execute(schema, &context)).await;
        Executed::new(response, context.loaders())
    }
}

impl<T> Clone for ContextFactory<T> {
    fn clone(&self) -> Self {
        Self {
            make_loaders: Arc::clone(&self.make_loaders),
        }
    }
}

impl<T> fmt::Debug for ContextFactory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextFactory").finish_non_exhaustive()
    }
}

/// `execution` in a `graphql.execute` span named for its `operation`, which is only computed
/// when the span exists.
#[cfg(feature = "tracing")]
fn in_request_span<'a, F: Future>(
    operation: impl FnOnce() -> Cow<'a, str>,
    execution: F,
) -> impl Future<Output = F::Output> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "graphql.execute",
        graphql.operation.name = tracing::field::Empty
    );
    if !span.is_disabled() {
        span.record("graphql.operation.name", &*operation());
    }
    execution.instrument(span)
}

#[cfg(not(feature = "tracing"))]
fn in_request_span<'a, F: Future>(_operation: impl FnOnce() -> Cow<'a, str>, execution: F) -> F {
    execution
}

/// What [`ContextFactory::execute`] returns: juniper's response, and what each of the request's
/// loaders did, for a log or a metric. (juniper's response has no `extensions` to put them in;
/// with `coalesce-loader`'s `serde` feature, [`Stats`] serializes for a body of your own.)
///
/// ```
/// use coalesce_loader::{DataLoader, Loaders};
/// use coalesce_loader_juniper::{Context, ContextFactory};
/// use juniper::http::GraphQLRequest;
/// use juniper::{EmptyMutation, EmptySubscription, FieldResult, RootNode, graphql_object};
/// use std::convert::Infallible;
///
/// type Squares = coalesce_loader::FnLoader<i32, Vec<Result<i32, Infallible>>, Infallible>;
///
/// struct Query;
///
/// #[graphql_object(context = Context<()>)]
/// impl Query {
///     async fn squares(context: &Context<()>, ns: Vec<i32>) -> FieldResult<Vec<i32>> {
///         let squares = context.loader::<Squares>()?;
///         Ok(squares.load_many(ns).await.into_iter().collect::<Result<_, _>>()?)
///     }
/// }
///
/// let schema = RootNode::new(Query, EmptyMutation::new(), EmptySubscription::new());
/// let factory = ContextFactory::new(|_: &()| {
///     let squares: DataLoader<Squares> = DataLoader::builder(coalesce_loader::from_fn(
///         |ns: Vec<i32>| async move { Ok(ns.iter().map(|n| Ok(n * n)).collect()) },
///     ))
///     .name("squares")
///     .build();
///     Loaders::new().with(squares)
/// });
/// let request = GraphQLRequest::new("{ squares(ns: [2, 3, 2]) }".into(), None, None);
/// # futures::executor::block_on(async {
/// let executed = factory.execute(&schema, &request, ()).await;
/// let (data, _errors) = executed.response.into_result().unwrap();
/// assert_eq!(data, juniper::graphql_value!({ "squares": [4, 9, 4] }));
///
/// let (name, stats) = &executed.stats[0];
/// assert_eq!(name, "squares");
/// assert_eq!((stats.loads, stats.keys, stats.batches), (3, 2, 1));
/// # });
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Executed<R> {
    /// juniper's response: serialize it as the HTTP response's body.
    pub response: R,
    /// Each of the request's loaders, by name (sorted), with its [`Stats`].
    pub stats: Vec<(String, Stats)>,
}

impl<R> Executed<R> {
    fn new(response: R, loaders: &Loaders) -> Self {
        let stats = loaders
            .stats()
            .into_iter()
            .map(|(name, stats)| (name.to_owned(), stats))
            .collect();
        Self { response, stats }
    }
}
