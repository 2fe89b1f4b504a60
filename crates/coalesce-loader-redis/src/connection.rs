//! [`Redis`]: one lazily connected, reconnecting handle, shared by every cache of a process.
//!
//! A cache must never make a request fail or wait, so the connection is made on first use, not
//! at start-up (a server whose Redis is down still starts and answers), and the handle is a
//! circuit breaker: a failed connection attempt, or an operation that fails or times out on a
//! live connection (Redis died, or stopped answering), starts a short cooldown during which
//! operations fail at once, as misses, instead of each waiting out its timeout. After the
//! cooldown, the next operation tries again. Once connected, redis-rs's `ConnectionManager` (or
//! its cluster client) reconnects by itself.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coalesce_loader::tier::{Owed, TierError};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::time::Instant;

/// A Redis server or cluster that caches talk to.
///
/// Cheap to clone; clones share one connection. Making one does not connect: see the module
/// documentation.
///
/// ```
/// let redis = coalesce_loader_redis::Redis::open("redis://127.0.0.1:6379").unwrap();
/// let cluster = coalesce_loader_redis::Redis::cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]).unwrap();
/// assert!(coalesce_loader_redis::Redis::open("not a url").is_err());
/// # drop((redis, cluster));
/// ```
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    connection: tokio::sync::Mutex<Option<Connection>>,
    /// Until when a failed connection attempt keeps operations from trying again.
    cooldown_until: Mutex<Option<Instant>>,
    /// The deletions owed to each namespace (an `Owed<K>` of the namespace's key type), shared
    /// by every cache built for it in this process: caches are built per request, and a
    /// deletion must outlive the request that owes it.
    owed: Mutex<HashMap<String, Box<dyn Any + Send + Sync>>>,
}

enum Target {
    Server(redis::Client),
    // Built once per process: the size difference between the variants costs nothing.
    Cluster(Box<ClusterClient>),
}

/// How long a connection attempt may take; Redis on the same network answers in well under it.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long operations fail at once after a failure.
const COOLDOWN: Duration = Duration::from_secs(1);

impl Redis {
    /// A single server, such as `redis://127.0.0.1:6379`.
    pub fn open(url: &str) -> Result<Redis, redis::RedisError> {
        Ok(Self::new(Target::Server(redis::Client::open(url)?)))
    }

    /// A Redis Cluster, given the URLs of some of its nodes.
    pub fn cluster<S: AsRef<str>>(
        urls: impl IntoIterator<Item = S>,
    ) -> Result<Redis, redis::RedisError> {
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        let client = ClusterClient::builder(urls)
            .connection_timeout(CONNECT_TIMEOUT)
            .retries(1)
            .build()?;
        Ok(Self::new(Target::Cluster(Box::new(client))))
    }

    fn new(target: Target) -> Redis {
        Redis {
            inner: Arc::new(Inner {
                target,
                connection: tokio::sync::Mutex::new(None),
                cooldown_until: Mutex::new(None),
                owed: Mutex::default(),
            }),
        }
    }

    /// The deletions owed to `namespace` in this process. A namespace built again with another
    /// key type gets a set of its own (one schema version per key type keeps them apart anyway).
    pub(crate) fn owed<K: Send + 'static>(&self, namespace: &str) -> Owed<K> {
        let mut owed = self
            .inner
            .owed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = owed
            .get(namespace)
            .and_then(|o| o.downcast_ref::<Owed<K>>())
        {
            return existing.clone();
        }
        let fresh = Owed::<K>::default();
        owed.insert(namespace.to_owned(), Box::new(fresh.clone()));
        fresh
    }

    /// Whether Redis answers now: connects if need be, then sends `PING`, each within a quarter
    /// of a second.
    ///
    /// Caches never need it, since a Redis that is down only makes them miss; it is for telling
    /// the operator at start-up, so that a wrong URL does not go unnoticed.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// // Nothing listens on port 1.
    /// let redis = coalesce_loader_redis::Redis::open("redis://127.0.0.1:1").unwrap();
    /// assert!(redis.ping().await.is_err());
    /// # });
    /// ```
    pub async fn ping(&self) -> Result<(), TierError> {
        let mut connection = self.connection().await?;
        let ping = redis::cmd("PING").to_owned();
        match tokio::time::timeout(CONNECT_TIMEOUT, ping.query_async::<String>(&mut connection))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(format!("Redis did not answer PING within {CONNECT_TIMEOUT:?}").into()),
        }
    }

    /// The shared connection, made now if there is none yet.
    pub(crate) async fn connection(&self) -> Result<Connection, TierError> {
        let now = Instant::now();
        if self.cooldown().is_some_and(|until| now < until) {
            return Err("Redis failed just now; skipped until it is retried".into());
        }
        let mut slot = self.inner.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
            Ok(Ok(connection)) => {
                *self.cooldown() = None;
                *slot = Some(connection.clone());
                Ok(connection)
            }
            failed => {
                self.trip();
                Err(match failed {
                    Ok(Err(e)) => format!("cannot connect to Redis: {e}").into(),
                    _ => "cannot connect to Redis: timed out".into(),
                })
            }
        }
    }

    /// Records a failure: operations fail at once for the cooldown.
    pub(crate) fn trip(&self) {
        *self.cooldown() = Some(Instant::now() + COOLDOWN);
    }

    fn cooldown(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.inner
            .cooldown_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn connect(&self) -> redis::RedisResult<Connection> {
        Ok(match &self.inner.target {
            Target::Server(client) => {
                // Few, quick retries: a cache that waits is worse than a miss.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(100));
                Connection::Server(client.get_connection_manager_with_config(config).await?)
            }
            Target::Cluster(client) => Connection::Cluster(client.get_async_connection().await?),
        })
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner.target {
            Target::Server(_) => "server",
            Target::Cluster(_) => "cluster",
        };
        f.debug_struct("Redis")
            .field("target", &kind)
            .finish_non_exhaustive()
    }
}

/// A connection to a server or a cluster, usable by redis-rs's commands and scripts.
#[derive(Clone)]
pub(crate) enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
