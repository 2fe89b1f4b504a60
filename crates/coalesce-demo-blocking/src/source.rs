//! [`Source`]: how a resolver reaches the data, batched through the request's loaders or naively
//! with one statement per field.

use coalesce_demo::model::{Album, Band, Id, Message, User};
use coalesce_loader::Loaders;

use crate::loaders::{
    AlbumsByBandLoader, BandLoader, FriendsLoader, MessagesByPosterLoader, UserLoader,
};
use crate::queries::Queries;

/// Why a field could not be fetched: the database's error, as the loader or the statement
/// reported it, or a loader missing from the request's [`Loaders`].
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One request's access to the data: its statements, and its loaders in [`Mode::Batched`](coalesce_demo::Mode::Batched).
/// Cheap to clone; clones share the statement count and the loaders.
///
/// Its methods are `async` only because loads are: in [`Mode::Naive`](coalesce_demo::Mode::Naive) each one runs its
/// statement at once.
#[derive(Clone)]
pub struct Source {
    queries: Queries,
    /// `None` in [`Mode::Naive`](coalesce_demo::Mode::Naive).
    loaders: Option<Loaders>,
}

impl Source {
    /// A request's source from its parts: its statements, and its loaders unless naive.
    pub fn new(queries: Queries, loaders: Option<Loaders>) -> Self {
        Source { queries, loaders }
    }

    /// The user `id`, or `None` if there is none.
    pub async fn user(&self, id: Id) -> Result<Option<User>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<UserLoader>()?.load(id).await?),
            None => Ok(self.queries.users(&[id])?.pop()),
        }
    }

    /// Every user. Batched, the rows also go into the user loader's memo, so the users that
    /// fields of the list follow to are already loaded.
    pub async fn all_users(&self) -> Result<Vec<User>, Error> {
        let users = self.queries.all_users()?;
        if let Some(loaders) = &self.loaders {
            loaders
                .get::<UserLoader>()?
                .prime_many(users.iter().map(|user| (user.id, Some(user.clone()))));
        }
        Ok(users)
    }

    /// The first `first` friends of user `id`, in id order.
    pub async fn friends(&self, id: Id, first: usize) -> Result<Vec<User>, Error> {
        match &self.loaders {
            Some(loaders) => {
                let mut friends = loaders.get::<FriendsLoader>()?.load(id).await?;
                friends.truncate(first);
                Ok(friends)
            }
            None => {
                let mut ids = self.queries.friend_ids(id)?;
                ids.truncate(first);
                let mut friends = Vec::with_capacity(ids.len());
                for id in ids {
                    friends.extend(self.queries.users(&[id])?);
                }
                Ok(friends)
            }
        }
    }

    /// Every message.
    pub async fn all_messages(&self) -> Result<Vec<Message>, Error> {
        Ok(self.queries.all_messages()?)
    }

    /// The messages user `id` posted.
    pub async fn messages_by(&self, id: Id) -> Result<Vec<Message>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<MessagesByPosterLoader>()?.load(id).await?),
            None => Ok(self.queries.messages_by_posters(&[id])?),
        }
    }

    /// Every band. Batched, the rows also go into the band loader's memo, as for users.
    pub async fn all_bands(&self) -> Result<Vec<Band>, Error> {
        let bands = self.queries.all_bands()?;
        if let Some(loaders) = &self.loaders {
            loaders
                .get::<BandLoader>()?
                .prime_many(bands.iter().map(|band| (band.id, Some(band.clone()))));
        }
        Ok(bands)
    }

    /// The band `id`, or `None` if there is none.
    pub async fn band(&self, id: Id) -> Result<Option<Band>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<BandLoader>()?.load(id).await?),
            None => Ok(self.queries.bands(&[id])?.pop()),
        }
    }

    /// Band `id`'s albums.
    pub async fn albums(&self, band_id: Id) -> Result<Vec<Album>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<AlbumsByBandLoader>()?.load(band_id).await?),
            None => Ok(self.queries.albums_by_bands(&[band_id])?),
        }
    }

    /// Renames user `id` and returns the row this rename wrote, or `None` if there is no such
    /// user. The user's key takes the new row, and every memoized friend list is cleared, since
    /// any of them may hold a copy of the old one.
    pub async fn rename_user(&self, id: Id, name: &str) -> Result<Option<User>, Error> {
        let Some(renamed) = self.queries.rename_user(id, name)? else {
            return Ok(None);
        };
        if let Some(loaders) = &self.loaders {
            loaders
                .get::<UserLoader>()?
                .force_prime(id, Some(renamed.clone()));
            loaders.get::<FriendsLoader>()?.clear_all();
        }
        Ok(Some(renamed))
    }
}
