//! The Ariadne seed's N+1 problem and its cure, on an in-memory "database" that counts queries.
//!
//! 20 messages, each with a poster among 100 users, posters repeating. Resolving every poster
//! with its own query costs 1 + 20 = 21 queries; through a `DataLoader` it costs 2.
//!
//! ```sh
//! cargo run -p coalesce-loader --example n_plus_one
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coalesce_loader::{DataLoader, Loader, by_key};
use futures::future::join_all;

#[derive(Clone, Debug)]
struct User {
    id: u64,
    name: String,
}

struct Message {
    id: u64,
    poster_id: Option<u64>,
    message: String,
}

/// Stands in for SQL: every method is one query, and `queries` counts them.
#[derive(Default)]
struct Database {
    queries: AtomicUsize,
}

impl Database {
    /// SELECT id, poster_id, message FROM messages ORDER BY id DESC
    async fn messages(&self) -> Vec<Message> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        (1..=20)
            .rev()
            .map(|id| Message {
                id,
                poster_id: Some(id * 37 % 100 + 1),
                message: format!("message {id}"),
            })
            .collect()
    }

    /// SELECT id, name FROM users WHERE id IN (...): rows in the database's order, not the keys'.
    async fn users(&self, ids: &[u64]) -> Vec<User> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut rows: Vec<User> = ids
            .iter()
            .map(|&id| User {
                id,
                name: format!("user {id}"),
            })
            .collect();
        rows.sort_by_key(|u| std::cmp::Reverse(u.id));
        rows
    }
}

/// The batch function: one query for every poster of a frame.
struct UserLoader {
    db: Arc<Database>,
}

impl Loader for UserLoader {
    type Key = u64;
    type Output = HashMap<u64, User>;
    type Error = std::convert::Infallible;

    async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
        Ok(by_key(self.db.users(ids).await, |user| user.id))
    }
}

async fn naive(db: &Database) -> Vec<(Message, Option<User>)> {
    let messages = db.messages().await;
    join_all(messages.into_iter().map(|message| async move {
        let poster = match message.poster_id {
            Some(id) => db.users(&[id]).await.pop(),
            None => None,
        };
        (message, poster)
    }))
    .await
}

async fn batched(db: &Arc<Database>) -> Vec<(Message, Option<User>)> {
    // Per request, as the seeds insist: the memo never outlives the request.
    let users = DataLoader::new(UserLoader { db: db.clone() });
    let messages = db.messages().await;
    join_all(messages.into_iter().map(|message| {
        let users = &users;
        async move {
            let poster = match message.poster_id {
                Some(id) => users
                    .load(id)
                    .await
                    .expect("an in-memory batch cannot fail"),
                None => None,
            };
            (message, poster)
        }
    }))
    .await
}

fn main() {
    futures::executor::block_on(async {
        let db = Arc::new(Database::default());
        let rows = naive(&db).await;
        println!(
            "naive:   {} messages, {} queries",
            rows.len(),
            db.queries.swap(0, Ordering::Relaxed)
        );

        let rows = batched(&db).await;
        println!(
            "batched: {} messages, {} queries",
            rows.len(),
            db.queries.load(Ordering::Relaxed)
        );
        for (message, poster) in rows.iter().take(3) {
            let name = poster.as_ref().map_or("nobody", |u| u.name.as_str());
            println!("  #{} {:?} by {}", message.id, message.message, name);
        }
    });
}
