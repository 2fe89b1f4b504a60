//! Every SQL statement the server runs for a request, counted: the `sqlQueries` of a response.
//! The statements are the async demo's, on SQLite.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use coalesce_demo::model::{Album, Band, Id, Message, User};
use coalesce_demo::statements::{
    ALBUMS_BY_BAND, BANDS, BANDS_BY_ID, ByKeys, FRIEND_IDS_BY_USER, FRIENDS_BY_USER, MESSAGES,
    MESSAGES_BY_POSTER, USERS, USERS_BY_ID,
};
use rusqlite::{Row, params_from_iter};

use crate::database::Connection;

/// The database as one request sees it: each method runs exactly one statement, synchronously,
/// and counts it.
///
/// Built per request and handed to every loader and resolver of that request, so the count is
/// that request's alone, whichever of them ran the statements. Clones share the count.
///
/// ```
/// use coalesce_demo_blocking::{Database, Queries};
///
/// let queries = Queries::new(Database::in_memory()?.connect()?);
/// let users = queries.users(&[2, 1, 1000])?;
/// assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(queries.count(), 1);
/// # Ok::<_, rusqlite::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Queries {
    connection: Connection,
    statements: Arc<AtomicU64>,
}

impl Queries {
    /// A fresh count on `connection`.
    pub fn new(connection: Connection) -> Self {
        Queries {
            connection,
            statements: Arc::default(),
        }
    }

    /// How many statements have run so far.
    pub fn count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Every user, by id.
    pub fn all_users(&self) -> rusqlite::Result<Vec<User>> {
        self.select(&format!("{USERS} ORDER BY id"), &[], user)
    }

    /// The users with these ids; ids with no user are left out.
    pub fn users(&self, ids: &[Id]) -> rusqlite::Result<Vec<User>> {
        self.by_keys(&USERS_BY_ID, ids, user)
    }

    /// `(user id, friend)` for every friend of these users, friends joined in so that listing
    /// them costs no second statement.
    pub fn friends(&self, user_ids: &[Id]) -> rusqlite::Result<Vec<(Id, User)>> {
        self.by_keys(&FRIENDS_BY_USER, user_ids, |row| {
            Ok((
                row.get(0)?,
                User {
                    id: row.get(1)?,
                    name: row.get(2)?,
                    best_friend_id: row.get(3)?,
                },
            ))
        })
    }

    /// The ids of one user's friends, without their rows: how a naive resolver starts.
    pub fn friend_ids(&self, user_id: Id) -> rusqlite::Result<Vec<Id>> {
        self.by_keys(&FRIEND_IDS_BY_USER, &[user_id], |row| row.get(0))
    }

    /// Every message, by id.
    pub fn all_messages(&self) -> rusqlite::Result<Vec<Message>> {
        self.select(&format!("{MESSAGES} ORDER BY id"), &[], message)
    }

    /// The messages these users posted.
    pub fn messages_by_posters(&self, poster_ids: &[Id]) -> rusqlite::Result<Vec<Message>> {
        self.by_keys(&MESSAGES_BY_POSTER, poster_ids, message)
    }

    /// Every band, by id.
    pub fn all_bands(&self) -> rusqlite::Result<Vec<Band>> {
        self.select(&format!("{BANDS} ORDER BY id"), &[], band)
    }

    /// The bands with these ids; ids with no band are left out.
    pub fn bands(&self, ids: &[Id]) -> rusqlite::Result<Vec<Band>> {
        self.by_keys(&BANDS_BY_ID, ids, band)
    }

    /// The albums of these bands.
    pub fn albums_by_bands(&self, band_ids: &[Id]) -> rusqlite::Result<Vec<Album>> {
        self.by_keys(&ALBUMS_BY_BAND, band_ids, |row| {
            Ok(Album {
                id: row.get(0)?,
                band_id: row.get(1)?,
                title: row.get(2)?,
            })
        })
    }

    /// Renames a user and returns its row as this statement wrote it; `None` when there is no
    /// user `id`.
    pub fn rename_user(&self, id: Id, name: &str) -> rusqlite::Result<Option<User>> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let connection = self.connection.lock();
        let mut statement = connection.prepare_cached(
            "UPDATE users SET name = ?1 WHERE id = ?2 RETURNING id, name, best_friend_id",
        )?;
        let rows: Vec<User> = statement
            .query_map((name, id), user)?
            .collect::<Result<_, _>>()?;
        Ok(rows.into_iter().next())
    }

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
        let placeholders = vec!["?"; keys.len()].join(", ");
        let sql = format!("{select} WHERE {key} IN ({placeholders}) ORDER BY {order_by}");
        self.select(&sql, keys, row)
    }

    fn select<T>(
        &self,
        sql: &str,
        params: &[Id],
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let connection = self.connection.lock();
        // Cached: a level of a query sends the same statement on every request.
        let mut statement = connection.prepare_cached(sql)?;
        statement
            .query_map(params_from_iter(params), row)?
            .collect()
    }
}

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        best_friend_id: row.get(2)?,
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
