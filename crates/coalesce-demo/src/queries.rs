//! Every SQL statement the demo runs for a request, counted with the rows it returned: the
//! `sqlQueries` and `sqlRows` of a response.

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

/// The database as one request sees it: each method runs exactly one statement and counts it,
/// and the rows it returned.
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

    /// How many rows the statements have returned so far: what a page's `LIMIT` saves shows
    /// here, not in [`count`](Queries::count).
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Counts a statement about to run.
    pub(crate) fn count_statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the rows a statement returned, and passes them on.
    pub(crate) fn count_rows<T>(
        &self,
        rows: Result<Vec<T>, sqlx::Error>,
    ) -> Result<Vec<T>, sqlx::Error> {
        if let Ok(rows) = &rows {
            self.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
        }
        rows
    }

    /// Every user, by id: a `getAllPeople` list field's statement.
    pub async fn all_users(&self) -> Result<Vec<User>, sqlx::Error> {
        let rows: Vec<UserRow> = self.fetch_all(&format!("{USERS} ORDER BY id")).await?;
        Ok(rows.into_iter().map(user).collect())
    }

    /// The users with these ids; ids with no user are left out.
    pub async fn users(&self, ids: &[Id]) -> Result<Vec<User>, sqlx::Error> {
        let rows: Vec<UserRow> = self.fetch_by_keys(&USERS_BY_ID, ids).await?;
        Ok(rows.into_iter().map(user).collect())
    }

    /// `(user id, friend)` for every friend of these users, friends joined in so that listing
    /// them costs no second statement.
    pub async fn friends(&self, user_ids: &[Id]) -> Result<Vec<(Id, User)>, sqlx::Error> {
        let rows: Vec<(Id, Id, String, Option<Id>)> =
            self.fetch_by_keys(&FRIENDS_BY_USER, user_ids).await?;
        Ok(rows
            .into_iter()
            .map(|(of, id, name, best_friend_id)| (of, user((id, name, best_friend_id))))
            .collect())
    }

    /// The ids of one user's friends, without their rows: how a naive resolver starts.
    pub async fn friend_ids(&self, user_id: Id) -> Result<Vec<Id>, sqlx::Error> {
        let rows: Vec<(Id,)> = self.fetch_by_keys(&FRIEND_IDS_BY_USER, &[user_id]).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Every message, by id.
    pub async fn all_messages(&self) -> Result<Vec<Message>, sqlx::Error> {
        let rows: Vec<MessageRow> = self.fetch_all(&format!("{MESSAGES} ORDER BY id")).await?;
        Ok(rows.into_iter().map(message).collect())
    }

    /// The messages these users posted.
    pub async fn messages_by_posters(
        &self,
        poster_ids: &[Id],
    ) -> Result<Vec<Message>, sqlx::Error> {
        let rows: Vec<MessageRow> = self.fetch_by_keys(&MESSAGES_BY_POSTER, poster_ids).await?;
        Ok(rows.into_iter().map(message).collect())
    }

    /// Every band, by id.
    pub async fn all_bands(&self) -> Result<Vec<Band>, sqlx::Error> {
        let rows: Vec<BandRow> = self.fetch_all(&format!("{BANDS} ORDER BY id")).await?;
        Ok(rows.into_iter().map(band).collect())
    }

    /// The bands with these ids; ids with no band are left out.
    pub async fn bands(&self, ids: &[Id]) -> Result<Vec<Band>, sqlx::Error> {
        let rows: Vec<BandRow> = self.fetch_by_keys(&BANDS_BY_ID, ids).await?;
        Ok(rows.into_iter().map(band).collect())
    }

    /// The albums of these bands.
    pub async fn albums_by_bands(&self, band_ids: &[Id]) -> Result<Vec<Album>, sqlx::Error> {
        let rows: Vec<AlbumRow> = self.fetch_by_keys(&ALBUMS_BY_BAND, band_ids).await?;
        Ok(rows.into_iter().map(album).collect())
    }

    /// Renames a user and returns its row as this statement wrote it, whatever other writers do
    /// next; `None` when there is no user `id`.
    pub async fn rename_user(&self, id: Id, name: &str) -> Result<Option<User>, sqlx::Error> {
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
    }

    async fn fetch_all<T>(&self, sql: &str) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.count_statement();
        self.count_rows(with_pool!(&self.db, |pool| {
            sqlx::query_as(sql).fetch_all(pool).await
        }))
    }

    /// Runs `query` for all of `keys` in one statement: `key IN ($1, $2, …)` on SQLite, one bound
    /// parameter per key; `key = ANY($1)` on PostgreSQL, the keys bound as one array.
    async fn fetch_by_keys<T>(&self, query: &ByKeys, keys: &[Id]) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
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
        let rows = match &self.db {
            Database::Sqlite(pool) => {
                let mut sql = QueryBuilder::new(format!("{select} WHERE {key} IN ("));
                let mut list = sql.separated(", ");
                for id in keys {
                    list.push_bind(id);
                }
                sql.push(format!(") ORDER BY {order_by}"));
                sql.build_query_as().fetch_all(pool).await
            }
            Database::Postgres(pool) => {
                let sql = format!("{select} WHERE {key} = ANY($1) ORDER BY {order_by}");
                sqlx::query_as(&sql).bind(keys).fetch_all(pool).await
            }
        };
        self.count_rows(rows)
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
