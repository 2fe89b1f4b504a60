//! [`Queries`]: the demo's [`Store`] on rusqlite. Every statement a request runs, synchronously
//! and counted with the rows it returned: the `sqlQueries` and `sqlRows` of a response.

use coalesce_loader::page::PageArgs;
use rusqlite::{Params, Row, params_from_iter};

use super::Pool;
use crate::database::SQLITE_MAX_PARAMETERS;
use crate::friend_pages::{self, SQLITE_USERS_PER_PAGE_STATEMENT};
use crate::model::{Album, Band, Id, Message, User};
use crate::statements::{
    ALBUMS_BY_BAND, BANDS, BANDS_BY_ID, ByKeys, FRIEND_IDS_BY_USER, FRIEND_PAGES, FRIENDS_BY_USER,
    MESSAGES, MESSAGES_BY_POSTER, USERS, USERS_BY_ID, sqlite_keys,
};
use crate::store::{Cost, Error, Fetch, Store};

/// The database as one request sees it, through rusqlite: each [`Store`] method runs exactly one
/// statement (the page statement: one per bind limit's worth of keys), synchronously on any free
/// connection of its [`Pool`], before it returns its (ready) future, and counts it and the rows
/// it returned.
///
/// Built per request and handed to every loader and resolver of that request, whose clones
/// share its [`Cost`]: the counts are that request's alone.
///
/// ```
/// use coalesce_demo::sqlite::{Database, Queries};
/// use coalesce_demo::store::Store;
/// use futures_util::FutureExt;
///
/// let queries = Queries::new(Database::in_memory()?.pool(1)?);
/// // Ready at once: the statement ran when `users` was called.
/// let users = queries.users(&[2, 1, 1000]).now_or_never().expect("ready")?;
/// assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(queries.count(), 1);
/// # Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Queries {
    pool: Pool,
    cost: Cost,
}

impl Queries {
    /// A fresh count on `pool`.
    pub fn new(pool: Pool) -> Self {
        Queries {
            pool,
            cost: Cost::default(),
        }
    }
}

/// The statement has run by the time the future exists: it is ready at its first poll, so a
/// loader's batch function never waits on it and `block_on` never parks for it.
fn ran<'a, T: Send + 'a>(result: Result<T, impl Into<Error>>) -> Fetch<'a, T> {
    Box::pin(std::future::ready(result.map_err(Into::into)))
}

impl Store for Queries {
    fn cost(&self) -> &Cost {
        &self.cost
    }

    fn max_keys_per_statement(&self) -> usize {
        SQLITE_MAX_PARAMETERS
    }

    fn all_users(&self) -> Fetch<'_, Vec<User>> {
        ran(self.select(&format!("{USERS} ORDER BY id"), (), user))
    }

    fn users<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<User>> {
        ran(self.by_keys(&USERS_BY_ID, ids, user))
    }

    fn friends<'a>(&'a self, user_ids: &'a [Id]) -> Fetch<'a, Vec<(Id, User)>> {
        ran(self.by_keys(&FRIENDS_BY_USER, user_ids, |row| {
            Ok((row.get(0)?, user_at(row, 1)?))
        }))
    }

    fn friend_ids(&self, user_id: Id) -> Fetch<'_, Vec<Id>> {
        ran(self.by_keys(&FRIEND_IDS_BY_USER, &[user_id], |row| row.get(0)))
    }

    fn friend_pages<'a>(
        &'a self,
        user_ids: &'a [Id],
        args: &'a PageArgs,
    ) -> Fetch<'a, Vec<(Id, User)>> {
        let pages = || -> Result<Vec<(Id, User)>, Error> {
            let (after, limit) = friend_pages::bounds(args)?;
            let mut friends = Vec::new();
            for users in user_ids.chunks(SQLITE_USERS_PER_PAGE_STATEMENT) {
                let sql = FRIEND_PAGES.sqlite(users.len(), after.is_some());
                let params: Vec<Id> = users.iter().copied().chain(after).chain([limit]).collect();
                friends.extend(self.select(&sql, params_from_iter(&params), |row| {
                    Ok((row.get(0)?, user_at(row, 1)?))
                })?);
            }
            Ok(friends)
        };
        ran(pages())
    }

    fn all_messages(&self) -> Fetch<'_, Vec<Message>> {
        ran(self.select(&format!("{MESSAGES} ORDER BY id"), (), message))
    }

    fn messages_by_posters<'a>(&'a self, poster_ids: &'a [Id]) -> Fetch<'a, Vec<Message>> {
        ran(self.by_keys(&MESSAGES_BY_POSTER, poster_ids, message))
    }

    fn all_bands(&self) -> Fetch<'_, Vec<Band>> {
        ran(self.select(&format!("{BANDS} ORDER BY id"), (), band))
    }

    fn bands<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<Band>> {
        ran(self.by_keys(&BANDS_BY_ID, ids, band))
    }

    fn albums_by_bands<'a>(&'a self, band_ids: &'a [Id]) -> Fetch<'a, Vec<Album>> {
        ran(self.by_keys(&ALBUMS_BY_BAND, band_ids, |row| {
            Ok(Album {
                id: row.get(0)?,
                band_id: row.get(1)?,
                title: row.get(2)?,
            })
        }))
    }

    fn rename_user<'a>(&'a self, id: Id, name: &'a str) -> Fetch<'a, Option<User>> {
        const RENAME: &str =
            "UPDATE users SET name = ?1 WHERE id = ?2 RETURNING id, name, best_friend_id";
        ran(self
            .select(RENAME, (name, id), user)
            .map(|renamed| renamed.into_iter().next()))
    }
}

impl Queries {
    /// Runs `query` for all of `keys` in one statement, `key IN (?, ?, …)` with one bound
    /// parameter per key; none for no keys.
    fn by_keys<T>(
        &self,
        query: &ByKeys,
        keys: &[Id],
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ByKeys {
            select,
            key,
            order_by,
        } = query;
        let placeholders = sqlite_keys(keys.len());
        let sql = format!("{select} WHERE {key} IN ({placeholders}) ORDER BY {order_by}");
        self.select(&sql, params_from_iter(keys), row)
    }

    /// Runs one statement and collects its rows, counting both.
    fn select<T>(
        &self,
        sql: &str,
        params: impl Params,
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        self.cost.statement();
        let connection = self.pool.lock();
        // Cached: a level of a query sends the same statement on every request.
        let mut statement = connection.prepare_cached(sql)?;
        let rows: Vec<T> = statement
            .query_map(params, row)?
            .collect::<rusqlite::Result<_>>()?;
        self.cost.returned(rows.len());
        Ok(rows)
    }
}

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    user_at(row, 0)
}

/// The user whose columns start at `first`, where a row holds more than the user.
fn user_at(row: &Row<'_>, first: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(first)?,
        name: row.get(first + 1)?,
        best_friend_id: row.get(first + 2)?,
    })
}

fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        message: row.get(1)?,
        poster_id: row.get(2)?,
    })
}

fn band(row: &Row<'_>) -> rusqlite::Result<Band> {
    Ok(Band {
        id: row.get(0)?,
        name: row.get(1)?,
    })
}
