//! How values are stored: [`Json`] by default, [`MessagePack`] with the `msgpack` feature.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns values into bytes for Redis and back. Bytes that do not decode are treated as a miss
/// (and overwritten by the next load), so a codec or schema change never fails a request; bump
/// the cache's schema version when the value type changes anyway, so that old entries are not
/// even read.
pub trait Codec: Send + Sync + 'static {
    /// The bytes for `value`.
    fn encode<V: Serialize>(&self, value: &V) -> Result<Vec<u8>, String>;
    /// The value in `bytes`.
    fn decode<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<V, String>;
}

/// JSON: readable with `redis-cli`, the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Codec for Json {
    fn encode<V: Serialize>(&self, value: &V) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }
    fn decode<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<V, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// MessagePack: smaller and faster to decode than JSON (feature `msgpack`).
#[cfg(feature = "msgpack")]
#[derive(Clone, Copy, Debug, Default)]
pub struct MessagePack;

#[cfg(feature = "msgpack")]
impl Codec for MessagePack {
    fn encode<V: Serialize>(&self, value: &V) -> Result<Vec<u8>, String> {
        // Named fields: a field added to the value type later does not shift the others.
        rmp_serde::to_vec_named(value).map_err(|e| e.to_string())
    }
    fn decode<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<V, String> {
        rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
    }
}
