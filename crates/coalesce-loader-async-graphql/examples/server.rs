use async_graphql::{Context, EmptyMutation as NoMut, EmptySubscription as NoSub, Object, Result};
use coalesce_loader::{DataLoader, Loader, Loaders, by_key};
use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};
use sqlx::{FromRow, SqlitePool};

#[derive(Clone, async_graphql::SimpleObject, FromRow)]
struct User {
    id: i64,
    name: String,
}

#[derive(FromRow)]
struct Message {
    text: String,
    poster_id: i64,
}

#[Object]
impl Message {
    async fn text(&self) -> &str {
        &self.text
    }
    async fn poster(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(ctx.loader::<UserLoader>()?.load(self.poster_id).await?)
    }
}

struct UserLoader(SqlitePool);

impl Loader for UserLoader {
    type Key = i64;
    type Output = std::collections::HashMap<i64, User>; // an id with no row loads as None
    type Error = sqlx::Error;
    async fn load_batch(&self, ids: &[i64]) -> Result<Self::Output, sqlx::Error> {
        let sql = "SELECT id, name FROM users WHERE id IN (SELECT value FROM json_each(?))";
        let rows = sqlx::query_as(sql)
            .bind(format!("{ids:?}"))
            .fetch_all(&self.0)
            .await?;
        Ok(by_key(rows, |user: &User| user.id))
    }
}

pub struct Query;

#[Object]
impl Query {
    async fn messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>> {
        let sql = "SELECT text, poster_id FROM messages ORDER BY id";
        Ok(sqlx::query_as(sql)
            .fetch_all(ctx.data::<SqlitePool>()?)
            .await?)
    }
}

pub fn schema(db: SqlitePool) -> async_graphql::Schema<Query, NoMut, NoSub> {
    let loaders = LoaderExtension::new(|request| {
        let db = request.get::<SqlitePool>().expect("the schema's data");
        Loaders::new().with(DataLoader::new(UserLoader(db.clone())))
    });
    let schema = async_graphql::Schema::build(Query, NoMut, NoSub).data(db);
    schema
        .extension(loaders.stats_in_extensions("loaders"))
        .finish()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = SqlitePool::connect("sqlite:messages.db?mode=rwc").await?;
    sqlx::raw_sql(include_str!("messages.sql"))
        .execute(&db)
        .await?;
    let graphql = async_graphql_axum::GraphQL::new(schema(db));
    let app = axum::Router::new().route_service("/graphql", graphql);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    Ok(axum::serve(listener, app).await?)
}
