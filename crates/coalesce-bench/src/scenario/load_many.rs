//! Scenario 1, second half: the same distinct keys through each library's own many-keys call,
//! which has no `join_all` to pay for.

use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::{Meter, Run, Scenario, on_worker};
use crate::dataset::{BatchFn, Echo};
use crate::library::Library;

/// `keys` distinct keys, `0..keys`, in one `load_many` on a fresh loader.
#[derive(Clone, Copy, Debug)]
pub struct LoadMany {
    /// How many keys per round.
    pub keys: u64,
}

impl Scenario for LoadMany {
    fn run<L: Library>(&self, library: L, rt: &Runtime, rounds: u64) -> Run {
        let keys = self.keys;
        on_worker(rt, async move {
            let batch_fn = BatchFn::new(Echo);
            let mut meter = Meter::default();
            for _ in 0..rounds {
                let start = Meter::start();
                let loader = library.build(batch_fn.clone());
                let found = L::load_many(&loader, (0..keys).collect()).await;
                drop(loader);
                meter.stop(start);
                assert_eq!(found as u64, keys, "every key is found");
            }
            meter.finish(rounds, keys, batch_fn.calls())
        })
    }

    fn portable(&self) -> Option<Value> {
        Some(json!({ "name": "load_many", "keys": self.keys }))
    }
}
