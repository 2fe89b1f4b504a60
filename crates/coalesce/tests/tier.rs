//! The shared second-level cache: consulted in bulk once per batch, behind the memo, never
//! failing a load.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use coalesce::DataLoader;
use coalesce::tier::{BoxFuture, TierError, ValueCache};
use common::{Calls, Echo, MISSING, TestError};
use futures::executor::block_on;
use futures::future::join_all;

/// A tier in memory that records every operation and fails on demand.
#[derive(Default)]
struct MemoryTier {
    map: Mutex<HashMap<u64, u64>>,
    log: Mutex<Vec<String>>,
    fail: AtomicBool,
    /// Answer `get_many` with one entry too few.
    short: AtomicBool,
}

impl MemoryTier {
    fn log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
    fn record(&self, op: String) -> Result<(), TierError> {
        self.log.lock().unwrap().push(op);
        if self.fail.load(Ordering::SeqCst) {
            return Err("tier unreachable".into());
        }
        Ok(())
    }
}

impl ValueCache<u64, u64> for MemoryTier {
    fn get_many<'a>(
        &'a self,
        keys: &'a [u64],
    ) -> BoxFuture<'a, Result<Vec<Option<u64>>, TierError>> {
        let result = self.record(format!("get {keys:?}")).map(|()| {
            let map = self.map.lock().unwrap();
            let mut found: Vec<_> = keys.iter().map(|k| map.get(k).copied()).collect();
            if self.short.load(Ordering::SeqCst) {
                found.pop();
            }
            found
        });
        Box::pin(async move { result })
    }
    fn set_many<'a>(
        &'a self,
        entries: &'a [(&'a u64, &'a u64)],
    ) -> BoxFuture<'a, Result<(), TierError>> {
        let keys: Vec<u64> = entries.iter().map(|(k, _)| **k).collect();
        let result = self.record(format!("set {keys:?}")).map(|()| {
            self.map
                .lock()
                .unwrap()
                .extend(entries.iter().map(|(k, v)| (**k, **v)));
        });
        Box::pin(async move { result })
    }
    fn delete_many<'a>(&'a self, keys: &'a [u64]) -> BoxFuture<'a, Result<(), TierError>> {
        let result = self.record(format!("delete {keys:?}")).map(|()| {
            let mut map = self.map.lock().unwrap();
            keys.iter().for_each(|k| {
                map.remove(k);
            });
        });
        Box::pin(async move { result })
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), TierError>> {
        let result = self
            .record("clear".into())
            .map(|()| self.map.lock().unwrap().clear());
        Box::pin(async move { result })
    }
}

/// A fresh loader (a new request, or another instance) on `tier`.
fn loader_on(tier: &Arc<MemoryTier>) -> (DataLoader<Echo, coalesce::SameKey>, Calls) {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .value_cache(tier.clone())
    .build();
    (loader, calls)
}

#[test]
fn a_batch_reads_the_tier_once_and_fetches_only_the_misses() {
    let tier = Arc::new(MemoryTier::default());
    tier.map.lock().unwrap().insert(2, 999);
    let (loader, calls) = loader_on(&tier);
    let values = block_on(join_all([1, 2, 3].map(|k| loader.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 999, 30]
    );
    assert_eq!(calls.batches(), [vec![1, 3]]);
    assert_eq!(tier.log(), ["get [1, 2, 3]", "set [1, 3]"]);
    let stats = loader.stats();
    assert_eq!((stats.tier_hits, stats.batches, stats.keys), (1, 1, 2));
}

#[test]
fn another_instance_is_answered_by_the_tier_without_calling_its_batch_function() {
    let tier = Arc::new(MemoryTier::default());
    let (first, _) = loader_on(&tier);
    block_on(first.load_many([1, 2]));
    let (second, calls) = loader_on(&tier);
    let values = block_on(second.load_many([1, 2]));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 20]
    );
    assert_eq!(calls.count(), 0);
    assert_eq!(second.stats().batches, 0);
}

#[test]
fn the_memo_stays_in_front_of_the_tier() {
    let tier = Arc::new(MemoryTier::default());
    let (loader, _) = loader_on(&tier);
    block_on(loader.load(1)).unwrap();
    tier.log();
    block_on(loader.load(1)).unwrap();
    assert!(tier.log().is_empty(), "a memo hit never reaches the tier");
}

#[test]
fn per_key_errors_are_not_written_to_the_tier() {
    let tier = Arc::new(MemoryTier::default());
    let (loader, _) = loader_on(&tier);
    let values = block_on(loader.load_many([1, MISSING]));
    assert!(values[1].is_err());
    assert_eq!(
        tier.log(),
        [format!("get [1, {MISSING}]"), "set [1]".to_string()]
    );
}

#[test]
fn a_failed_batch_writes_nothing_to_the_tier() {
    let tier = Arc::new(MemoryTier::default());
    let loader = DataLoader::builder(coalesce::from_fn(|_: Vec<u64>| async move {
        Err::<Vec<Result<u64, TestError>>, _>(TestError("down".into()))
    }))
    .value_cache(tier.clone())
    .build();
    assert!(block_on(loader.load(1)).is_err());
    assert_eq!(tier.log(), ["get [1]"]);
}

#[test]
fn an_unreachable_tier_counts_as_misses_and_never_fails_a_load() {
    let tier = Arc::new(MemoryTier::default());
    tier.fail.store(true, Ordering::SeqCst);
    let (loader, calls) = loader_on(&tier);
    let values = block_on(loader.load_many([1, 2]));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 20]
    );
    assert_eq!(calls.batches(), [vec![1, 2]]);
    assert_eq!(
        loader.stats().tier_errors,
        2,
        "the read and the write-back failed"
    );
}

#[test]
fn a_tier_answer_of_the_wrong_length_counts_as_all_misses() {
    let tier = Arc::new(MemoryTier::default());
    tier.map.lock().unwrap().extend([(1, 111), (2, 222)]);
    tier.short.store(true, Ordering::SeqCst);
    let (loader, calls) = loader_on(&tier);
    let values = block_on(loader.load_many([1, 2]));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 20],
        "no entry was trusted"
    );
    assert_eq!(calls.batches(), [vec![1, 2]]);
    assert_eq!(loader.stats().tier_errors, 1);
}

#[test]
fn clear_queues_the_tier_deletion_before_the_next_batch_reads_it() {
    let tier = Arc::new(MemoryTier::default());
    let (loader, _) = loader_on(&tier);
    block_on(loader.load(1)).unwrap();
    tier.log();
    loader.clear(&1);
    assert!(tier.log().is_empty(), "the synchronous clear only queues");
    block_on(loader.load(1)).unwrap();
    assert_eq!(tier.log(), ["delete [1]", "get [1]", "set [1]"]);
}

#[test]
fn clear_shared_deletes_from_the_tier_before_it_returns() {
    let tier = Arc::new(MemoryTier::default());
    let (a, _) = loader_on(&tier);
    block_on(a.load_many([1, 2])).len();
    tier.map.lock().unwrap().insert(1, 10); // still there before the mutation
    block_on(a.clear_shared([1]));
    assert!(!tier.map.lock().unwrap().contains_key(&1));
    let (b, calls) = loader_on(&tier);
    block_on(b.load_many([1, 2]));
    assert_eq!(
        calls.batches(),
        [vec![1]],
        "another instance refetches the cleared key only"
    );
}

#[test]
fn clear_all_shared_clears_the_tier() {
    let tier = Arc::new(MemoryTier::default());
    let (loader, calls) = loader_on(&tier);
    block_on(loader.load_many([1, 2]));
    block_on(loader.clear_all_shared());
    assert!(tier.map.lock().unwrap().is_empty());
    block_on(loader.load_many([1, 2]));
    assert_eq!(calls.count(), 2);
}

#[test]
fn a_failed_tier_deletion_is_retried_before_the_next_batch() {
    let tier = Arc::new(MemoryTier::default());
    let (loader, _) = loader_on(&tier);
    block_on(loader.load(1)).unwrap();
    tier.fail.store(true, Ordering::SeqCst);
    block_on(loader.clear_shared([1]));
    tier.fail.store(false, Ordering::SeqCst);
    tier.log();
    block_on(loader.load(2)).unwrap();
    assert_eq!(tier.log(), ["delete [1]", "get [2]", "set [2]"]);
    assert!(!tier.map.lock().unwrap().contains_key(&1));
}

#[test]
fn the_tier_is_keyed_by_the_cache_key() {
    let tier = Arc::new(MemoryTier::default());
    let calls = Calls::default();
    let loader = coalesce::Builder::new(Echo {
        calls: calls.clone(),
    })
    .value_cache(tier.clone())
    .cache_key_fn(|k: &u64| k % 100)
    .build();
    block_on(loader.load(105)).unwrap();
    assert_eq!(tier.log(), ["get [5]", "set [5]"]);
}
