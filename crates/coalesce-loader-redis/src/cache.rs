//! [`RedisCache`]: a loader's namespace in Redis, read and written in bulk.
//!
//! # Key layout
//!
//! Every key of one cache starts with a *namespace*, `{coalesce:<loader>:v<version>:<scope>}`:
//! the loader's name, the schema version of its values, and who may see them. The braces are a
//! Redis Cluster hash tag: all keys of a namespace live in one slot, so one batch is one
//! multi-key command on one node, on a cluster as on a single server.
//!
//! After the namespace comes a *generation*, `:g<n>`, then the key as JSON. The generation is a
//! counter stored at `<namespace>:gen`; clearing the whole namespace increments it, which makes
//! every older entry unreachable at once (they expire by their time to live) with one O(1)
//! command instead of a scan over a cluster. Each operation reads the generation and touches the
//! entries in one Lua script, so it still costs a single round trip.

use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::LazyLock;
use std::time::Duration;

use coalesce_loader::tier::{BoxFuture, Owed, Tier, TierError, ValueCache};
use redis::{FromRedisValue, Script, ScriptInvocation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, Json};
use crate::connection::Redis;

/// Reads a batch: the generation, then every entry (`MGET` in chunks, which Lua's `unpack`
/// needs). KEYS[1] is the generation counter; ARGV[1] the namespace; ARGV[2..] the keys.
static GET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix = ARGV[1] .. ':g' .. (redis.call('GET', KEYS[1]) or '0') .. ':'
        local out, chunk = {}, {}
        for i = 2, #ARGV do
            chunk[#chunk + 1] = prefix .. ARGV[i]
            if #chunk == 500 or i == #ARGV then
                local values = redis.call('MGET', unpack(chunk))
                for j = 1, #values do out[#out + 1] = values[j] end
                chunk = {}
            end
        end
        return out",
    )
});

/// Writes a batch's fresh values with their time to live. ARGV[2] is the TTL in milliseconds,
/// then key, value pairs.
static SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix = ARGV[1] .. ':g' .. (redis.call('GET', KEYS[1]) or '0') .. ':'
        for i = 3, #ARGV, 2 do
            redis.call('SET', prefix .. ARGV[i], ARGV[i + 1], 'PX', ARGV[2])
        end
        return 0",
    )
});

/// Deletes keys of the current generation.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix = ARGV[1] .. ':g' .. (redis.call('GET', KEYS[1]) or '0') .. ':'
        for i = 2, #ARGV do redis.call('DEL', prefix .. ARGV[i]) end
        return 0",
    )
});

/// The time to live of entries unless [`CacheBuilder::ttl`] says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// How long one operation may take before it counts as a miss, unless
/// [`CacheBuilder::timeout`] says otherwise. Tens of milliseconds: a cache that makes a request
/// wait longer than the database would is worse than none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// One loader's values in Redis, shared by every instance of a service: give it to
/// [`coalesce_loader::Builder::value_cache`].
///
/// Keys are encoded as JSON (`K: Serialize`), values with the [`Codec`] (`C`, JSON by default).
/// Every operation is bounded by the cache's timeout; a failure of any kind is reported to the
/// loader, which counts it as a miss, never as a failed load.
pub struct RedisCache<K, V, C = Json> {
    redis: Redis,
    namespace: String,
    generation_key: String,
    ttl: Duration,
    timeout: Duration,
    codec: C,
    /// The deletions owed to this namespace, shared by every cache of it in the process.
    owed: Owed<K>,
    belongs: Option<Belongs<K, V>>,
    types: PhantomData<fn(K) -> V>,
}

/// The check of [`CacheBuilder::verify`].
type Belongs<K, V> = Box<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// The options of a [`RedisCache`]; from [`Redis::cache`].
///
/// It builds only once its visibility is chosen: [`scope`](CacheBuilder::scope) for values
/// that depend on who asks (a tenant, a user, a role), or [`public`](CacheBuilder::public) for
/// values anyone may see. The seeds warn that one cache shared across users with different
/// permissions serves one user's data to another; here that requires saying `public()` out loud.
#[must_use = "a cache builder does nothing until `build`"]
pub struct CacheBuilder<K, V, S = Unscoped, C = Json> {
    redis: Redis,
    loader: String,
    version: u32,
    scope: S,
    ttl: Duration,
    timeout: Duration,
    codec: C,
    belongs: Option<Belongs<K, V>>,
    types: PhantomData<fn(K) -> V>,
}

/// A [`CacheBuilder`] whose visibility is not chosen yet.
#[derive(Clone, Copy, Debug)]
pub struct Unscoped;

/// A [`CacheBuilder`] whose visibility is chosen.
#[derive(Clone, Debug)]
pub struct Scoped(String);

impl Redis {
    /// A cache for one loader's values. `loader` and `version` name its namespace: bump the
    /// version whenever the value type changes, so that entries written by older code are never
    /// read as the new type.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct User { id: u64, name: String }
    ///
    /// let redis = coalesce_loader_redis::Redis::open("redis://127.0.0.1:6379").unwrap();
    /// // Profiles everyone may see:
    /// let users = redis.cache::<u64, Option<User>>("users", 1).public().ttl(Duration::from_secs(60)).build();
    /// // Rows that depend on the caller's tenant:
    /// let invoices = redis.cache::<u64, Option<String>>("invoices", 3).scope("tenant-7").build();
    /// # drop((users, invoices));
    /// ```
    pub fn cache<K, V>(&self, loader: &str, version: u32) -> CacheBuilder<K, V> {
        CacheBuilder {
            redis: self.clone(),
            loader: loader.to_owned(),
            version,
            scope: Unscoped,
            ttl: DEFAULT_TTL,
            timeout: DEFAULT_TIMEOUT,
            codec: Json,
            belongs: None,
            types: PhantomData,
        }
    }
}

impl<K, V, C> CacheBuilder<K, V, Unscoped, C> {
    /// Values that depend on who asks: only loaders built with the same scope share them.
    pub fn scope(self, scope: impl AsRef<str>) -> CacheBuilder<K, V, Scoped, C> {
        let scope = Scoped(format!("s={}", sanitize(scope.as_ref())));
        self.with_scope(scope)
    }

    /// Values anyone may see, shared by every caller.
    pub fn public(self) -> CacheBuilder<K, V, Scoped, C> {
        self.with_scope(Scoped("public".to_owned()))
    }

    fn with_scope(self, scope: Scoped) -> CacheBuilder<K, V, Scoped, C> {
        self.retype(|_| scope, |codec| codec)
    }
}

impl<K, V, S, C> CacheBuilder<K, V, S, C> {
    /// How long an entry lives ([`DEFAULT_TTL`] unless set). It bounds how long a value can stay
    /// stale when a write races a load, and how long a cleared generation's entries linger.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long one operation may take before it counts as a miss ([`DEFAULT_TIMEOUT`] unless
    /// set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads an entry as a miss unless `belongs(key, value)`, as it reads bytes that do not
    /// decode: the loader's batch function answers the key, and its value overwrites the entry.
    /// Values for which `belongs` is false are not written either.
    ///
    /// Anything can be written to Redis, by a bug, an older version of the service, or another
    /// service sharing the namespace; a value that decodes is not yet the key's value. When a
    /// value carries its own key, such as a row and its id, say how to check it: a row stored
    /// under another row's key is then never served. A check can also refuse values that prove
    /// nothing, such as `None` for a row that would hide the row if it were planted or stale;
    /// loads of absent keys then always reach the batch function.
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct User { id: u64, name: String }
    ///
    /// let redis = coalesce_loader_redis::Redis::open("redis://127.0.0.1:6379").unwrap();
    /// let users = redis
    ///     .cache::<u64, Option<User>>("users", 1)
    ///     .public()
    ///     // Only a user whose id is the key: neither another user's row nor `null`.
    ///     .verify(|id, user| user.as_ref().is_some_and(|user| user.id == *id))
    ///     .build();
    /// # drop(users);
    /// ```
    pub fn verify(mut self, belongs: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.belongs = Some(Box::new(belongs));
        self
    }

    /// How values are encoded ([`Json`] unless set).
    pub fn codec<C2: Codec>(self, codec: C2) -> CacheBuilder<K, V, S, C2> {
        self.retype(|scope| scope, |_| codec)
    }

    /// The same options with another scope or codec: the one place that lists every field.
    fn retype<S2, C2>(
        self,
        scope: impl FnOnce(S) -> S2,
        codec: impl FnOnce(C) -> C2,
    ) -> CacheBuilder<K, V, S2, C2> {
        let CacheBuilder {
            redis,
            loader,
            version,
            scope: s,
            ttl,
            timeout,
            codec: c,
            belongs,
            types,
        } = self;
        CacheBuilder {
            redis,
            loader,
            version,
            scope: scope(s),
            ttl,
            timeout,
            codec: codec(c),
            belongs,
            types,
        }
    }
}

impl<K: Send + 'static, V, C> CacheBuilder<K, V, Scoped, C> {
    /// The cache. Does not connect: the first batch does. Cheap: build it per request if its
    /// scope depends on the request; every cache of one namespace shares the deletions owed to
    /// it (see [`coalesce_loader::tier`]).
    pub fn build(self) -> RedisCache<K, V, C> {
        let namespace = format!(
            "{{coalesce:{}:v{}:{}}}",
            sanitize(&self.loader),
            self.version,
            self.scope.0
        );
        RedisCache {
            owed: self.redis.owed(&namespace),
            redis: self.redis,
            generation_key: format!("{namespace}:gen"),
            namespace,
            ttl: self.ttl,
            timeout: self.timeout,
            codec: self.codec,
            belongs: self.belongs,
            types: PhantomData,
        }
    }
}

/// `name` with anything that could break the key layout (braces would end the hash tag,
/// colons would blur the fields) replaced by `%XX`.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=') {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

impl<K, V, C> RedisCache<K, V, C> {
    /// The Redis key under which `key` is stored in generation `generation`: for tools and tests
    /// that look at Redis directly.
    pub fn redis_key(&self, key: &K, generation: u64) -> Result<String, serde_json::Error>
    where
        K: Serialize,
    {
        Ok(format!(
            "{}:g{generation}:{}",
            self.namespace,
            serde_json::to_string(key)?
        ))
    }

    /// This cache's namespace, `{coalesce:<loader>:v<version>:<scope>}`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Runs `invocation` on the shared connection, within the timeout.
    async fn run<T: FromRedisValue>(
        &self,
        invocation: ScriptInvocation<'_>,
    ) -> Result<T, TierError> {
        let mut connection = self.redis.connection().await?;
        self.bounded(invocation.invoke_async(&mut connection)).await
    }

    /// `operation` within the timeout; a failure trips the handle's circuit breaker, so that
    /// while Redis is down the next operations fail at once instead of each waiting.
    async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, TierError> {
        let failure: TierError = match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e.into(),
            Err(_) => format!("Redis did not answer within {:?}", self.timeout).into(),
        };
        // Logged here rather than by the loader, so that using Redis does not switch on the
        // core's per-batch tracing spans for everyone.
        tracing::warn!(namespace = %self.namespace, error = %failure, "Redis failed; skipped for a second, loads fall back to the batch function");
        self.redis.trip();
        Err(failure)
    }

    /// Whether `value` may be served, or stored, as `key`'s: see [`CacheBuilder::verify`].
    fn belongs(&self, key: &K, value: &V) -> bool {
        self.belongs
            .as_ref()
            .is_none_or(|belongs| belongs(key, value))
    }

    /// A script invocation on this namespace, its keys as JSON.
    fn invocation<'s>(
        &self,
        script: &'s Script,
        keys: impl IntoIterator<Item = String>,
    ) -> ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        invocation.key(&self.generation_key).arg(&self.namespace);
        for key in keys {
            invocation.arg(key);
        }
        invocation
    }
}

/// The keys as JSON, the form they take in Redis.
fn encode_keys<K: Serialize>(keys: impl IntoIterator<Item = K>) -> Result<Vec<String>, TierError> {
    keys.into_iter()
        .map(|key| {
            serde_json::to_string(&key).map_err(|e| format!("key does not encode: {e}").into())
        })
        .collect()
}

impl<K, V, C> ValueCache<K, V> for RedisCache<K, V, C>
where
    K: Serialize + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    fn get_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<Vec<Option<V>>, TierError>> {
        Box::pin(async move {
            let invocation = self.invocation(&GET, encode_keys(keys)?);
            let entries: Vec<Option<Vec<u8>>> = self.run(invocation).await?;
            if entries.len() != keys.len() {
                let (got, asked) = (entries.len(), keys.len());
                return Err(format!("Redis answered {got} entries for {asked} keys").into());
            }
            Ok(keys
                .iter()
                .zip(entries)
                .map(|(key, entry)| {
                    let bytes = entry?;
                    // Either way a miss, which the batch's write-back then overwrites with a good
                    // value.
                    match self.codec.decode(&bytes) {
                        Ok(value) if self.belongs(key, &value) => Some(value),
                        Ok(_) => {
                            tracing::warn!(namespace = %self.namespace, "cache entry that does not belong to its key treated as a miss");
                            None
                        }
                        Err(e) => {
                            // Garbage, or another schema.
                            tracing::warn!(namespace = %self.namespace, error = %e, "undecodable cache entry treated as a miss");
                            None
                        }
                    }
                })
                .collect())
        })
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(&'a K, &'a V)],
    ) -> BoxFuture<'a, Result<(), TierError>> {
        Box::pin(async move {
            let mut invocation = self.invocation(&SET, []);
            invocation.arg(self.ttl.as_millis() as u64);
            for (key, value) in entries
                .iter()
                .filter(|(key, value)| self.belongs(key, value))
            {
                let value = self
                    .codec
                    .encode(value)
                    .map_err(|e| format!("value does not encode: {e}"))?;
                invocation.arg(serde_json::to_string(key)?).arg(value);
            }
            self.run::<i64>(invocation).await?;
            Ok(())
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<(), TierError>> {
        Box::pin(async move {
            let invocation = self.invocation(&DELETE, encode_keys(keys)?);
            self.run::<i64>(invocation).await?;
            Ok(())
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), TierError>> {
        Box::pin(async move {
            let mut connection = self.redis.connection().await?;
            let incr = redis::cmd("INCR").arg(&self.generation_key).to_owned();
            self.bounded(incr.query_async::<i64>(&mut connection))
                .await
                .map(drop)
        })
    }
}

impl<K, V, C> From<RedisCache<K, V, C>> for Tier<K, V>
where
    K: Serialize + Hash + Eq + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// The tier a loader reads through: what [`coalesce_loader::Builder::value_cache`] makes of a
    /// `RedisCache`.
    fn from(cache: RedisCache<K, V, C>) -> Self {
        let owed = cache.owed.clone();
        Tier::sharing(cache, owed)
    }
}

impl<K, V, C> From<RedisCache<K, V, C>> for Option<Tier<K, V>>
where
    K: Serialize + Hash + Eq + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// Lets [`coalesce_loader::Builder::value_cache`] take a `RedisCache` as it is.
    fn from(cache: RedisCache<K, V, C>) -> Self {
        Some(cache.into())
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn names_that_would_break_the_key_layout_are_escaped() {
        assert_eq!(sanitize("users"), "users");
        assert_eq!(sanitize("tenant-7_a.b"), "tenant-7_a.b");
        assert_eq!(sanitize("a}b{c:d"), "a%7Db%7Bc%3Ad");
        assert_eq!(sanitize("é"), "%C3%A9");
    }
}
