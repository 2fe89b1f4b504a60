//! [`Source`]: how a resolver reaches the data, batched through the request's loaders or naively
//! with one statement per field.
//!
//! The GraphQL schema is written once against `Source`; `--naive` changes only which way each of
//! its methods fetches. That is what makes the side-by-side numbers honest: the same query, the
//! same resolvers, the same rows, and only the N+1 differs.

use coalesce_loader::page::{Page, PageArgs};
use coalesce_loader::{Loaders, Stats};
use futures_util::future::try_join_all;

use crate::friend_pages::FriendPagesLoader;
use crate::loaders::{
    self, AlbumsByBandLoader, BandLoader, FriendsLoader, MessagesByPosterLoader, SharedCache,
    UserLoader,
};
use crate::model::{Album, Band, Id, Message, User};
use crate::store::RequestStore;

/// Why a field could not be fetched: a database error, as the loader or the statement reported it,
/// or a loader missing from the request's [`Loaders`].
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How the fields of a request fetch what they follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Through the request's loaders: one statement per level of the query.
    #[default]
    Batched,
    /// One statement per field, as a resolver written without a loader does: the N+1 version.
    Naive,
}

/// One request's access to the data. Cheap to clone; clones share the statement count and the
/// loaders.
#[derive(Clone)]
pub struct Source {
    store: RequestStore,
    /// `None` in [`Mode::Naive`].
    loaders: Option<Loaders>,
}

impl Source {
    /// A new request on `store`, and in [`Mode::Batched`] fresh loaders over it, behind
    /// `shared` if given.
    pub fn new(store: RequestStore, mode: Mode, shared: Option<&SharedCache>) -> Self {
        let loaders = match mode {
            Mode::Batched => Some(loaders::per_request(&store, shared)),
            Mode::Naive => None,
        };
        Source { store, loaders }
    }

    /// A request's source from its parts: its store, and its loaders unless naive.
    pub(crate) fn from_request(store: RequestStore, loaders: Option<Loaders>) -> Self {
        Source { store, loaders }
    }

    /// How many SQL statements this request has run.
    pub fn sql_queries(&self) -> u64 {
        self.store.count()
    }

    /// Each loader's name and what it did; empty in [`Mode::Naive`].
    pub fn loader_stats(&self) -> Vec<(&str, Stats)> {
        self.loaders
            .as_ref()
            .map(Loaders::stats)
            .unwrap_or_default()
    }

    /// The user `id`, or `None` if there is none.
    pub async fn user(&self, id: Id) -> Result<Option<User>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<UserLoader>()?.load(id).await?),
            None => Ok(self.store.users(&[id]).await?.pop()),
        }
    }

    /// Every user. Batched, the rows also go into the user loader's memo (`prime_many`), so the
    /// users that fields of the list follow to are already loaded.
    pub async fn all_users(&self) -> Result<Vec<User>, Error> {
        let users = self.store.all_users().await?;
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
            // A page of the loader behind `friendsConnection`, which fetches `first + 1` rows;
            // without a `first` that fits one (`usize::MAX` is none), every friend.
            Some(_) if u32::try_from(first).is_ok() => {
                let args = PageArgs::first(first as u32);
                let page = self.friend_page(id, args).await?;
                Ok(page.edges.into_iter().map(|edge| edge.node).collect())
            }
            Some(loaders) => {
                let mut friends = loaders.get::<FriendsLoader>()?.load(id).await?;
                friends.truncate(first);
                Ok(friends)
            }
            None => {
                let mut ids = self.store.friend_ids(id).await?;
                ids.truncate(first);
                let friends = try_join_all(ids.into_iter().map(|id| self.user(id))).await?;
                Ok(friends.into_iter().flatten().collect())
            }
        }
    }

    /// A page of user `id`'s friends, in id order: batched, through the friend pages loader;
    /// naively, one statement for this user alone.
    pub async fn friend_page(&self, id: Id, args: PageArgs) -> Result<Page<User>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<FriendPagesLoader>()?.load((id, args)).await?),
            None => {
                let friends = self.store.friend_pages(&[id], &args).await?;
                let friends = friends.into_iter().map(|(_, friend)| friend);
                Ok(Page::from_rows(&args, friends, |friend| friend.id))
            }
        }
    }

    /// Every message.
    pub async fn all_messages(&self) -> Result<Vec<Message>, Error> {
        self.store.all_messages().await
    }

    /// The messages user `id` posted.
    pub async fn messages_by(&self, id: Id) -> Result<Vec<Message>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<MessagesByPosterLoader>()?.load(id).await?),
            None => Ok(self.store.messages_by_posters(&[id]).await?),
        }
    }

    /// Every band. Batched, the rows also go into the band loader's memo, as for users.
    pub async fn all_bands(&self) -> Result<Vec<Band>, Error> {
        let bands = self.store.all_bands().await?;
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
            None => Ok(self.store.bands(&[id]).await?.pop()),
        }
    }

    /// Band `id`'s albums.
    pub async fn albums(&self, band_id: Id) -> Result<Vec<Album>, Error> {
        match &self.loaders {
            Some(loaders) => Ok(loaders.get::<AlbumsByBandLoader>()?.load(band_id).await?),
            None => Ok(self.store.albums_by_bands(&[band_id]).await?),
        }
    }

    /// Renames user `id` and returns the row this rename wrote (not a later read, which could
    /// see a concurrent rename instead), or `None` if there is no such user.
    ///
    /// The memo would otherwise keep serving the old name for the rest of the request, so the
    /// user's key takes the new row, and every memoized friend list is cleared, since any of
    /// them may hold a copy of the old one. With a shared cache the user is cleared there too,
    /// before the response, so that other instances serve the new name from their next request.
    pub async fn rename_user(&self, id: Id, name: &str) -> Result<Option<User>, Error> {
        let Some(renamed) = self.store.rename_user(id, name).await? else {
            return Ok(None);
        };
        if let Some(loaders) = &self.loaders {
            let users = loaders.get::<UserLoader>()?;
            users.clear_shared([id]).await;
            users.force_prime(id, Some(renamed.clone()));
            loaders.get::<FriendsLoader>()?.clear_all();
            loaders.get::<FriendPagesLoader>()?.clear_all();
        }
        Ok(Some(renamed))
    }
}
