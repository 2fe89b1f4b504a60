//! The HTTP server: tiny_http, and a fixed pool of worker threads that each run one request at a
//! time, from its body to its response, on a database connection of their own.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use async_graphql::{Response, ServerError};
use coalesce_demo::limits::MAX_BODY_BYTES;
use coalesce_demo::model::Id;
use coalesce_demo::server::USER_HEADER;
use socket2::{Domain, Protocol, Socket, Type};
use tiny_http::{Header, Method, Request};

use crate::Pool;
use crate::app::App;

/// The async demo's GraphiQL page, which posts to `/graphql` as this server serves it.
const GRAPHIQL: &str = include_str!("../../coalesce-demo/src/graphiql.html");

/// A running server; dropping it stops it, once each worker has finished the request it runs.
///
/// ```
/// use coalesce_demo::Mode;
/// use coalesce_demo_blocking::{App, Database, server};
///
/// let app = App::new(Database::in_memory()?, Mode::Batched);
/// let server = server::serve("127.0.0.1:0", app, 4)?;
/// println!("GraphQL at http://{}/graphql", server.addr());
/// drop(server); // or `server.wait()` to serve until the process ends
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    workers: Vec<JoinHandle<()>>,
}

/// Serves `app` on `addr` with `workers` threads, each with its own connection to the app's
/// database; returns once the server is listening.
///
/// tiny_http reads each connection's requests on threads of its own and queues them; a worker
/// takes the next request, runs it to completion and answers it. So at most `workers` requests
/// run at once, each on one thread from start to finish, and more wait in the queue.
///
/// # Errors
///
/// If `addr` cannot be bound or the database cannot be opened.
///
/// # Panics
///
/// If `workers` is zero: nothing would ever answer.
pub fn serve(addr: impl ToSocketAddrs, app: App, workers: usize) -> io::Result<Server> {
    assert!(workers > 0, "a server needs at least one worker");
    let listener = listen(addr)?;
    let addr = listener.local_addr()?;
    let http =
        Arc::new(tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)?);
    // Opened here, so that a database that cannot be opened fails the start, not a worker. A
    // pool of one each: a worker runs one request at a time, so its connection is never
    // contended.
    let connections = (0..workers)
        .map(|_| app.database().pool(1))
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(io::Error::other)?;
    let mut server = Server {
        http,
        addr,
        workers: Vec::with_capacity(workers),
    };
    for (n, connection) in connections.into_iter().enumerate() {
        let (http, app) = (server.http.clone(), app.clone());
        let worker = thread::Builder::new()
            .name(format!("graphql-worker-{n}"))
            .spawn(move || {
                // `recv` fails once the server is stopped.
                while let Ok(request) = http.recv() {
                    answer(&app, &connection, request);
                }
            })?;
        server.workers.push(worker);
    }
    Ok(server)
}

/// How many connections the kernel may hold for the server before tiny_http accepts them.
const BACKLOG: i32 = 1024;

/// A listener on the first of `addr`'s addresses whose connections send each write at once.
///
/// tiny_http writes a response's head and its body separately and sets no option on the
/// connections it accepts. With Nagle's algorithm on, the body then waits for the client to
/// acknowledge the head, which a client on a keep-alive connection delays: 40 ms per request on
/// Linux, which capped 8 keep-alive clients at about 170 requests/s. On Linux, accepted
/// connections inherit `TCP_NODELAY` from the listener.
fn listen(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let addr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on"))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std's `bind` does: a restarted server can bind while old connections are in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

impl Server {
    /// The address the server listens on, with the port the system chose for port 0.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        for worker in std::mem::take(&mut self.workers) {
            // A worker ends only when the server stops; its panics are caught per request.
            let _ = worker.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // One unblock per worker: each wakes one `recv`, after the requests queued before it.
        for _ in &self.workers {
            self.http.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// What a request is answered with.
type Reply = tiny_http::Response<io::Cursor<Vec<u8>>>;

/// Answers one request. A panic in it (a resolver's) costs that request a 500, not the worker.
fn answer(app: &App, connection: &Pool, mut request: Request) {
    let reply = catch_unwind(AssertUnwindSafe(|| route(app, connection, &mut request)))
        .unwrap_or_else(|_| refusal(500, "the server failed while running this request"));
    // A client that went away cannot be told anything.
    let _ = request.respond(reply);
}

/// The routes:
///
/// - `GET /` and `GET /graphql`: GraphiQL;
/// - `POST /graphql`: a GraphQL request as the standard JSON body.
///
/// Anything else gets a GraphQL error with its status.
fn route(app: &App, connection: &Pool, request: &mut Request) -> Reply {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    match (request.method(), path.as_str()) {
        (Method::Post, "/graphql") => graphql(app, connection, request),
        (Method::Get, "/" | "/graphql") => tiny_http::Response::from_string(GRAPHIQL)
            .with_header(header("content-type", "text/html; charset=utf-8")),
        (method, "/" | "/graphql") => refusal(
            405,
            format!("{method} is not allowed on {path}: GraphQL requests are POSTed to /graphql"),
        ),
        _ => refusal(
            404,
            format!("there is nothing at {path}: GraphQL is served at /graphql"),
        ),
    }
}

/// Runs a GraphQL request, with the async demo's statuses: 415 for a body not declared as JSON,
/// 413 for one over [`MAX_BODY_BYTES`], 400 when the request was refused before it ran (a body
/// that is not one GraphQL request, a bad `x-user-id`, a query that does not parse or validate
/// or exceeds the limits), and 200 once it ran, field errors included.
///
/// There is no time budget, which the async demo has: a synchronous request cannot be stopped
/// from outside its thread, so a worker runs each request to its end.
fn graphql(app: &App, connection: &Pool, request: &mut Request) -> Reply {
    if !is_json(request.headers()) {
        let got = find(request.headers(), "content-type").unwrap_or("none");
        let why = format!(
            "the body must be a GraphQL request sent as content-type: application/json; got {got:?}"
        );
        return refusal(415, why);
    }
    if let Some(declared) = request.body_length().filter(|&n| n > MAX_BODY_BYTES) {
        let why = format!(
            "the body could not be read: its content-length of {declared} bytes is over the \
             limit of {MAX_BODY_BYTES}"
        );
        return refusal(413, why);
    }
    let viewer = viewer(request.headers());
    let mut body = Vec::new();
    let limit = MAX_BODY_BYTES as u64 + 1;
    if let Err(unread) = request.as_reader().take(limit).read_to_end(&mut body) {
        return refusal(400, format!("the body could not be read: {unread}"));
    }
    if body.len() > MAX_BODY_BYTES {
        let why =
            format!("the body could not be read: it is over the limit of {MAX_BODY_BYTES} bytes");
        return refusal(413, why);
    }
    if body.trim_ascii_start().starts_with(b"[") {
        let why = "batched requests (a JSON array of operations) are not served: send each \
                   operation in a request of its own";
        return refusal(400, why);
    }
    let (request, viewer) = match (viewer, serde_json::from_slice(&body)) {
        (Err(why), _) => return refusal(400, why),
        (_, Err(why)) => return refusal(400, format!("the body is not a GraphQL request: {why}")),
        (Ok(viewer), Ok(request)) => (request, viewer),
    };
    let response = app.execute(connection, request, viewer);
    let refused = response.data == async_graphql::Value::Null
        && response.errors.iter().all(|error| error.path.is_empty());
    json(if refused { 400 } else { 200 }, &response)
}

/// A request refused before it ran: `status`, and a GraphQL error saying why, with the (zero)
/// cost, so that it has the shape of every other response.
fn refusal(status: u16, why: impl Into<String>) -> Reply {
    let response = Response::from_errors(vec![ServerError::new(why, None)])
        .extension("sqlQueries", async_graphql::Value::from(0));
    json(status, &response)
}

fn json(status: u16, response: &Response) -> Reply {
    let body = serde_json::to_vec(response).expect("a GraphQL response serializes");
    tiny_http::Response::from_data(body)
        .with_status_code(status)
        .with_header(header("content-type", "application/json"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name, value).expect("a valid header")
}

/// The value of header `name`, if the request has it.
fn find<'a>(headers: &'a [Header], name: &'static str) -> Option<&'a str> {
    headers
        .iter()
        .find(|header| header.field.equiv(name))
        .map(|header| header.value.as_str())
}

/// Whether the body is declared as JSON, as GraphQL over HTTP requires of a POST.
fn is_json(headers: &[Header]) -> bool {
    find(headers, "content-type")
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// The caller named by the `x-user-id` header, if any.
fn viewer(headers: &[Header]) -> Result<Option<Id>, String> {
    let Some(value) = find(headers, USER_HEADER) else {
        return Ok(None);
    };
    value.trim().parse().map(Some).map_err(|_| {
        format!("the {USER_HEADER} header must be a user id, such as 1, got {value:?}")
    })
}
