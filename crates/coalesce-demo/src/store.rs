//! [`Store`]: the demo's tables as one request reads them, whatever the driver underneath.
//!
//! The schema, the [`Source`](crate::Source) and the [loaders](crate::loaders) are written once
//! against this trait, and each database brings its own implementation:
//! [`sqlite::Queries`](crate::sqlite::Queries) on rusqlite, shared by both demos, whose futures
//! are ready when they are first polled because the statement has already run on the caller's
//! thread, and [`postgres::Queries`](crate::postgres::Queries) on sqlx, awaited on tokio. Both
//! run the same SQL ([`statements`](crate::statements)), so a query costs the same statements on
//! either.
//!
//! # Why a trait object and not a type parameter
//!
//! A `Store` type parameter would have to reach every GraphQL object (`User<S>`, `Query<S>`)
//! and every loader type a resolver names (`UserLoader<S>`), and async-graphql's derives do
//! not take generic objects without naming each instance. A boxed future per statement costs
//! one allocation beside a database round trip; the schema stays the one schema.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use coalesce_loader::page::PageArgs;

use crate::model::{Album, Band, Id, Message, User};

/// Why a statement failed: the driver's own error, boxed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A statement's answer, to be awaited.
pub type Fetch<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The statements a store has run and the rows they returned. Its clones share the counts, so
/// that a store built per request and handed to every loader and resolver of that request
/// counts that request's statements alone, whichever of them ran them.
#[derive(Clone, Debug, Default)]
pub struct Cost {
    statements: Arc<AtomicU64>,
    rows: Arc<AtomicU64>,
}

impl Cost {
    /// Counts one statement.
    pub fn statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `rows` rows returned.
    pub fn returned(&self, rows: usize) {
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
    }
}

/// The tables as one request sees them. Each method runs exactly one statement (none for an
/// empty list of keys) and adds it to [`Store::count`].
///
/// A request's store goes into its GraphQL request data as a [`RequestStore`]; the loaders and
/// the naive fields of that request share it, so the count is the request's own. Rows come in
/// the order the statements give ([`statements`](crate::statements)), the same on every driver.
pub trait Store: Send + Sync + 'static {
    /// What the statements run so far have cost.
    fn cost(&self) -> &Cost;
    /// How many statements have run so far.
    fn count(&self) -> u64 {
        self.cost().statements.load(Ordering::Relaxed)
    }
    /// How many rows those statements have returned: what a page's limit saves shows here, not
    /// in [`Store::count`].
    fn rows(&self) -> u64 {
        self.cost().rows.load(Ordering::Relaxed)
    }
    /// The most keys one statement can bind, and so the largest batch a loader may send.
    fn max_keys_per_statement(&self) -> usize;
    /// Every user, by id.
    fn all_users(&self) -> Fetch<'_, Vec<User>>;
    /// The users with these ids; ids with no user are left out.
    fn users<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<User>>;
    /// `(user id, friend)` for every friend of these users, friends joined in so that listing
    /// them costs no second statement.
    fn friends<'a>(&'a self, user_ids: &'a [Id]) -> Fetch<'a, Vec<(Id, User)>>;
    /// The ids of one user's friends, without their rows: how a naive resolver starts.
    fn friend_ids(&self, user_id: Id) -> Fetch<'_, Vec<Id>>;
    /// `(user id, friend)` for at most `args.first + 1` friends of each of these users, in id
    /// order, after the friend id that `args.after` holds if any: the page statement of
    /// [`friend_pages`](crate::friend_pages), split only where the database cannot bind every
    /// key in one. Fails, before any statement, on a cursor that holds no friend id.
    fn friend_pages<'a>(
        &'a self,
        user_ids: &'a [Id],
        args: &'a PageArgs,
    ) -> Fetch<'a, Vec<(Id, User)>>;
    /// Every message, by id.
    fn all_messages(&self) -> Fetch<'_, Vec<Message>>;
    /// The messages these users posted.
    fn messages_by_posters<'a>(&'a self, poster_ids: &'a [Id]) -> Fetch<'a, Vec<Message>>;
    /// Every band, by id.
    fn all_bands(&self) -> Fetch<'_, Vec<Band>>;
    /// The bands with these ids; ids with no band are left out.
    fn bands<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<Band>>;
    /// The albums of these bands.
    fn albums_by_bands<'a>(&'a self, band_ids: &'a [Id]) -> Fetch<'a, Vec<Album>>;
    /// Renames a user and returns its row as this statement wrote it, whatever other writers do
    /// next; `None` when there is no user `id`.
    fn rename_user<'a>(&'a self, id: Id, name: &'a str) -> Fetch<'a, Option<User>>;
}

/// A request's [`Store`], shared by its loaders and fields: what the schema reads from the
/// request's data. Cheap to clone.
///
/// ```
/// use coalesce_demo::sqlite::{Database, Queries};
/// use coalesce_demo::store::RequestStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let store = RequestStore::new(Queries::new(Database::in_memory()?.pool(1)?));
/// let users = store.users(&[2, 1, 1000]).await?;
/// assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(store.count(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RequestStore(Arc<dyn Store>);

impl RequestStore {
    /// `store`, for one request.
    pub fn new(store: impl Store) -> Self {
        RequestStore(Arc::new(store))
    }
}

impl std::ops::Deref for RequestStore {
    type Target = dyn Store;

    fn deref(&self) -> &dyn Store {
        &*self.0
    }
}
