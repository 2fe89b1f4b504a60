//! Scenario 3: loads of a key already in the memo, the cost every repeated field pays.

use std::hint::black_box;

use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::{Meter, Run, Scenario, on_worker};
use crate::dataset::{BatchFn, Echo};
use crate::library::Library;

/// Per round: a fresh loader loads one key (untimed), then loads it again `hits` times, one
/// after the other (timed).
#[derive(Clone, Copy, Debug)]
pub struct CacheHit {
    /// Timed loads per round.
    pub hits: u64,
}

impl Scenario for CacheHit {
    fn run<L: Library>(&self, library: L, rt: &Runtime, rounds: u64) -> Run {
        const KEY: u64 = 7;
        let hits = self.hits;
        on_worker(rt, async move {
            let batch_fn = BatchFn::new(Echo);
            let mut meter = Meter::default();
            for _ in 0..rounds {
                let loader = library.build(batch_fn.clone());
                assert_eq!(L::load(&loader, KEY).await, Some(Echo::value(KEY)));
                let start = Meter::start();
                let mut correct = 0;
                for _ in 0..hits {
                    let value = L::load(&loader, black_box(KEY)).await;
                    correct += u64::from(value == Some(Echo::value(KEY)));
                }
                meter.stop(start);
                assert_eq!(correct, hits, "every hit loads the memoized value");
            }
            meter.finish(rounds, hits, batch_fn.calls())
        })
    }

    fn portable(&self) -> Option<Value> {
        Some(json!({ "name": "cache_hit", "hits": self.hits }))
    }
}
