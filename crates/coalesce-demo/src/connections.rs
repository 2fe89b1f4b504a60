//! Accepting and serving connections: hyper's HTTP/1 server with a header-read timeout and a limit
//! on the connections served at once.
//!
//! `axum::serve` offers neither: it runs hyper without a timer, so hyper's header timeout never
//! fires, and it accepts every connection it is offered. Serving through hyper's own
//! [`http1::Builder`] sets the timeout; a semaphore taken before each `accept` sets the limit.
//! The body and request timeouts belong to the handler, which answers them with a GraphQL error
//! (see [`server`](crate::server)).

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::limits::Limits;

/// How long to wait before accepting again after an error that is not one client's, such as
/// running out of file descriptors: retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops accepting,
/// closes idle connections and waits for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // The slot is taken before accepting: at the limit, new connections wait in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) if is_one_clients(&error) => continue,
                Err(error) => {
                    eprintln!("coalesce-demo: cannot accept a connection: {error}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        ));
        tokio::spawn(async move {
            // An error (a timeout, a reset, a request hyper could not parse) ends this connection
            // alone, and hyper has already answered what it could.
            let _ = connection.await;
            drop(slot);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// Whether an `accept` error concerns only the client that was connecting, as a connection reset
/// before it was accepted does.
fn is_one_clients(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
