//! Pages of each user's friends: the loader keyed by `(user id, page arguments)` behind
//! `friendsConnection` and `friends(first:)`, and its statement.
//!
//! A batch sends one statement per distinct [`PageArgs`] (see [`by_args`]), for every user that
//! asked for that page, and the database returns at most `first + 1` friends per user: a user
//! with 10 000 friends costs 6 rows for `first: 5`, not 10 000. The statement is
//! [`FRIEND_PAGES`](crate::statements::FRIEND_PAGES): on SQLite, `ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY friend_id)`;
//! on PostgreSQL, a `LATERAL` subquery with `ORDER BY friend_id LIMIT first + 1` per user, which
//! reads no more rows than it returns. Either has `friend_id > ?` for a page after a cursor,
//! whose sort key is the last friend's id: rows inserted before or after the cursor between two
//! pages neither repeat nor skip a friend.

use coalesce_loader::page::{Cursor, PageArgs, Pages, by_args};
use coalesce_loader::{DataLoader, Loader};

use crate::database::SQLITE_MAX_PARAMETERS;
use crate::loaders::UserLoader;
use crate::model::{Id, User};
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

/// Parameters a page statement binds besides its keys on SQLite: the cursor's sort key and the
/// limit.
const PAGE_PARAMETERS: usize = 2;

/// The most users one page statement takes on SQLite, which binds a parameter per user: a batch
/// of more users is split into several statements. (PostgreSQL binds the list as one array.)
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
