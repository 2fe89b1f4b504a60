//! `cargo run --release -p coalesce-bench -- [--quick]`: coalesce, async-graphql's loader and
//! the `dataloader` crate on identical workloads, in one process, as one markdown table.

use std::time::Instant;

use clap::Parser;
use coalesce_bench::alloc::CountingAllocator;
use coalesce_bench::report::{self, Config};
use coalesce_bench::table;

/// Counts allocations for the allocation rows; idle (one flag load per allocation) otherwise.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs every scenario with every library and prints the comparison as a markdown table.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Fewer rounds and samples: the same table in well under a minute.
    #[arg(long)]
    quick: bool,
}

fn main() {
    let cli = Cli::parse();
    let (config, command) = if cli.quick {
        (
            Config::QUICK,
            "cargo run --release -p coalesce-bench -- --quick",
        )
    } else {
        (Config::FULL, "cargo run --release -p coalesce-bench")
    };
    if cfg!(debug_assertions) {
        eprintln!("coalesce-bench: a debug build; timings mean nothing without --release");
    }
    let machine = machine();
    let start = Instant::now();
    let rows = report::run(config);
    println!("{}", table::markdown(&rows));
    println!(
        "`{command}`: per figure the median of {} samples of ≥ {} rounds and ≥ {:?} each \
         (HTTP: {} requests), on {}; {:.1} s.",
        config.samples,
        config.rounds,
        config.min_sample,
        config.rounds,
        machine,
        start.elapsed().as_secs_f64(),
    );
}

/// The machine, as the table's caption names it: CPU model, core count, and the load average
/// when the run started (other work on the machine skews every column alike, but skews them).
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|avg| avg.split_whitespace().next().map(str::to_string))
        .map_or_else(String::new, |one| format!(", load average {one} at start"));
    format!("{model}, {cores} cores, {}{load}", std::env::consts::OS)
}
