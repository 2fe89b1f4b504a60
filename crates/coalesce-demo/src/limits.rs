//! [`Limits`]: how long, how large and how many, so that slow, idle or oversized clients cannot
//! hold the server.

use std::num::NonZeroUsize;
use std::time::Duration;

/// The largest request body read, in bytes (axum's default, made explicit so that a declared
/// `content-length` over it is refused before any of the body is read).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The largest the headers of a request may be, in bytes, counting each header's name, value and
/// separators. Larger ones get 431 with a GraphQL error. hyper itself refuses heads it cannot
/// buffer (about 400 KiB) or with more than 100 headers, with a 431 it writes without a body.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The server's timeouts and its limits on connections and executions; [`Limits::default`] is
/// what `serve` starts with.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a connection has to send a complete request head, counted from when it connects
    /// or from its previous response: a client trickling its headers, and an idle keep-alive
    /// connection, are closed after it (without a response: the client has asked nothing).
    ///
    /// hyper starts this timer as soon as it waits for a request, so the same setting is the
    /// header-read timeout and the idle timeout.
    pub header_timeout: Duration,
    /// How long a request has to send its whole body, counted from the end of its head; then it
    /// gets 408 and the connection is closed.
    pub body_timeout: Duration,
    /// How long a GraphQL request may run once its body is read; then it is dropped: it sends no
    /// further statement (one already sent finishes on the database), and it gets 503.
    pub request_timeout: Duration,
    /// The most connections served at once. Past it the server stops accepting: new connections
    /// wait in the listener's backlog until a served one closes, rather than taking file
    /// descriptors the served ones need.
    pub max_connections: usize,
    /// The most GraphQL requests executed at once; more wait for one to finish, their wait
    /// counted in their `request_timeout`. `None`, the default: as many as the database runs
    /// statements at once ([`Database::concurrency`](crate::Database::concurrency)).
    ///
    /// Why a limit, and why that one: a request that cannot run a statement only waits for a
    /// connection, while holding its memory. On SQLite, whose statements run on the request's
    /// own task, executions beyond the worker threads only take turns with each other, each
    /// resumed with its data gone from the CPU's caches: on the demo's `bands` query at 64
    /// concurrent clients, on 2 cores, the limit raised the server from 2 052-2 115 to
    /// 2 613-2 980 requests/s (`run-matrix.py` in `coalesce-bench`, two runs each).
    pub max_executions: Option<NonZeroUsize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            // Half the usual default of 1024 open files, leaving room for the database and Redis.
            max_connections: 512,
            max_executions: None,
        }
    }
}
