//! [`App`]: the schema on a database, and what running one GraphQL request takes.

use async_graphql::{Request, Response, ServerError, Value};

use crate::database::Database;
use crate::expansion::{self, MAX_EXPANDED_SELECTIONS};
use crate::loaders::SharedCache;
use crate::model::Id;
use crate::schema::{self, DemoSchema, Viewer};
use crate::source::Mode;
use crate::store::RequestStore;

/// The demo: one schema, one database, one [`Mode`], and per-request loaders.
///
/// The HTTP server and the `query` subcommand both run requests through [`App::execute`], so a
/// response reads the same whichever way it was asked for.
#[derive(Clone)]
pub struct App {
    schema: DemoSchema,
    db: Database,
    mode: Mode,
    shared: Option<SharedCache>,
}

impl App {
    /// The demo on `db`, fetching in `mode`.
    pub fn new(db: Database, mode: Mode) -> Self {
        App {
            schema: schema::build(mode, None),
            db,
            mode,
            shared: None,
        }
    }

    /// The same demo with its loaders behind a shared Redis tier (`serve --redis`).
    pub fn with_shared_cache(mut self, shared: SharedCache) -> Self {
        self.schema = schema::build(self.mode, Some(shared.clone()));
        self.shared = Some(shared);
        self
    }

    /// The shared tier, if any.
    pub fn shared_cache(&self) -> Option<&SharedCache> {
        self.shared.as_ref()
    }

    /// The database requests run on.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Whether fields fetch through loaders or one statement each.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Runs one request for `viewer`, with its own loaders, and reports its cost in the
    /// response's `extensions`:
    ///
    /// - `sqlQueries`: the SQL statements it ran;
    /// - `sqlRows`: the rows those statements returned;
    /// - `dataloader`: per loader, what it did (`loads`, `cacheHits`, `batches`, `keys`, ...),
    ///   added by the schema's [`LoaderExtension`](coalesce_loader_async_graphql::LoaderExtension)
    ///   to every request that ran.
    ///
    /// A query whose fragments spread each other in a cycle or expand past
    /// [`MAX_EXPANDED_SELECTIONS`] is refused before async-graphql validates it: see
    /// [`expansion`].
    pub async fn execute(&self, mut request: Request, viewer: Option<Id>) -> Response {
        // The request's statement count, which its loaders (built by the schema's extension from
        // the request's data) and its naive fields share.
        let store = self.db.request_store();
        if let Err(refused) = expansion::check(&mut request, MAX_EXPANDED_SELECTIONS) {
            return with_cost(Response::from_errors(vec![refused]), &store);
        }
        let request = request.data(store.clone()).data(Viewer(viewer));
        with_cost(self.schema.execute(request).await, &store)
    }

    /// The response to a request that could not be read, such as a body that is not JSON: one
    /// error saying why, and the (zero) cost, so that it has the shape of every other response
    /// that ran nothing.
    pub fn reject(&self, why: impl Into<String>) -> Response {
        let response = Response::from_errors(vec![ServerError::new(why, None)]);
        response
            .extension("sqlQueries", Value::from(0))
            .extension("sqlRows", Value::from(0))
    }
}

/// `response` with its request's cost in `extensions`: the statements it ran (`sqlQueries`) and
/// the rows they returned (`sqlRows`).
pub fn with_cost(response: Response, store: &RequestStore) -> Response {
    response
        .extension("sqlQueries", Value::from(store.count()))
        .extension("sqlRows", Value::from(store.rows()))
}
