//! SQLite through rusqlite, for both demos: [`Database`], a file or an in-memory database with
//! the demo's tables and rows; [`Pool`], a fixed set of connections to it; and [`Queries`], the
//! demo's [`Store`](crate::store::Store) on a pool.
//!
//! # Statements run on the caller's thread
//!
//! A [`Queries`] method runs its statement to the end when it is called, on the calling thread,
//! and returns a future that is ready at its first poll. `coalesce-demo-blocking` calls it from
//! the worker thread that serves the request; this crate's server from the request's task, on a
//! tokio worker thread, which the statement holds for as long as it runs.
//!
//! SQLite on a local file or in memory answers the demo's statements in microseconds, less than
//! a hand-off to another thread and back costs. sqlx's SQLite driver runs each connection on a
//! thread of its own and sends it every statement, and every row back, through channels: served
//! that way, the async demo spent 41% of its time on the `bands` query in the kernel, in futex
//! waits and thread switches, and answered about two thirds of the requests per second that the
//! blocking demo, with its statements inline, answered. With this store inline on the request's
//! task, the server matrix (`coalesce-bench/servers/run-matrix.py --servers demo`, a 2-core
//! machine under a load of about 2 from other work, two alternating runs each) measured, in
//! requests per second:
//!
//! | query | concurrency | through sqlx | inline |
//! |---|---|---|---|
//! | `bands` | 1 | 339-376 | 402-468 |
//! | `bands` | 8 | 682-802 | 872-1 148 |
//! | `bands` | 64 | 605-624 | 759 |
//! | `messages` | 1 | 1 307-1 401 | 1 347-1 568 |
//! | `messages` | 8 | 2 959-3 186 | 3 575-4 521 |
//! | `messages` | 64 | 2 081-2 354 | 3 032-3 380 |
//!
//! The limit: a long statement holds its worker thread, and the tasks queued behind it on that
//! thread wait until it ends; nor can a request's time budget stop a statement once it has
//! started (it stops the request before its next one). For statements that take milliseconds, or
//! a database across a network, an async driver or `spawn_blocking` is the better trade, as the
//! demo's PostgreSQL store shows.
//!
//! Since a statement runs whole when it is called, a cancelled request cannot interrupt one: a
//! request dropped mid-query has run whole statements and nothing else, so the next request sees
//! the data as those statements left it.
//!
//! # Connections
//!
//! A [`Pool`] is a fixed set of connections, each behind a mutex: a `rusqlite::Connection` is
//! `Send` but not `Sync`, and a request's store must be both. A statement takes the first free
//! connection from a round-robin start (`try_lock`), and waits for the start one only when every
//! one is taken. No statement holds a connection across an `.await` (the statement has ended
//! before its method returns), so each thread holds at most one at a time, and a pool with a
//! connection per thread that uses it hardly ever waits: the async demo sizes its pool to the
//! runtime's worker threads, and `coalesce-demo-blocking` gives each worker thread a pool of one.

mod queries;

use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::{OpenFlags, TransactionBehavior};

pub use queries::Queries;

use crate::seed;
use crate::statements::CREATE_TABLES;

/// Random per process: it names this process's in-memory databases, which no other process can
/// open, so that two processes never take theirs for the same data (see [`Database::identity`]).
/// std's `RandomState` is seeded by the operating system's random source.
static PROCESS_NONCE: LazyLock<String> =
    LazyLock::new(|| format!("{:016x}", RandomState::new().hash_one(std::process::id())));

/// A SQLite database holding the demo's tables and rows, which [`Pool`]s connect to. Cheap to
/// clone; an in-memory database lives until the last clone, and the last pool, is dropped.
///
/// ```
/// use coalesce_demo::sqlite::Database;
///
/// let db = Database::in_memory()?;
/// let users: i64 = db.pool(1)?.lock().query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?;
/// assert_eq!(users, 100);
/// # Ok::<_, rusqlite::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Database {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What each connection opens: a file's path or URI, or an in-memory database's URI.
    location: String,
    /// The file's canonical path; `None` for an in-memory database.
    file: Option<String>,
    /// Keeps an in-memory database alive between connections (SQLite frees one when its last
    /// connection closes); `None` for a file.
    _keep_alive: Option<Mutex<rusqlite::Connection>>,
}

impl Database {
    /// A fresh in-memory database of its own, seeded.
    ///
    /// It is a named database in shared-cache mode, so that every connection of the process
    /// opens the same one, and one connection that no pool owns holds it open. Shared cache
    /// locks tables: a statement that meets another connection's lock waits for it (SQLite's
    /// unlock notification) instead of failing with `SQLITE_LOCKED`.
    pub fn in_memory() -> rusqlite::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let location = format!(
            "file:coalesce-demo-{}-{}?mode=memory&cache=shared",
            *PROCESS_NONCE,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut keep_alive = connect(&location)?;
        create_and_seed(&mut keep_alive)?;
        Ok(Database {
            inner: Arc::new(Inner {
                location,
                file: None,
                _keep_alive: Some(Mutex::new(keep_alive)),
            }),
        })
    }

    /// The database in the SQLite file at `path`, created if missing and seeded if empty, in
    /// WAL mode so that readers do not wait for a writer.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        Self::at(&path.to_string_lossy())
    }

    /// The database `location` names, as `sqlite3_open` takes it: a file's path, or a `file:`
    /// URI. One that names an in-memory database (`:memory:`, `?mode=memory`) gets
    /// [`Database::in_memory`]'s, which is per process whatever its name.
    pub fn at(location: &str) -> rusqlite::Result<Self> {
        let mut connection = connect(location)?;
        let Some(file) = connection.path().filter(|file| !file.is_empty()) else {
            return Self::in_memory();
        };
        let file = std::fs::canonicalize(file)
            .map_or_else(|_| file.to_owned(), |path| path.display().to_string());
        connection.pragma_update(None, "journal_mode", "WAL")?;
        create_and_seed(&mut connection)?;
        Ok(Database {
            inner: Arc::new(Inner {
                location: location.to_owned(),
                file: Some(file),
                _keep_alive: None,
            }),
        })
    }

    /// `size` new connections to the database, at least one.
    pub fn pool(&self, size: usize) -> rusqlite::Result<Pool> {
        let connections = (0..size.max(1))
            .map(|_| connect(&self.inner.location).map(Mutex::new))
            .collect::<rusqlite::Result<_>>()?;
        Ok(Pool(Arc::new(PoolInner {
            connections,
            next: AtomicUsize::new(0),
            db: self.clone(),
        })))
    }

    /// What tells this database's data apart from any other's: a file's canonical path, or an
    /// in-memory database's name, which holds a random number of this process since no other
    /// process can open it.
    pub fn identity(&self) -> String {
        match &self.inner.file {
            Some(file) => format!("SQLite file {file}"),
            None => format!("SQLite in-memory {}", self.inner.location),
        }
    }
}

/// A fixed set of connections to a [`Database`], any of which runs the next statement (see the
/// [module docs](self#connections)). Cheap to clone; keeps its database alive.
///
/// ```
/// use coalesce_demo::sqlite::Database;
///
/// let pool = Database::in_memory()?.pool(2)?;
/// let first = pool.lock();
/// // The first is taken: the next statement gets the other.
/// let name: String = pool.lock().query_row("SELECT name FROM users WHERE id = 1", [], |row| row.get(0))?;
/// assert_eq!(name, "Ada Lovelace");
/// # drop(first);
/// # Ok::<_, rusqlite::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pool(Arc<PoolInner>);

#[derive(Debug)]
struct PoolInner {
    connections: Vec<Mutex<rusqlite::Connection>>,
    /// Where the next search for a free connection starts.
    next: AtomicUsize,
    db: Database,
}

impl Pool {
    /// A connection for a statement: the first free one, or the wait for one when all are
    /// taken. Hold it only for the statement: a thread that holds one while it waits for
    /// another can wait for itself.
    pub fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        let connections = &self.0.connections;
        let start = self.0.next.fetch_add(1, Ordering::Relaxed) % connections.len();
        let in_turn = connections[start..].iter().chain(&connections[..start]);
        for connection in in_turn {
            match connection.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        // A panic while the lock was held (a resolver's, caught by the server) leaves the
        // connection as usable as before: every statement is reset when dropped.
        connections[start]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many connections the pool holds: how many statements it runs at once.
    pub fn size(&self) -> usize {
        self.0.connections.len()
    }

    /// The database the connections open.
    pub fn database(&self) -> &Database {
        &self.0.db
    }
}

fn connect(location: &str) -> rusqlite::Result<rusqlite::Connection> {
    // rusqlite's default flags: read-write, created if missing, and `SQLITE_OPEN_URI` for
    // `file:` URIs such as the in-memory databases'.
    rusqlite::Connection::open_with_flags(location, OpenFlags::default())
}

/// Creates the tables if missing, and inserts the demo's rows unless there already are users: a
/// file that holds data is served as it is. The count and the rows are one immediate
/// transaction, so that of two servers starting on the same empty file, one seeds and the other
/// then finds the users.
fn create_and_seed(connection: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(CREATE_TABLES)?;
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let users: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?;
    if users > 0 {
        return Ok(());
    }
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
