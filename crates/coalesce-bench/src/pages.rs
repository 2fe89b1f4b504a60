//! A first page of 5 friends for each of 100 users whose friend counts are skewed (one has
//! 10 005 friends, the others 4 to 7), fetched three ways on the demo's SQLite database:
//!
//! - [`Strategy::Window`]: the demo's friend pages loader, keyed by `(user, PageArgs)`: one
//!   `ROW_NUMBER()` statement for every user, at most 6 rows each;
//! - [`Strategy::Truncate`]: the demo's friends loader, keyed by user: one statement fetching
//!   every friend of every user, each list then cut to 5;
//! - [`Strategy::LimitPerUser`]: one `ORDER BY friend_id LIMIT 6` statement per user, as
//!   resolvers without a loader run them.
//!
//! `cargo run --release -p coalesce-bench --bin pages` prints each one's time per round (all 100
//! pages), statements and rows fetched. Every round's pages are checked against the pages the
//! data implies, so a strategy that answers wrong stops the run instead of posting a figure.
//!
//! In-memory SQLite has no round trip, so 100 `LIMIT` statements cost little there, and the
//! window, which on SQLite reads all 10 005 rows of the skewed user before numbering them, has
//! been slower than them (and faster than truncating) on a loaded 2-core machine; the window's
//! gain is in statements and rows, which a database across a network charges for. On
//! PostgreSQL the demo uses a `LATERAL` `LIMIT` per user instead, which reads no more rows than
//! it returns; this bench does not run PostgreSQL.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use coalesce_demo::Database;
use coalesce_demo::friend_pages::FriendPagesLoader;
use coalesce_demo::loaders::{self, FriendsLoader};
use coalesce_demo::model::Id;
use coalesce_demo::seed;
use coalesce_demo::store::RequestStore;
use coalesce_loader::page::PageArgs;
use futures_util::future::try_join_all;
use tokio::runtime::Runtime;

use crate::scenario::on_worker;

/// The users whose first page each round asks for: every seeded user.
pub const USERS: Id = seed::USERS;
/// The page size: `friends(first: 5)`.
pub const FIRST: u32 = 5;
/// The user with many friends.
pub const SKEWED_USER: Id = 1;
/// How many friends [`SKEWED_USER`] gets on top of the seeded ones (users added for them, ids
/// from 1001).
pub const EXTRA_FRIENDS: Id = 10_000;

/// One way to fetch a page per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// One windowed statement for every user: at most `first + 1` rows each.
    Window,
    /// One statement for every user's friends, all of them, truncated to `first` afterwards.
    Truncate,
    /// One `LIMIT first + 1` statement per user.
    LimitPerUser,
}

impl Strategy {
    /// Every strategy, in the table's order.
    pub const ALL: [Strategy; 3] = [Strategy::Window, Strategy::Truncate, Strategy::LimitPerUser];

    /// The strategy's row in the table.
    pub fn label(self) -> &'static str {
        match self {
            Strategy::Window => "window function, loader keyed by (user, PageArgs)",
            Strategy::Truncate => "all friends per user, then truncate (loader keyed by user)",
            Strategy::LimitPerUser => "one `LIMIT 6` statement per user",
        }
    }
}

/// A user's page as a strategy answered it: the friends' ids, and whether more follow.
type Answer = BTreeMap<Id, (Vec<Id>, bool)>;

/// What one strategy measured over its rounds.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The strategy.
    pub strategy: Strategy,
    /// Each round's time, in the order they ran.
    pub times: Vec<Duration>,
    /// Statements per round.
    pub statements: u64,
    /// Rows the statements returned per round.
    pub rows: u64,
}

impl Measured {
    /// The median round.
    pub fn median(&self) -> Duration {
        let mut times = self.times.clone();
        times.sort();
        times[times.len() / 2]
    }
}

/// The demo's database, with [`SKEWED_USER`]'s extra friends.
pub struct Skewed {
    db: Database,
    expected: Answer,
}

impl Skewed {
    /// Opens a seeded in-memory SQLite database and adds the extra friends.
    pub fn open(rt: &Runtime) -> Skewed {
        let db = on_worker(rt, async {
            let db = Database::open(None).await.expect("open in-memory SQLite");
            let Database::Sqlite(pool) = &db else {
                unreachable!("no URL opens SQLite")
            };
            let last = 1000 + EXTRA_FRIENDS;
            let skew = format!(
                "WITH RECURSIVE n (i) AS (SELECT 1001 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
                 INSERT INTO users (id, name) SELECT i, 'Friend ' || i FROM n; \
                 INSERT INTO friendships (user_id, friend_id) \
                 SELECT {SKEWED_USER}, id FROM users WHERE id > 1000;"
            );
            pool.lock().execute_batch(&skew).expect("add the friends");
            db
        });
        Skewed {
            db,
            expected: expected(),
        }
    }

    /// Runs one untimed round of each strategy, then `rounds` timed ones, taking turns round by
    /// round (a slow patch of the machine then falls on all of them), each round on fresh
    /// loaders, as a request would. Panics if any round's pages are wrong, or if its statement
    /// or row counts differ from the strategy's other rounds.
    pub fn measure(&self, rt: &Runtime, rounds: usize) -> Vec<Measured> {
        let mut measured: Vec<Measured> = Strategy::ALL
            .into_iter()
            .map(|strategy| Measured {
                strategy,
                times: Vec::with_capacity(rounds),
                statements: 0,
                rows: 0,
            })
            .collect();
        for round in 0..=rounds {
            for m in &mut measured {
                let (time, counts) = self.round(rt, m.strategy, round);
                if round == 0 {
                    (m.statements, m.rows) = counts;
                } else {
                    let label = m.strategy.label();
                    assert_eq!(counts, (m.statements, m.rows), "{label}: round {round}");
                    m.times.push(time);
                }
            }
        }
        measured
    }

    /// One round of `strategy`: its time, and its statements and rows.
    fn round(&self, rt: &Runtime, strategy: Strategy, round: usize) -> (Duration, (u64, u64)) {
        let queries = self.db.request_store();
        let (time, answer, uncounted) = on_worker(rt, {
            let queries = queries.clone();
            let db = self.db.clone();
            async move {
                let start = Instant::now();
                let (answer, uncounted) = fetch(&queries, &db, strategy).await;
                (start.elapsed(), answer, uncounted)
            }
        });
        assert!(
            answer == self.expected,
            "{}: round {round} answered other pages",
            strategy.label()
        );
        let counts = (
            queries.count() + uncounted.statements,
            queries.rows() + uncounted.rows,
        );
        (time, counts)
    }
}

/// Statements the bench runs itself, which the demo's store does not count.
#[derive(Default)]
struct Uncounted {
    statements: u64,
    rows: u64,
}

/// One round of `strategy` on `queries` (and, for the statements the bench runs itself, `db`):
/// every user's page.
async fn fetch(queries: &RequestStore, db: &Database, strategy: Strategy) -> (Answer, Uncounted) {
    let users = 1..=USERS;
    let first = FIRST as usize;
    match strategy {
        Strategy::Window => {
            let loaders = loaders::per_request(queries, None);
            let pages = loaders.get::<FriendPagesLoader>().expect("registered");
            let loads = users.map(|user| pages.load((user, PageArgs::first(FIRST))));
            let pages = try_join_all(loads).await.expect("pages load");
            let answer = (1..).zip(pages).map(|(user, page)| {
                let ids = page.nodes().map(|friend| friend.id).collect();
                (user, (ids, page.has_next_page))
            });
            (answer.collect(), Uncounted::default())
        }
        Strategy::Truncate => {
            let loaders = loaders::per_request(queries, None);
            let friends = loaders.get::<FriendsLoader>().expect("registered");
            let lists = try_join_all(users.map(|user| friends.load(user)))
                .await
                .expect("friends load");
            let answer = (1..).zip(lists).map(|(user, list)| {
                let more = list.len() > first;
                let ids = list.iter().take(first).map(|friend| friend.id).collect();
                (user, (ids, more))
            });
            (answer.collect(), Uncounted::default())
        }
        Strategy::LimitPerUser => {
            let pages: Vec<Vec<Id>> = users.map(|user| limit_page(db, user)).collect();
            let uncounted = Uncounted {
                statements: pages.len() as u64,
                rows: pages.iter().map(|friends| friends.len() as u64).sum(),
            };
            let answer = (1..).zip(pages).map(|(user, mut friends)| {
                let more = friends.len() > first;
                friends.truncate(first);
                (user, (friends, more))
            });
            (answer.collect(), uncounted)
        }
    }
}

/// The ids of user `user`'s first `FIRST + 1` friends, by their own `LIMIT` statement, with
/// the friends' rows as the other strategies fetch them.
fn limit_page(db: &Database, user: Id) -> Vec<Id> {
    let Database::Sqlite(pool) = db else {
        unreachable!("the bench runs on SQLite")
    };
    let connection = pool.lock();
    let mut statement = connection
        .prepare_cached(
            "SELECT u.id, u.name, u.best_friend_id \
             FROM friendships f JOIN users u ON u.id = f.friend_id \
             WHERE f.user_id = ? ORDER BY f.friend_id LIMIT ?",
        )
        .expect("a LIMIT statement");
    let rows = statement
        .query_map((user, i64::from(FIRST) + 1), |row| {
            Ok((
                row.get::<_, Id>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<Id>>(2)?,
            ))
        })
        .expect("a LIMIT statement");
    rows.map(|row| row.expect("a friend's row").0).collect()
}

/// The pages the data implies, from the seeded friendships and the extra friends rather than from any
/// strategy.
fn expected() -> Answer {
    let mut friends: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    for (user, friend) in seed::friendships() {
        friends.entry(user).or_default().push(friend);
    }
    let extra = friends.entry(SKEWED_USER).or_default();
    extra.extend(1001..=1000 + EXTRA_FRIENDS);
    friends
        .into_iter()
        .map(|(user, mut ids)| {
            ids.sort();
            let more = ids.len() > FIRST as usize;
            ids.truncate(FIRST as usize);
            (user, (ids, more))
        })
        .collect()
}

/// The results as a markdown table, in [`Strategy::ALL`]'s order.
pub fn markdown(results: &[Measured]) -> String {
    let mut table = String::from(
        "| strategy | statements | rows fetched | median per round | fastest .. slowest |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for m in results {
        let (min, max) = (
            m.times.iter().min().expect("a round"),
            m.times.iter().max().expect("a round"),
        );
        let _ = writeln!(
            table,
            "| {} | {} | {} | {:.2} ms | {:.2} .. {:.2} ms |",
            m.strategy.label(),
            m.statements,
            m.rows,
            ms(m.median()),
            ms(*min),
            ms(*max),
        );
    }
    table
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1000.0
}
