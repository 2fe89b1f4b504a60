//! Scenario 5: many tasks loading overlapping keys on both workers at once, the shape of
//! concurrent resolvers spawned onto a multi-thread runtime sharing one request's loader.
//!
//! Its batch calls vary from round to round, and so it reports them per round: a loader sends a
//! batch once the task that drives it sees the frame end, and which of the 64 tasks have queued
//! their keys by then depends on how tokio spreads them over the two workers (the spawning task's
//! queue, the other worker stealing, whether that worker was asleep), which timing and the load on
//! the machine decide. Tasks that arrive after a batch is sent start the next.

use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::{Meter, Run, Scenario, on_worker};
use crate::dataset::{BatchFn, Echo};
use crate::library::Library;

/// Per round: a fresh loader shared by `tasks` spawned tasks; task `t` loads keys
/// `t * stride .. t * stride + keys` by a `join_all`, so neighbouring tasks overlap.
#[derive(Clone, Copy, Debug)]
pub struct Tasks {
    /// Tasks per round.
    pub tasks: u64,
    /// Loads per task.
    pub keys: u64,
    /// How far apart the tasks' first keys are; less than `keys`, so that keys are shared.
    pub stride: u64,
}

impl Scenario for Tasks {
    fn run<L: Library>(&self, library: L, rt: &Runtime, rounds: u64) -> Run {
        let Tasks {
            tasks,
            keys,
            stride,
        } = *self;
        on_worker(rt, async move {
            let batch_fn = BatchFn::new(Echo);
            let mut meter = Meter::default();
            for _ in 0..rounds {
                let before = batch_fn.calls();
                let start = Meter::start();
                // Not every library's loader is `Clone` (async-graphql's is not): share each
                // through an `Arc`, the same for all.
                let loader = Arc::new(library.build(batch_fn.clone()));
                let handles: Vec<_> = (0..tasks)
                    .map(|task| {
                        let loader = Arc::clone(&loader);
                        tokio::spawn(async move {
                            let first = task * stride;
                            let values =
                                join_all((first..first + keys).map(|key| L::load(&loader, key)))
                                    .await;
                            Echo::count_correct(first, values)
                        })
                    })
                    .collect();
                let mut correct = 0;
                for handle in handles {
                    correct += handle.await.expect("a loading task panicked");
                }
                drop(loader);
                meter.stop(start);
                meter.round_batches(batch_fn.calls() - before);
                assert_eq!(correct, tasks * keys, "every key loads to its own value");
            }
            meter.finish(rounds, tasks * keys, batch_fn.calls())
        })
    }

    /// On one thread in the other languages (Node's, asyncio's event loop), where here the tasks
    /// run on two workers; with the spread of batch calls per round asked for, as here.
    fn portable(&self) -> Option<Value> {
        let Tasks {
            tasks,
            keys,
            stride,
        } = *self;
        Some(
            json!({ "name": "tasks", "tasks": tasks, "keys": keys, "stride": stride, "spread": true }),
        )
    }
}
