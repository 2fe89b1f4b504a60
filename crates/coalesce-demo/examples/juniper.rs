//! The seeds' messages query served through juniper, on the same loaders as the async-graphql
//! server: coalesce batches whatever runs the resolvers, as long as sibling fields are polled
//! together, which juniper does for list items as async-graphql does.
//!
//! `cargo run -p coalesce-demo --example juniper` runs
//! `{ messages { id message poster { id name } } }` batched and naive, and prints each response
//! with its SQL statement count: 2 and 21, as with async-graphql.

use coalesce_demo::model::{Message, User};
use coalesce_demo::{Database, Mode, Source};
use juniper::{
    EmptyMutation, EmptySubscription, FieldResult, ID, RootNode, Variables, graphql_object,
};

/// A request's context: its [`Source`], with fresh loaders, as the seeds' `get_context` builds.
struct Context(Source);

impl juniper::Context for Context {}

struct Query;

#[graphql_object(context = Context)]
impl Query {
    /// Every message, each with its poster.
    async fn messages(context: &Context) -> FieldResult<Vec<MessageObject>> {
        Ok(context
            .0
            .all_messages()
            .await?
            .into_iter()
            .map(MessageObject)
            .collect())
    }
}

/// juniper's derive can only be implemented in the crate that owns the type, hence the wrappers
/// around the demo's rows.
struct MessageObject(Message);

#[graphql_object(context = Context, name = "Message")]
impl MessageObject {
    fn id(&self) -> ID {
        self.0.id.to_string().into()
    }

    fn message(&self) -> &str {
        &self.0.message
    }

    /// Null for an anonymous message, with no query.
    async fn poster(&self, context: &Context) -> FieldResult<Option<UserObject>> {
        match self.0.poster_id {
            Some(id) => Ok(context.0.user(id).await?.map(UserObject)),
            None => Ok(None),
        }
    }
}

struct UserObject(User);

#[graphql_object(context = Context, name = "User")]
impl UserObject {
    fn id(&self) -> ID {
        self.0.id.to_string().into()
    }

    fn name(&self) -> &str {
        &self.0.name
    }
}

type Schema = RootNode<Query, EmptyMutation<Context>, EmptySubscription<Context>>;

const MESSAGES: &str = "{ messages { id message poster { id name } } }";

/// Runs `query` on `db` through juniper, with a fresh [`Source`] in `mode`: the response's data
/// as JSON, and the SQL statements it cost; or the first error.
async fn execute(
    db: &Database,
    mode: Mode,
    query: &str,
) -> Result<(serde_json::Value, u64), String> {
    let schema = Schema::new(Query, EmptyMutation::new(), EmptySubscription::new());
    let context = Context(Source::new(db.request_store(), mode, None));
    let (data, errors) = juniper::execute(query, None, &schema, &Variables::new(), &context)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(error) = errors.first() {
        return Err(format!(
            "{}: {}",
            error.path().join("."),
            error.error().message()
        ));
    }
    let data = serde_json::to_value(&data).map_err(|e| e.to_string())?;
    Ok((data, context.0.sql_queries()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::open(None).await?;
    for mode in [Mode::Batched, Mode::Naive] {
        let (data, sql_queries) = execute(&db, mode, MESSAGES).await?;
        println!("{}", serde_json::to_string_pretty(&data)?);
        println!("{mode:?}: {sql_queries} SQL statements");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn juniper_messages_query_costs_two_sql_queries_and_21_naive() {
        let db = Database::open(None).await.unwrap();

        let (batched, batched_queries) = execute(&db, Mode::Batched, MESSAGES).await.unwrap();
        let (naive, naive_queries) = execute(&db, Mode::Naive, MESSAGES).await.unwrap();

        assert_eq!((batched_queries, naive_queries), (2, 21));
        assert_eq!(batched, naive);
        let messages = batched["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 20);
        assert_eq!(
            messages[1],
            serde_json::json!({
                "id": "2",
                "message": "Has anyone seen my keys? (#2)",
                "poster": { "id": "8", "name": "John Lovelace" },
            })
        );
    }
}
