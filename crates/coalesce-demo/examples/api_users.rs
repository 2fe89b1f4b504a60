//! A remote API as the source (the Ariadne seed): users loaded from `GET /api/users?id=1&id=2`
//! instead of a database, one HTTP request per batch.
//!
//! `cargo run -p coalesce-demo --example api_users` starts the demo in-process on an ephemeral
//! port, loads 20 users at once through [`ApiUserLoader`], and prints them with the number of HTTP
//! requests that took: 1.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Request;
use axum::middleware::{self, Next};
use coalesce_demo::model::{Id, User};
use coalesce_demo::{App, Database, Limits, Mode, server};
use coalesce_loader::{DataLoader, Loader, by_key};
use futures_util::future::join_all;
use tokio::net::TcpListener;

/// Loads users from an HTTP endpoint that answers `?id=1&id=2` with a JSON list of the users it
/// found, in any order.
///
/// The loader, not the API, lines the answer up with the keys: an id the API leaves out loads as
/// `None`. Long batches make long URLs, so give a real loader a
/// [`max_batch_size`](coalesce_loader::Builder::max_batch_size) that suits the server's URL limit.
pub struct ApiUserLoader {
    client: reqwest::Client,
    endpoint: String,
}

impl ApiUserLoader {
    /// A loader for the endpoint at `endpoint`, such as `http://127.0.0.1:8000/api/users`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        ApiUserLoader {
            client: reqwest::Client::new(),
            endpoint: endpoint.into(),
        }
    }
}

impl Loader for ApiUserLoader {
    type Key = Id;
    type Output = HashMap<Id, User>;
    type Error = reqwest::Error;

    async fn load_batch(&self, ids: &[Id]) -> Result<Self::Output, Self::Error> {
        let query: Vec<(&str, Id)> = ids.iter().map(|&id| ("id", id)).collect();
        let users: Vec<User> = self
            .client
            .get(&self.endpoint)
            .query(&query)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(by_key(users, |user| user.id))
    }
}

/// The demo's users API on an ephemeral port: its endpoint, and a count of the HTTP requests it
/// has answered.
async fn start_api() -> (String, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let app = App::new(
        Database::open(None).await.expect("open SQLite"),
        Mode::Batched,
    );
    let router = server::router(app, &Limits::default()).layer(middleware::from_fn(
        move |request: Request, next: Next| {
            counter.fetch_add(1, Ordering::Relaxed);
            next.run(request)
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!(
        "http://{}/api/users",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (endpoint, requests)
}

#[tokio::main]
async fn main() {
    let (endpoint, requests) = start_api().await;
    let users = DataLoader::new(ApiUserLoader::new(endpoint));
    let loaded = join_all((1..=20).map(|id| users.load(id))).await;
    for user in loaded {
        match user {
            Ok(Some(user)) => println!("{:>3}  {}", user.id, user.name),
            Ok(None) => println!("     (no such user)"),
            Err(e) => println!("     error: {e}"),
        }
    }
    println!(
        "20 loads, {} HTTP request(s)",
        requests.load(Ordering::Relaxed)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn twenty_loads_cost_one_http_request() {
        let (endpoint, requests) = start_api().await;
        let users = DataLoader::new(ApiUserLoader::new(endpoint));

        let loaded = join_all((1..=20).map(|id| users.load(id))).await;

        let ids: Vec<Id> = loaded
            .into_iter()
            .map(|user| user.unwrap().unwrap().id)
            .collect();
        assert_eq!(ids, (1..=20).collect::<Vec<_>>());
        assert_eq!(requests.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn ids_the_api_does_not_return_load_as_none() {
        let (endpoint, requests) = start_api().await;
        let users = DataLoader::new(ApiUserLoader::new(endpoint));

        let loaded = users.load_many([1000, 8, 2000]).await;

        let names: Vec<Option<String>> = loaded
            .into_iter()
            .map(|user| user.unwrap().map(|u| u.name))
            .collect();
        assert_eq!(names, [None, Some("John Lovelace".to_string()), None]);
        assert_eq!(requests.load(Ordering::Relaxed), 1);
    }
}
