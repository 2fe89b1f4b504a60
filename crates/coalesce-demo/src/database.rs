//! The database the demo serves: embedded SQLite by default, PostgreSQL on request; created and
//! seeded at start.

use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, QueryBuilder, SqlitePool};

use crate::seed;
use crate::statements::CREATE_TABLES;

/// A connection pool to one of the two supported databases.
///
/// Cheap to clone (the pools are `Arc`s). The two databases differ in how a statement takes a
/// list of keys ([`Queries`](crate::queries::Queries) deals with that) and in how many keys one
/// statement can take ([`Database::max_keys_per_statement`]).
#[derive(Clone, Debug)]
pub enum Database {
    /// SQLite: a file in WAL mode, or a named in-memory database that outlives any of the pool's
    /// connections (see [`Database::open`]).
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

/// Connections per SQLite pool.
///
/// More than one, so that a slow or cancelled statement does not hold every request up; few,
/// because SQLite runs one writer at a time and the machine's cores bound the readers.
const SQLITE_CONNECTIONS: u32 = 4;

/// Rows a SQLite connection's thread may hand over before it waits for the request to take them.
///
/// sqlx runs each SQLite connection on a thread of its own and sends every row through a bounded
/// channel. At its default of 50, a statement of more rows (`bands` reads 100 bands, then 200
/// albums) fills the channel, and from then on the two threads take turns row by row, a futex
/// wait and wake each. The channel grows only as rows come, so a bound above the demo's largest
/// result (700 friend rows) costs a small statement nothing.
const SQLITE_ROW_BUFFER: usize = 1024;

/// Random per process: it names this process's in-memory databases, which no other process can
/// open, so that two processes never take theirs for the same data (see [`Database::identity`]).
/// std's `RandomState` is seeded by the operating system's random source.
static PROCESS_NONCE: LazyLock<String> =
    LazyLock::new(|| format!("{:016x}", RandomState::new().hash_one(std::process::id())));

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

/// The file of a SQLite connection's main database: empty for an in-memory database.
async fn main_file(connection: &mut sqlx::SqliteConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_one(connection)
        .await
}

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
    /// SQLite database when there is none (or when the `sqlite:` URL names an in-memory one, such
    /// as `sqlite::memory:`); creates the tables if missing and seeds them if empty.
    ///
    /// Requests never depend on one connection surviving: any of the pool's connections may be
    /// closed (sqlx closes one whose request was cancelled at the wrong moment) and replaced, and
    /// the next request sees the same data. An in-memory database is a named, shared-cache one
    /// that a connection outside the pool keeps alive for as long as the pool lives; a file is
    /// switched to WAL mode, so that readers do not wait for a writer.
    pub async fn open(url: Option<&str>) -> Result<Self, sqlx::Error> {
        let db = match url {
            None => Self::in_memory().await?,
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                Database::Postgres(
                    PgPoolOptions::new()
                        .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                        .connect(url)
                        .await?,
                )
            }
            Some(url) if url.starts_with("sqlite:") => Self::sqlite_url(url).await?,
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

    /// A fresh in-memory database of this process.
    ///
    /// An in-memory SQLite database lives as long as one connection to it is open: on a private
    /// one, the pool replacing a closed connection would start an empty database. So the database
    /// is named and opened in shared-cache mode, which lets every connection of the process open
    /// it by name, and one connection the pool does not own holds it open. That connection is
    /// captured by the pool's `after_connect` hook, which does nothing with it: the pool can never
    /// close it, and it is closed, freeing the database, when the last clone of the pool goes.
    ///
    /// Shared cache locks tables: a statement that meets another connection's lock waits for it
    /// (sqlx waits on SQLite's unlock notification) rather than failing with `SQLITE_LOCKED`.
    async fn in_memory() -> Result<Self, sqlx::Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "file:coalesce-demo-{}-{}",
            *PROCESS_NONCE,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let options = SqliteConnectOptions::new()
            .filename(name)
            .in_memory(true)
            .shared_cache(true)
            .row_buffer_size(SQLITE_ROW_BUFFER);
        let keep_alive = options.connect().await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_CONNECTIONS)
            .after_connect(move |_, _| {
                let _database_stays_open = &keep_alive;
                Box::pin(std::future::ready(Ok(())))
            })
            .connect_with(options)
            .await?;
        Ok(Database::Sqlite(pool))
    }

    /// The database of a `sqlite:` URL: a file, created if missing, or [`Database::in_memory`]
    /// when the URL names an in-memory database, which is per process whatever its name.
    async fn sqlite_url(url: &str) -> Result<Self, sqlx::Error> {
        let options = url
            .parse::<SqliteConnectOptions>()?
            .create_if_missing(true)
            .row_buffer_size(SQLITE_ROW_BUFFER);
        let mut probe = options.connect().await?;
        let file = main_file(&mut probe).await?;
        probe.close().await?;
        if file.is_empty() {
            return Self::in_memory().await;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_CONNECTIONS)
            .connect_with(options.journal_mode(SqliteJournalMode::Wal))
            .await?;
        Ok(Database::Sqlite(pool))
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
    pub async fn identity(&self) -> Result<String, sqlx::Error> {
        match self {
            Database::Sqlite(pool) => {
                let file = main_file(&mut *pool.acquire().await?).await?;
                Ok(if file.is_empty() {
                    let name = pool.connect_options().get_filename().display().to_string();
                    format!("SQLite in-memory {name} of process {}", *PROCESS_NONCE)
                } else {
                    let path = std::fs::canonicalize(&file).unwrap_or_else(|_| file.into());
                    format!("SQLite file {}", path.display())
                })
            }
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

    /// Inserts the demo's rows unless there already are users: a PostgreSQL database that holds
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
