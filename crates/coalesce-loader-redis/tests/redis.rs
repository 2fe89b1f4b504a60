//! The Redis tier against real servers. Tests that need the shared Redis read `REDIS_URL`, and
//! those that need a cluster read `REDIS_CLUSTER_URLS` (comma-separated); both are ignored
//! without them. Each test works in a namespace of its own, so they run in parallel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coalesce_loader::tier::Tier;
use coalesce_loader::{DataLoader, LoadError};
use coalesce_loader_redis::{Redis, RedisCache};
use coalesce_testkit::PrivateRedis;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

/// Ids from here on are per-key errors ("banned"), which must never reach Redis.
const BANNED: u64 = 900;

/// The "database" behind the loaders, with a count of batch calls.
#[derive(Clone, Default)]
struct Db {
    names: Arc<Mutex<HashMap<u64, String>>>,
    batches: Arc<AtomicUsize>,
}

impl Db {
    fn name(&self, id: u64) -> String {
        let names = self.names.lock().unwrap();
        names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("user {id}"))
    }
    fn rename(&self, id: u64, name: &str) {
        self.names.lock().unwrap().insert(id, name.to_owned());
    }
    fn batches(&self) -> usize {
        self.batches.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct Banned(u64);
impl std::fmt::Display for Banned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} is banned", self.0)
    }
}

/// The batch function: users from `Db`, with per-key errors from [`BANNED`] on.
struct Users(Db);

impl coalesce_loader::Loader for Users {
    type Key = u64;
    type Output = Vec<Result<User, Banned>>;
    type Error = Banned;

    async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Banned> {
        self.0.batches.fetch_add(1, Ordering::SeqCst);
        Ok(ids
            .iter()
            .map(|&id| {
                if id >= BANNED {
                    Err(Banned(id))
                } else {
                    Ok(User {
                        id,
                        name: self.0.name(id),
                    })
                }
            })
            .collect())
    }
}

/// A loader (one request on one instance) reading `db` through `cache`.
fn loader(db: &Db, cache: impl Into<Option<Tier<u64, User>>>) -> DataLoader<Users> {
    DataLoader::builder(Users(db.clone()))
        .value_cache(cache)
        .build()
}

/// A namespace no other test (nor an earlier run) uses.
fn unique(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{name}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn shared_redis() -> Redis {
    let url =
        std::env::var("REDIS_URL").expect("this test needs REDIS_URL, e.g. redis://127.0.0.1:6379");
    Redis::open(&url).unwrap()
}

fn public_cache(redis: &Redis, name: &str) -> RedisCache<u64, User> {
    redis.cache(name, 1).public().build()
}

fn names(results: Vec<Result<User, LoadError<Banned>>>) -> Vec<String> {
    results.into_iter().map(|r| r.unwrap().name).collect()
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn a_second_instance_is_answered_from_redis_without_its_batch_function() {
    let redis = shared_redis();
    let name = unique("users");
    let db = Db::default();
    let first = loader(&db, public_cache(&redis, &name));
    assert_eq!(
        names(first.load_many([1, 2, 3]).await),
        ["user 1", "user 2", "user 3"]
    );
    assert_eq!(db.batches(), 1);

    let other_db = Db::default(); // another instance: its own batch-call count
    let second = loader(&other_db, public_cache(&redis, &name));
    assert_eq!(
        names(second.load_many([1, 2, 3]).await),
        ["user 1", "user 2", "user 3"]
    );
    assert_eq!(other_db.batches(), 0);
    assert_eq!(second.stats().tier_hits, 3);
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn per_key_errors_are_not_stored_in_redis() {
    let redis = shared_redis();
    let name = unique("users");
    let db = Db::default();
    let first = loader(&db, public_cache(&redis, &name));
    let results = first.load_many([1, BANNED]).await;
    assert!(results[1].as_ref().unwrap_err().is_key_error());
    let second = loader(&db, public_cache(&redis, &name));
    assert!(second.load(BANNED).await.is_err());
    assert_eq!(
        db.batches(),
        2,
        "the error was fetched again, not read from Redis"
    );
    assert_eq!(second.stats().tier_hits, 0);
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn a_rename_cleared_on_one_instance_is_seen_by_the_other() {
    let redis = shared_redis();
    let name = unique("users");
    let db = Db::default();
    let a = loader(&db, public_cache(&redis, &name));
    a.load_many([1, 2]).await;
    // The mutation on instance A: write the database, then clear the key everywhere.
    db.rename(1, "Ada");
    a.clear_shared([1]).await;
    let b = loader(&db, public_cache(&redis, &name));
    assert_eq!(names(b.load_many([1, 2]).await), ["Ada", "user 2"]);
    assert_eq!(b.stats().tier_hits, 1, "user 2 still came from Redis");
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn clear_all_shared_forgets_the_whole_namespace() {
    let redis = shared_redis();
    let name = unique("users");
    let db = Db::default();
    let a = loader(&db, public_cache(&redis, &name));
    a.load_many([1, 2]).await;
    a.clear_all_shared().await;
    let b = loader(&db, public_cache(&redis, &name));
    b.load_many([1, 2]).await;
    assert_eq!(b.stats().tier_hits, 0);
    assert_eq!(db.batches(), 2);
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn entries_expire_after_their_time_to_live() {
    let redis = shared_redis();
    let name = unique("users");
    let cache = || {
        redis
            .cache(&name, 1)
            .public()
            .ttl(Duration::from_millis(100))
            .build()
    };
    let db = Db::default();
    loader(&db, cache()).load(1).await.unwrap();
    // Expiry is the behaviour under test: waiting past the TTL is the test, not a race.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = loader(&db, cache());
    later.load(1).await.unwrap();
    assert_eq!(later.stats().tier_hits, 0);
}

/// A connection of its own to the shared Redis, to read and write entries behind the caches.
async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let url = std::env::var("REDIS_URL").unwrap();
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Stores `bytes` as the entry of `key` in `cache`, as another writer could; returns the
/// entry's Redis key.
async fn plant(
    raw: &mut redis::aio::MultiplexedConnection,
    cache: &RedisCache<u64, User>,
    key: u64,
    bytes: &[u8],
) -> String {
    let redis_key = cache.redis_key(&key, 0).unwrap();
    let _: () = redis::cmd("SET")
        .arg(&redis_key)
        .arg(bytes)
        .query_async(raw)
        .await
        .unwrap();
    redis_key
}

/// The user stored at `redis_key`, if any.
async fn stored(raw: &mut redis::aio::MultiplexedConnection, redis_key: &str) -> Option<User> {
    let bytes: Option<Vec<u8>> = redis::cmd("GET")
        .arg(redis_key)
        .query_async(raw)
        .await
        .unwrap();
    bytes.map(|bytes| serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn corrupt_bytes_are_a_miss_and_are_then_repaired() {
    let redis = shared_redis();
    let cache = public_cache(&redis, &unique("users"));
    let mut raw = raw_connection().await;
    let key = plant(&mut raw, &cache, 1, b"\xff not json").await;

    let db = Db::default();
    let users = loader(&db, cache);
    assert_eq!(users.load(1).await.unwrap().name, "user 1");
    assert_eq!(db.batches(), 1, "the corrupt entry was a miss");
    assert_eq!(stored(&mut raw, &key).await.unwrap().name, "user 1");
}

/// A cache of users that holds a user only under its own id.
fn verified_cache(redis: &Redis, name: &str) -> RedisCache<u64, User> {
    redis
        .cache(name, 1)
        .public()
        .verify(|id, user: &User| user.id == *id)
        .build()
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn a_value_stored_under_another_key_is_a_miss_and_is_then_repaired() {
    let redis = shared_redis();
    let cache = verified_cache(&redis, &unique("users"));
    let mut raw = raw_connection().await;
    let user_3 = serde_json::to_vec(&User {
        id: 3,
        name: "user 3".into(),
    })
    .unwrap();
    let key = plant(&mut raw, &cache, 2, &user_3).await;

    let db = Db::default();
    let users = loader(&db, cache);
    assert_eq!(
        users.load(2).await.unwrap().id,
        2,
        "user 3 served as user 2"
    );
    assert_eq!(db.batches(), 1, "the misplaced entry was a miss");
    assert_eq!(stored(&mut raw, &key).await.unwrap().id, 2);
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn values_the_check_refuses_are_not_written() {
    let redis = shared_redis();
    let name = unique("users");
    let odd_ids_only = redis
        .cache(&name, 1)
        .public()
        .verify(|id: &u64, _: &User| id % 2 == 1)
        .build();
    let keys = [1, 2].map(|id| odd_ids_only.redis_key(&id, 0).unwrap());
    let users = loader(&Db::default(), odd_ids_only);
    assert_eq!(names(users.load_many([1, 2]).await), ["user 1", "user 2"]);
    let mut raw = raw_connection().await;
    assert_eq!(stored(&mut raw, &keys[0]).await.unwrap().id, 1);
    assert_eq!(stored(&mut raw, &keys[1]).await, None);
}

#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn two_scopes_never_see_each_others_values() {
    let redis = shared_redis();
    let name = unique("invoices");
    let scoped = |tenant: &str| redis.cache(&name, 1).scope(tenant).build();
    let tenant_a = Db::default();
    tenant_a.rename(1, "A's secret");
    loader(&tenant_a, scoped("tenant-a")).load(1).await.unwrap();
    let tenant_b = Db::default();
    let b = loader(&tenant_b, scoped("tenant-b"));
    assert_eq!(b.load(1).await.unwrap().name, "user 1");
    assert_eq!(b.stats().tier_hits, 0);
    // And a public cache of the same loader name is a third namespace again.
    let public = loader(&Db::default(), public_cache(&redis, &name));
    assert_eq!(public.load(1).await.unwrap().name, "user 1");
}

#[cfg(feature = "msgpack")]
#[tokio::test]
#[ignore = "needs REDIS_URL (Redis)"]
async fn the_message_pack_codec_round_trips() {
    let redis = shared_redis();
    let name = unique("users");
    let cache = || {
        redis
            .cache(&name, 1)
            .public()
            .codec(coalesce_loader_redis::MessagePack)
            .build()
    };
    let db = Db::default();
    loader(&db, cache()).load(7).await.unwrap();
    let second = loader(&Db::default(), cache());
    assert_eq!(
        second.load(7).await.unwrap(),
        User {
            id: 7,
            name: "user 7".into()
        }
    );
    assert_eq!(second.stats().tier_hits, 1);
}

#[tokio::test]
async fn redis_unreachable_from_the_start_answers_every_load() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let redis = Redis::open("redis://127.0.0.1:1").unwrap();
    let db = Db::default();
    for _ in 0..3 {
        let users = loader(&db, public_cache(&redis, "users"));
        assert_eq!(names(users.load_many([1, 2]).await), ["user 1", "user 2"]);
        assert!(users.stats().tier_errors >= 1);
    }
    assert_eq!(db.batches(), 3);
}

/// How many scripts `server` has run (`EVALSHA` calls, from its own statistics).
fn scripts_run(server: &PrivateRedis) -> u64 {
    let mut connection = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut connection)
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

/// One request of the burst: a fresh loader, 20 keys of which most repeat across requests.
/// Returns how many loads failed or got a wrong value.
async fn burst_request(redis: Redis, db: Db, round: u64) -> usize {
    let users = loader(&db, public_cache(&redis, "burst"));
    let ids: Vec<u64> = (0..20).map(|i| (round * 7 + i) % 50).collect();
    let results = users.load_many(ids.clone()).await;
    ids.iter()
        .zip(results)
        .filter(|(id, result)| !matches!(result, Ok(user) if user.id == **id && user.name == format!("user {id}")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs REDIS_URL (Redis tooling: starts and kills a private redis-server)"]
async fn redis_killed_in_the_middle_of_a_burst_fails_no_load() {
    let mut server = PrivateRedis::start();
    let redis = Redis::open(&server.url()).unwrap();
    let db = Db::default();
    let failures = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (redis, db, failures, served) =
                (redis.clone(), db.clone(), failures.clone(), served.clone());
            tokio::spawn(async move {
                for round in 0..150 {
                    let failed = burst_request(redis.clone(), db.clone(), round).await;
                    failures.fetch_add(failed, Ordering::SeqCst);
                    served.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while served.load(Ordering::SeqCst) < 200 {
        tokio::task::yield_now().await;
    }
    server.kill();
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(served.load(Ordering::SeqCst), 600);
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no load failed or got a wrong value"
    );
    assert!(db.batches() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs REDIS_URL (Redis tooling: starts and pauses a private redis-server)"]
async fn a_redis_that_stops_answering_is_skipped_instead_of_waited_for() {
    let server = PrivateRedis::start();
    let redis = Redis::open(&server.url()).unwrap();
    let cache = || redis.cache("silent", 1).public().build();
    let db = Db::default();
    loader(&db, cache()).load(1).await.unwrap(); // connected, scripts loaded
    let before = scripts_run(&server);

    server.pause();
    for _ in 0..5 {
        let users = loader(&db, cache());
        assert_eq!(users.load(2).await.unwrap().name, "user 2");
        assert!(users.stats().tier_errors >= 1);
    }
    server.resume();
    // The paused server now runs what reached it. Give it a moment to drain its socket; this
    // waits for the server, not for a batch.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        scripts_run(&server) - before,
        1,
        "only the first request's read was sent; the breaker skipped the rest without waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs REDIS_URL (Redis tooling: starts and pauses a private redis-server)"]
async fn a_rename_while_redis_is_paused_is_never_served_stale_after_it_returns() {
    let server = PrivateRedis::start();
    let redis = Redis::open(&server.url()).unwrap();
    let cache = || redis.cache("blip", 1).public().build();
    let db = Db::default();
    assert_eq!(loader(&db, cache()).load(1).await.unwrap().name, "user 1");

    // The mutation's request: the row changes, Redis does not answer the deletion in time.
    db.rename(1, "Ada");
    server.pause();
    let mutation = loader(&db, cache());
    mutation.clear_shared([1]).await;
    assert!(mutation.stats().tier_errors >= 1);
    drop(mutation); // its request is over
    let during = loader(&db, cache());
    assert_eq!(during.load(1).await.unwrap().name, "Ada");
    server.resume();
    // Past the circuit breaker's cooldown, Redis is read again: the next request's batch must
    // send the owed deletion before it reads, not serve the old row for the rest of its TTL.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let after = loader(&db, cache());
    assert_eq!(after.load(1).await.unwrap().name, "Ada");
    let other_instance = Redis::open(&server.url()).unwrap();
    let elsewhere = loader(&db, other_instance.cache("blip", 1).public().build());
    assert_eq!(elsewhere.load(1).await.unwrap().name, "Ada");
}

fn cluster_redis() -> Redis {
    let urls = std::env::var("REDIS_CLUSTER_URLS").expect(
        "this test needs REDIS_CLUSTER_URLS, e.g. redis://127.0.0.1:7000,redis://127.0.0.1:7001",
    );
    Redis::cluster(urls.split(',')).unwrap()
}

#[tokio::test]
#[ignore = "needs REDIS_CLUSTER_URLS (a Redis Cluster)"]
async fn a_cluster_serves_a_second_instance_and_clears() {
    let redis = cluster_redis();
    let name = unique("users");
    let db = Db::default();
    loader(&db, public_cache(&redis, &name))
        .load_many(0..100)
        .await;
    let second = loader(&db, public_cache(&redis, &name));
    assert_eq!(second.load_many(0..100).await.len(), 100);
    assert_eq!((second.stats().tier_hits, db.batches()), (100, 1));
    second.clear_shared([5]).await;
    second.clear_all_shared().await;
    let third = loader(&db, public_cache(&redis, &name));
    third.load_many(0..100).await;
    assert_eq!(third.stats().tier_hits, 0);
    assert_eq!(third.stats().tier_errors, 0);
}
