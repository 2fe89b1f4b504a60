//! [`App`]: the schema on a database, and what running one GraphQL request on the caller's
//! thread takes.

use async_graphql::{Request, Response};
use coalesce_demo::Mode;
use coalesce_demo::app::with_cost;
use coalesce_demo::expansion::{self, MAX_EXPANDED_SELECTIONS};
use coalesce_demo::model::Id;
use coalesce_demo::schema::{self, DemoSchema, Viewer};
use coalesce_demo::store::RequestStore;

use crate::{Database, Pool, Queries};

/// The demo, served without a runtime: one schema, one database, per-request loaders.
///
/// ```
/// use coalesce_demo::Mode;
/// use coalesce_demo_blocking::{App, Database};
///
/// let app = App::new(Database::in_memory()?, Mode::Batched);
/// let connection = app.database().pool(1)?;
/// // On this thread, to completion: no runtime, nothing spawned.
/// let response = app.execute(&connection, "{ messages { poster { name } } }".into(), None);
/// assert!(response.errors.is_empty(), "{:?}", response.errors);
/// assert_eq!(response.extensions["sqlQueries"], async_graphql::Value::from(2));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct App {
    schema: DemoSchema,
    db: Database,
}

impl App {
    /// The demo's schema on `db`, fetching in `mode`.
    pub fn new(db: Database, mode: Mode) -> Self {
        Self::with_schema(db, schema::build(mode, None))
    }

    /// A schema of your own making, such as [`schema::builder`] with more extensions, on `db`.
    ///
    /// ```
    /// use async_graphql::extensions::Analyzer;
    /// use coalesce_demo::{Mode, schema};
    /// use coalesce_demo_blocking::{App, Database};
    ///
    /// // Adds each response's complexity and depth to its `extensions`.
    /// let schema = schema::builder(Mode::Batched, None).extension(Analyzer).finish();
    /// let app = App::with_schema(Database::in_memory()?, schema);
    /// let connection = app.database().pool(1)?;
    /// let response = app.execute(&connection, "{ user(id: 1) { name } }".into(), None);
    /// assert_eq!(response.extensions["analyzer"].clone().into_json()?["depth"], 2);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_schema(db: Database, schema: DemoSchema) -> Self {
        App { schema, db }
    }

    /// The database requests run on.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs one request for `viewer` on this thread, its statements on `connection`, and
    /// reports its cost in the response's `extensions`: `sqlQueries`, the statements it ran,
    /// and (batched) `dataloader`, what each of its loaders did.
    ///
    /// async-graphql's executor is polled with [`futures::executor::block_on`]: when a load
    /// yields to let its siblings add their keys, `block_on` polls the request's fields again,
    /// and the load that drives a batch runs the batch function's statement inside its poll.
    /// A query whose fragments expand too far is refused first, as the async demo refuses it.
    pub fn execute(&self, connection: &Pool, mut request: Request, viewer: Option<Id>) -> Response {
        let store = RequestStore::new(Queries::new(connection.clone()));
        if let Err(refused) = expansion::check(&mut request, MAX_EXPANDED_SELECTIONS) {
            return with_cost(Response::from_errors(vec![refused]), &store);
        }
        let request = request.data(store.clone()).data(Viewer(viewer));
        let response = futures::executor::block_on(self.schema.execute(request));
        with_cost(response, &store)
    }
}
