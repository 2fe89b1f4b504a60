//! The shared second-level cache: consulted in bulk once per batch, behind the memo, never
//! failing a load.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use coalesce_loader::DataLoader;
use coalesce_loader::tier::{BoxFuture, Tier, TierError, ValueCache};
use common::{Calls, Echo, Gate, MISSING, TestError, poll_once};
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
    /// Fail deletions only (reads and writes still work).
    fail_deletes: AtomicBool,
    /// The next deletion waits here, as if Redis took its time to answer.
    hold_next_delete: Mutex<Option<Gate>>,
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
        let recorded = self.record(format!("delete {keys:?}"));
        let held = self
            .hold_next_delete
            .lock()
            .unwrap()
            .take()
            .map(|g| g.wait());
        let fail = self.fail_deletes.load(Ordering::SeqCst);
        Box::pin(async move {
            recorded?;
            if let Some(held) = held {
                held.await;
            }
            if fail {
                return Err("deletion timed out".into());
            }
            // Applied only once answered: a deletion dropped in flight never happened.
            let mut map = self.map.lock().unwrap();
            keys.iter().for_each(|k| {
                map.remove(k);
            });
            Ok(())
        })
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), TierError>> {
        let result = self
            .record("clear".into())
            .map(|()| self.map.lock().unwrap().clear());
        Box::pin(async move { result })
    }
}

/// A [`MemoryTier`] and the one [`Tier`] the process builds on it.
struct TestTier {
    memory: Arc<MemoryTier>,
    shared: Tier<u64, u64>,
}

impl Default for TestTier {
    fn default() -> Self {
        let memory = Arc::new(MemoryTier::default());
        TestTier {
            shared: Tier::new(Arc::clone(&memory)),
            memory,
        }
    }
}

impl std::ops::Deref for TestTier {
    type Target = MemoryTier;
    fn deref(&self) -> &MemoryTier {
        &self.memory
    }
}

/// A fresh loader (a new request, or another instance) on `tier`.
fn loader_on(tier: &TestTier) -> (DataLoader<Echo>, Calls) {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .value_cache(tier.shared.clone())
    .build();
    (loader, calls)
}

#[test]
fn a_batch_reads_the_tier_once_and_fetches_only_the_misses() {
    let tier = TestTier::default();
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
    let tier = TestTier::default();
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
    let tier = TestTier::default();
    let (loader, _) = loader_on(&tier);
    block_on(loader.load(1)).unwrap();
    tier.log();
    block_on(loader.load(1)).unwrap();
    assert!(tier.log().is_empty(), "a memo hit never reaches the tier");
}

#[test]
fn per_key_errors_are_not_written_to_the_tier() {
    let tier = TestTier::default();
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
    let tier = TestTier::default();
    let loader = DataLoader::builder(coalesce_loader::from_fn(|_: Vec<u64>| async move {
        Err::<Vec<Result<u64, TestError>>, _>(TestError("down".into()))
    }))
    .value_cache(tier.shared.clone())
    .build();
    assert!(block_on(loader.load(1)).is_err());
    assert_eq!(tier.log(), ["get [1]"]);
}

#[test]
fn an_unreachable_tier_counts_as_misses_and_never_fails_a_load() {
    let tier = TestTier::default();
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
    let tier = TestTier::default();
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
    let tier = TestTier::default();
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
    let tier = TestTier::default();
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
    let tier = TestTier::default();
    let (loader, calls) = loader_on(&tier);
    block_on(loader.load_many([1, 2]));
    block_on(loader.clear_all_shared());
    assert!(tier.map.lock().unwrap().is_empty());
    block_on(loader.load_many([1, 2]));
    assert_eq!(calls.count(), 2);
}

#[test]
fn a_failed_tier_deletion_is_retried_before_the_next_batch() {
    let tier = TestTier::default();
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
    let tier = TestTier::default();
    let calls = Calls::default();
    let loader = coalesce_loader::Builder::with_cache_key(
        Echo {
            calls: calls.clone(),
        },
        |k: &u64| k % 100,
    )
    .value_cache(tier.shared.clone())
    .build();
    block_on(loader.load(105)).unwrap();
    assert_eq!(tier.log(), ["get [5]", "set [5]"]);
}

/// A stale entry: the tier still holds the value key 1 had before a mutation changed it (the
/// source, `Echo`, now answers 10).
const STALE: u64 = 999;

#[test]
fn a_batch_dropped_while_sending_a_deletion_never_lets_the_cleared_value_back() {
    let tier = TestTier::default();
    tier.map.lock().unwrap().insert(1, STALE);
    let (loader, _) = loader_on(&tier);
    loader.clear(&1);
    let gate = Gate::default();
    *tier.hold_next_delete.lock().unwrap() = Some(gate.clone());
    let mut next = loader.load(2);
    while gate.waiting.load(Ordering::SeqCst) == 0 {
        assert!(poll_once(&mut next).is_pending());
    }
    drop(next); // a timeout, a select!, a client that went away
    assert_eq!(block_on(loader.load(1)).unwrap(), 10);
    assert!(!tier.map.lock().unwrap().values().any(|&v| v == STALE));
}

#[test]
fn a_clear_shared_dropped_mid_deletion_never_lets_the_cleared_value_back() {
    let tier = TestTier::default();
    tier.map.lock().unwrap().insert(1, STALE);
    let (loader, _) = loader_on(&tier);
    let gate = Gate::default();
    *tier.hold_next_delete.lock().unwrap() = Some(gate.clone());
    let mut clearing = Box::pin(loader.clear_shared([1]));
    while gate.waiting.load(Ordering::SeqCst) == 0 {
        assert!(poll_once(&mut clearing).is_pending());
    }
    drop(clearing);
    assert_eq!(block_on(loader.load(1)).unwrap(), 10);
    let (other_request, _) = loader_on(&tier);
    assert_eq!(block_on(other_request.load(1)).unwrap(), 10);
}

#[test]
fn a_failed_deletion_outlives_the_request_that_made_it_and_is_retried() {
    let tier = TestTier::default();
    tier.map.lock().unwrap().insert(1, STALE);
    let (mutation, _) = loader_on(&tier);
    tier.fail.store(true, Ordering::SeqCst);
    block_on(mutation.clear_shared([1]));
    drop(mutation); // the request that renamed the user is over
    tier.fail.store(false, Ordering::SeqCst);
    tier.log();
    let (next_request, _) = loader_on(&tier);
    assert_eq!(block_on(next_request.load(1)).unwrap(), 10);
    assert_eq!(
        tier.log(),
        ["delete [1]", "get [1]", "set [1]"],
        "the next batch through the tier sends the deletion first"
    );
    assert_eq!(tier.map.lock().unwrap().get(&1), Some(&10));
}

#[test]
fn a_key_whose_deletion_is_unconfirmed_is_not_read_from_the_tier_by_anyone_in_the_process() {
    let tier = TestTier::default();
    tier.map.lock().unwrap().extend([(1, STALE), (2, 20)]);
    tier.fail_deletes.store(true, Ordering::SeqCst);
    let (mutation, _) = loader_on(&tier);
    block_on(mutation.clear_shared([1]));
    drop(mutation);
    tier.log();
    let (next_request, calls) = loader_on(&tier);
    let values = block_on(next_request.load_many([1, 2]));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 20]
    );
    assert_eq!(
        calls.batches(),
        [vec![1]],
        "key 1 skips the tier; key 2 hits it"
    );
    assert_eq!(
        tier.log(),
        ["delete [1]", "get [2]"],
        "retried, failed again; key 1 is neither read nor written back"
    );
}
