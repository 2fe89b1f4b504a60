//! The request's span and the batch spans under it. A test binary of its own: `tracing` decides
//! once per call site whether anyone listens, so a test elsewhere in the same process, opening
//! the same spans with no subscriber at the same moment, could hide them from this one.
#![cfg(feature = "tracing")]

use coalesce_loader::{DataLoader, Loader, Loaders};
use coalesce_loader_juniper::{Context, ContextFactory};
use juniper::http::GraphQLRequest;
use juniper::{EmptyMutation, EmptySubscription, FieldResult, RootNode, graphql_object};

struct UserLoader;

impl Loader for UserLoader {
    type Key = i32;
    type Output = Vec<Result<String, Self::Error>>;
    type Error = std::convert::Infallible;
    async fn load_batch(&self, ids: &[i32]) -> Result<Self::Output, Self::Error> {
        Ok(ids.iter().map(|id| Ok(format!("user {id}"))).collect())
    }
}

struct Query;

#[graphql_object(context = Context<()>)]
impl Query {
    async fn user_name(context: &Context<()>, id: i32) -> FieldResult<String> {
        Ok(context.loader::<UserLoader>()?.load(id).await?)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn batch_spans_nest_under_the_request_span() {
    let recorder = coalesce_testkit::SpanRecorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let schema = RootNode::new(Query, EmptyMutation::new(), EmptySubscription::new());
    let contexts = ContextFactory::new(|_: &()| Loaders::new().with(DataLoader::new(UserLoader)));
    let request = GraphQLRequest::new(
        "{ a: userName(id: 1) b: userName(id: 2) }".into(),
        None,
        None,
    );

    let executed = contexts.execute(&schema, &request, ()).await;

    let (data, errors) = executed.response.into_result().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        data,
        juniper::graphql_value!({ "a": "user 1", "b": "user 2" })
    );
    let requests = recorder.named("graphql.execute");
    let batches = recorder.named("coalesce.batch");
    assert_eq!((requests.len(), batches.len()), (1, 1));
    assert_eq!(recorder.parent(batches[0]), Some(requests[0]));
}
