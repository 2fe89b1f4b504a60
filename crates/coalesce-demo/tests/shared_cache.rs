//! `serve --redis`: several instances behind one Redis. Tests that need the shared Redis read
//! `REDIS_URL` and are ignored without it.

mod support;

use coalesce_demo::loaders::SharedCache;
use coalesce_demo::model::Id;
use coalesce_demo::{App, Database, Mode};
use coalesce_loader::tier::ValueCache;
use coalesce_loader_redis::{Redis, RedisCache};
use support::{Backend, Demo, Reply, TempFile, post_query, spawn, unique};

const MESSAGES: &str = "{ messages { id message poster { id name } } }";

/// Two instances of the batched demo on one database and one Redis namespace of their own.
struct TwoInstances {
    a: String,
    b: String,
    client: reqwest::Client,
}

impl TwoInstances {
    async fn start(redis: Redis) -> TwoInstances {
        let db = Database::open(None).await.expect("open SQLite");
        // A namespace no earlier run wrote to: the test's data is seeded afresh each time.
        let namespace = format!("test-{}", unique());
        let instance = || {
            App::new(db.clone(), Mode::Batched)
                .with_shared_cache(SharedCache::new(redis.clone(), namespace.clone()))
        };
        TwoInstances {
            a: spawn(instance()).await,
            b: spawn(instance()).await,
            client: reqwest::Client::new(),
        }
    }

    async fn on_a(&self, query: &str) -> Reply {
        post_query(&self.client, &self.a, query, None).await
    }

    async fn on_b(&self, query: &str) -> Reply {
        post_query(&self.client, &self.b, query, None).await
    }
}

fn shared_redis() -> Redis {
    Redis::open(&std::env::var("REDIS_URL").expect("this test needs REDIS_URL")).unwrap()
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn after_instance_a_answers_instance_b_reads_the_posters_from_redis() {
    let demo = TwoInstances::start(shared_redis()).await;
    let first = demo.on_a(MESSAGES).await;
    assert_eq!(first.assert_ok().sql_queries(), 2);
    let second = demo.on_b(MESSAGES).await;
    assert_eq!(
        second.assert_ok().sql_queries(),
        1,
        "the messages from SQL, the posters from Redis"
    );
    assert_eq!(first.data(), second.data());
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn a_rename_through_one_instance_is_seen_by_the_other() {
    let demo = TwoInstances::start(shared_redis()).await;
    let before = demo.on_b(MESSAGES).await;
    let poster = before.assert_ok().data()["messages"][0]["poster"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    demo.on_a(MESSAGES).await.assert_ok(); // both instances have read the posters

    let rename =
        format!(r#"mutation {{ renameUser(id: {poster}, name: "Renamed Poster") {{ name }} }}"#);
    assert_eq!(
        demo.on_a(&rename).await.assert_ok().data()["renameUser"]["name"],
        "Renamed Poster"
    );

    let after = demo.on_b(MESSAGES).await;
    assert_eq!(
        after.assert_ok().data()["messages"][0]["poster"]["name"],
        "Renamed Poster"
    );
    // The mutation cleared the user from Redis and answered with the row it wrote: B reads the
    // messages, then the renamed poster from the database and every other poster from Redis.
    assert_eq!(after.sql_queries(), 2);
}

#[tokio::test]
async fn with_redis_unreachable_every_request_answers_from_the_database() {
    // Nothing listens on port 1: every cache operation fails at once, as a miss.
    let db = Database::open(None).await.expect("open SQLite");
    let app = App::new(db, Mode::Batched).with_shared_cache(SharedCache::new(
        Redis::open("redis://127.0.0.1:1").unwrap(),
        "down",
    ));
    let url = spawn(app).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let reply = post_query(&client, &url, MESSAGES, None).await;
        assert_eq!(reply.assert_ok().sql_queries(), 2);
        assert_eq!(reply.data()["messages"].as_array().unwrap().len(), 20);
    }
}

/// The batched demo on `db` behind Redis, in the namespace derived from `db`, as `serve --redis`
/// runs it without `--cache-namespace`.
async fn derived_instance(db: Database, redis: &Redis) -> String {
    let namespace = SharedCache::derived_namespace(&db.identity().await.expect("identity"));
    let shared = SharedCache::new(redis.clone(), namespace);
    spawn(App::new(db, Mode::Batched).with_shared_cache(shared)).await
}

const USER_1: &str = "{ user(id: 1) { name } }";

/// A rename on `a`'s database, then cached by `a`, is never served by `b`, on another database.
async fn a_rename_on_one_database_is_never_seen_on_another(a: Database, b: Database) {
    let redis = shared_redis();
    let (a, b) = (
        derived_instance(a, &redis).await,
        derived_instance(b, &redis).await,
    );
    let client = reqwest::Client::new();
    let before = post_query(&client, &b, USER_1, None).await;
    let rename = r#"mutation { renameUser(id: 1, name: "Renamed on A") { name } }"#;
    post_query(&client, &a, rename, None).await.assert_ok();
    for cached in [1, 0] {
        let on_a = post_query(&client, &a, USER_1, None).await;
        assert_eq!(on_a.assert_ok().data()["user"]["name"], "Renamed on A");
        assert_eq!(on_a.sql_queries(), cached, "A caches its rows in Redis");
    }
    let after = post_query(&client, &b, USER_1, None).await;
    assert_eq!(after.assert_ok().data(), before.assert_ok().data());
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn instances_on_two_in_memory_databases_never_share_entries() {
    let open = || async { Database::open(None).await.expect("open SQLite") };
    a_rename_on_one_database_is_never_seen_on_another(open().await, open().await).await;
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis) and DATABASE_URL (PostgreSQL)"]
async fn an_in_memory_instance_and_a_postgres_instance_never_share_entries() {
    let postgres = Demo::start(Backend::Postgres).await;
    let sqlite = Database::open(None).await.expect("open SQLite");
    a_rename_on_one_database_is_never_seen_on_another(sqlite, postgres.db.clone()).await;
    let sqlite = Database::open(None).await.expect("open SQLite");
    a_rename_on_one_database_is_never_seen_on_another(postgres.db.clone(), sqlite).await;
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn instances_on_one_sqlite_file_share_entries() {
    let redis = shared_redis();
    let file = TempFile::new("shared.db");
    let open = || async {
        Database::open(Some(&file.url()))
            .await
            .expect("open SQLite")
    };
    let a = derived_instance(open().await, &redis).await;
    let b = derived_instance(open().await, &redis).await;
    let client = reqwest::Client::new();
    let first = post_query(&client, &a, MESSAGES, None).await;
    assert_eq!(first.assert_ok().sql_queries(), 2);
    let second = post_query(&client, &b, MESSAGES, None).await;
    assert_eq!(
        second.assert_ok().sql_queries(),
        1,
        "the posters from Redis"
    );
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn a_user_entry_that_is_not_the_users_own_row_is_a_miss_and_is_repaired() {
    let redis = shared_redis();
    let namespace = format!("test-{}", unique());
    let db = Database::open(None).await.expect("open SQLite");
    let shared = SharedCache::new(redis.clone(), namespace.clone());
    let url = spawn(App::new(db, Mode::Batched).with_shared_cache(shared)).await;
    let client = reqwest::Client::new();
    let user = |id: i64| format!("{{ user(id: {id}) {{ id name }} }}");
    let user_2 = post_query(&client, &url, &user(2), None).await;
    post_query(&client, &url, &user(3), None).await.assert_ok();

    // The users' entries as the demo wrote them, read with any JSON for a value.
    let entries: RedisCache<Id, serde_json::Value> = redis
        .cache(&format!("{namespace}.users"), 1)
        .public()
        .build();
    let stored = entries.get_many(&[2, 3]).await.expect("Redis answers");
    let [Some(row_2), Some(row_3)] = stored.as_slice() else {
        panic!("the demo cached users 2 and 3 where this test looks: {stored:?}");
    };
    assert_eq!(row_2["id"], 2);

    for planted in [row_3.clone(), serde_json::Value::Null] {
        entries
            .set_many(&[(&2, &planted)])
            .await
            .expect("Redis answers");
        let reply = post_query(&client, &url, &user(2), None).await;
        assert_eq!(
            reply.assert_ok().data(),
            user_2.data(),
            "{planted} under user 2's key was served as user 2"
        );
        assert_eq!(reply.sql_queries(), 1, "{planted} was a miss");
        let repaired = entries.get_many(&[2]).await.expect("Redis answers");
        assert_eq!(repaired, [Some(row_2.clone())], "{planted} was overwritten");
    }
}
