//! A private PostgreSQL server, initialized in a temporary directory and listening on a free
//! loopback port, that a test may stop and start at will. The machine's own server is never
//! touched. Stopped and deleted when dropped, however the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{free_port, unique};

pub struct PrivatePostgres {
    /// The directory with `initdb`, `pg_ctl` and `postgres`.
    bin: PathBuf,
    /// The temporary directory: the cluster in `data`, its log and its Unix socket.
    dir: PathBuf,
    port: u16,
    /// Whether to run PostgreSQL's programs as the `postgres` user: they refuse to run as root.
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Initializes a cluster (trust authentication, user `postgres`) and starts it.
    ///
    /// Panics when PostgreSQL's server programs are not installed: this test needs them.
    pub fn start() -> PrivatePostgres {
        let bin = server_programs().unwrap_or_else(|| {
            panic!(
                "initdb not found on PATH nor in /usr/lib/postgresql/*/bin: this test starts a \
                 private PostgreSQL and needs its server programs (Debian's postgresql package)"
            )
        });
        let as_postgres = running_as_root();
        let dir = std::env::temp_dir().join(unique("coalesce-reliability-pg"));
        std::fs::create_dir(&dir).expect("create the server's temporary directory");
        // From here on the directory is cleaned up by `Drop`, even if initdb fails.
        let server = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(&server.dir)
                .status()
                .expect("run chown");
            assert!(chown.success(), "chown postgres: {}", server.dir.display());
        }
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        server.start_again();
        server
    }

    /// Where the demo connects.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way an administrator's fast shutdown does: sessions are terminated,
    /// in-flight statements aborted. Returns once it has stopped.
    pub fn stop(&self) {
        self.run("pg_ctl", &["stop", "-D", &self.data(), "-m", "fast", "-w"]);
    }

    /// Starts the (stopped) server; returns once it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "start", "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options,
            ],
        );
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs to completion, as `postgres` if need be; panics with its
    /// output (and the server's log) if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            panic!(
                "{program} {args:?} failed ({}):\n{}{}\nserver log:\n{log}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(path);
            runuser
        } else {
            Command::new(path)
        };
        // The test's own directory may not be readable by `postgres`, and initdb looks up its
        // current directory.
        command.current_dir(&self.dir);
        command
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Fails harmlessly when the server is not running (a test that panicked while it was
        // stopped, or an initdb that failed).
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-D", &self.data(), "-m", "immediate", "-w"])
            .output();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("could not remove {}: {e}", self.dir.display());
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: initdb's on PATH (links resolved), else the newest
/// /usr/lib/postgresql/<version>/bin, where Debian puts them.
fn server_programs() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
            .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
            .find(|dir| has_both(dir))
    });
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry.file_name().to_str()?.parse().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, bin)| has_both(bin))
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// Whether this process runs as root (effective uid 0), read from /proc/self/status.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
            // Real, effective, saved, filesystem.
            uids.split_whitespace().nth(1).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}
