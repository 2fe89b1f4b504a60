//! A shared Redis tier for [coalesce-loader](coalesce_loader) DataLoaders: one cache for many server
//! instances.
//!
//! A loader's memo serves one request. Behind it, a [`RedisCache`] serves every request of every
//! instance: the loader reads it once per batch, in bulk, sends only the misses to its batch
//! function, and writes what that returns back in bulk (the design of [`coalesce_loader::tier`]). A
//! mutation that awaits [`clear_shared`](coalesce_loader::DataLoader::clear_shared) is seen by the other
//! instances at their next load.
//!
//! ```no_run
//! use coalesce_loader::{DataLoader, Loader, by_key};
//! use coalesce_loader_redis::Redis;
//! use std::collections::HashMap;
//! use std::time::Duration;
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! struct User { id: u64, name: String }
//!
//! struct UserLoader; // in real code: holds a database pool
//! impl Loader for UserLoader {
//!     type Key = u64;
//!     type Output = HashMap<u64, User>;
//!     type Error = std::convert::Infallible;
//!     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
//!         Ok(by_key(ids.iter().map(|&id| User { id, name: format!("user {id}") }), |u| u.id))
//!     }
//! }
//!
//! # async fn demo() {
//! // Once per process: no connection is made until the first batch.
//! let redis = Redis::open("redis://127.0.0.1:6379").unwrap();
//!
//! // Per request:
//! let users = DataLoader::builder(UserLoader)
//!     .value_cache(redis.cache("users", 1).public().ttl(Duration::from_secs(300)).build())
//!     .build();
//! let user = users.load(4).await.unwrap();
//! # }
//! ```
//!
//! # What it guarantees
//!
//! - **Never a failed request.** Redis down at start-up, killed mid-burst, slow, or answering
//!   garbage: each is a miss (counted in the loader's [`Stats::tier_errors`](coalesce_loader::Stats),
//!   logged through `tracing`), and the batch function answers. Operations are bounded by a
//!   timeout ([`DEFAULT_TIMEOUT`], tens of milliseconds), and after any failure (a refused
//!   connection, a dead or silent server) operations fail at once for a second rather than each
//!   waiting out its timeout: a dead Redis costs about what no Redis costs.
//! - **No leaks across callers.** A cache builds only once its visibility is chosen:
//!   [`scope`](CacheBuilder::scope) (a tenant, a user) or [`public`](CacheBuilder::public).
//! - **No stale schemas.** The namespace includes a schema version; entries that do not decode
//!   are misses and are overwritten.
//! - **A cleared key stays cleared.** A deletion that Redis did not confirm (down, paused,
//!   slower than the timeout, or a request cancelled mid-deletion) is owed by the process, not
//!   by the request: every cache of its namespace skips that key and sends the deletion again
//!   with each batch until Redis confirms it (see [`coalesce_loader::tier`] for what bounds other
//!   instances meanwhile).
//! - **No misplaced values.** With [`verify`](CacheBuilder::verify), an entry whose value is not
//!   its key's (a row whose own id is another key) is a miss and is overwritten too.
//! - **Batching survives.** One round trip per batch, on a single server or a Redis Cluster (all
//!   keys of a namespace share a hash slot).
//!
//! Per-key errors are never written to Redis; entries expire after their time to live, which
//! also bounds how long a write racing a load can leave a stale value.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod cache;
mod codec;
mod connection;

pub use cache::{CacheBuilder, DEFAULT_TIMEOUT, DEFAULT_TTL, RedisCache, Scoped, Unscoped};
#[cfg(feature = "msgpack")]
pub use codec::MessagePack;
pub use codec::{Codec, Json};
pub use connection::Redis;
