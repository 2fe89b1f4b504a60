//! The blocking loader: deferred loads, chaining, rounds, and the core's semantics.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use coalesce_loader::LoadError;
use coalesce_loader::blocking::{self, Deferred, Runner, Unresolved};
use common::{MISSING, TestError, echo_value};

/// Blocking twin of `common::Echo`: `key * 10`, per-key errors from `MISSING` on.
#[derive(Clone, Default)]
struct BlockingEcho {
    calls: common::Calls,
}

impl blocking::Loader for BlockingEcho {
    type Key = u64;
    type Output = Vec<Result<u64, TestError>>;
    type Error = TestError;

    fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, TestError> {
        self.calls.record(keys);
        Ok(keys.iter().map(|&k| echo_value(k)).collect())
    }
}

fn blocking_echo(runner: &Runner) -> (blocking::DataLoader<BlockingEcho>, common::Calls) {
    let echo = BlockingEcho::default();
    (blocking::DataLoader::new(runner, echo.clone()), echo.calls)
}

/// A `from_fn` loader's type, as a user writes it down.
type Squares = blocking::FnLoader<u64, Vec<Result<u64, TestError>>, TestError>;

fn square_all(keys: &[u64]) -> Result<Vec<Result<u64, TestError>>, TestError> {
    Ok(keys.iter().map(|k| Ok(k * k)).collect())
}

/// A request's blocking loaders, kept in a struct.
struct ReportLoaders {
    squares: blocking::DataLoader<Squares>,
}

#[test]
fn a_from_fn_loader_can_be_a_struct_field_and_its_loads_have_a_nameable_type() {
    let runner = Runner::new();
    let loaders = ReportLoaders {
        squares: blocking::DataLoader::new(&runner, blocking::from_fn(square_all)),
    };
    let four: Deferred<blocking::LoadResult<Squares>> = loaders.squares.load(2);
    assert_eq!(runner.resolve(four).unwrap().unwrap(), 4);
}

#[test]
fn a_blocking_loader_is_named_after_its_batch_function_unless_named() {
    let runner = Runner::new();
    let (echo, _) = blocking_echo(&runner);
    let squares = blocking::DataLoader::new(&runner, blocking::from_fn(square_all));
    assert_eq!(
        (echo.name(), squares.name()),
        ("BlockingEcho", "square_all")
    );
    let named = blocking::DataLoader::builder(BlockingEcho::default())
        .name("users")
        .build(&runner);
    assert_eq!(named.name(), "users");
}

#[test]
fn loads_made_before_the_runner_runs_share_one_batch() {
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    let a = users.load(1);
    let b = users.load(2);
    assert!(!a.is_ready());
    assert_eq!(runner.run(), 1);
    assert_eq!(
        (
            a.try_take().unwrap().unwrap(),
            b.try_take().unwrap().unwrap()
        ),
        (10, 20)
    );
    assert_eq!(calls.batches(), [vec![1, 2]]);
}

#[test]
fn best_friends_of_two_users_cost_two_batch_calls_not_four() {
    // promise's DataLoader: load(1).then(user => load(user.best_friend_id)), twice.
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    let friend_of = |id| {
        let users = users.clone();
        users.load(id).and_then(move |v| users.load(v + 1))
    };
    let (first, second) = (friend_of(1), friend_of(2));
    assert_eq!(runner.run(), 2);
    assert_eq!(first.try_take().unwrap().unwrap(), 110);
    assert_eq!(second.try_take().unwrap().unwrap(), 210);
    assert_eq!(calls.batches(), [vec![1, 2], vec![11, 21]]);
}

#[test]
fn chains_three_deep_cost_one_batch_per_level() {
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    let chains: Vec<_> = (1..=5)
        .map(|k| {
            let (u1, u2) = (users.clone(), users.clone());
            users
                .load(k)
                .and_then(move |v| u1.load(v + 1))
                .and_then(move |v| u2.load(v + 1))
                .map(|r| r.map(|v| v + 1))
        })
        .collect();
    let values: Vec<u64> = chains
        .into_iter()
        .map(|d| runner.resolve(d).unwrap().unwrap())
        .collect();
    assert_eq!(values, [1111, 2111, 3111, 4111, 5111]);
    assert_eq!(calls.count(), 3);
    assert_eq!(runner.rounds(), 3);
}

#[test]
fn a_chain_through_two_loaders_batches_each_per_round() {
    let runner = Runner::new();
    let (users, user_calls) = blocking_echo(&runner);
    let (albums, album_calls) = blocking_echo(&runner);
    let loads: Vec<_> = (1..=3)
        .map(|k| {
            let albums = albums.clone();
            users.load(k).and_then(move |band| albums.load(band))
        })
        .collect();
    let all = runner.resolve(Deferred::join_all(loads)).unwrap();
    assert_eq!(
        all.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [100, 200, 300]
    );
    assert_eq!((user_calls.count(), album_calls.count()), (1, 1));
}

#[test]
fn load_many_answers_each_key_in_order_never_failing_as_a_whole() {
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    let all = runner.resolve(users.load_many([3, MISSING, 1])).unwrap();
    assert_eq!(all[0].as_ref().unwrap(), &30);
    assert!(all[1].as_ref().unwrap_err().is_key_error());
    assert_eq!(all[2].as_ref().unwrap(), &10);
    assert_eq!(calls.batches(), [vec![3, MISSING, 1]]);
}

#[test]
fn a_runner_with_nothing_pending_runs_no_round() {
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    assert_eq!(runner.run(), 0);
    users.prime(1, 5);
    assert_eq!(
        runner.resolve(users.load(1)).unwrap().unwrap(),
        5,
        "a memo hit is ready at once"
    );
    assert_eq!((runner.rounds(), calls.count()), (0, 0));
}

#[test]
fn the_real_per_key_error_reaches_the_caller_through_then() {
    let runner = Runner::new();
    let (users, _) = blocking_echo(&runner);
    let chained = {
        let users = users.clone();
        users.load(MISSING).and_then(move |v| users.load(v + 1))
    };
    match runner.resolve(chained).unwrap().unwrap_err() {
        LoadError::Key(e) => assert_eq!(e.0, format!("key {MISSING} not found")),
        other => panic!("expected the per-key error, got {other:?}"),
    }
}

#[test]
fn an_error_made_inside_then_reaches_the_caller() {
    let runner = Runner::new();
    let (users, _) = blocking_echo(&runner);
    let checked = users.load(4).map(|r| match r {
        Ok(v) if v > 10 => Err(format!("user {v} is banned")),
        other => other.map_err(|e| e.to_string()),
    });
    assert_eq!(
        runner.resolve(checked).unwrap(),
        Err("user 40 is banned".to_string())
    );
}

#[test]
fn memoized_values_are_not_fetched_again_and_clear_forgets_them() {
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    runner.resolve(users.load(1)).unwrap().unwrap();
    runner.resolve(users.load(1)).unwrap().unwrap();
    assert_eq!(calls.count(), 1);
    users.clear(&1);
    runner.resolve(users.load(1)).unwrap().unwrap();
    users.clear_all();
    runner.resolve(users.load(1)).unwrap().unwrap();
    assert_eq!(calls.count(), 3);
}

#[test]
fn prime_answers_a_deferred_load_without_a_fetch() {
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    let queued = users.load(7);
    users.prime(7, 70_000);
    assert_eq!(runner.resolve(queued).unwrap().unwrap(), 70_000);
    assert_eq!(calls.count(), 0);
}

#[test]
fn whole_batch_error_reaches_every_load_and_is_not_cached() {
    let runner = Runner::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    let users = blocking::DataLoader::new(
        &runner,
        blocking::from_fn({
            let attempts = attempts.clone();
            move |keys: &[u64]| {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(TestError("database is down".into()));
                }
                Ok(keys.iter().map(|&k| Ok(k)).collect::<Vec<_>>())
            }
        }),
    );
    let (a, b) = (users.load(1), users.load(2));
    runner.run();
    for r in [a.try_take().unwrap(), b.try_take().unwrap()] {
        assert!(
            matches!(r, Err(LoadError::Batch(ref e)) if e.0 == "database is down"),
            "{r:?}"
        );
    }
    assert_eq!(
        runner.resolve(users.load(1)).unwrap().unwrap(),
        1,
        "retried"
    );
}

#[test]
fn wrong_length_and_panics_fail_the_batch_and_leave_the_loader_usable() {
    let runner = Runner::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let users = blocking::DataLoader::new(
        &runner,
        blocking::from_fn({
            let calls = calls.clone();
            move |keys: &[u64]| match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(vec![]),
                1 => panic!("exploded"),
                _ => Ok::<_, TestError>(keys.iter().map(|&k| Ok(k)).collect::<Vec<_>>()),
            }
        }),
    );
    let short = runner.resolve(users.load(1)).unwrap().unwrap_err();
    assert!(
        matches!(
            short,
            LoadError::WrongLength {
                keys: 1,
                values: 0,
                ..
            }
        ),
        "{short:?}"
    );
    let panicked = runner.resolve(users.load(1)).unwrap().unwrap_err();
    assert!(
        matches!(panicked, LoadError::Panic { ref message, .. } if &**message == "exploded"),
        "{panicked:?}"
    );
    assert_eq!(runner.resolve(users.load(1)).unwrap().unwrap(), 1);
}

#[test]
fn max_batch_size_and_cache_key_fn_apply_as_for_the_async_loader() {
    let runner = Runner::new();
    let echo = BlockingEcho::default();
    let users = blocking::Builder::with_cache_key(echo.clone(), |k: &u64| k % 100)
        .max_batch_size(2)
        .build(&runner);
    let all = runner
        .resolve(users.load_many([1, 2, 3, 101, 4, 5]))
        .unwrap();
    assert_eq!(
        all.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 20, 30, 10, 40, 50]
    );
    assert_eq!(echo.calls.batches(), [vec![1, 2], vec![3, 4], vec![5]]);
}

#[test]
fn a_mapped_result_gives_none_for_missing_keys() {
    let runner = Runner::new();
    let users = blocking::DataLoader::new(
        &runner,
        blocking::from_fn(|ids: &[u64]| {
            Ok::<_, TestError>(coalesce_loader::by_key(
                ids.iter().copied().filter(|id| id % 2 == 0),
                |id| *id,
            ))
        }),
    );
    let all = runner.resolve(users.load_many([1, 2])).unwrap();
    assert_eq!(
        all.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [None, Some(2)]
    );
}

#[test]
fn reading_a_value_before_the_runner_runs_is_an_error_not_a_hang() {
    let runner = Runner::new();
    let (users, _) = blocking_echo(&runner);
    assert_eq!(users.load(1).try_take().unwrap_err(), Unresolved);
}

#[test]
fn a_load_bound_to_another_runner_reads_as_unresolved() {
    let (mine, theirs) = (Runner::new(), Runner::new());
    let (users, calls) = blocking_echo(&theirs);
    let err = mine.resolve(users.load(1)).unwrap_err();
    assert!(err.to_string().contains("never dispatched"), "{err}");
    assert_eq!(calls.count(), 0);
}

#[test]
fn a_loader_dropped_with_loads_pending_leaves_them_unresolved() {
    let runner = Runner::new();
    let (users, calls) = blocking_echo(&runner);
    let orphan = users.load(1);
    drop(users);
    assert_eq!(runner.resolve(orphan).unwrap_err(), Unresolved);
    assert_eq!(calls.count(), 0);
}

#[test]
fn two_threads_with_their_own_loaders_never_see_each_others_keys() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = [0u64, 1000]
        .into_iter()
        .map(|base| {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let runner = Runner::new();
                let users = blocking::DataLoader::new(
                    &runner,
                    blocking::from_fn({
                        let seen = seen.clone();
                        move |keys: &[u64]| {
                            seen.lock().unwrap().push((base, keys.to_vec()));
                            Ok::<_, TestError>(keys.iter().map(|&k| Ok(k)).collect::<Vec<_>>())
                        }
                    }),
                );
                for round in 0..200 {
                    let keys: Vec<u64> = (0..5).map(|i| base + round * 5 + i).collect();
                    let values = runner.resolve(users.load_many(keys.clone())).unwrap();
                    assert_eq!(
                        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
                        keys
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 400);
    for (base, keys) in seen.iter() {
        assert!(
            keys.iter().all(|k| (base..&(base + 1000)).contains(&k)),
            "thread {base} got {keys:?}"
        );
    }
}

#[test]
fn a_runner_dropped_with_chained_loads_pending_frees_its_loaders() {
    // The continuation holds a loader clone; without the runner withdrawing the pending loads,
    // loader -> waiting load -> continuation -> loader would be a cycle that never frees.
    let token = Arc::new(());
    struct Tracked(#[allow(dead_code)] Arc<()>);
    impl blocking::Loader for Tracked {
        type Key = u64;
        type Output = Vec<Result<u64, TestError>>;
        type Error = TestError;
        fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, TestError> {
            Ok(keys.iter().map(|&k| Ok(k)).collect())
        }
    }
    {
        let runner = Runner::new();
        let users = blocking::DataLoader::new(&runner, Tracked(token.clone()));
        let _chained = {
            let again = users.clone();
            users.load(1).and_then(move |v| again.load(v + 1))
        };
        // The request fails here, before the runner runs.
    }
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "the loader and its batch function were freed"
    );
}

#[test]
fn a_chain_of_a_hundred_thousand_maps_resolves_without_deep_recursion() {
    let runner = Runner::new();
    let (users, _) = blocking_echo(&runner);
    let mut chain = users.load(1).map(|r| r.unwrap());
    for _ in 0..100_000 {
        chain = chain.map(|v| v + 1);
    }
    assert_eq!(runner.resolve(chain).unwrap(), 100_010);
}
