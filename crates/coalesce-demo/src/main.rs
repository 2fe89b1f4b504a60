//! The `coalesce-demo` command: serve the demo, or run one query against it.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use coalesce_demo::loaders::SharedCache;
use coalesce_demo::model::Id;
use coalesce_demo::{App, Database, Mode, server};
use tokio::net::TcpListener;

/// A GraphQL server that shows the N+1 problem and coalesce's cure on a real database. Every
/// response reports its SQL statements in `extensions.sqlQueries`.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Options of `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphiQL and GraphQL over HTTP (the default).
    Serve(ServeArgs),
    /// Run one GraphQL request in-process and print its JSON response; exit non-zero if it has
    /// errors.
    Query(QueryArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    #[command(flatten)]
    app: AppArgs,
}

#[derive(Args)]
struct QueryArgs {
    /// The caller, as the `x-user-id` header names it for `serve`: whom `me` resolves to.
    #[arg(long)]
    user: Option<Id>,
    #[command(flatten)]
    app: AppArgs,
    /// The GraphQL document, such as '{ messages { id poster { name } } }'.
    query: String,
}

/// What both subcommands serve.
#[derive(Args)]
struct AppArgs {
    /// A PostgreSQL (postgres://…) or SQLite (sqlite:…) URL; without one, an in-memory SQLite
    /// database. Tables are created if missing and seeded if empty.
    #[arg(long, env = "DATABASE_URL")]
    database: Option<String>,
    /// Fetch with one SQL statement per field instead of through loaders: the N+1 version.
    #[arg(long)]
    naive: bool,
    /// A Redis (redis://…) shared by every instance: users, bands and albums are cached there
    /// behind each request's loaders. Without it, nothing outlives a request.
    #[arg(long)]
    redis: Option<String>,
}

impl AppArgs {
    async fn open(&self) -> Result<App, Box<dyn std::error::Error>> {
        let db = Database::open(self.database.as_deref()).await?;
        let mode = if self.naive {
            Mode::Naive
        } else {
            Mode::Batched
        };
        let app = App::new(db, mode);
        Ok(match &self.redis {
            Some(url) => {
                app.with_shared_cache(SharedCache::new(coalesce_redis::Redis::open(url)?, "demo"))
            }
            None => app,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::Query(args)) => query(args).await,
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("coalesce-demo: {error}");
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let app = args.app.open().await?;
    let listener = TcpListener::bind(args.addr).await?;
    println!(
        "coalesce-demo: GraphiQL at http://{}/ ({:?} mode, {} database{}); Ctrl-C to stop",
        listener.local_addr()?,
        app.mode(),
        app.database().kind(),
        if app.shared_cache().is_some() {
            ", Redis shared cache"
        } else {
            ""
        },
    );
    let ctrl_c = async {
        // If the handler cannot be installed the server runs until killed, as any server would.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    server::serve(listener, app, ctrl_c).await?;
    println!("coalesce-demo: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn query(args: QueryArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let app = args.app.open().await?;
    let response = app
        .execute(async_graphql::Request::new(args.query), args.user)
        .await;
    // Not `println!`, which panics when stdout is closed early, as by `| head`.
    writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(&response)?
    )?;
    Ok(if response.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
