//! The blocking server over HTTP: the demo's queries with their data and statement counts,
//! batched and naive; no runtime while serving; concurrent requests kept apart; the real error.

mod support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{Response, ServerResult, Value as GraphQLValue};
use coalesce_demo::Mode;
use coalesce_demo::model::{Id, User};
use coalesce_demo::schema;
use coalesce_demo::seed;
use serde_json::{Value, json};

use crate::support::{Reply, Served};

const MESSAGES: &str = "{ messages { id message poster { id name } } }";
const BANDS: &str = "{ bands { name albums { title } } }";
const TWO_USERS: &str = "{ first: user(id: 1) { id } second: user(id: 2) { id } }";
const ME: &str = "{ me { bestFriend { name } friends(first: 5) { bestFriend { name } } } }";

/// The same query on a batched and on a naive server: (batched, naive).
fn both(query: &str, viewer: Option<&str>) -> (Reply, Reply) {
    (
        Served::start(Mode::Batched).query(query, viewer),
        Served::start(Mode::Naive).query(query, viewer),
    )
}

fn seeded_user(id: Id) -> User {
    seed::users()
        .into_iter()
        .find(|user| user.id == id)
        .expect("a seeded user")
}

fn best_friend_name(id: Id) -> String {
    seeded_user(seeded_user(id).best_friend_id.expect("a best friend")).name
}

#[test]
fn messages_with_their_posters_cost_two_statements_and_21_naive() {
    let (batched, naive) = both(MESSAGES, None);
    assert_eq!(batched.assert_ok().sql_queries(), 2);
    assert_eq!(naive.assert_ok().sql_queries(), 21);
    let expected: Vec<Value> = seed::messages()
        .into_iter()
        .map(|m| {
            let poster = seeded_user(m.poster_id.expect("a poster"));
            json!({
                "id": m.id.to_string(),
                "message": m.message,
                "poster": { "id": poster.id.to_string(), "name": poster.name },
            })
        })
        .collect();
    assert_eq!(*batched.data(), json!({ "messages": expected }));
    assert_eq!(batched.data(), naive.data());
    assert_eq!(
        batched.data()["messages"][1],
        json!({
            "id": "2",
            "message": "Has anyone seen my keys? (#2)",
            "poster": { "id": "8", "name": "John Lovelace" },
        })
    );
    // 20 loads, 12 distinct posters, one batch.
    let users = batched.loader("users");
    assert_eq!(
        (&users["loads"], &users["keys"], &users["batches"]),
        (&json!(20), &json!(12), &json!(1))
    );
}

#[test]
fn a_first_page_of_every_users_friends_costs_two_statements_and_at_most_six_rows_per_user() {
    let query = "{ users { id friendsConnection(first: 5) { edges { node { id } } pageInfo { hasNextPage } } } }";
    let (batched, naive) = both(query, None);
    assert_eq!(batched.assert_ok().sql_queries(), 2);
    assert_eq!(naive.assert_ok().sql_queries(), 1 + seed::USERS as u64);
    assert_eq!(batched.data(), naive.data());
    // The users, then at most first + 1 friends of each: the extra one only says there is more.
    let rows = batched.body["extensions"]["sqlRows"]
        .as_u64()
        .expect("sqlRows");
    assert!(rows <= (seed::USERS * (1 + 6)) as u64, "{rows} rows");
    let users = batched.data()["users"].as_array().expect("users");
    assert_eq!(users.len(), seed::USERS as usize);
    for user in users {
        let friends = &user["friendsConnection"];
        let pages = friends["edges"].as_array().expect("edges").len();
        let more = friends["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage");
        // Every seeded user has 4 to 7 friends.
        assert!(
            pages == 5 && more || (4..=5).contains(&pages) && !more,
            "{user}"
        );
    }
}

#[test]
fn bands_with_their_albums_cost_two_statements_and_101_naive() {
    let (batched, naive) = both(BANDS, None);
    assert_eq!(batched.assert_ok().sql_queries(), 2);
    assert_eq!(naive.assert_ok().sql_queries(), 101);
    let albums = seed::albums();
    let expected: Vec<Value> = seed::bands()
        .into_iter()
        .map(|band| {
            let titles: Vec<Value> = albums
                .iter()
                .filter(|album| album.band_id == band.id)
                .map(|album| json!({ "title": album.title }))
                .collect();
            json!({ "name": band.name, "albums": titles })
        })
        .collect();
    assert_eq!(*batched.data(), json!({ "bands": expected }));
    assert_eq!(batched.data(), naive.data());
    assert_eq!(
        batched.data()["bands"][0],
        json!({
            "name": "The Quiet Foxes",
            "albums": [{ "title": "Static I" }, { "title": "Harbor II" }],
        })
    );
}

#[test]
fn two_aliased_users_cost_one_statement_and_two_naive() {
    let (batched, naive) = both(TWO_USERS, None);
    assert_eq!(batched.assert_ok().sql_queries(), 1);
    assert_eq!(naive.assert_ok().sql_queries(), 2);
    let expected = json!({ "first": { "id": "1" }, "second": { "id": "2" } });
    assert_eq!(*batched.data(), expected);
    assert_eq!(*naive.data(), expected);
}

#[test]
fn me_with_best_friends_and_friends_costs_four_statements_and_13_naive() {
    let (batched, naive) = both(ME, Some("1"));
    assert_eq!(batched.assert_ok().sql_queries(), 4, "{}", batched.body);
    assert_eq!(naive.assert_ok().sql_queries(), 13);
    let mut friends: Vec<Id> = seed::friendships()
        .into_iter()
        .filter(|&(user, _)| user == 1)
        .map(|(_, friend)| friend)
        .collect();
    friends.sort();
    let friends: Vec<Value> = friends[..5]
        .iter()
        .map(|&friend| json!({ "bestFriend": { "name": best_friend_name(friend) } }))
        .collect();
    let expected = json!({
        "me": { "bestFriend": { "name": best_friend_name(1) }, "friends": friends },
    });
    assert_eq!(*batched.data(), expected);
    assert_eq!(batched.data(), naive.data());
    assert_eq!(batched.data()["me"]["bestFriend"]["name"], "John Dijkstra");
}

/// Records, around every resolver of every request (and so around the batch functions, which
/// run inside the resolver whose load drives them), whether a tokio runtime is entered on the
/// thread, and which thread it is.
#[derive(Clone, Default)]
struct RuntimeProbe {
    seen: Arc<Mutex<Vec<Sighting>>>,
}

struct Sighting {
    thread: Option<String>,
    in_runtime: bool,
}

impl RuntimeProbe {
    fn record(&self) {
        self.seen.lock().unwrap().push(Sighting {
            thread: std::thread::current().name().map(str::to_owned),
            in_runtime: tokio::runtime::Handle::try_current().is_ok(),
        });
    }
}

impl ExtensionFactory for RuntimeProbe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RuntimeProbe {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<GraphQLValue>> {
        self.record();
        let value = next.run(ctx, info).await;
        self.record();
        value
    }
}

#[test]
fn no_runtime_is_running_while_requests_are_served() {
    let probe = RuntimeProbe::default();
    let served = Served::with_schema(
        schema::builder(Mode::Batched, None)
            .extension(probe.clone())
            .finish(),
    );
    let reply = served.query(MESSAGES, None);
    assert_eq!(reply.assert_ok().sql_queries(), 2);
    assert_eq!(reply.data()["messages"].as_array().unwrap().len(), 20);

    let seen = probe.seen.lock().unwrap();
    // `messages`, then per message the item, its `id`, `message` and `poster`, and the
    // poster's `id` and `name`: each before and after it resolves.
    assert_eq!(seen.len(), 2 * (1 + 20 * 6));
    for Sighting { thread, in_runtime } in seen.iter() {
        assert!(!in_runtime, "a tokio runtime was entered on {thread:?}");
        let thread = thread.as_deref().unwrap_or_default();
        assert!(
            thread.starts_with("graphql-worker-"),
            "resolved on {thread:?}"
        );
    }
}

/// Holds each arriving thread until `parties` threads have arrived, or fails after a while so
/// that a server that runs requests one at a time fails the test instead of hanging it.
struct Rendezvous {
    arrived: Mutex<usize>,
    all_here: Condvar,
    parties: usize,
}

impl Rendezvous {
    fn new(parties: usize) -> Self {
        Rendezvous {
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            parties,
        }
    }

    /// Whether all parties arrived.
    fn arrive(&self) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let (_arrived, wait) = self
            .all_here
            .wait_timeout_while(arrived, Duration::from_secs(30), |n| *n < self.parties)
            .unwrap();
        !wait.timed_out()
    }
}

/// Runs two requests' executions at the same time: neither starts executing before both have
/// their loaders, and neither is answered before both have executed. Each response tells the
/// worker thread it ran on, and whether the two met.
#[derive(Clone)]
struct Overlap {
    started: Arc<Rendezvous>,
    finished: Arc<Rendezvous>,
}

impl Overlap {
    fn new() -> Self {
        Overlap {
            started: Arc::new(Rendezvous::new(2)),
            finished: Arc::new(Rendezvous::new(2)),
        }
    }
}

impl ExtensionFactory for Overlap {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Overlap {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        // Blocking here blocks this request's own thread, and nothing else.
        let met = self.started.arrive();
        let response = next.run(ctx, operation_name).await;
        let met = self.finished.arrive() && met;
        let thread = std::thread::current().name().unwrap_or_default().to_owned();
        response
            .extension("thread", GraphQLValue::from(thread))
            .extension("overlapped", GraphQLValue::from(met))
    }
}

/// Sends `first` and `second` on two client threads to one batched server whose executions
/// overlap; returns their replies.
fn concurrently(first: &'static str, second: &'static str) -> (Reply, Reply) {
    let served = Served::with_schema(
        schema::builder(Mode::Batched, None)
            .extension(Overlap::new())
            .finish(),
    );
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| served.query(first, None));
        let b = scope.spawn(|| served.query(second, None));
        (a.join().unwrap(), b.join().unwrap())
    });
    for reply in [&a, &b] {
        assert_eq!(
            reply.assert_ok().body["extensions"]["overlapped"],
            true,
            "{}",
            reply.body
        );
    }
    assert_ne!(
        a.body["extensions"]["thread"],
        b.body["extensions"]["thread"]
    );
    (a, b)
}

#[test]
fn concurrent_requests_on_two_threads_never_share_a_memo() {
    let (a, b) = concurrently(
        "{ a: user(id: 1) { name } b: user(id: 2) { name } }",
        "{ a: user(id: 2) { name } b: user(id: 3) { name } }",
    );
    assert_eq!(
        *a.data(),
        json!({ "a": { "name": "Ada Lovelace" }, "b": { "name": "Grace Lovelace" } })
    );
    assert_eq!(
        *b.data(),
        json!({ "a": { "name": "Grace Lovelace" }, "b": { "name": "Alan Lovelace" } })
    );
    // User 2 is in both: each request fetched it itself, with a statement of its own.
    for reply in [&a, &b] {
        let users = reply.loader("users");
        assert_eq!(users["loads"], 2, "{}", reply.body);
        assert_eq!(users["keys"], 2, "{}", reply.body);
        assert_eq!(users["cacheHits"], 0, "{}", reply.body);
        assert_eq!(users["deduplicated"], 0, "{}", reply.body);
        assert_eq!(reply.sql_queries(), 1);
    }
}

#[test]
fn concurrent_requests_each_send_their_own_batches() {
    let (a, b) = concurrently(MESSAGES, MESSAGES);
    assert_eq!(a.data(), b.data());
    for reply in [&a, &b] {
        let users = reply.loader("users");
        assert_eq!(users["loads"], 20, "{}", reply.body);
        assert_eq!(users["batches"], 1, "{}", reply.body);
        assert_eq!(users["keys"], 12, "{}", reply.body);
        assert_eq!(reply.sql_queries(), 2);
    }
}

#[test]
fn a_failing_batch_reaches_the_caller_with_the_databases_own_message() {
    let served = Served::start(Mode::Batched);
    served
        .db
        .pool(1)
        .unwrap()
        .lock()
        .execute_batch("DROP TABLE albums")
        .unwrap();
    let reply = served.query(BANDS, None);
    // The bands were read; their albums' one batch failed.
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.sql_queries(), 2);
    let errors = reply.body["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(
            error["message"], "batch load failed: no such table: albums",
            "{}",
            reply.body
        );
        assert_eq!(error["path"][0], "bands");
        assert_eq!(error["path"][2], "albums");
    }
    assert_eq!(reply.loader("albumsByBand")["failedBatches"], 1);
}

#[test]
fn a_request_refused_before_it_runs_gets_its_status_and_why() {
    let served = Served::start(Mode::Batched);
    let cases = [
        (
            served.post_raw("text/plain", r#"{"query":"{ messages { id } }"}"#),
            415,
            "content-type: application/json",
        ),
        (
            served.post_raw("application/json", r#"[{"query":"{ messages { id } }"}]"#),
            400,
            "batched requests",
        ),
        (
            served.post_raw("application/json", r#"{"query":"{ nope }"}"#),
            400,
            "Unknown field \"nope\"",
        ),
        (
            served.get("/elsewhere"),
            404,
            "GraphQL is served at /graphql",
        ),
    ];
    for (reply, status, why) in cases {
        assert_eq!(reply.status, status, "{}", reply.body);
        let message = reply.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
        assert_eq!(reply.sql_queries(), 0);
    }
}
