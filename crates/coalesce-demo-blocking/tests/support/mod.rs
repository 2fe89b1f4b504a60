//! A blocking server started for one test, on its own database and an ephemeral port, and a
//! synchronous client for it.

use coalesce_demo::Mode;
use coalesce_demo::schema;
use coalesce_demo::schema::DemoSchema;
use coalesce_demo_blocking::server::{self, Server};
use coalesce_demo_blocking::{App, Database};
use serde_json::{Value, json};

/// Workers per test server: more than the two requests any test runs at once.
const WORKERS: usize = 4;

/// A server of the test's own, stopped when dropped.
pub struct Served {
    pub db: Database,
    server: Server,
    client: ureq::Agent,
}

/// A response: its HTTP status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Served {
    /// The demo's schema in `mode` on a fresh database.
    pub fn start(mode: Mode) -> Served {
        Served::with_schema(schema::build(mode, None))
    }

    /// `schema` on a fresh database.
    pub fn with_schema(schema: DemoSchema) -> Served {
        let db = Database::in_memory().expect("a seeded database");
        let server = server::serve("127.0.0.1:0", App::with_schema(db.clone(), schema), WORKERS)
            .expect("the server starts");
        let client = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Served { db, server, client }
    }

    /// POSTs `query`, as user `viewer` if given.
    pub fn query(&self, query: &str, viewer: Option<&str>) -> Reply {
        let mut request = self.client.post(self.url("/graphql"));
        if let Some(viewer) = viewer {
            request = request.header("x-user-id", viewer);
        }
        Reply::from(request.send_json(json!({ "query": query })))
    }

    /// POSTs `body` as it is, declared as `content_type`.
    pub fn post_raw(&self, content_type: &str, body: &str) -> Reply {
        let request = self
            .client
            .post(self.url("/graphql"))
            .header("content-type", content_type);
        Reply::from(request.send(body))
    }

    /// GETs `path`.
    pub fn get(&self, path: &str) -> Reply {
        Reply::from(self.client.get(self.url(path)).call())
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }
}

impl Reply {
    fn from(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}, body is not JSON ({e}): {text}"));
        Reply { status, body }
    }

    /// Asserts that the request ran without errors; returns it for chaining.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.get("errors").is_none(), "{}", self.body);
        self
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The SQL statements the request ran.
    #[track_caller]
    pub fn sql_queries(&self) -> u64 {
        self.body["extensions"]["sqlQueries"]
            .as_u64()
            .unwrap_or_else(|| panic!("no sqlQueries in {}", self.body))
    }

    /// What the request's loader `name` did, as `extensions.dataloader` reports it.
    pub fn loader(&self, name: &str) -> &Value {
        &self.body["extensions"]["dataloader"][name]
    }
}
