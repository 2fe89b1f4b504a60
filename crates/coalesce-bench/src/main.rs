//! `cargo run --release -p coalesce-bench -- [--quick] [--no-peers]`: coalesce, async-graphql's
//! loader and the `dataloader` crate on identical workloads, in one process, and graphql/dataloader,
//! aiodataloader and Strawberry's DataLoader on the micro scenarios beside them, as one markdown
//! table.

use std::time::Instant;

use clap::Parser;
use coalesce_bench::alloc::CountingAllocator;
use coalesce_bench::instructions::Counted;
use coalesce_bench::library::Contender;
use coalesce_bench::peers::Peers;
use coalesce_bench::report::{self, Config};
use coalesce_bench::table;

/// Counts allocations for the allocation rows; idle (one flag load per allocation) otherwise.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs every scenario with every library and prints the comparison as a markdown table.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Fewer rounds and samples: the same table in about a minute.
    #[arg(long)]
    quick: bool,
    /// Leave out the peers in other languages (Node, Python), whose columns stay empty.
    #[arg(long)]
    no_peers: bool,
    /// A counting run for the instruction rows, under callgrind: this kind of operation...
    #[arg(long, hide = true, requires_all = ["contender", "ops"])]
    count: Option<String>,
    /// ...by the contender at this index of the table's columns...
    #[arg(long, hide = true)]
    contender: Option<usize>,
    /// ...this many times.
    #[arg(long, hide = true)]
    ops: Option<u64>,
}

fn main() {
    let cli = Cli::parse();
    if let (Some(kind), Some(contender), Some(ops)) = (&cli.count, cli.contender, cli.ops) {
        let counted = Counted::from_id(kind).expect("a kind of operation the table counts");
        counted.run(Contender::ALL[contender], ops);
        return;
    }
    let config = if cli.quick {
        Config::QUICK
    } else {
        Config::FULL
    };
    let flags: String = [(cli.quick, " --quick"), (cli.no_peers, " --no-peers")]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect();
    let command = if flags.is_empty() {
        "cargo run --release -p coalesce-bench".to_string()
    } else {
        format!("cargo run --release -p coalesce-bench --{flags}")
    };
    if cfg!(debug_assertions) {
        eprintln!("coalesce-bench: a debug build; timings mean nothing without --release");
    }
    let machine = machine();
    let start = Instant::now();
    let peers = if cli.no_peers {
        Peers::none()
    } else {
        Peers::start()
    };
    for note in peers.notes() {
        eprintln!("coalesce-bench: {note}");
    }
    let mut rows = report::run(config, &peers);
    match std::env::current_exe() {
        Ok(exe) => rows.extend(report::instruction_rows(&exe)),
        Err(e) => eprintln!("coalesce-bench: no instruction rows, this binary is not found: {e}"),
    }
    println!("{}", table::markdown(&rows));
    println!(
        "`{command}`: per figure the median of {} samples of ≥ {} rounds and ≥ {:?} each \
         (fewer rounds where {} would take over {:?}; HTTP: {} requests), on {}; {:.1} s.",
        config.samples,
        config.rounds,
        config.min_sample,
        config.rounds,
        config.max_sample,
        config.rounds,
        machine,
        start.elapsed().as_secs_f64(),
    );
    if !peers.notes().is_empty() {
        println!();
        println!(
            "Other languages, on one thread each (5 runs its tasks on the event loop): {}.",
            peers.notes().join("; ")
        );
    }
    println!();
    println!(
        "5: batch calls per round vary (min, median and max over every round of every sample): \
         a loader sends what it holds when its frame, yields or delay end, and how many of the \
         64 tasks have queued their keys by then depends on where tokio runs each (the spawning \
         worker's queue, the other worker stealing, or waking from sleep), which timing and the \
         machine's load decide; on one thread every task loads in the same frame."
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
