//! The messages query through juniper's async executor: batched through a request's loaders,
//! against the same query resolved without them, on a data source that counts its statements.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use coalesce_loader::{DataLoader, Loader, Loaders, Stats, by_key};
use coalesce_loader_juniper::{Context, ContextFactory, Executed};
use juniper::http::{GraphQLBatchRequest, GraphQLRequest};
use juniper::{EmptyMutation, EmptySubscription, FieldResult, ID, RootNode, graphql_object};
use serde_json::{Value, json};

const MESSAGES: &str = "{ messages { id message poster { id name } } }";
const FIRST_NAMES: [&str; 10] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Niklaus",
];

/// A data source whose every query, a batch or a lookup of one row, counts as one statement.
#[derive(Clone, Default)]
struct Db {
    statements: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Message {
    id: i32,
    text: String,
    poster_id: i32,
}

/// A user as one viewer may see them: the email only when it is the viewer's own.
#[derive(Clone)]
struct User {
    id: i32,
    name: String,
    email: Option<String>,
}

impl Db {
    /// Runs a statement: counts it, and yields once, as a query over a connection would.
    async fn statement(&self) {
        self.statements.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }

    fn statements(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }

    /// `SELECT * FROM messages`: 20 messages, each of the 10 users posting two.
    async fn messages(&self) -> Vec<Message> {
        self.statement().await;
        (1..=20)
            .map(|id| Message {
                id,
                text: format!("message {id}"),
                poster_id: id * 3 % 10 + 1,
            })
            .collect()
    }

    /// `SELECT * FROM users WHERE id IN (...)`, as `viewer` may see them.
    async fn users(&self, ids: &[i32], viewer: i32) -> Vec<User> {
        self.statement().await;
        ids.iter().filter_map(|&id| user_row(id, viewer)).collect()
    }

    /// `SELECT * FROM users WHERE id = ?`, as `viewer` may see them.
    async fn user(&self, id: i32, viewer: i32) -> Option<User> {
        self.statement().await;
        user_row(id, viewer)
    }
}

fn user_row(id: i32, viewer: i32) -> Option<User> {
    let first = FIRST_NAMES.get(usize::try_from(id).ok()?.checked_sub(1)?)?;
    Some(User {
        id,
        name: format!("{first} (user {id})"),
        email: (id == viewer).then(|| format!("{}@example.com", first.to_lowercase())),
    })
}

/// One viewer's users, by id.
struct UserLoader {
    db: Db,
    viewer: i32,
}

impl Loader for UserLoader {
    type Key = i32;
    type Output = std::collections::HashMap<i32, User>;
    type Error = std::convert::Infallible;

    async fn load_batch(&self, ids: &[i32]) -> Result<Self::Output, Self::Error> {
        Ok(by_key(self.db.users(ids, self.viewer).await, |u| u.id))
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Batched,
    /// Each poster looked up by itself, without loaders: the N+1 queries.
    Naive,
}

struct AppData {
    db: Db,
    viewer: i32,
    mode: Mode,
}

struct Query;

#[graphql_object(context = Context<AppData>)]
impl Query {
    async fn messages(context: &Context<AppData>) -> Vec<Message> {
        context.data().db.messages().await
    }

    async fn me(context: &Context<AppData>) -> FieldResult<Option<User>> {
        user(context, context.data().viewer).await
    }
}

#[graphql_object(context = Context<AppData>)]
impl Message {
    fn id(&self) -> ID {
        self.id.to_string().into()
    }

    fn message(&self) -> &str {
        &self.text
    }

    async fn poster(&self, context: &Context<AppData>) -> FieldResult<Option<User>> {
        user(context, self.poster_id).await
    }
}

#[graphql_object(context = Context<AppData>)]
impl User {
    fn id(&self) -> ID {
        self.id.to_string().into()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

async fn user(context: &Context<AppData>, id: i32) -> FieldResult<Option<User>> {
    let app = context.data();
    Ok(match app.mode {
        Mode::Batched => context.loader::<UserLoader>()?.load(id).await?,
        Mode::Naive => app.db.user(id, app.viewer).await,
    })
}

type Schema = RootNode<Query, EmptyMutation<Context<AppData>>, EmptySubscription<Context<AppData>>>;

fn schema() -> Schema {
    Schema::new(Query, EmptyMutation::new(), EmptySubscription::new())
}

/// The factory an application registers: each request's `UserLoader` sees as its viewer.
fn factory() -> ContextFactory<AppData> {
    ContextFactory::new(|app: &AppData| {
        Loaders::new().with(DataLoader::new(UserLoader {
            db: app.db.clone(),
            viewer: app.viewer,
        }))
    })
}

fn request(query: &str) -> GraphQLRequest {
    GraphQLRequest::new(query.to_owned(), None, None)
}

/// The response's body as a client reads it.
fn body<R: serde::Serialize>(executed: &Executed<R>) -> Value {
    serde_json::to_value(&executed.response).unwrap()
}

fn user_loader_stats<R>(executed: &Executed<R>) -> Stats {
    let (_, stats) = executed
        .stats
        .iter()
        .find(|(name, _)| name == "UserLoader")
        .expect("the request's UserLoader");
    *stats
}

/// What `{ messages { id message poster { id name } } }` answers, written out from the
/// fixture's rule: message `i` is posted by user `3i mod 10 + 1`.
fn expected_messages() -> Value {
    let messages: Vec<Value> = (1..=20)
        .map(|id: i32| {
            let poster = id * 3 % 10 + 1;
            let first = FIRST_NAMES[poster as usize - 1];
            json!({
                "id": id.to_string(),
                "message": format!("message {id}"),
                "poster": { "id": poster.to_string(), "name": format!("{first} (user {poster})") },
            })
        })
        .collect();
    json!({ "data": { "messages": messages } })
}

#[tokio::test]
async fn messages_query_costs_two_statements_batched_and_21_naive() {
    let (schema, factory) = (schema(), factory());
    let mut answers = Vec::new();
    for mode in [Mode::Batched, Mode::Naive] {
        let db = Db::default();
        let data = AppData {
            db: db.clone(),
            viewer: 1,
            mode,
        };
        let executed = factory.execute(&schema, &request(MESSAGES), data).await;
        answers.push((body(&executed), db.statements()));
    }

    let expected = expected_messages();
    assert_eq!(answers[0], (expected.clone(), 2), "batched");
    assert_eq!(answers[1], (expected, 21), "naive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_after_execution_show_the_posters_loaded_in_one_batch() {
    let (schema, factory) = (Arc::new(schema()), factory());
    let data = AppData {
        db: Db::default(),
        viewer: 1,
        mode: Mode::Batched,
    };
    // On a spawned task, as an HTTP handler runs it.
    let executed =
        tokio::spawn(async move { factory.execute(&schema, &request(MESSAGES), data).await })
            .await
            .unwrap();

    assert_eq!(body(&executed), expected_messages());
    let stats = user_loader_stats(&executed);
    assert_eq!(
        (stats.loads, stats.deduplicated, stats.keys, stats.batches),
        (20, 10, 10, 1)
    );
    assert_eq!(stats.largest_batch, 10);
}

#[tokio::test]
async fn concurrent_requests_of_different_viewers_never_share_a_memo() {
    let (schema, factory, db) = (schema(), factory(), Db::default());
    let as_viewer = |viewer| AppData {
        db: db.clone(),
        viewer,
        mode: Mode::Batched,
    };
    let everyone = request("{ messages { poster { id email } } }");
    let me = request("{ me { id email } }");

    // Polled together: both requests' user batches are open at the same time, for key 7 too.
    let (third, seventh) = futures::join!(
        factory.execute(&schema, &everyone, as_viewer(3)),
        factory.execute(&schema, &me, as_viewer(7)),
    );

    let emails: Vec<(Value, Value)> = body(&third)["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["poster"]["id"].clone(), m["poster"]["email"].clone()))
        .collect();
    assert_eq!(emails.len(), 20);
    for (id, email) in emails {
        let own = id == "3";
        assert_eq!(
            email,
            if own {
                json!("alan@example.com")
            } else {
                Value::Null
            }
        );
    }
    assert_eq!(
        body(&seventh),
        json!({ "data": { "me": { "id": "7", "email": "frances@example.com" } } })
    );

    let (third, seventh) = (user_loader_stats(&third), user_loader_stats(&seventh));
    assert_eq!((third.loads, third.keys, third.batches), (20, 10, 1));
    assert_eq!((seventh.loads, seventh.keys, seventh.batches), (1, 1, 1));
    assert_eq!(seventh.cache_hits + seventh.deduplicated, 0);
    // The messages, and one user batch per request.
    assert_eq!(db.statements(), 3);
}

#[tokio::test]
async fn a_batch_of_operations_shares_one_context_and_its_batches() {
    let (schema, db) = (schema(), Db::default());
    let operations: GraphQLBatchRequest = serde_json::from_value(json!([
        { "query": MESSAGES },
        { "query": "{ me { name email } }" },
    ]))
    .unwrap();
    let data = AppData {
        db: db.clone(),
        viewer: 4,
        mode: Mode::Batched,
    };

    let executed = factory().execute_batch(&schema, &operations, data).await;

    let body = body(&executed);
    assert_eq!(body[0], expected_messages());
    assert_eq!(
        body[1],
        json!({ "data": { "me": { "name": "Edsger (user 4)", "email": "edsger@example.com" } } })
    );
    // `me` joined the posters' batch: one batch for both operations.
    let stats = user_loader_stats(&executed);
    assert_eq!((stats.loads, stats.keys, stats.batches), (21, 10, 1));
    assert_eq!(db.statements(), 2);
}

#[tokio::test]
async fn a_loader_that_was_not_registered_is_a_field_error_naming_it() {
    let without_loaders = ContextFactory::new(|_: &AppData| Loaders::new());
    let data = AppData {
        db: Db::default(),
        viewer: 1,
        mode: Mode::Batched,
    };

    let executed = without_loaders
        .execute(&schema(), &request(MESSAGES), data)
        .await;

    let body = body(&executed);
    let messages = body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 20);
    assert_eq!(
        messages[0],
        json!({ "id": "1", "message": "message 1", "poster": null })
    );
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 20);
    // juniper's paths leave out list indices.
    assert_eq!(errors[0]["path"], json!(["messages", "poster"]));
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("no loader for `") && message.contains("::UserLoader`"),
        "{message}"
    );
    assert!(executed.stats.is_empty());
}
