//! `serve --redis`: several instances behind one Redis. Tests that need the shared Redis read
//! `REDIS_URL` and are ignored without it.

mod support;

use coalesce_demo::loaders::SharedCache;
use coalesce_demo::{App, Database, Mode};
use coalesce_redis::Redis;
use support::{Reply, post_query, spawn};

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
        let prefix = format!("test-{}-{}", std::process::id(), unique());
        let instance = || {
            App::new(db.clone(), Mode::Batched)
                .with_shared_cache(SharedCache::new(redis.clone(), prefix.clone()))
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

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
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
