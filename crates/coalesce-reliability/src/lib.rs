//! Reliability tests of `coalesce-demo`, in `tests/`; this library is empty.
//!
//! - `load`: the batched demo on in-memory SQLite, a SQLite file and PostgreSQL answers a
//!   bounded, concurrent mix of the demo's four example queries, through clients that cancel their requests
//!   half-way and bursts that end with every request dropped in flight, without an error, at the
//!   same cost per query, and answers the next requests as a lone request; its resident memory
//!   stays flat;
//! - `postgres_restart`: PostgreSQL stopped and started again under load: requests fail with a
//!   GraphQL error naming the database while it is down, and succeed once it is back;
//! - `redis_killed`: the shared Redis tier killed under load: no request fails or answers wrong.
//!
//! Every server is private, in-process or started by the test on a free loopback port, except
//! the PostgreSQL of `DATABASE_URL`, on which `load` works in a schema of its own. See
//! `RESULTS.md` for the commands and the figures of a full run.
