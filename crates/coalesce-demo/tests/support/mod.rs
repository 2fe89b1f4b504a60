//! A demo started for one test: its database, and a batched and a naive server on ephemeral ports.

// Each test binary uses a part of it.
#![allow(dead_code)]

pub mod process;
pub mod raw;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coalesce_demo::{App, Database, Limits, Mode, server};
use coalesce_testkit::PgSchema;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// A fresh in-memory SQLite database.
    Sqlite,
    /// A fresh schema on the PostgreSQL of `DATABASE_URL`.
    Postgres,
}

/// The demo on its own database, served twice: batched and naive.
pub struct Demo {
    pub db: Database,
    batched: String,
    naive: String,
    client: reqwest::Client,
    /// Dropped with the demo: the PostgreSQL schema the test ran in.
    _schema: Option<PgSchema>,
}

/// A response: its HTTP status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Demo {
    pub async fn start(backend: Backend) -> Demo {
        let (db, schema) = match backend {
            Backend::Sqlite => (Database::open(None).await.expect("open SQLite"), None),
            Backend::Postgres => {
                let schema = PgSchema::create("coalesce_demo_test").await;
                let db = Database::open(Some(schema.url()))
                    .await
                    .expect("open PostgreSQL");
                (db, Some(schema))
            }
        };
        Demo {
            batched: spawn(App::new(db.clone(), Mode::Batched)).await,
            naive: spawn(App::new(db.clone(), Mode::Naive)).await,
            db,
            client: reqwest::Client::new(),
            _schema: schema,
        }
    }

    /// The base URL of the server in `mode`, such as `http://127.0.0.1:36789`.
    pub fn url(&self, mode: Mode) -> &str {
        match mode {
            Mode::Batched => &self.batched,
            Mode::Naive => &self.naive,
        }
    }

    /// POSTs `query` to the server in `mode`, as user `viewer` if given.
    pub async fn query(&self, mode: Mode, query: &str, viewer: Option<&str>) -> Reply {
        post_query(&self.client, self.url(mode), query, viewer).await
    }

    /// Another batched server on the demo's database, within `limits`; returns its base URL.
    pub async fn serve_with(&self, limits: Limits) -> String {
        spawn_with(App::new(self.db.clone(), Mode::Batched), limits).await
    }

    /// The same query on both servers: (batched, naive).
    pub async fn both(&self, query: &str, viewer: Option<&str>) -> (Reply, Reply) {
        (
            self.query(Mode::Batched, query, viewer).await,
            self.query(Mode::Naive, query, viewer).await,
        )
    }

    /// POSTs a raw body to the batched server.
    pub async fn post_raw(&self, body: &'static str) -> Reply {
        let response = self
            .client
            .post(format!("{}/graphql", self.batched))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /graphql");
        Reply::from(response).await
    }

    /// Runs one statement on the demo's database, behind the server's back.
    pub async fn execute(&self, sql: &str) {
        match &self.db {
            Database::Sqlite(pool) => pool.lock().execute_batch(sql).expect("statement runs"),
            Database::Postgres(pool) => {
                sqlx::raw_sql(sql)
                    .execute(pool)
                    .await
                    .expect("statement runs");
            }
        }
    }
}

impl Reply {
    /// Reads `response`; panics unless its body is JSON.
    pub async fn from(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}, body is not JSON ({e}): {text}"));
        Reply { status, body }
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn sql_queries(&self) -> u64 {
        self.body["extensions"]["sqlQueries"]
            .as_u64()
            .unwrap_or_else(|| panic!("no extensions.sqlQueries in {}", self.body))
    }

    /// The rows the request's statements returned, as `extensions.sqlRows` reports them.
    pub fn sql_rows(&self) -> u64 {
        self.body["extensions"]["sqlRows"]
            .as_u64()
            .unwrap_or_else(|| panic!("no extensions.sqlRows in {}", self.body))
    }

    /// The messages of the response's errors; empty when there are none.
    pub fn errors(&self) -> Vec<&str> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["message"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Panics unless this is a refusal with `status` and an error containing `says`, from a
    /// request that ran no statement.
    pub fn assert_refused(&self, status: u16, says: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.errors().iter().any(|e| e.contains(says)),
            "no error saying {says:?} in {}",
            self.body
        );
        assert_eq!(self.sql_queries(), 0, "{}", self.body);
    }

    /// Panics with the errors unless there are none.
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.errors().join("; "));
        assert!(self.errors().is_empty(), "{}", self.errors().join("; "));
        self
    }
}

/// Long enough for any answer a test waits for, short enough that a server that never answers
/// fails the test instead of hanging it.
pub const GUARD: Duration = Duration::from_secs(10);

/// Awaits `future`, the `what` a test waits for; panics if it takes longer than [`GUARD`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {GUARD:?}"))
}

/// POSTs `query` to the server at `url`, as user `viewer` if given.
pub async fn post_query(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    viewer: Option<&str>,
) -> Reply {
    let mut request = client
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": query }));
    if let Some(viewer) = viewer {
        request = request.header(server::USER_HEADER, viewer);
    }
    Reply::from(request.send().await.expect("POST /graphql")).await
}

/// Serves `app` on an ephemeral loopback port for the rest of the test; returns its base URL.
pub async fn spawn(app: App) -> String {
    spawn_with(app, Limits::default()).await
}

/// [`spawn`] within `limits`.
pub async fn spawn_with(app: App, limits: Limits) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move {
        server::serve_with(listener, app, &limits, std::future::pending()).await
    });
    url
}

/// Different in every call, in this run and any other: for names of files and namespaces.
pub fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SQLite file of its own for one test, removed with its WAL files when dropped.
pub struct TempFile(std::path::PathBuf);

impl TempFile {
    /// A path no other test or run uses, ending in `name`: nor do the Redis namespaces derived
    /// from it.
    pub fn new(name: &str) -> TempFile {
        let unique = format!("coalesce-demo-{}-{name}", unique());
        TempFile(std::env::temp_dir().join(unique))
    }

    /// The file as a `sqlite:` URL.
    pub fn url(&self) -> String {
        format!("sqlite:{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            // Absent when the test never opened it, or SQLite already removed it.
            let _ = std::fs::remove_file(path);
        }
    }
}
