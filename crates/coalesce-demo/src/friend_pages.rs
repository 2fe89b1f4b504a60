//! Pages of each user's friends: the loader keyed by `(user id, page arguments)` behind
//! `friendsConnection` and `friends(first:)`, and its statement.
//!
//! A batch sends one statement per distinct [`PageArgs`] (see [`by_args`]), for every user that
//! asked for that page, and the database returns at most `first + 1` friends per user: a user
//! with 10 000 friends costs 6 rows for `first: 5`, not 10 000. The statement is
//! [`FRIEND_PAGES`]: on SQLite, `ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY friend_id)`;
//! on PostgreSQL, a `LATERAL` subquery with `ORDER BY friend_id LIMIT first + 1` per user, which
//! reads no more rows than it returns. Either has `friend_id > ?` for a page after a cursor,
//! whose sort key is the last friend's id: rows inserted before or after the cursor between two
//! pages neither repeat nor skip a friend.

use coalesce_loader::page::{Cursor, PageArgs, Pages, by_args};
use coalesce_loader::{DataLoader, Loader};

use crate::database::{Database, SQLITE_MAX_PARAMETERS};
use crate::loaders::UserLoader;
use crate::model::{Id, User};
use crate::queries::Queries;
use crate::statements::FRIEND_PAGES;
use crate::store::{Error, RequestStore};

/// A page of friends per `(user id, page arguments)`; loading them also memoizes each friend in
/// the [`UserLoader`], as the friends loader does.
pub struct FriendPagesLoader {
    store: RequestStore,
    users: DataLoader<UserLoader>,
}

/// The request's friend pages loader, named `friendPages` in `extensions.dataloader`, priming
/// `users`.
///
/// Its batches are not capped: a batch larger than one statement can bind is split into
/// several statements by the store's [`friend_pages`](crate::store::Store::friend_pages).
pub fn loader(
    store: &RequestStore,
    users: &DataLoader<UserLoader>,
) -> DataLoader<FriendPagesLoader> {
    let loader = FriendPagesLoader {
        store: store.clone(),
        users: users.clone(),
    };
    DataLoader::builder(loader).name("friendPages").build()
}

impl Loader for FriendPagesLoader {
    type Key = (Id, PageArgs);
    type Output = Pages<Id, User>;
    type Error = Error;

    async fn load_batch(&self, keys: &[(Id, PageArgs)]) -> Result<Self::Output, Error> {
        let mut pages = Pages::new();
        for (args, users) in by_args(keys) {
            let users: Vec<Id> = users.into_iter().copied().collect();
            let rows = self.store.friend_pages(&users, args).await?;
            self.users.prime_many(
                rows.iter()
                    .map(|(_, friend)| (friend.id, Some(friend.clone()))),
            );
            pages.insert_rows(args, rows, |friend| friend.id);
        }
        Ok(pages)
    }
}

/// A row of [`FRIEND_PAGES`]: the user's id, then the friend's row.
type FriendRow = (Id, Id, String, Option<Id>);

fn friend_row((user_id, id, name, best_friend_id): FriendRow) -> (Id, User) {
    let friend = User {
        id,
        name,
        best_friend_id,
    };
    (user_id, friend)
}

/// Parameters a page statement binds besides its keys on SQLite: the cursor's sort key and the
/// limit.
const PAGE_PARAMETERS: usize = 2;

/// The most users one page statement takes on SQLite, which binds a parameter per user.
pub const SQLITE_USERS_PER_PAGE_STATEMENT: usize = SQLITE_MAX_PARAMETERS - PAGE_PARAMETERS;

/// What a page statement binds besides its keys: the friend id that `args.after` holds, if any,
/// and the most rows per user (`first + 1`). Fails on a cursor that holds no friend id.
///
/// ```
/// use coalesce_demo::friend_pages::bounds;
/// use coalesce_loader::page::{Cursor, PageArgs};
///
/// let args = PageArgs::first(5).after(Cursor::new(7));
/// assert_eq!(bounds(&args)?, (Some(7), 6));
/// # Ok::<_, coalesce_demo::store::Error>(())
/// ```
pub fn bounds(args: &PageArgs) -> Result<(Option<Id>, i64), Error> {
    let after = args.after.as_ref().map(Cursor::sort_key).transpose()?;
    Ok((after, i64::try_from(args.fetch_limit()).unwrap_or(i64::MAX)))
}

impl Queries {
    /// The store's [`friend_pages`](crate::store::Store::friend_pages) on sqlx; the extra friend
    /// per user only tells that a next page exists ([`Pages::insert_rows`] lines them up).
    ///
    /// One statement for all the users, unless SQLite cannot bind them all in one: it takes one
    /// parameter per user and [`SQLITE_MAX_PARAMETERS`] at most, so larger lists are split.
    /// PostgreSQL binds the list as one array (3 of its 65 535 parameters), so it never splits.
    pub(crate) async fn fetch_friend_pages(
        &self,
        user_ids: &[Id],
        args: &PageArgs,
    ) -> Result<Vec<(Id, User)>, Error> {
        let (after, limit) = bounds(args)?;
        let per_statement = match self.database() {
            Database::Sqlite(_) => SQLITE_USERS_PER_PAGE_STATEMENT,
            Database::Postgres(_) => usize::MAX,
        };
        let mut friends = Vec::new();
        for users in user_ids.chunks(per_statement) {
            self.count_statement();
            let rows: Vec<FriendRow> = match self.database() {
                Database::Sqlite(pool) => {
                    let sql = FRIEND_PAGES.sqlite(users.len(), after.is_some());
                    let mut query = sqlx::query_as(&sql);
                    for user in users {
                        query = query.bind(user);
                    }
                    if let Some(after) = after {
                        query = query.bind(after);
                    }
                    query.bind(limit).fetch_all(pool).await?
                }
                Database::Postgres(pool) => {
                    let (after_at, limit_at) = match after {
                        Some(_) => (Some("$2"), "$3"),
                        None => (None, "$2"),
                    };
                    let sql = FRIEND_PAGES.lateral("$1", after_at, limit_at);
                    let mut query = sqlx::query_as(&sql).bind(users);
                    if let Some(after) = after {
                        query = query.bind(after);
                    }
                    query.bind(limit).fetch_all(pool).await?
                }
            };
            friends.extend(self.count_rows(rows, friend_row));
        }
        Ok(friends)
    }
}
