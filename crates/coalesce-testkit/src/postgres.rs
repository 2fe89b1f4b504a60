//! A PostgreSQL schema of a test's own, on the server that `DATABASE_URL` names.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A schema of its own on the PostgreSQL of `DATABASE_URL`, so that a test can run beside others
/// on the same database and write freely; dropped, with everything in it, when it goes out of
/// scope, however the test ends. The server itself is never reconfigured.
pub struct PgSchema {
    name: String,
    /// `DATABASE_URL`, with the schema first on the search path.
    url: String,
    admin_url: String,
}

impl PgSchema {
    /// Creates a schema named after `prefix`, this process and a counter (dropping one left
    /// under that name by an earlier process with the same id).
    ///
    /// Panics without `DATABASE_URL`: the test needs PostgreSQL.
    pub async fn create(prefix: &str) -> PgSchema {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let admin_url = std::env::var("DATABASE_URL")
            .expect("this test needs PostgreSQL: set DATABASE_URL=postgres://…");
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .expect("connect to DATABASE_URL");
        sqlx::raw_sql(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .execute(&admin)
        .await
        .expect("create the test's schema");
        admin.close().await;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{name}");
        PgSchema {
            name,
            url,
            admin_url,
        }
    }

    /// `DATABASE_URL` with this schema first on the search path: what the code under test
    /// connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgSchema {
    /// Drops the schema from a thread of its own: `Drop` cannot await, and the test's runtime
    /// may be shutting down.
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let url = self.admin_url.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async {
                    let admin = sqlx::PgPool::connect(&url).await?;
                    sqlx::raw_sql(&sql).execute(&admin).await?;
                    admin.close().await;
                    Ok::<_, sqlx::Error>(())
                })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test's schema {}: {e}", self.name);
        }
    }
}
