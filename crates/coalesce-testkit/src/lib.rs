//! Test support shared by coalesce's crates.
//!
//! Fault tests must never stop or restart the machine's own services, so they start servers of
//! their own on free loopback ports. [`PrivateRedis`] is that server for Redis.
//!
//! With the `postgres` feature, `PgSchema` is a schema of a test's own on the machine's
//! PostgreSQL, for tests that only need a database to read and write. With the `spans` feature,
//! `SpanRecorder` records how a test's `tracing` spans nest, their fields and links, and its events.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::PgSchema;
#[cfg(feature = "spans")]
mod spans;
#[cfg(feature = "spans")]
pub use spans::{SpanIndex, SpanRecorder};

/// A port nothing listens on now, for a server a test starts. Another process could take it
/// before the server binds it; on a test machine's loopback, that does not happen in practice.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A `redis-server` of a test's own, on a free loopback port, persisting nothing. The test may
/// pause, resume or kill it; it is killed when dropped, however the test ends.
pub struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    /// Starts the server and returns once it accepts connections.
    pub fn start() -> PrivateRedis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian's redis-server package)");
        let server = PrivateRedis { child, port };
        // Bounded wait for the server to listen: 100 tries, 20 ms apart.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the private redis-server did not start on port {port}");
    }

    /// Its URL, `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server without closing its connections: it stays connected but silent.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets it run again; it then executes what it was sent while paused.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
