//! The workloads, each written once for every [`Library`], and how they are timed.
//!
//! Every scenario runs inside a task spawned on a multi-thread tokio runtime with two workers, as
//! a GraphQL request's resolvers would: the timed code sees the same scheduler, the same wakers
//! and the same cross-thread spawns as in a server. That matters for every library that yields:
//! on a worker, a task that wakes itself goes to the back of the run queue and may wake the idle
//! worker, where under `block_on` on the calling thread a yield is nearly free (three dependent
//! loads measure about 0.4 µs less there, for coalesce and the `dataloader` crate alike).
//!
//! Each round builds fresh loaders, as each request would, unless the scenario is about a warm
//! memo.

mod cache_hit;
mod chain;
mod join_all;
mod load_many;
mod tasks;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::runtime::Runtime;

pub use cache_hit::CacheHit;
pub use chain::Chain;
pub use join_all::{JoinAll, ready_floor, woken_floor};
pub use load_many::LoadMany;
pub use tasks::Tasks;

use crate::alloc;
use crate::library::Library;

/// A workload that can be run with any library.
pub trait Scenario: Sync {
    /// Runs `rounds` rounds with `library` on `rt`: what they took, and the batch calls made.
    ///
    /// Panics if a load answers with a wrong value: a fast wrong answer is not a result.
    fn run<L: Library>(&self, library: L, rt: &Runtime, rounds: u64) -> Run;

    /// The scenario as the peers in other languages run it ([`crate::peers`]): its name and
    /// parameters as JSON, or `None` if it has no counterpart there.
    fn portable(&self) -> Option<Value> {
        None
    }
}

/// What running a scenario measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The timed part of every round together (set-up a scenario does not time is left out).
    pub elapsed: Duration,
    /// Allocations during the timed parts, on every thread; 0 unless [`alloc::counting`].
    pub allocations: u64,
    /// How many rounds ran.
    pub rounds: u64,
    /// Operations per round: loads, or requests. The figure of merit is time per operation.
    pub ops_per_round: u64,
    /// Batch-function calls, over every round.
    pub batches: u64,
    /// The batch calls of each round, in order, for a scenario whose count varies from round to
    /// round ([`Tasks`]); empty for the others.
    pub round_batches: Vec<u64>,
}

impl Run {
    /// Nanoseconds per operation.
    pub fn ns_per_op(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / (self.rounds * self.ops_per_round).max(1) as f64
    }

    /// Batch-function calls per round.
    pub fn batches_per_round(&self) -> f64 {
        self.batches as f64 / self.rounds.max(1) as f64
    }

    /// Allocations per operation.
    pub fn allocations_per_op(&self) -> f64 {
        self.allocations as f64 / (self.rounds * self.ops_per_round).max(1) as f64
    }
}

/// Adds up the timed parts of a run: their wall time, and their allocations.
#[derive(Debug, Default)]
pub struct Meter {
    elapsed: Duration,
    allocations: u64,
    round_batches: Vec<u64>,
}

/// Where a timed part started.
#[derive(Debug)]
pub struct Stamp {
    at: Instant,
    allocations: u64,
}

impl Meter {
    /// Starts a timed part.
    pub fn start() -> Stamp {
        let allocations = alloc::allocations();
        Stamp {
            at: Instant::now(),
            allocations,
        }
    }

    /// Ends the timed part that began at `start`.
    pub fn stop(&mut self, start: Stamp) {
        self.elapsed += start.at.elapsed();
        self.allocations += alloc::allocations() - start.allocations;
    }

    /// Notes the batch calls one round made, for a scenario that reports their spread.
    pub fn round_batches(&mut self, batches: u64) {
        self.round_batches.push(batches);
    }

    /// The run these timed parts made up.
    pub fn finish(self, rounds: u64, ops_per_round: u64, batches: u64) -> Run {
        Run {
            elapsed: self.elapsed,
            allocations: self.allocations,
            rounds,
            ops_per_round,
            batches,
            round_batches: self.round_batches,
        }
    }
}

/// Worker threads of the runtime: two, the machine kind the reference figures are for.
pub const WORKERS: usize = 2;

/// The runtime every scenario runs on: multi-thread with [`WORKERS`] workers, with I/O and
/// timers for the HTTP scenario's server and database pool. async-graphql's delay does not use
/// tokio's timer unless its `tokio-timer` feature is on, which is not its default: it runs on
/// `async-io`'s timer thread, as in an application that does not opt in.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A current-thread runtime with I/O and timers, for the scenarios measured on one thread too.
pub fn current_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `work` as a task on one of `rt`'s workers, not on the calling thread, which
/// `block_on` would use: wake-ups, yields and spawns then cost what they cost in a server.
pub fn on_worker<F>(rt: &Runtime, work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(work))
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
