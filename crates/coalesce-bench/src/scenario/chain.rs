//! Scenario 4: dependent loads, one key per level, each waiting for the one before: the latency
//! a nested GraphQL query pays per level (`user { bestFriend { bestFriend { name } } }`).

use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::{Meter, Run, Scenario, on_worker};
use crate::dataset::{BatchFn, Echo};
use crate::library::Library;

/// Per request: a fresh loader, then `levels` loads in a row, each of the key the previous one
/// loaded. Every level is a batch of one.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    /// Loads in a row per request.
    pub levels: u64,
}

impl Scenario for Chain {
    fn run<L: Library>(&self, library: L, rt: &Runtime, rounds: u64) -> Run {
        let levels = self.levels;
        on_worker(rt, async move {
            let batch_fn = BatchFn::new(Echo);
            let mut meter = Meter::default();
            for _ in 0..rounds {
                let start = Meter::start();
                let loader = library.build(batch_fn.clone());
                let mut key = 0;
                for _ in 0..levels {
                    key = L::load(&loader, key).await.expect("every key exists");
                }
                drop(loader);
                meter.stop(start);
                assert_eq!(key, levels, "each level loads the next key");
            }
            meter.finish(rounds, 1, batch_fn.calls())
        })
    }

    fn portable(&self) -> Option<Value> {
        Some(json!({ "name": "chain", "levels": self.levels }))
    }
}
