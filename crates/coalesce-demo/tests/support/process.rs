//! The `coalesce-demo` binary serving as a process of its own: a test can read its memory, and
//! hold hundreds of connections to it without spending the server's file descriptors on its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `coalesce-demo serve` on an ephemeral loopback port and its default in-memory database,
/// killed when dropped.
pub struct DemoProcess {
    child: Child,
    /// Such as `127.0.0.1:36789`.
    pub addr: String,
}

impl DemoProcess {
    /// Starts the server with `args` added to `serve`, and returns once it listens.
    pub fn start(args: &[&str]) -> DemoProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coalesce-demo"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .spawn()
            .expect("coalesce-demo starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        // The banner, printed once the listener is bound, names the address.
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let (_, rest) = line.split_once("GraphiQL at http://")?;
                Some(rest.split('/').next()?.to_owned())
            })
            .expect("a banner naming the address");
        // Drains what the server prints later, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        DemoProcess { child, addr }
    }

    /// The base URL, such as `http://127.0.0.1:36789`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's resident memory in KiB (`VmRSS` of its /proc/<pid>/status).
    pub fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
