//! What a resolver gets from `LoaderContext` when the loaders it asks for are not there.

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema};
use coalesce_loader::{DataLoader, Loader, Loaders};
use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};

struct Doubler;

impl Loader for Doubler {
    type Key = i32;
    type Output = Vec<Result<i32, Self::Error>>;
    type Error = std::convert::Infallible;
    async fn load_batch(&self, keys: &[i32]) -> Result<Self::Output, Self::Error> {
        Ok(keys.iter().map(|k| Ok(k * 2)).collect())
    }
}

struct Query;

#[Object]
impl Query {
    async fn double(&self, ctx: &Context<'_>, n: i32) -> async_graphql::Result<i32> {
        Ok(ctx.loader::<Doubler>()?.load(n).await?)
    }
}

async fn error_of(schema: Schema<Query, EmptyMutation, EmptySubscription>) -> String {
    let response = schema.execute("{ double(n: 1) }").await;
    assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
    response.errors[0].message.clone()
}

#[tokio::test]
async fn a_schema_without_the_extension_says_how_to_add_it() {
    let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
    let message = error_of(schema).await;
    assert!(message.contains("LoaderExtension::new"), "{message}");
}

#[tokio::test]
async fn a_loader_the_factory_did_not_add_is_a_field_error_naming_it() {
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(LoaderExtension::new(|_| Loaders::new()))
        .finish();
    let message = error_of(schema).await;
    assert!(message.contains("Doubler"), "{message}");
    assert!(
        message.contains("add it where the Loaders are built"),
        "{message}"
    );
}

#[tokio::test]
async fn the_factory_runs_for_every_request_so_no_memo_outlives_its_request() {
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(
            LoaderExtension::new(|_| Loaders::new().with(DataLoader::new(Doubler)))
                .stats_in_extensions("loaders"),
        )
        .finish();
    for _ in 0..2 {
        let response = schema.execute("{ a: double(n: 1) b: double(n: 1) }").await;
        assert_eq!(
            response.data.into_json().unwrap(),
            serde_json::json!({ "a": 2, "b": 2 })
        );
        let stats = response.extensions["loaders"].clone().into_json().unwrap();
        // A memo kept from the request before would answer both from the cache.
        assert_eq!(stats["Doubler"]["batches"], 1, "{stats}");
        assert_eq!(stats["Doubler"]["cacheHits"], 0, "{stats}");
    }
}
