//! The HTTP server: GraphiQL, the GraphQL endpoint, and a users API for the remote-loader example.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::app::App;
use crate::connections;
use crate::limits::{Limits, MAX_BODY_BYTES, MAX_HEADER_BYTES};
use crate::loaders::{self, UserLoader};
use crate::model::{Id, User};

/// The header that names the caller, whom `me` resolves to.
pub const USER_HEADER: &str = "x-user-id";

const GRAPHIQL: &str = include_str!("graphiql.html");

/// What the handlers share: the demo, and the limits they enforce themselves.
struct Served {
    app: App,
    limits: Limits,
    /// A permit per GraphQL request executing ([`Limits::max_executions`]).
    executions: Semaphore,
}

/// The routes:
///
/// - `GET /` and `GET /graphql`: GraphiQL;
/// - `POST /graphql`: a GraphQL request as the standard JSON body;
/// - `GET /api/users?id=1&id=2`: users as JSON, the remote API of the Ariadne seed.
///
/// Anything else, and headers over [`MAX_HEADER_BYTES`], get a GraphQL error with their status.
pub fn router(app: App, limits: &Limits) -> Router {
    let executions = limits
        .max_executions
        .map_or_else(|| app.database().concurrency(), NonZeroUsize::get);
    let served = Arc::new(Served {
        app,
        limits: limits.clone(),
        // A pool has a connection at least; `max(1)` only keeps a zero from stalling every request.
        executions: Semaphore::new(executions.max(1)),
    });
    Router::new()
        .route("/", get(graphiql))
        .route("/graphql", get(graphiql).post(graphql))
        .route("/api/users", get(api_users))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            served.clone(),
            refuse_large_headers,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(served)
}

/// Serves `app` on `listener` within [`Limits::default`] until `shutdown` completes, then finishes
/// the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, &Limits::default(), shutdown).await
}

/// [`serve`] within `limits`.
pub async fn serve_with(
    listener: TcpListener,
    app: App,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, router(app, limits), limits, shutdown).await
}

/// How many connections the kernel may hold for the server before it accepts them. tokio's
/// `TcpListener::bind` asks for 128: a burst of more clients overflows it, and a client whose
/// handshake the kernel dropped while it had sent nothing is connected on its side only, where no
/// server timeout can reach it.
const BACKLOG: u32 = 1024;

/// A listener on `addr` with room in its backlog for a burst of connections, and for those
/// waiting while [`Limits::max_connections`] are served.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std's `bind` does: a restarted server can bind while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn graphiql() -> Html<&'static str> {
    Html(GRAPHIQL)
}

/// Runs a GraphQL request.
///
/// The status follows GraphQL over HTTP: 400 when the request was refused before it ran (a body
/// that is not a GraphQL request, a bad `x-user-id`, a query that does not parse or validate or
/// exceeds the limits), 415 for a body that is not declared as JSON, 413 for a body over
/// [`MAX_BODY_BYTES`], 408 for a body not received within the body timeout, 503 for a request
/// stopped at its time budget, 200 once it ran, field errors included. Every response has a
/// GraphQL body saying what went wrong.
///
/// Written by hand rather than with async-graphql-axum's `GraphQL` service, which answers every
/// refusal with its own status and a plain-text body, and has no body or request time budget.
/// The schema is the same either way: its loaders come from the schema's extension, not from
/// this handler. A batched request (a JSON array of operations) is refused with a 400 that says
/// so: one operation per request keeps the time budget and the cost report per operation.
async fn graphql(State(served): State<Arc<Served>>, request: Request) -> Response {
    let Served {
        app,
        limits,
        executions,
    } = &*served;
    if !is_json(request.headers()) {
        let got = request
            .headers()
            .get(CONTENT_TYPE)
            .map_or("none".into(), |value| format!("{value:?}"));
        let why = format!(
            "the body must be a GraphQL request sent as content-type: application/json; got {got}"
        );
        return refusal(app, StatusCode::UNSUPPORTED_MEDIA_TYPE, why);
    }
    if let Some(declared) = declared_length(request.headers()).filter(|&n| n > MAX_BODY_BYTES) {
        let why = format!(
            "the body could not be read: its content-length of {declared} bytes is over the \
             limit of {MAX_BODY_BYTES}"
        );
        return refusal(app, StatusCode::PAYLOAD_TOO_LARGE, why);
    }
    let viewer = viewer(request.headers());
    let body = match timeout(limits.body_timeout, Bytes::from_request(request, &())).await {
        Ok(Ok(body)) => body,
        Ok(Err(unread)) => {
            let why = format!("the body could not be read: {}", unread.body_text());
            return refusal(app, unread.status(), why);
        }
        Err(_) => {
            let why = format!(
                "the body was not received within the body timeout of {:?}",
                limits.body_timeout
            );
            return refusal(app, StatusCode::REQUEST_TIMEOUT, why);
        }
    };
    if body.trim_ascii_start().starts_with(b"[") {
        let why = "batched requests (a JSON array of operations) are not served: send each \
                   operation in a request of its own";
        return refusal(app, StatusCode::BAD_REQUEST, why);
    }
    let (request, viewer) = match (viewer, serde_json::from_slice(&body)) {
        (Err(why), _) => return refusal(app, StatusCode::BAD_REQUEST, why),
        (_, Err(why)) => {
            let why = format!("the body is not a GraphQL request: {why}");
            return refusal(app, StatusCode::BAD_REQUEST, why);
        }
        (Ok(viewer), Ok(request)) => (request, viewer),
    };
    // Dropping the request's future stops its work; a timeout is the only way to stop a
    // request that runs too long, since nothing in it yields to a deadline. Its wait for an
    // execution permit is part of its budget; a dropped request gives its permit back.
    let execute = async {
        let _permit = executions.acquire().await;
        app.execute(request, viewer).await
    };
    let response = match timeout(limits.request_timeout, execute).await {
        Ok(response) => response,
        Err(_) => {
            let why = format!(
                "the request was stopped at its time budget of {:?}",
                limits.request_timeout
            );
            // 503: the server could not answer in time; the request may succeed later.
            return refusal(app, StatusCode::SERVICE_UNAVAILABLE, why);
        }
    };
    let refused = response.data == async_graphql::Value::Null
        && response.errors.iter().all(|error| error.path.is_empty());
    let status = if refused {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(response)).into_response()
}

/// A request refused before it ran: `status`, and a GraphQL error saying why.
fn refusal(app: &App, status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(app.reject(why))).into_response()
}

/// Whether the body is declared as JSON, as GraphQL over HTTP requires of a POST.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// The body's length as its `content-length` declares it, if it does.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Refuses, with 431, a request whose headers are over [`MAX_HEADER_BYTES`].
async fn refuse_large_headers(
    State(served): State<Arc<Served>>,
    request: Request,
    next: Next,
) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    if size > MAX_HEADER_BYTES {
        let why = format!(
            "the request's headers are too large: {size} bytes, over the limit of \
             {MAX_HEADER_BYTES}"
        );
        return refusal(
            &served.app,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            why,
        );
    }
    next.run(request).await
}

async fn not_found(State(served): State<Arc<Served>>, uri: Uri) -> Response {
    let why = format!(
        "there is nothing at {}: GraphQL is served at /graphql",
        uri.path()
    );
    refusal(&served.app, StatusCode::NOT_FOUND, why)
}

async fn method_not_allowed(
    State(served): State<Arc<Served>>,
    method: Method,
    uri: Uri,
) -> Response {
    let why = format!(
        "{method} is not allowed on {}: GraphQL requests are POSTed to /graphql",
        uri.path()
    );
    refusal(&served.app, StatusCode::METHOD_NOT_ALLOWED, why)
}

/// The caller named by the `x-user-id` header, if any.
fn viewer(headers: &HeaderMap) -> Result<Option<Id>, String> {
    let Some(value) = headers.get(USER_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            format!("the {USER_HEADER} header must be a user id, such as 1, got {value:?}")
        })
}

/// `GET /api/users?id=1&id=2`: the users with these ids that exist, in the order asked.
///
/// Served through a user loader of its own, so that a long list of ids is split into statements
/// SQLite can bind, and repeated ids are fetched once.
async fn api_users(
    State(served): State<Arc<Served>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<User>>, (StatusCode, Json<serde_json::Value>)> {
    let refuse = |status: StatusCode, error: String| (status, Json(json!({ "error": error })));
    let ids = params
        .iter()
        .map(|(name, value)| match (name.as_str(), value.parse::<Id>()) {
            ("id", Ok(id)) => Ok(id),
            ("id", Err(_)) => Err(format!("invalid id {value:?}: ids are integers")),
            _ => Err(format!("unknown parameter {name:?}: only `id` is accepted")),
        })
        .collect::<Result<Vec<Id>, String>>()
        .map_err(|why| refuse(StatusCode::BAD_REQUEST, why))?;
    let app = &served.app;
    let loaders = loaders::per_request(&app.database().request_store(), app.shared_cache());
    let users = loaders
        .get::<UserLoader>()
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .load_many(ids)
        .await
        .into_iter()
        .filter_map(Result::transpose)
        .collect::<Result<Vec<User>, _>>()
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(users))
}
