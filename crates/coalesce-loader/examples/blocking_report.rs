//! A synchronous report on SQLite (rusqlite, no async runtime): messages with their posters, and
//! bands with their albums, through blocking `DataLoader`s.
//!
//! Resolving each poster and each band's albums with its own query would cost 1 + 20 = 21 and
//! 1 + 100 = 101 queries; the loaders make it 2 and 2.
//!
//! ```sh
//! cargo run -p coalesce-loader --example blocking_report
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use coalesce_loader::blocking::{self, Deferred, Runner};
use coalesce_loader::{Grouped, by_key, group_by};
use rusqlite::{Connection, params_from_iter};

/// The data source: one SQLite connection, counting the statements it runs.
struct Database {
    // A rusqlite `Connection` is `Send` but not `Sync`; batch functions must be both.
    conn: Mutex<Connection>,
    queries: AtomicUsize,
}

#[derive(Clone, Debug)]
struct User {
    id: i64,
    name: String,
}

#[derive(Clone, Debug)]
struct Album {
    band_id: i64,
    title: String,
}

impl Database {
    /// 100 users, 20 messages whose posters repeat, 100 bands with 1 to 3 albums each.
    fn seeded() -> rusqlite::Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE messages (id INTEGER PRIMARY KEY, poster_id INTEGER REFERENCES users, message TEXT NOT NULL);
             CREATE TABLE bands (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE albums (id INTEGER PRIMARY KEY, band_id INTEGER NOT NULL REFERENCES bands, title TEXT NOT NULL);",
        )?;
        for id in 1..=100 {
            conn.execute(
                "INSERT INTO users VALUES (?1, ?2)",
                (id, format!("user {id}")),
            )?;
            conn.execute(
                "INSERT INTO bands VALUES (?1, ?2)",
                (id, format!("band {id}")),
            )?;
            for n in 1..=(id % 3 + 1) {
                conn.execute(
                    "INSERT INTO albums (band_id, title) VALUES (?1, ?2)",
                    (id, format!("album {id}.{n}")),
                )?;
            }
        }
        for id in 1..=20 {
            let poster = id * 7 % 13 + 1; // 13 posters for 20 messages: some post twice
            conn.execute(
                "INSERT INTO messages VALUES (?1, ?2, ?3)",
                (id, poster, format!("message {id}")),
            )?;
        }
        Ok(Database {
            conn: Mutex::new(conn),
            queries: AtomicUsize::new(0),
        })
    }

    fn query<T>(
        &self,
        sql: &str,
        params: &[i64],
        row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let conn = self
            .conn
            .lock()
            .expect("no query panics while holding the connection");
        let mut statement = conn.prepare(sql)?;
        let rows = statement.query_map(params_from_iter(params), row)?;
        rows.collect()
    }

    fn taken(&self) -> usize {
        self.queries.swap(0, Ordering::Relaxed)
    }
}

/// `?, ?, ?` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Users by primary key: one `WHERE id IN (...)` per batch.
struct Users(Arc<Database>);

impl blocking::Loader for Users {
    type Key = i64;
    type Output = std::collections::HashMap<i64, User>;
    type Error = Arc<rusqlite::Error>;

    fn load_batch(&self, ids: &[i64]) -> Result<Self::Output, Self::Error> {
        let sql = format!(
            "SELECT id, name FROM users WHERE id IN ({})",
            placeholders(ids.len())
        );
        let rows = self.0.query(&sql, ids, |r| {
            Ok(User {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        })?;
        Ok(by_key(rows, |user| user.id))
    }
}

/// Albums by their band, the foreign key: one list per band, empty for a band with none.
struct AlbumsByBand(Arc<Database>);

impl blocking::Loader for AlbumsByBand {
    type Key = i64;
    type Output = Grouped<i64, Album>;
    type Error = Arc<rusqlite::Error>;

    fn load_batch(&self, band_ids: &[i64]) -> Result<Self::Output, Self::Error> {
        let sql = format!(
            "SELECT band_id, title FROM albums WHERE band_id IN ({}) ORDER BY id",
            placeholders(band_ids.len())
        );
        let rows = self.0.query(&sql, band_ids, |r| {
            Ok(Album {
                band_id: r.get(0)?,
                title: r.get(1)?,
            })
        })?;
        Ok(group_by(rows, |album| album.band_id))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Arc::new(Database::seeded()?);

    // One runner and fresh loaders per report (per request, in a server).
    let runner = Runner::new();
    let users = blocking::DataLoader::new(&runner, Users(db.clone()));
    let albums = blocking::DataLoader::new(&runner, AlbumsByBand(db.clone()));

    println!("Messages:");
    let messages = db.query(
        "SELECT id, poster_id, message FROM messages ORDER BY id DESC",
        &[],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
            ))
        },
    )?;
    let one_by_one = 1 + messages.iter().filter(|m| m.1.is_some()).count();
    let lines = Deferred::join_all(messages.into_iter().map(|(id, poster_id, message)| {
        let poster = match poster_id {
            // A message without a poster costs no query.
            None => Deferred::ready(Ok(None)),
            Some(poster_id) => users.load(poster_id),
        };
        poster.map(move |poster| {
            let name = match poster {
                Ok(Some(user)) => user.name,
                Ok(None) => "nobody".to_string(),
                Err(e) => format!("(error: {e})"),
            };
            format!("  #{id:<3} {message:<12} by {name}")
        })
    }));
    for line in runner.resolve(lines)? {
        println!("{line}");
    }
    let queries = db.taken();
    println!("  -> {queries} queries ({one_by_one} one by one)\n");
    assert_eq!(queries, 2, "the messages, then every poster in one batch");

    println!("Bands:");
    let bands = db.query("SELECT id, name FROM bands ORDER BY id", &[], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let one_by_one = 1 + bands.len();
    let lines = Deferred::join_all(bands.into_iter().map(|(id, name)| {
        albums.load(id).map(move |albums| match albums {
            Ok(albums) => {
                let titles: Vec<_> = albums.iter().map(|a| a.title.as_str()).collect();
                format!("  {name:<9} {}", titles.join(", "))
            }
            Err(e) => format!("  {name:<9} (error: {e})"),
        })
    }));
    let lines = runner.resolve(lines)?;
    for line in lines.iter().take(5) {
        println!("{line}");
    }
    println!("  ... {} more bands", lines.len() - 5);
    let queries = db.taken();
    println!("  -> {queries} queries ({one_by_one} one by one)");
    assert_eq!(
        queries, 2,
        "the bands, then every band's albums in one batch"
    );
    Ok(())
}
