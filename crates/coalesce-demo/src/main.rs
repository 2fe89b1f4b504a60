//! The `coalesce-demo` command: serve the demo, or run one query against it.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use coalesce_demo::loaders::SharedCache;
use coalesce_demo::model::Id;
use coalesce_demo::{App, Database, Limits, Mode, server};

mod telemetry;

/// A request allocates and frees thousands of small values (SQLite rows, GraphQL values, field
/// futures), across the runtime's worker threads and the database's: glibc's allocator spent a
/// quarter of the server's time on `bands` in them, consolidating free chunks among others.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    otlp: telemetry::OtlpArgs,
}

/// The server's timeouts and limits (see [`Limits`]).
#[derive(Args)]
struct LimitArgs {
    /// Seconds a connection has to send a complete request head, from when it connects or from
    /// its previous response: idle keep-alive connections are closed after it too.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(Limits::default().header_timeout))]
    header_timeout: Seconds,
    /// Seconds a request has to send its body once its head is in; then it gets 408.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(Limits::default().body_timeout))]
    body_timeout: Seconds,
    /// Seconds a GraphQL request may run once its body is read; then its work is stopped and it
    /// gets 503.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(Limits::default().request_timeout))]
    request_timeout: Seconds,
    /// The most connections served at once; more wait to be accepted until one closes.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// The most GraphQL requests executed at once; more wait, within their time budget. By
    /// default as many as the database runs statements at once (its pool's connections).
    #[arg(long)]
    max_executions: Option<NonZeroUsize>,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_timeout: self.header_timeout.0,
            body_timeout: self.body_timeout.0,
            request_timeout: self.request_timeout.0,
            max_connections: self.max_connections,
            max_executions: self.max_executions,
        }
    }
}

/// A duration given in seconds on the command line, such as `10` or `0.5`.
#[derive(Clone, Copy)]
struct Seconds(Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let seconds: f64 = text.parse().map_err(|_| {
            format!("expected a number of seconds, such as 10 or 0.5, got {text:?}")
        })?;
        match Duration::try_from_secs_f64(seconds) {
            Ok(duration) if !duration.is_zero() => Ok(Seconds(duration)),
            _ => Err(format!("expected a positive number of seconds, got {text}")),
        }
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

#[derive(Args)]
struct QueryArgs {
    /// The caller, as the `x-user-id` header names it for `serve`: whom `me` resolves to.
    #[arg(long)]
    user: Option<Id>,
    #[command(flatten)]
    app: AppArgs,
    #[command(flatten)]
    otlp: telemetry::OtlpArgs,
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
    /// The Redis namespace of the caches: instances share entries exactly when they share it.
    /// Derived from the database unless given (instances on the same SQLite file, or on the
    /// same PostgreSQL database at the same address, share one; in-memory databases never do):
    /// give one to share entries across instances that reach one database in different ways.
    #[arg(long, requires = "redis", value_name = "NAME", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    cache_namespace: Option<String>,
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
        let Some(url) = &self.redis else {
            return Ok(app);
        };
        let redis = coalesce_loader_redis::Redis::open(url)?;
        // On stderr: `query` prints its response on stdout.
        let namespace = match &self.cache_namespace {
            Some(namespace) => {
                eprintln!("coalesce-demo: Redis cache namespace {namespace} (--cache-namespace)");
                namespace.clone()
            }
            None => {
                let identity = app.database().identity().await?;
                let namespace = SharedCache::derived_namespace(&identity);
                eprintln!("coalesce-demo: Redis cache namespace {namespace}, of the {identity}");
                namespace
            }
        };
        if let Err(error) = redis.ping().await {
            eprintln!(
                "coalesce-demo: warning: Redis does not answer ({error}); \
                 requests are served from the database until it does"
            );
        }
        Ok(app.with_shared_cache(SharedCache::new(redis, namespace)))
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
    let _telemetry = args.otlp.start()?;
    let app = args.app.open().await?;
    let listener = server::listen(args.addr)?;
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
    server::serve_with(listener, app, &args.limits.limits(), ctrl_c).await?;
    println!("coalesce-demo: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn query(args: QueryArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let _telemetry = args.otlp.start()?;
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
