//! The request's loaders, one batch function per way the schema follows a key: the async demo's,
//! with batch functions that run their statement synchronously.
//!
//! Each is a [`coalesce_loader::Loader`], whose `load_batch` is an `async fn` that never awaits:
//! the statement runs on the request's thread, inside the poll of the load that drives the batch,
//! and the future is ready when it returns. coalesce needs nothing more to batch: its frame rule
//! waits for a turn of the executor that adds no key, which `futures::executor::block_on` gives
//! as well as tokio does.

use std::collections::HashMap;

use coalesce_demo::database::SQLITE_MAX_PARAMETERS;
use coalesce_demo::model::{Album, Band, Id, Message, User};
use coalesce_loader::{Builder, DataLoader, Grouped, Loader, Loaders, by_key, group_by};

use crate::queries::Queries;

/// Users by id; an id with no user loads as `None`.
pub struct UserLoader(Queries);

/// Each user's friends, in id order, with their rows: loading them also memoizes each friend in
/// the [`UserLoader`], so following a friend's id later costs no statement.
pub struct FriendsLoader {
    queries: Queries,
    users: DataLoader<UserLoader>,
}

/// The messages each user posted.
pub struct MessagesByPosterLoader(Queries);

/// Bands by id; an id with no band loads as `None`.
pub struct BandLoader(Queries);

/// Each band's albums: the one-to-many loader.
pub struct AlbumsByBandLoader(Queries);

/// A new set of loaders for one request, every batch a statement on `queries`, named as the
/// async demo names them in `extensions.dataloader`.
///
/// Batches are capped at SQLite's limit on bound parameters, so a `load_many` of more ids than
/// one statement can bind is split into several statements instead of failing.
///
/// ```
/// use coalesce_demo_blocking::loaders::{self, UserLoader};
/// use coalesce_demo_blocking::{Database, Queries};
///
/// let queries = Queries::new(Database::in_memory()?.connect()?);
/// let loaders = loaders::per_request(&queries);
/// let users = loaders.get::<UserLoader>()?;
/// // No runtime: the loads are polled on this thread, and batched all the same.
/// let (ada, grace) = futures::executor::block_on(async { futures::join!(users.load(1), users.load(2)) });
/// assert_eq!(ada?.unwrap().name, "Ada Lovelace");
/// assert_eq!(grace?.unwrap().name, "Grace Lovelace");
/// assert_eq!(queries.count(), 1);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub fn per_request(queries: &Queries) -> Loaders {
    let users = options(UserLoader(queries.clone()), "users").build();
    let friends = FriendsLoader {
        queries: queries.clone(),
        users: users.clone(),
    };
    Loaders::new()
        .with(users)
        .with(options(friends, "friends").build())
        .with(options(MessagesByPosterLoader(queries.clone()), "messagesByPoster").build())
        .with(options(BandLoader(queries.clone()), "bands").build())
        .with(options(AlbumsByBandLoader(queries.clone()), "albumsByBand").build())
}

fn options<L: Loader<Key = Id>>(loader: L, name: &'static str) -> Builder<L> {
    DataLoader::builder(loader)
        .name(name)
        .max_batch_size(SQLITE_MAX_PARAMETERS)
}

impl Loader for UserLoader {
    type Key = Id;
    type Output = HashMap<Id, User>;
    type Error = rusqlite::Error;

    async fn load_batch(&self, ids: &[Id]) -> Result<Self::Output, rusqlite::Error> {
        Ok(by_key(self.0.users(ids)?, |user| user.id))
    }
}

impl Loader for FriendsLoader {
    type Key = Id;
    type Output = Grouped<Id, User>;
    type Error = rusqlite::Error;

    async fn load_batch(&self, user_ids: &[Id]) -> Result<Self::Output, rusqlite::Error> {
        let rows = self.queries.friends(user_ids)?;
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
    type Error = rusqlite::Error;

    async fn load_batch(&self, poster_ids: &[Id]) -> Result<Self::Output, rusqlite::Error> {
        let messages = self.0.messages_by_posters(poster_ids)?;
        Ok(messages
            .into_iter()
            .filter_map(|message| Some((message.poster_id?, message)))
            .collect())
    }
}

impl Loader for BandLoader {
    type Key = Id;
    type Output = HashMap<Id, Band>;
    type Error = rusqlite::Error;

    async fn load_batch(&self, ids: &[Id]) -> Result<Self::Output, rusqlite::Error> {
        Ok(by_key(self.0.bands(ids)?, |band| band.id))
    }
}

impl Loader for AlbumsByBandLoader {
    type Key = Id;
    type Output = Grouped<Id, Album>;
    type Error = rusqlite::Error;

    async fn load_batch(&self, band_ids: &[Id]) -> Result<Self::Output, rusqlite::Error> {
        Ok(group_by(self.0.albums_by_bands(band_ids)?, |album| {
            album.band_id
        }))
    }
}
