//! [`Queries`]: the demo's [`Store`] on sqlx, SQLite or PostgreSQL. Every statement a request
//! runs, counted with the rows it returned: the `sqlQueries` and `sqlRows` of a response.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, QueryBuilder};

use crate::database::{Database, with_pool};
use crate::model::{Album, Band, Id, Message, User};
use crate::statements::{
    ALBUMS_BY_BAND, BANDS, BANDS_BY_ID, ByKeys, FRIEND_IDS_BY_USER, FRIENDS_BY_USER, MESSAGES,
    MESSAGES_BY_POSTER, USERS, USERS_BY_ID,
};
use crate::store::{Error, Fetch, Store};
use coalesce_loader::page::PageArgs;

/// The database as one request sees it, through sqlx: each [`Store`] method runs exactly one
/// statement (the page statement: one per bind limit's worth of keys) and counts it, and the
/// rows it returned.
///
/// Built per request and handed to every loader and resolver of that request, so the counts are
/// that request's alone, whichever of them ran the statements. Clones share the counts.
#[derive(Clone, Debug)]
pub struct Queries {
    db: Database,
    statements: Arc<AtomicU64>,
    rows: Arc<AtomicU64>,
}

type UserRow = (Id, String, Option<Id>);
type MessageRow = (Id, String, Option<Id>);
type BandRow = (Id, String);
type AlbumRow = (Id, Id, String);

impl Queries {
    /// A fresh count on `db`.
    pub fn new(db: Database) -> Self {
        Queries {
            db,
            statements: Arc::default(),
            rows: Arc::default(),
        }
    }

    /// The database these statements run on.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// How many statements have run so far.
    pub fn count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}

impl Store for Queries {
    fn count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    fn max_keys_per_statement(&self) -> usize {
        self.db.max_keys_per_statement()
    }

    fn all_users(&self) -> Fetch<'_, Vec<User>> {
        Box::pin(self.fetch_all(format!("{USERS} ORDER BY id"), user))
    }

    fn users<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<User>> {
        Box::pin(self.fetch_by_keys(&USERS_BY_ID, ids, user))
    }

    fn friends<'a>(&'a self, user_ids: &'a [Id]) -> Fetch<'a, Vec<(Id, User)>> {
        Box::pin(self.fetch_by_keys(
            &FRIENDS_BY_USER,
            user_ids,
            |(of, id, name, best_friend_id): (Id, Id, String, Option<Id>)| {
                (of, user((id, name, best_friend_id)))
            },
        ))
    }

    fn friend_ids(&self, user_id: Id) -> Fetch<'_, Vec<Id>> {
        Box::pin(async move {
            let ids = [user_id];
            self.fetch_by_keys(&FRIEND_IDS_BY_USER, &ids, |(id,): (Id,)| id)
                .await
        })
    }

    fn friend_pages<'a>(
        &'a self,
        user_ids: &'a [Id],
        args: &'a PageArgs,
    ) -> Fetch<'a, Vec<(Id, User)>> {
        Box::pin(self.fetch_friend_pages(user_ids, args))
    }

    fn all_messages(&self) -> Fetch<'_, Vec<Message>> {
        Box::pin(self.fetch_all(format!("{MESSAGES} ORDER BY id"), message))
    }

    fn messages_by_posters<'a>(&'a self, poster_ids: &'a [Id]) -> Fetch<'a, Vec<Message>> {
        Box::pin(self.fetch_by_keys(&MESSAGES_BY_POSTER, poster_ids, message))
    }

    fn all_bands(&self) -> Fetch<'_, Vec<Band>> {
        Box::pin(self.fetch_all(format!("{BANDS} ORDER BY id"), band))
    }

    fn bands<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<Band>> {
        Box::pin(self.fetch_by_keys(&BANDS_BY_ID, ids, band))
    }

    fn albums_by_bands<'a>(&'a self, band_ids: &'a [Id]) -> Fetch<'a, Vec<Album>> {
        Box::pin(self.fetch_by_keys(&ALBUMS_BY_BAND, band_ids, album))
    }

    fn rename_user<'a>(&'a self, id: Id, name: &'a str) -> Fetch<'a, Option<User>> {
        Box::pin(async move {
            self.count_statement();
            let row: Option<UserRow> = with_pool!(&self.db, |pool| {
                sqlx::query_as(
                    "UPDATE users SET name = $1 WHERE id = $2 RETURNING id, name, best_friend_id",
                )
                .bind(name)
                .bind(id)
                .fetch_optional(pool)
                .await?
            });
            self.rows.fetch_add(row.is_some().into(), Ordering::Relaxed);
            Ok(row.map(user))
        })
    }
}

impl Queries {
    /// Counts a statement about to run.
    pub(crate) fn count_statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the rows a statement returned, and makes a value of each with `into`.
    pub(crate) fn count_rows<R, T>(&self, rows: Vec<R>, into: impl FnMut(R) -> T) -> Vec<T> {
        self.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
        rows.into_iter().map(into).collect()
    }

    /// Runs `sql` and makes a value of each row with `into`.
    async fn fetch_all<R, T>(&self, sql: String, into: fn(R) -> T) -> Result<Vec<T>, Error>
    where
        R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.count_statement();
        let rows: Vec<R> = with_pool!(&self.db, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await?);
        Ok(self.count_rows(rows, into))
    }

    /// Runs `query` for all of `keys` in one statement, and makes a value of each row with
    /// `into`: `key IN ($1, $2, …)` on SQLite, one bound parameter per key; `key = ANY($1)` on
    /// PostgreSQL, the keys bound as one array.
    async fn fetch_by_keys<R, T>(
        &self,
        query: &ByKeys,
        keys: &[Id],
        into: fn(R) -> T,
    ) -> Result<Vec<T>, Error>
    where
        R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.count_statement();
        let ByKeys {
            select,
            key,
            order_by,
        } = query;
        let rows: Vec<R> = match &self.db {
            Database::Sqlite(pool) => {
                let mut sql = QueryBuilder::new(format!("{select} WHERE {key} IN ("));
                let mut list = sql.separated(", ");
                for id in keys {
                    list.push_bind(id);
                }
                sql.push(format!(") ORDER BY {order_by}"));
                sql.build_query_as().fetch_all(pool).await?
            }
            Database::Postgres(pool) => {
                let sql = format!("{select} WHERE {key} = ANY($1) ORDER BY {order_by}");
                sqlx::query_as(&sql).bind(keys).fetch_all(pool).await?
            }
        };
        Ok(self.count_rows(rows, into))
    }
}

fn user((id, name, best_friend_id): UserRow) -> User {
    User {
        id,
        name,
        best_friend_id,
    }
}

fn message((id, message, poster_id): MessageRow) -> Message {
    Message {
        id,
        message,
        poster_id,
    }
}

fn band((id, name): BandRow) -> Band {
    Band { id, name }
}

fn album((id, band_id, title): AlbumRow) -> Album {
    Album { id, band_id, title }
}
