//! The database: SQLite through rusqlite, in memory or in a file, with the demo's tables and rows.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use coalesce_demo::seed;
use coalesce_demo::statements::CREATE_TABLES;
use rusqlite::OpenFlags;

/// A SQLite database holding the demo's seed data, which every worker thread opens a
/// [`Connection`] to. Cheap to clone.
///
/// ```
/// use coalesce_demo_blocking::Database;
///
/// let db = Database::in_memory()?;
/// let users: i64 = db.connect()?.lock().query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?;
/// assert_eq!(users, 100);
/// # Ok::<_, rusqlite::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Database {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What each connection opens: a file's path, or an in-memory database's URI.
    location: String,
    /// Keeps an in-memory database alive between connections (SQLite frees one when its last
    /// connection closes); `None` for a file.
    _keep_alive: Option<Mutex<rusqlite::Connection>>,
}

impl Database {
    /// A fresh in-memory database of its own, seeded.
    ///
    /// It is a named database in shared-cache mode, so that every connection of the process
    /// opens the same one. Shared cache locks tables: a read that meets a write waits for it
    /// (SQLite's unlock notification) instead of failing.
    pub fn in_memory() -> rusqlite::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let location = format!(
            "file:coalesce-demo-blocking-{}?mode=memory&cache=shared",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let keep_alive = open(&location)?;
        create_and_seed(&keep_alive)?;
        Ok(Database {
            inner: Arc::new(Inner {
                location,
                _keep_alive: Some(Mutex::new(keep_alive)),
            }),
        })
    }

    /// The database in the SQLite file at `path`, created if missing and seeded if empty, in
    /// WAL mode so that readers do not wait for a writer.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let location = path.to_string_lossy().into_owned();
        let connection = open(&location)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        create_and_seed(&connection)?;
        Ok(Database {
            inner: Arc::new(Inner {
                location,
                _keep_alive: None,
            }),
        })
    }

    /// A new connection to the database.
    pub fn connect(&self) -> rusqlite::Result<Connection> {
        Ok(Connection(Arc::new(Mutex::new(open(
            &self.inner.location,
        )?))))
    }
}

/// One rusqlite connection, shared by the requests a worker thread serves, one at a time, and
/// by the loaders of each. Cheap to clone.
///
/// Loaders must be `Send + Sync`, and a `rusqlite::Connection` is only `Send`: hence the mutex.
/// Only one request at a time runs on a connection, so it is never contended.
#[derive(Clone, Debug)]
pub struct Connection(Arc<Mutex<rusqlite::Connection>>);

impl Connection {
    /// The connection, for statements of your own.
    pub fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // A panic while the lock was held (a resolver's, caught by the server) leaves the
        // connection as usable as before: every statement is reset when dropped.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn open(location: &str) -> rusqlite::Result<rusqlite::Connection> {
    // rusqlite's default flags, which include `SQLITE_OPEN_URI` for the in-memory URIs.
    rusqlite::Connection::open_with_flags(location, OpenFlags::default())
}

/// Creates the tables if missing, and inserts the demo's rows unless there already are users: a
/// file that holds data is served as it is.
fn create_and_seed(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(CREATE_TABLES)?;
    let users: i64 = connection.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?;
    if users > 0 {
        return Ok(());
    }
    let tx = connection.unchecked_transaction()?;
    // Best friends and friends refer to users inserted after them: checked at the commit.
    tx.pragma_update(None, "defer_foreign_keys", true)?;
    insert(
        &tx,
        "INSERT INTO users (id, name, best_friend_id) VALUES (?, ?, ?)",
        seed::users()
            .into_iter()
            .map(|u| (u.id, u.name, u.best_friend_id)),
    )?;
    insert(
        &tx,
        "INSERT INTO friendships (user_id, friend_id) VALUES (?, ?)",
        seed::friendships(),
    )?;
    insert(
        &tx,
        "INSERT INTO messages (id, message, poster_id) VALUES (?, ?, ?)",
        seed::messages()
            .into_iter()
            .map(|m| (m.id, m.message, m.poster_id)),
    )?;
    insert(
        &tx,
        "INSERT INTO bands (id, name) VALUES (?, ?)",
        seed::bands().into_iter().map(|b| (b.id, b.name)),
    )?;
    insert(
        &tx,
        "INSERT INTO albums (id, band_id, title) VALUES (?, ?, ?)",
        seed::albums()
            .into_iter()
            .map(|a| (a.id, a.band_id, a.title)),
    )?;
    tx.commit()
}

fn insert<P: rusqlite::Params>(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    rows: impl IntoIterator<Item = P>,
) -> rusqlite::Result<()> {
    let mut statement = tx.prepare(sql)?;
    for row in rows {
        statement.execute(row)?;
    }
    Ok(())
}
