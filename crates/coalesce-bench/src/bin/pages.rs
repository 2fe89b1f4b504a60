//! `cargo run --release -p coalesce-bench --bin pages [-- --rounds N]`: a first page of 5
//! friends for each of 100 users, one with 10 005 friends, fetched by a window function, by
//! fetching every friend and truncating, and by one `LIMIT` statement per user; as a markdown
//! table of time, statements and rows fetched.

use std::time::Instant;

use clap::Parser;
use coalesce_bench::pages::{self, Skewed};
use coalesce_bench::scenario;

/// Runs every strategy and prints the comparison.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Timed rounds per strategy (each all 100 pages), after one untimed round.
    #[arg(long, default_value_t = 50)]
    rounds: usize,
}

fn main() {
    let cli = Cli::parse();
    if cfg!(debug_assertions) {
        eprintln!("coalesce-bench: a debug build; timings mean nothing without --release");
    }
    let rt = scenario::runtime();
    let start = Instant::now();
    let data = Skewed::open(&rt);
    let results = data.measure(&rt, cli.rounds.max(1));
    println!("{}", pages::markdown(&results));
    println!(
        "`cargo run --release -p coalesce-bench --bin pages -- --rounds {}`: median of {} rounds \
         per strategy, taking turns; a round is the first {} friends of each of {} users, user {} \
         with {} friends more than the seeded 4 to 7; in-memory SQLite; every round's pages \
         checked; {:.1} s.",
        cli.rounds.max(1),
        cli.rounds.max(1),
        pages::FIRST,
        pages::USERS,
        pages::SKEWED_USER,
        pages::EXTRA_FRIENDS,
        start.elapsed().as_secs_f64(),
    );
}
