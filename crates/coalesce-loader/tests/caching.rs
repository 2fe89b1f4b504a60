//! Memoization, de-duplication, cache maps, clearing and priming.

mod common;

use std::sync::{Arc, Mutex};

use coalesce_loader::{Builder, CacheEntry, CacheMap, DataLoader, NoCache};
use common::{Calls, Echo, TestError, echo, gated, poll_once, poll_until_waiting};
use futures::executor::block_on;
use futures::future::join_all;

#[test]
fn a_loaded_key_is_memoized() {
    let (loader, calls) = echo();
    block_on(async {
        assert_eq!(loader.load(1).await.unwrap(), 10);
        assert_eq!(loader.load(1).await.unwrap(), 10);
    });
    assert_eq!(calls.count(), 1);
    assert_eq!(loader.stats().cache_hits, 1);
}

#[test]
fn the_same_key_twice_in_a_frame_is_sent_once() {
    let (loader, calls) = echo();
    let values = block_on(join_all([1, 2, 1, 1].map(|k| loader.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 20, 10, 10]
    );
    assert_eq!(calls.batches(), [vec![1, 2]]);
}

#[test]
fn a_key_already_in_flight_is_joined_not_fetched_again() {
    let (loader, gate, calls, _) = gated();
    let mut first = loader.load(1);
    poll_until_waiting(&mut first, &gate);
    // The batch holding key 1 is running: a second load of key 1 joins it.
    let second = loader.load(1);
    gate.open();
    let (a, b) = block_on(futures::future::join(first, second));
    assert_eq!((a.unwrap(), b.unwrap()), (10, 10));
    assert_eq!(calls.batches(), [vec![1]]);
    assert_eq!(loader.stats().deduplicated, 1);
}

#[test]
fn cache_off_sends_every_load_duplicates_included() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .cache(false)
    .build();
    let values = block_on(join_all([1, 2, 1].map(|k| loader.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 20, 10]
    );
    assert_eq!(calls.batches(), [vec![1, 2, 1]]);
    block_on(loader.load(1)).unwrap();
    assert_eq!(calls.count(), 2, "nothing is memoized");
}

#[test]
fn cache_off_with_a_mapped_result_answers_every_duplicate() {
    let loader = DataLoader::builder(coalesce_loader::from_fn(|keys: Vec<u64>| async move {
        Ok::<_, TestError>(coalesce_loader::by_key(
            keys.into_iter().filter(|k| *k != 3),
            |k| *k,
        ))
    }))
    .cache(false)
    .build();
    let values = block_on(join_all([1, 3, 1, 1].map(|k| loader.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [Some(1), None, Some(1), Some(1)]
    );
}

#[test]
fn no_cache_map_still_joins_keys_in_flight() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .cache_map(NoCache)
    .build();
    block_on(join_all([1, 1, 2].map(|k| loader.load(k))));
    assert_eq!(calls.batches(), [vec![1, 2]]);
    block_on(loader.load(1)).unwrap();
    assert_eq!(
        calls.batches(),
        [vec![1, 2], vec![1]],
        "finished loads are not memoized"
    );
}

#[derive(Clone, Debug, PartialEq)]
struct Person {
    id: u64,
    name: &'static str,
}

#[test]
fn cache_key_fn_makes_equivalent_object_keys_one_key() {
    // Strawberry's example: User(1, "Nick") twice is one cache entry.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let log = calls.clone();
    let loader = Builder::with_cache_key(
        coalesce_loader::from_fn(move |people: Vec<Person>| {
            log.lock().unwrap().push(people.len());
            async move { Ok::<_, TestError>(people.into_iter().map(Ok).collect::<Vec<_>>()) }
        }),
        |person: &Person| person.id,
    )
    .build();
    let (a, b, c) = block_on(async {
        futures::join!(
            loader.load(Person {
                id: 1,
                name: "Nick"
            }),
            loader.load(Person {
                id: 1,
                name: "Nick"
            }),
            loader.load(Person { id: 2, name: "Ann" }),
        )
    });
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(c.unwrap().name, "Ann");
    assert_eq!(*calls.lock().unwrap(), [2]);
    loader.clear(&Person {
        id: 1,
        name: "whoever",
    });
    block_on(loader.load(Person {
        id: 1,
        name: "Nick",
    }))
    .unwrap();
    assert_eq!(*calls.lock().unwrap(), [2, 1], "cleared by cache key");
}

#[test]
fn composite_keys_work_as_cache_keys() {
    let (tenant_a, tenant_b) = ("a".to_string(), "b".to_string());
    let loader = DataLoader::new(coalesce_loader::from_fn(
        |keys: Vec<(String, u64)>| async move {
            Ok::<_, TestError>(
                keys.into_iter()
                    .map(|(t, id)| Ok(format!("{t}/{id}")))
                    .collect::<Vec<_>>(),
            )
        },
    ));
    let values = block_on(join_all(
        [(tenant_a.clone(), 1), (tenant_b, 1), (tenant_a, 1)].map(|k| loader.load(k)),
    ));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        ["a/1", "b/1", "a/1"]
    );
    assert_eq!(loader.stats().keys, 2);
}

/// The seeds' `UserCache`, recording every call the loader makes of it.
#[derive(Clone, Default)]
struct RecordingCache {
    log: Arc<Mutex<Vec<String>>>,
    map: Arc<Mutex<std::collections::HashMap<u64, CacheEntry<u64, TestError>>>>,
}

impl CacheMap<u64, CacheEntry<u64, TestError>> for RecordingCache {
    fn get(&mut self, key: &u64) -> Option<CacheEntry<u64, TestError>> {
        self.log.lock().unwrap().push(format!("get {key}"));
        self.map.lock().unwrap().get(key).cloned()
    }
    fn set(&mut self, key: u64, value: CacheEntry<u64, TestError>) {
        self.log.lock().unwrap().push(format!("set {key}"));
        self.map.lock().unwrap().insert(key, value);
    }
    fn delete(&mut self, key: &u64) {
        self.log.lock().unwrap().push(format!("delete {key}"));
        self.map.lock().unwrap().remove(key);
    }
    fn clear(&mut self) {
        self.log.lock().unwrap().push("clear".into());
        self.map.lock().unwrap().clear();
    }
}

#[test]
fn a_custom_cache_map_gets_get_set_delete_and_clear() {
    let cache = RecordingCache::default();
    let (_, calls) = echo();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .cache_map(cache.clone())
    .build();
    block_on(async {
        loader.load(1).await.unwrap();
        loader.load(1).await.unwrap();
    });
    loader.clear(&1);
    loader.clear_all();
    assert_eq!(
        *cache.log.lock().unwrap(),
        ["get 1", "set 1", "get 1", "delete 1", "clear"]
    );
    assert_eq!(calls.count(), 1);
}

#[test]
fn a_custom_cache_map_is_keyed_by_the_cache_key() {
    let loader = Builder::with_cache_key(
        Echo {
            calls: Calls::default(),
        },
        |k: &u64| *k % 10,
    )
    .cache_map(std::collections::BTreeMap::<u64, CacheEntry<u64, TestError>>::new().into_hash())
    .build();
    let values = block_on(join_all([1, 11].map(|k| loader.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 10],
        "11 shares 1's cache key"
    );
}

trait IntoHash {
    fn into_hash(self) -> std::collections::HashMap<u64, CacheEntry<u64, TestError>>;
}
impl IntoHash for std::collections::BTreeMap<u64, CacheEntry<u64, TestError>> {
    fn into_hash(self) -> std::collections::HashMap<u64, CacheEntry<u64, TestError>> {
        self.into_iter().collect()
    }
}

#[test]
fn clear_makes_the_next_load_fetch_again() {
    let (loader, calls) = echo();
    block_on(loader.load(1)).unwrap();
    loader.clear(&1);
    block_on(loader.load(1)).unwrap();
    assert_eq!(calls.batches(), [vec![1], vec![1]]);
}

#[test]
fn clear_many_and_clear_all_forget_their_keys() {
    let (loader, calls) = echo();
    block_on(loader.load_many([1, 2, 3]));
    loader.clear_many([1, 2]);
    block_on(loader.load_many([1, 2, 3]));
    assert_eq!(calls.batches(), [vec![1, 2, 3], vec![1, 2]]);
    loader.clear_all();
    block_on(loader.load_many([1, 2, 3]));
    assert_eq!(calls.batches().last().unwrap(), &[1, 2, 3]);
}

#[test]
fn clear_during_flight_answers_the_waiters_but_memoizes_nothing() {
    let (loader, calls) = echo();
    let mut load = loader.load(1);
    assert!(poll_once(&mut load).is_pending());
    loader.clear(&1);
    assert_eq!(block_on(load).unwrap(), 10);
    block_on(loader.load(1)).unwrap();
    assert_eq!(calls.count(), 2);
}

#[test]
fn prime_fills_the_memo_without_a_fetch() {
    let (loader, calls) = echo();
    loader.prime(1, 99).prime_many([(2, 98), (3, 97)]);
    let values = block_on(loader.load_many([1, 2, 3]));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [99, 98, 97]
    );
    assert_eq!(calls.count(), 0);
}

#[test]
fn prime_never_overwrites_a_memoized_key() {
    let (loader, _) = echo();
    block_on(loader.load(1)).unwrap();
    loader.prime(1, 99);
    assert_eq!(block_on(loader.load(1)).unwrap(), 10);
}

#[test]
fn prime_never_overwrites_a_memoized_error() {
    let (loader, _) = echo();
    assert!(block_on(loader.load(common::MISSING)).is_err());
    loader.prime(common::MISSING, 5);
    assert!(block_on(loader.load(common::MISSING)).is_err());
}

#[test]
fn force_prime_overwrites() {
    let (loader, _) = echo();
    block_on(loader.load(1)).unwrap();
    loader.force_prime(1, 99);
    assert_eq!(block_on(loader.load(1)).unwrap(), 99);
    loader.force_prime_many([(1, 98)]);
    assert_eq!(block_on(loader.load(1)).unwrap(), 98);
}

#[test]
fn clear_then_prime_overwrites_as_in_the_reference() {
    let (loader, _) = echo();
    block_on(loader.load(1)).unwrap();
    loader.clear(&1).prime(1, 99);
    assert_eq!(block_on(loader.load(1)).unwrap(), 99);
}

#[test]
fn prime_answers_a_queued_load_and_takes_its_key_out_of_the_batch() {
    let (loader, calls) = echo();
    let (a, b) = block_on(async {
        let a = loader.load(1);
        let b = loader.load(2);
        loader.prime(1, 99);
        futures::join!(a, b)
    });
    assert_eq!((a.unwrap(), b.unwrap()), (99, 20));
    assert_eq!(calls.batches(), [vec![2]]);
}

#[test]
fn priming_every_queued_key_skips_the_batch_function() {
    let (loader, calls) = echo();
    let values = block_on(async {
        let loads = loader.load_many([1, 2]);
        loader.prime_many([(1, 5), (2, 6)]);
        loads.await
    });
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [5, 6]
    );
    assert_eq!(calls.count(), 0);
    assert_eq!(loader.stats().batches, 0);
}

#[test]
fn prime_leaves_a_key_in_flight_alone_but_force_prime_wins_afterwards() {
    let (loader, gate, _, _) = gated();
    let mut load = loader.load(1);
    poll_until_waiting(&mut load, &gate);
    loader.prime(1, 5);
    loader.force_prime(2, 6);
    loader.force_prime(1, 7);
    gate.open();
    assert_eq!(
        block_on(load).unwrap(),
        10,
        "the waiter gets what was fetched"
    );
    assert_eq!(
        block_on(loader.load(1)).unwrap(),
        7,
        "later loads get the forced value"
    );
    assert_eq!(block_on(loader.load(2)).unwrap(), 6);
}

#[test]
fn cache_off_makes_clear_and_prime_no_ops() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .cache(false)
    .build();
    loader.prime(1, 99).clear(&1).clear_all();
    assert_eq!(block_on(loader.load(1)).unwrap(), 10);
}

#[cfg(feature = "moka")]
#[test]
fn lru_cache_map_evicts_beyond_its_capacity() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .cache_map(coalesce_loader::cache::lru(10))
    .build();
    for k in 0..100 {
        block_on(loader.load(k)).unwrap();
    }
    let before = calls.count();
    block_on(join_all((0..100).map(|k| loader.load(k))));
    assert!(
        calls.count() > before,
        "entries beyond capacity were evicted and fetched again"
    );
}

#[cfg(feature = "moka")]
#[test]
fn ttl_cache_map_forgets_entries_after_their_time() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .cache_map(coalesce_loader::cache::ttl(
        std::time::Duration::from_millis(1),
    ))
    .build();
    block_on(loader.load(1)).unwrap();
    // Expiry is the behaviour under test, so waiting out the TTL is the test, not a race.
    std::thread::sleep(std::time::Duration::from_millis(20));
    block_on(loader.load(1)).unwrap();
    assert_eq!(calls.count(), 2);
}

#[test]
fn a_key_cleared_while_queued_and_loaded_again_is_answered_both_times() {
    let (loader, calls) = echo();
    let (a, b) = block_on(async {
        let a = loader.load(1);
        loader.clear(&1);
        let b = loader.load(1);
        futures::join!(a, b)
    });
    assert_eq!((a.unwrap(), b.unwrap()), (10, 10));
    assert_eq!(calls.batches(), [vec![1, 1]]);
    block_on(loader.load(1)).unwrap();
    assert_eq!(calls.count(), 1, "the second slot's answer was memoized");
}

#[test]
fn a_key_primed_with_an_error_fails_with_it_and_is_never_fetched() {
    let (loader, calls) = common::echo();
    // Queued first, in the open batch: the prime answers it and takes it out of the batch.
    let mut queued = loader.load(7);
    let _ = common::poll_once(&mut queued);
    loader.prime_error(7, TestError("user 7 is banned".into()));
    let (seven, eight) = block_on(async { futures::join!(queued, loader.load(8)) });
    let err = seven.unwrap_err();
    assert!(err.is_key_error());
    assert_eq!(err.to_string(), "user 7 is banned");
    assert_eq!(eight.unwrap(), 80);
    // Memoized like a per-key error: later loads fail the same way, with no call.
    assert_eq!(
        block_on(loader.load(7)).unwrap_err().to_string(),
        "user 7 is banned"
    );
    assert_eq!(calls.batches(), [vec![8]]);
}
