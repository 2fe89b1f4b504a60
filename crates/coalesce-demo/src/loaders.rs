//! The request's loaders: one batch function per way the schema follows a key.
//!
//! Each loader owns the request's [`RequestStore`], so a batch is one counted statement, and lives in
//! the request's [`Loaders`]: a memo never outlives its request, nor serves one caller's rows to
//! another (the per-request `get_context` of Strawberry and Ariadne).

use std::collections::HashMap;

use coalesce_loader::tier::Tier;
use coalesce_loader::{Builder, DataLoader, Grouped, Loader, Loaders, ValueOf, by_key, group_by};
use coalesce_loader_redis::{Redis, RedisCache};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::friend_pages;
use crate::model::{Album, Band, Id, Message, User};
use crate::store::{Error, RequestStore};

/// Users by id; an id with no user loads as `None`.
pub struct UserLoader(RequestStore);

/// Each user's friends, in id order, with their rows: loading them also memoizes each friend in
/// the [`UserLoader`], so following a friend's id later costs no statement.
pub struct FriendsLoader {
    store: RequestStore,
    users: DataLoader<UserLoader>,
}

/// The messages each user posted.
pub struct MessagesByPosterLoader(RequestStore);

/// Bands by id; an id with no band loads as `None`.
pub struct BandLoader(RequestStore);

/// Each band's albums: the one-to-many loader.
pub struct AlbumsByBandLoader(RequestStore);

/// The Redis tier of `serve --redis`, shared by every request of every instance: users, bands
/// and albums are read from it in bulk, once per batch, before the database.
///
/// Friend lists and messages stay out of it: a rename would have to invalidate every list that
/// holds a copy of the user, which is the kind of fan-out a shared cache should not need.
///
/// Instances share entries exactly when they share a namespace, so a namespace must name one
/// database's data: [`SharedCache::derived_namespace`] derives one from the database's
/// [identity](crate::Database::identity).
#[derive(Clone, Debug)]
pub struct SharedCache {
    redis: Redis,
    namespace: String,
}

/// The schema version in the demo's Redis namespaces: bump it when a cached row type changes.
const CACHE_VERSION: u32 = 1;

impl SharedCache {
    /// The demo's caches on `redis`, their Redis namespaces starting with `namespace`.
    pub fn new(redis: Redis, namespace: impl Into<String>) -> Self {
        SharedCache {
            redis,
            namespace: namespace.into(),
        }
    }

    /// The namespace of the database whose [identity](crate::Database::identity) is `identity`:
    /// `demo-` and 16 hex digits of its SHA-256, short in every Redis key, the same in every
    /// instance on that database and different for any other.
    pub fn derived_namespace(identity: &str) -> String {
        let digest = Sha256::digest(identity.as_bytes());
        let hex: String = digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("demo-{hex}")
    }

    /// The namespace the caches are in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The cache of `L`'s values. The demo's rows are the same for every caller, hence `public`;
    /// an entry that does not belong to its key is a miss (see [`Shared::belongs`]).
    fn cache<L: Shared>(&self, loader: &str) -> RedisCache<Id, ValueOf<L>> {
        let name = format!("{}.{loader}", self.namespace);
        self.redis
            .cache(&name, CACHE_VERSION)
            .public()
            .verify(L::belongs)
            .build()
    }
}

/// A loader whose values go to the shared cache, and how to tell that a value read back belongs
/// to its key.
///
/// Anything can have been written under a key (a bug, an older version, someone with access to
/// Redis), so a value must show that it is the key's: a row must carry the key as its own id. A
/// `null` user or band, or an empty album list, shows nothing and would hide the rows: such
/// values are never taken from Redis (nor written there), so looking up an absent id always
/// costs a statement.
trait Shared: Loader<Key = Id> {
    fn belongs(key: &Id, value: &ValueOf<Self>) -> bool;
}

impl Shared for UserLoader {
    fn belongs(id: &Id, user: &Option<User>) -> bool {
        user.as_ref().is_some_and(|user| user.id == *id)
    }
}

impl Shared for BandLoader {
    fn belongs(id: &Id, band: &Option<Band>) -> bool {
        band.as_ref().is_some_and(|band| band.id == *id)
    }
}

impl Shared for AlbumsByBandLoader {
    fn belongs(band: &Id, albums: &Vec<Album>) -> bool {
        !albums.is_empty() && albums.iter().all(|album| album.band_id == *band)
    }
}

/// A new set of loaders for one request, every batch a statement on `store`, behind the shared
/// cache when there is one.
///
/// Batches are capped at the store's limit on keys per statement, so a `load_many` of more ids
/// than SQLite can bind is split into several statements instead of failing.
pub fn per_request(store: &RequestStore, shared: Option<&SharedCache>) -> Loaders {
    let max_keys = store.max_keys_per_statement();
    let users = build(UserLoader(store.clone()), "users", max_keys, shared);
    let friends = FriendsLoader {
        store: store.clone(),
        users: users.clone(),
    };
    Loaders::new()
        .with(friend_pages::loader(store, &users))
        .with(users)
        .with(options(friends, "friends", max_keys).build())
        .with(
            options(
                MessagesByPosterLoader(store.clone()),
                "messagesByPoster",
                max_keys,
            )
            .build(),
        )
        .with(build(BandLoader(store.clone()), "bands", max_keys, shared))
        .with(build(
            AlbumsByBandLoader(store.clone()),
            "albumsByBand",
            max_keys,
            shared,
        ))
}

/// A loader named for the response's `extensions.dataloader` and its batches capped at
/// `max_keys`.
fn options<L: Loader<Key = Id>>(loader: L, name: &'static str, max_keys: usize) -> Builder<L> {
    DataLoader::builder(loader)
        .name(name)
        .max_batch_size(max_keys)
}

/// [`options`], behind the shared cache (in a namespace of the loader's name) if there is one.
fn build<L>(
    loader: L,
    name: &'static str,
    max_keys: usize,
    shared: Option<&SharedCache>,
) -> DataLoader<L>
where
    L: Shared,
    ValueOf<L>: Serialize + DeserializeOwned,
{
    options(loader, name, max_keys)
        .value_cache(shared.map(|shared| Tier::from(shared.cache::<L>(name))))
        .build()
}

impl Loader for UserLoader {
    type Key = Id;
    type Output = HashMap<Id, User>;
    type Error = Error;

    async fn load_batch(&self, ids: &[Id]) -> Result<Self::Output, Error> {
        Ok(by_key(self.0.users(ids).await?, |user| user.id))
    }
}

impl Loader for FriendsLoader {
    type Key = Id;
    type Output = Grouped<Id, User>;
    type Error = Error;

    async fn load_batch(&self, user_ids: &[Id]) -> Result<Self::Output, Error> {
        let rows = self.store.friends(user_ids).await?;
        self.users.prime_many(
            rows.iter()
                .map(|(_, friend)| (friend.id, Some(friend.clone()))),
        );
        Ok(rows.into_iter().collect())
    }
}

impl Loader for MessagesByPosterLoader {
    type Key = Id;
    type Output = Grouped<Id, Message>;
    type Error = Error;

    async fn load_batch(&self, poster_ids: &[Id]) -> Result<Self::Output, Error> {
        let messages = self.0.messages_by_posters(poster_ids).await?;
        Ok(messages
            .into_iter()
            .filter_map(|message| Some((message.poster_id?, message)))
            .collect())
    }
}

impl Loader for BandLoader {
    type Key = Id;
    type Output = HashMap<Id, Band>;
    type Error = Error;

    async fn load_batch(&self, ids: &[Id]) -> Result<Self::Output, Error> {
        Ok(by_key(self.0.bands(ids).await?, |band| band.id))
    }
}

impl Loader for AlbumsByBandLoader {
    type Key = Id;
    type Output = Grouped<Id, Album>;
    type Error = Error;

    async fn load_batch(&self, band_ids: &[Id]) -> Result<Self::Output, Error> {
        Ok(group_by(self.0.albums_by_bands(band_ids).await?, |album| {
            album.band_id
        }))
    }
}
