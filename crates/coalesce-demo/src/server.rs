//! The HTTP server: GraphiQL, the GraphQL endpoint, and a users API for the remote-loader example.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;

use crate::app::App;
use crate::loaders::{self, UserLoader};
use crate::model::{Id, User};
use crate::queries::Queries;

/// The header that names the caller, whom `me` resolves to.
pub const USER_HEADER: &str = "x-user-id";

const GRAPHIQL: &str = include_str!("graphiql.html");

/// The routes:
///
/// - `GET /` and `GET /graphql`: GraphiQL;
/// - `POST /graphql`: a GraphQL request as the standard JSON body;
/// - `GET /api/users?id=1&id=2`: users as JSON, the remote API of the Ariadne seed.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(graphiql))
        .route("/graphql", get(graphiql).post(graphql))
        .route("/api/users", get(api_users))
        .with_state(Arc::new(app))
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn graphiql() -> Html<&'static str> {
    Html(GRAPHIQL)
}

/// Runs a GraphQL request.
///
/// The status follows GraphQL over HTTP: 400 when the request was refused before it ran (a body
/// that is not a GraphQL request, a bad `x-user-id`, a query that does not parse or validate or
/// exceeds the limits), 413 for a body over axum's 2 MB limit, 200 once it ran, field errors
/// included. Every response has a GraphQL body saying what went wrong.
async fn graphql(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> impl IntoResponse {
    let body = match body {
        Ok(body) => body,
        Err(unread) => {
            let why = format!("the body could not be read: {}", unread.body_text());
            return (unread.status(), Json(app.reject(why)));
        }
    };
    let response = match (viewer(&headers), serde_json::from_slice(&body)) {
        (Err(why), _) => app.reject(why),
        (_, Err(why)) => app.reject(format!("the body is not a GraphQL request: {why}")),
        (Ok(viewer), Ok(request)) => app.execute(request, viewer).await,
    };
    let refused = response.data == async_graphql::Value::Null
        && response.errors.iter().all(|error| error.path.is_empty());
    let status = if refused {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(response))
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
    State(app): State<Arc<App>>,
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
    let loaders = loaders::per_request(&Queries::new(app.database().clone()), app.shared_cache());
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
