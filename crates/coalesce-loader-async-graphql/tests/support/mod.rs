//! What the tests share: the example's data.

use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

/// The example's data in a private in-memory database (one connection: each has its own).
pub async fn database() -> SqlitePool {
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("../../examples/messages.sql"))
        .execute(&db)
        .await
        .unwrap();
    db
}
