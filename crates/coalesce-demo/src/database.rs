//! The database the demo serves: embedded SQLite by default, PostgreSQL on request; created and
//! seeded at start.
//!
//! SQLite is served through rusqlite, its statements run on the request's own task (see
//! [`sqlite`] for why, and for the limit of it); PostgreSQL through sqlx, whose
//! statements are awaited.

use std::fmt;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, QueryBuilder};

use crate::statements::CREATE_TABLES;
use crate::store::RequestStore;
use crate::{postgres, seed, sqlite};

/// The database requests run on: a pool of connections to one of the two supported databases.
///
/// Cheap to clone (the pools are `Arc`s). The two databases differ in how a statement takes a
/// list of keys, and so in how many keys one statement can take
/// ([`Store::max_keys_per_statement`](crate::store::Store::max_keys_per_statement)): each has
/// its own store (see [`Database::request_store`]).
#[derive(Clone, Debug)]
pub enum Database {
    /// SQLite: a file in WAL mode, or a named in-memory database that outlives any of the pool's
    /// connections (see [`Database::open`]).
    Sqlite(sqlite::Pool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Why a database could not be opened or identified.
#[derive(Debug)]
pub enum Error {
    /// The URL names no database the demo serves.
    UnsupportedUrl(String),
    /// SQLite's own error.
    Sqlite(rusqlite::Error),
    /// PostgreSQL's, or sqlx's.
    Postgres(sqlx::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnsupportedUrl(url) => write!(
                f,
                "unsupported database URL `{url}`: expected postgres://… or sqlite:…, \
                 or no URL for an in-memory SQLite database"
            ),
            Error::Sqlite(error) => error.fmt(f),
            Error::Postgres(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::UnsupportedUrl(_) => None,
            Error::Sqlite(error) => Some(error),
            Error::Postgres(error) => Some(error),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        Error::Sqlite(error)
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Postgres(error)
    }
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

/// The SQLite location a `sqlite:` URL names, as sqlx reads such URLs: the path after
/// `sqlite://` or `sqlite:`, and its query parameters (`?mode=ro`, `?mode=memory`, ...) as
/// those of a `file:` URI.
fn sqlite_location(url: &str) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    match rest.split_once('?') {
        Some(_) if rest.starts_with("file:") => rest.to_owned(),
        Some((path, params)) => format!("file:{path}?{params}"),
        None => rest.to_owned(),
    }
}

/// Connections per SQLite pool: one per worker thread of the runtime that opens the database,
/// so that a statement hardly ever waits for a connection (see [`sqlite::Pool`]).
fn sqlite_connections() -> usize {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.metrics().num_workers(),
        Err(_) => std::thread::available_parallelism().map_or(1, usize::from),
    }
}

impl Database {
    /// Connects to `url` (`postgres://…`, `postgresql://…` or `sqlite:…`), or to a fresh in-memory
    /// SQLite database when there is none (or when the `sqlite:` URL names an in-memory one, such
    /// as `sqlite::memory:`); creates the tables if missing and seeds them if empty.
    ///
    /// SQLite gets a [`sqlite::Pool`] of one connection per worker thread of the runtime that
    /// opens it. An in-memory database is a named, shared-cache one that a connection outside
    /// the pool keeps alive for as long as the pool lives; a file is switched to WAL mode, so
    /// that readers do not wait for a writer. A cancelled request never changes what the next
    /// one sees: its statements ran whole, each when it was called.
    ///
    /// ```
    /// use coalesce_demo::Database;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let db = Database::open(Some("sqlite::memory:")).await?;
    /// assert_eq!(db.kind(), "SQLite");
    /// let store = db.request_store();
    /// assert_eq!(store.all_bands().await?.len(), 100);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(url: Option<&str>) -> Result<Self, Error> {
        let db = match url {
            None => sqlite::Database::in_memory()?,
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                let pool = PgPoolOptions::new()
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?;
                create_and_seed(&pool).await?;
                return Ok(Database::Postgres(pool));
            }
            Some(url) if url.starts_with("sqlite:") => sqlite::Database::at(&sqlite_location(url))?,
            Some(url) => return Err(Error::UnsupportedUrl(url.to_owned())),
        };
        Ok(Database::Sqlite(db.pool(sqlite_connections())?))
    }

    /// A fresh count of statements and rows on this database: the [`RequestStore`] of one
    /// request, which its loaders and fields share.
    pub fn request_store(&self) -> RequestStore {
        match self {
            Database::Sqlite(pool) => RequestStore::new(sqlite::Queries::new(pool.clone())),
            Database::Postgres(pool) => RequestStore::new(postgres::Queries::new(pool.clone())),
        }
    }

    /// What tells this database's data apart from any other database's: the shared cache's
    /// namespaces derive from it (see [`SharedCache`](crate::loaders::SharedCache)).
    ///
    /// - a SQLite file: its canonical path;
    /// - an in-memory SQLite database: its name and a random number of this process, since no
    ///   other process can open it;
    /// - PostgreSQL: the server's address and the database's name (never the credentials), with
    ///   what PostgreSQL itself says about them: the cluster's system identifier, and the oids of
    ///   the database and of the schema the tables are in. Two servers behind the same address,
    ///   or a database or schema dropped and created again, are then different databases.
    pub async fn identity(&self) -> Result<String, Error> {
        match self {
            Database::Sqlite(pool) => Ok(pool.database().identity()),
            Database::Postgres(pool) => {
                let options = pool.connect_options();
                let server = match options.get_socket() {
                    Some(directory) => directory.display().to_string(),
                    None => format!("{}:{}", options.get_host(), options.get_port()),
                };
                let (database, oid, schema): (String, i64, Option<String>) = sqlx::query_as(
                    "SELECT current_database(), \
                     (SELECT oid::int8 FROM pg_database WHERE datname = current_database()), \
                     (SELECT nspname || ' ' || oid FROM pg_namespace \
                      WHERE nspname = current_schema())",
                )
                .fetch_one(pool)
                .await?;
                // Restricted to monitoring roles on some hosted servers: without it, the address
                // and the oid still tell databases apart.
                let system: Option<i64> =
                    sqlx::query_scalar("SELECT system_identifier FROM pg_control_system()")
                        .fetch_one(pool)
                        .await
                        .ok();
                let system = system.map_or_else(|| "unknown".to_owned(), |id| id.to_string());
                let schema = schema.unwrap_or_else(|| "none".to_owned());
                Ok(format!(
                    "PostgreSQL postgresql://{server}/{database} \
                     (system {system}, database oid {oid}, schema {schema})"
                ))
            }
        }
    }

    /// How many statements the database runs at once: its pool's connections. The server lets as
    /// many GraphQL requests execute at once by default ([`Limits::max_executions`]).
    ///
    /// ```
    /// use coalesce_demo::Database;
    ///
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let db = Database::open(Some("sqlite::memory:")).await?;
    /// assert_eq!(db.concurrency(), 2); // a connection per worker thread
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Limits::max_executions`]: crate::Limits::max_executions
    pub fn concurrency(&self) -> usize {
        match self {
            Database::Sqlite(pool) => pool.size(),
            Database::Postgres(pool) => pool.options().get_max_connections() as usize,
        }
    }

    /// `"SQLite"` or `"PostgreSQL"`, for the start-up banner.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "SQLite",
            Database::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Creates the tables if missing, and inserts the demo's rows unless there already are users: a
/// PostgreSQL database that holds data is served as it is. `ON CONFLICT DO NOTHING` lets two
/// servers starting on the same empty database both succeed.
async fn create_and_seed(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(CREATE_TABLES).execute(pool).await?;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await?;
    if users > 0 {
        return Ok(());
    }
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
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn a_sqlite_url_names_the_location_sqlx_would_open() {
        assert_eq!(sqlite_location("sqlite:demo.db"), "demo.db");
        assert_eq!(sqlite_location("sqlite:///tmp/demo.db"), "/tmp/demo.db");
        assert_eq!(sqlite_location("sqlite::memory:"), ":memory:");
        assert_eq!(
            sqlite_location("sqlite:demo.db?mode=ro"),
            "file:demo.db?mode=ro"
        );
        assert_eq!(
            sqlite_location("sqlite:file:x?mode=memory&cache=shared"),
            "file:x?mode=memory&cache=shared"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sqlite_statement_has_run_before_its_future_is_polled() {
        let store = Database::open(None).await.unwrap().request_store();
        let users = store.users(&[1, 2]).now_or_never().expect("ready at once");
        assert_eq!(users.unwrap().len(), 2);
        assert_eq!((store.count(), store.rows()), (1, 2));
    }
}
