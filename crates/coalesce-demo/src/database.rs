//! The database the demo serves: embedded SQLite by default, PostgreSQL on request; created and
//! seeded at start.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, QueryBuilder, SqlitePool};

use crate::seed;

/// A connection pool to one of the two supported databases.
///
/// Cheap to clone (the pools are `Arc`s). The two databases differ in how a statement takes a
/// list of keys ([`Queries`](crate::queries::Queries) deals with that) and in how many keys one
/// statement can take ([`Database::max_keys_per_statement`]).
#[derive(Clone, Debug)]
pub enum Database {
    /// SQLite, on a single connection: an in-memory database lives only as long as its
    /// connection, and SQLite serializes writers anyway.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// How long a request waits for a PostgreSQL connection before it fails.
///
/// While the server is unreachable, sqlx keeps trying to connect until this timeout, backing off
/// up to a fifth of it between attempts. Its default of 30 s held every request through an
/// outage and up to 6 s past the server's return; 3 s fails them with a clear error ("pool timed
/// out while waiting for an open connection") and reconnects within 600 ms of the restart. See
/// coalesce-reliability's `postgres_restart` test.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// SQLite's default limit on bound parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER`, since
/// SQLite 3.32). A `WHERE id IN (...)` binds one parameter per key, so no batch may be larger.
pub const SQLITE_MAX_PARAMETERS: usize = 32_766;

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds.
///
/// sqlx types statements by database, so a statement that reads the same on both is written once
/// here and compiled once per database.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::database::Database::Sqlite($pool) => $body,
            $crate::database::Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The seeds' tables. The types read the same in both dialects (`BIGINT` has integer affinity in
/// SQLite), so one script serves both.
const CREATE_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS users (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        best_friend_id BIGINT REFERENCES users (id)
    );
    CREATE TABLE IF NOT EXISTS friendships (
        user_id BIGINT NOT NULL REFERENCES users (id),
        friend_id BIGINT NOT NULL REFERENCES users (id),
        PRIMARY KEY (user_id, friend_id)
    );
    CREATE TABLE IF NOT EXISTS messages (
        id BIGINT PRIMARY KEY,
        message TEXT NOT NULL,
        poster_id BIGINT REFERENCES users (id)
    );
    CREATE INDEX IF NOT EXISTS messages_poster_id ON messages (poster_id);
    CREATE TABLE IF NOT EXISTS bands (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS albums (
        id BIGINT PRIMARY KEY,
        band_id BIGINT NOT NULL REFERENCES bands (id),
        title TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS albums_band_id ON albums (band_id);
";

/// Inserts every row of `$rows` with one statement, `$bind` pushing one row's values; rows that
/// already exist are left alone.
macro_rules! insert_rows {
    ($tx:ident, $into:literal, $rows:expr, |$row:ident, $item:ident| $bind:expr) => {{
        let mut insert = QueryBuilder::new(concat!("INSERT INTO ", $into, " "));
        insert.push_values($rows, |mut $row, $item| {
            $bind;
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *$tx).await?;
    }};
}

impl Database {
    /// Connects to `url` (`postgres://…`, `postgresql://…` or `sqlite:…`), or to a fresh in-memory
    /// SQLite database when there is none; creates the tables if missing and seeds them if empty.
    pub async fn open(url: Option<&str>) -> Result<Self, sqlx::Error> {
        let db = match url {
            None => Self::sqlite(SqliteConnectOptions::new().in_memory(true)).await?,
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                Database::Postgres(
                    PgPoolOptions::new()
                        .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                        .connect(url)
                        .await?,
                )
            }
            Some(url) if url.starts_with("sqlite:") => {
                Self::sqlite(url.parse::<SqliteConnectOptions>()?.create_if_missing(true)).await?
            }
            Some(url) => {
                return Err(sqlx::Error::Configuration(
                    format!(
                        "unsupported database URL `{url}`: expected postgres://… or sqlite:…, \
                         or no URL for an in-memory SQLite database"
                    )
                    .into(),
                ));
            }
        };
        db.create_tables().await?;
        db.seed_if_empty().await?;
        Ok(db)
    }

    async fn sqlite(options: SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // The pool must never close its one connection: with it would go an in-memory database.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Ok(Database::Sqlite(pool))
    }

    /// The most keys one `WHERE key IN (...)` statement may take: the size of the loaders' batches.
    /// PostgreSQL binds the whole list as one array parameter, so only SQLite has a limit.
    pub fn max_keys_per_statement(&self) -> usize {
        match self {
            Database::Sqlite(_) => SQLITE_MAX_PARAMETERS,
            Database::Postgres(_) => usize::MAX,
        }
    }

    /// `"SQLite"` or `"PostgreSQL"`, for the start-up banner.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "SQLite",
            Database::Postgres(_) => "PostgreSQL",
        }
    }

    async fn create_tables(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, |pool| {
            sqlx::raw_sql(CREATE_TABLES).execute(pool).await?;
        });
        Ok(())
    }

    /// Inserts the seeds' rows unless there already are users: a PostgreSQL database that holds
    /// data is served as it is. `ON CONFLICT DO NOTHING` lets two servers starting on the same
    /// empty database both succeed.
    async fn seed_if_empty(&self) -> Result<(), sqlx::Error> {
        let (users,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
        })?;
        if users > 0 {
            return Ok(());
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            insert_rows!(
                tx,
                "users (id, name, best_friend_id)",
                seed::users(),
                |row, u| row
                    .push_bind(u.id)
                    .push_bind(u.name)
                    .push_bind(u.best_friend_id)
            );
            insert_rows!(
                tx,
                "friendships (user_id, friend_id)",
                seed::friendships(),
                |row, f| row.push_bind(f.0).push_bind(f.1)
            );
            insert_rows!(
                tx,
                "messages (id, message, poster_id)",
                seed::messages(),
                |row, m| row
                    .push_bind(m.id)
                    .push_bind(m.message)
                    .push_bind(m.poster_id)
            );
            insert_rows!(tx, "bands (id, name)", seed::bands(), |row, b| row
                .push_bind(b.id)
                .push_bind(b.name));
            insert_rows!(
                tx,
                "albums (id, band_id, title)",
                seed::albums(),
                |row, a| row.push_bind(a.id).push_bind(a.band_id).push_bind(a.title)
            );
            tx.commit().await
        })
    }
}
