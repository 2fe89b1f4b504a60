//! The `coalesce-demo-blocking` command: serve the demo with no async runtime.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use coalesce_demo::Mode;
use coalesce_demo_blocking::{App, Database, server};

/// The coalesce demo's GraphQL server with no async runtime: a synchronous HTTP server, SQLite
/// through rusqlite, and each request's GraphQL run on the worker thread that took it. Every
/// response reports its SQL statements in `extensions.sqlQueries`.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8001")]
    addr: SocketAddr,
    /// Worker threads: the most requests run at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,
    /// A SQLite file, created and seeded if missing; without one, an in-memory database.
    #[arg(long)]
    database: Option<PathBuf>,
    /// Fetch with one SQL statement per field instead of through loaders: the N+1 version.
    #[arg(long)]
    naive: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coalesce-demo-blocking: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let db = match &cli.database {
        Some(path) => Database::open(path)?,
        None => Database::in_memory()?,
    };
    let mode = if cli.naive {
        Mode::Naive
    } else {
        Mode::Batched
    };
    let server = server::serve(cli.addr, App::new(db, mode), cli.workers.into())?;
    println!(
        "coalesce-demo-blocking: GraphiQL at http://{}/ ({mode:?} mode, {} workers, no async \
         runtime); Ctrl-C to stop",
        server.addr(),
        cli.workers,
    );
    server.wait();
    Ok(())
}
