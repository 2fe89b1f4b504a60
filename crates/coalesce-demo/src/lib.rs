//! `coalesce-demo`: a GraphQL server on a real database that shows the N+1 problem, and
//! coalesce's cure, on the schemas of the classic DataLoader examples (messages and posters,
//! users and friends, bands and albums).
//!
//! `{ messages { poster { name } } }` resolves `poster` once per message. Written naively, each of
//! those resolvers runs its own `SELECT`: 1 statement for the messages and 20 for the posters.
//! With a [`coalesce_loader::DataLoader`] per request the 20 lookups become one
//! `WHERE id IN (...)`: 2 statements. Every response reports its count in
//! `extensions.sqlQueries`, and `--naive` serves the same schema without loaders, so the two
//! numbers can be compared on the same query.
//!
//! `User.friendsConnection(first:, after:)` pages a user's friends as a Relay connection, one
//! windowed statement per level for every user's page, at most `first + 1` rows per user
//! ([`friend_pages`], [`friends_connection`]); `extensions.sqlRows` reports the rows fetched.
//!
//! How the pieces fit, from the outside in:
//!
//! - [`server`]: axum routes, GraphiQL, and a small users API, served on hyper within [`Limits`]:
//!   timeouts and a connection limit that slow and idle clients cannot outlast, and a limit on
//!   the requests executed at once;
//! - [`app`]: runs a request, with fresh loaders, and reports its cost;
//! - [`expansion`]: refuses, in time linear in its text, a query whose fragments expand too far;
//! - [`schema`]: the GraphQL types and their resolvers, written once for both modes;
//! - [`source`]: how a resolver fetches, through the loaders or one statement per field;
//! - [`loaders`]: the batch functions, one per key the schema follows, and
//!   [`friend_pages`], the one that pages (behind [`friends_connection`]);
//! - [`store`]: the tables as a request reads them, whatever the driver;
//! - [`sqlite`] and [`postgres`]: that store on rusqlite, its statements run as they are called,
//!   and on sqlx, its statements awaited; both count statements and rows per request;
//! - [`database`], [`seed`] and [`model`]: the tables, their deterministic rows, and the row types.

#![warn(missing_docs)]

pub mod app;
mod connections;
pub mod database;
pub mod expansion;
pub mod friend_pages;
pub mod friends_connection;
pub mod limits;
pub mod loaders;
pub mod model;
pub mod postgres;
pub mod schema;
pub mod seed;
pub mod server;
pub mod source;
pub mod sqlite;
pub mod statements;
pub mod store;

pub use app::App;
pub use database::Database;
pub use limits::Limits;
pub use source::{Mode, Source};
