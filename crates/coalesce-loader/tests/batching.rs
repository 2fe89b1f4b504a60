//! How loads become batches: the frame rule, its runtimes, and the batching options.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coalesce_loader::{DataLoader, Schedule};
use common::{Calls, Echo, echo, load_one_by_one, poll_once, yield_now};
use futures::future::join_all;

#[test]
fn concurrent_loads_share_one_batch() {
    let (loader, calls) = echo();
    let values = futures::executor::block_on(async {
        let (a, b) = futures::join!(loader.load(1), loader.load(2));
        (a.unwrap(), b.unwrap())
    });
    assert_eq!(values, (10, 20));
    assert_eq!(calls.batches(), [vec![1, 2]]);
}

#[test]
fn a_thousand_loads_in_one_join_all_are_one_batch() {
    let (loader, calls) = echo();
    let values = futures::executor::block_on(join_all((0..1000).map(|k| loader.load(k))));
    assert!(
        values
            .into_iter()
            .enumerate()
            .all(|(k, v)| v.unwrap() == k as u64 * 10)
    );
    assert_eq!(calls.batches(), [(0..1000).collect::<Vec<_>>()]);
}

#[test]
fn loads_started_before_the_first_await_share_a_batch() {
    // aiodataloader's example: two futures created, then awaited one after the other.
    let (loader, calls) = echo();
    futures::executor::block_on(async {
        let user1 = loader.load(1);
        let user2 = loader.load(2);
        assert_eq!(user1.await.unwrap(), 10);
        assert_eq!(user2.await.unwrap(), 20);
    });
    assert_eq!(calls.count(), 1);
}

#[test]
fn dependent_loads_cost_one_batch_per_level() {
    // promise's DataLoader: load(1).then(user => load(user.best_friend_id)), for many users at
    // once, three levels deep. Each level's loads are one batch.
    for width in [2, 20, 1000] {
        let (loader, calls) = echo();
        futures::executor::block_on(join_all((1..=width).map(|k| {
            let loader = &loader;
            async move {
                let friend = loader.load(k).await.unwrap() + 1;
                let friend_of_friend = loader.load(friend).await.unwrap() + 1;
                loader.load(friend_of_friend).await.unwrap()
            }
        })));
        assert_eq!(
            calls.count(),
            3,
            "width {width}: {:?}",
            calls.batches().iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

#[test]
fn loads_after_work_that_yields_once_still_join_the_batch() {
    // A resolver that yields (say, awaits another memoized load) before it loads.
    let (loader, calls) = echo();
    futures::executor::block_on(async {
        let direct = loader.load(1);
        let after_yield = async {
            yield_now().await;
            loader.load(2).await
        };
        let (a, b) = futures::join!(direct, after_yield);
        (a.unwrap(), b.unwrap())
    });
    assert_eq!(calls.batches(), [vec![1, 2]]);
}

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs 100 two-level chains of loads on `run`, and returns the size of each batch.
fn nested_levels_on_runtime(run: impl FnOnce(BoxFuture)) -> Vec<usize> {
    let (loader, calls) = echo();
    run(Box::pin(async move {
        join_all((1..=100).map(|k| {
            let loader = &loader;
            async move {
                let a = loader.load(k).await.unwrap();
                loader.load(a + 1000).await.unwrap()
            }
        }))
        .await;
    }));
    calls.batches().iter().map(Vec::len).collect()
}

#[test]
fn batches_per_level_under_block_on_with_no_runtime() {
    assert_eq!(
        nested_levels_on_runtime(futures::executor::block_on),
        [100, 100]
    );
}

#[test]
fn batches_per_level_on_tokio_current_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(nested_levels_on_runtime(|f| rt.block_on(f)), [100, 100]);
}

#[test]
fn batches_per_level_on_tokio_multi_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let on_a_worker = |f| rt.block_on(async { tokio::spawn(f).await.unwrap() });
    assert_eq!(nested_levels_on_runtime(on_a_worker), [100, 100]);
}

#[test]
fn loads_from_tasks_on_a_multi_thread_runtime_all_get_their_values() {
    // Tasks on two workers: how many batches form depends on scheduling (the frame rule's
    // documented limit), but every load is answered correctly and no key is fetched twice.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (loader, calls) = echo();
    rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let loader = loader.clone();
                tokio::spawn(async move {
                    let keys: Vec<u64> = (0..100).map(|i| (t * 7 + i) % 300).collect();
                    let values = join_all(keys.iter().map(|&k| loader.load(k))).await;
                    for (k, v) in keys.iter().zip(values) {
                        assert_eq!(v.unwrap(), k * 10);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let mut fetched: Vec<u64> = calls.batches().concat();
    let total = fetched.len();
    fetched.sort_unstable();
    fetched.dedup();
    assert_eq!(fetched.len(), total, "a key was fetched twice");
    assert_eq!(total, 300);
}

#[test]
fn max_batch_size_splits_a_frame_into_batches_that_all_run() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .max_batch_size(3)
    .build();
    let values = futures::executor::block_on(join_all((1..=10).map(|k| loader.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        (1..=10).map(|k| k * 10).collect::<Vec<_>>()
    );
    assert_eq!(
        calls.batches(),
        [vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10]]
    );
}

#[test]
fn max_batch_size_splits_load_many() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .max_batch_size(4)
    .build();
    let values = futures::executor::block_on(loader.load_many(1..=10));
    assert_eq!(values.len(), 10);
    assert!(
        values
            .iter()
            .zip(1..)
            .all(|(v, k)| *v.as_ref().unwrap() == k * 10)
    );
    assert_eq!(
        calls.batches().iter().map(Vec::len).collect::<Vec<_>>(),
        [4, 4, 2]
    );
}

#[test]
fn batch_false_sends_every_key_alone() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .batch(false)
    .build();
    futures::executor::block_on(join_all((1..=3).map(|k| loader.load(k))));
    assert_eq!(calls.batches(), [vec![1], vec![2], vec![3]]);
}

#[test]
fn max_concurrent_batches_bounds_batches_in_flight() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let loader = DataLoader::builder(coalesce_loader::from_fn(move |keys: Vec<u64>| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            for _ in 0..3 {
                yield_now().await;
            }
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, common::TestError>(keys.iter().map(|&k| Ok(k)).collect::<Vec<_>>())
        }
    }))
    .max_batch_size(2)
    .max_concurrent_batches(2)
    .build();
    let values = futures::executor::block_on(join_all((0..11).map(|k| loader.load(k))));
    assert!(values.into_iter().zip(0..).all(|(v, k)| v.unwrap() == k));
    assert_eq!(loader.stats().batches, 6);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[test]
fn yields_schedule_waits_for_the_given_number_of_yields() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .schedule(Schedule::Yields(3))
    .build();
    futures::executor::block_on(async {
        let late = async {
            // Three yields late: still within the driver's three yields.
            for _ in 0..2 {
                yield_now().await;
            }
            loader.load(2).await
        };
        let (a, b) = futures::join!(loader.load(1), late);
        (a.unwrap(), b.unwrap())
    });
    assert_eq!(calls.batches(), [vec![1, 2]]);
}

#[test]
fn manual_schedule_sends_only_on_dispatch() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .schedule(Schedule::Manual)
    .build();
    let mut both = Box::pin(futures::future::join(loader.load(1), loader.load(2)));
    for _ in 0..10 {
        assert!(poll_once(&mut both).is_pending());
    }
    assert_eq!(calls.count(), 0);
    loader.dispatch();
    let (a, b) = futures::executor::block_on(both);
    assert_eq!((a.unwrap(), b.unwrap()), (10, 20));
    assert_eq!(calls.batches(), [vec![1, 2]]);
}

/// An echo loader that sends only on `dispatch` or when two keys fill a batch.
fn manual_with_batches_of_two() -> (DataLoader<Echo>, Calls) {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .schedule(Schedule::Manual)
    .max_batch_size(2)
    .build();
    (loader, calls)
}

#[test]
fn manual_schedule_still_sends_a_full_batch() {
    let (loader, calls) = manual_with_batches_of_two();
    let values = futures::executor::block_on(async {
        let (a, b) = futures::join!(loader.load(1), loader.load(2));
        (a.unwrap(), b.unwrap())
    });
    assert_eq!(values, (10, 20));
    assert_eq!(calls.batches(), [vec![1, 2]]);
}

#[test]
fn a_load_that_fills_the_batch_wakes_the_driver_waiting_on_it() {
    use futures::FutureExt;
    for fill_with_load_many in [false, true] {
        let (loader, calls) = manual_with_batches_of_two();
        let woken = Arc::new(WakeCount::default());
        let waker = std::task::Waker::from(Arc::clone(&woken));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut first = Box::pin(loader.load(1));
        // The driver: under `Manual` it waits for `dispatch` or a full batch.
        assert!(first.as_mut().poll(&mut cx).is_pending());
        // Queued when called, before any poll: the batch is full now.
        let second = if fill_with_load_many {
            let load = loader.load_many([2]);
            load.map(|values| values.into_iter().map(Result::unwrap).collect())
                .left_future()
        } else {
            loader
                .load(2)
                .map(|value| vec![value.unwrap()])
                .right_future()
        };
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            1,
            "the load that filled the batch woke its driver (load_many: {fill_with_load_many})"
        );
        match first.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(value) => assert_eq!(value.unwrap(), 10),
            std::task::Poll::Pending => panic!("the woken driver sends its full batch"),
        }
        let second: Vec<u64> = futures::executor::block_on(second);
        assert_eq!(second, [20]);
        assert_eq!(calls.batches(), [vec![1, 2]]);
    }
}

#[test]
fn dispatch_sends_the_collecting_batch_early() {
    let (loader, calls) = echo();
    futures::executor::block_on(async {
        let first = loader.load(1);
        loader.dispatch();
        let second = loader.load(2);
        let (a, b) = futures::join!(first, second);
        (a.unwrap(), b.unwrap())
    });
    assert_eq!(calls.batches(), [vec![1], vec![2]]);
}

#[test]
fn dispatch_starts_the_batch_function_before_it_returns() {
    let (loader, calls) = manual_with_batches_of_two();
    // Never polled: nobody is the driver yet, and the full batch [1, 2] is sealed but not sent.
    let loads = [loader.load(1), loader.load(2), loader.load(3)];
    assert_eq!(calls.count(), 0);
    loader.dispatch();
    assert_eq!(calls.batches(), [vec![1, 2], vec![3]]);
    let values = futures::executor::block_on(join_all(loads));
    let values: Vec<u64> = values.into_iter().map(Result::unwrap).collect();
    assert_eq!(values, [10, 20, 30]);
    assert_eq!(calls.count(), 2);
}

#[test]
fn a_batch_started_by_dispatch_is_finished_by_its_driver() {
    let (loader, gate, calls, _) = common::gated();
    let woken = Arc::new(WakeCount::default());
    let waker = std::task::Waker::from(Arc::clone(&woken));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut load = Box::pin(loader.load(1));
    assert!(load.as_mut().poll(&mut cx).is_pending()); // the driver, waiting for the frame
    loader.dispatch();
    assert_eq!(calls.batches(), [vec![1]]);
    assert_eq!(
        gate.waiting.load(Ordering::SeqCst),
        1,
        "the fetch is in flight"
    );
    assert!(load.as_mut().poll(&mut cx).is_pending());
    gate.open();
    assert!(
        woken.0.load(Ordering::SeqCst) > 0,
        "the fetch woke the driver"
    );
    match load.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => assert_eq!(value.unwrap(), 10),
        std::task::Poll::Pending => panic!("the driver was woken with its answer ready"),
    }
}

#[derive(Default)]
struct WakeCount(AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn loads_dropped_while_dispatch_runs_their_batch_abandon_it_and_cache_nothing() {
    type Held = Arc<std::sync::Mutex<Vec<BoxFuture>>>;
    for finishes_at_once in [true, false] {
        let held: Held = Held::default();
        let calls = Calls::default();
        let loader = DataLoader::builder(coalesce_loader::from_fn({
            let (held, calls) = (held.clone(), calls.clone());
            move |keys: Vec<u64>| {
                calls.record(&keys);
                let hang = !finishes_at_once && calls.count() == 1;
                // The loads waiting on this very batch go away while it runs.
                drop(std::mem::take(&mut *held.lock().unwrap()));
                let values: Vec<Result<u64, common::TestError>> =
                    keys.iter().map(|&k| Ok(k * 10)).collect();
                async move {
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    Ok(values)
                }
            }
        }))
        .schedule(Schedule::Manual)
        .build();
        let mut load: BoxFuture = Box::pin({
            let loader = loader.clone();
            async move { assert_eq!(loader.load(1).await.unwrap(), 10) }
        });
        assert!(poll_once(&mut load).is_pending());
        held.lock().unwrap().push(load);
        loader.dispatch();
        assert_eq!(calls.batches(), [vec![1]]);
        assert!(held.lock().unwrap().is_empty());

        // Nothing of the abandoned batch was kept: the next load fetches afresh.
        let again = loader.load(1);
        loader.dispatch();
        assert_eq!(futures::executor::block_on(again).unwrap(), 10);
        assert_eq!(
            calls.batches(),
            [vec![1], vec![1]],
            "finishes at once: {finishes_at_once}"
        );
        assert_eq!(loader.stats().cache_hits, 0);
    }
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn window_schedule_collects_loads_for_the_whole_window() {
    use std::time::Duration;
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .schedule(Schedule::Window(Duration::from_millis(10)))
    .build();
    let late = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        loader.load(2).await
    };
    let too_late = async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        loader.load(3).await
    };
    let (a, b, c) = tokio::join!(loader.load(1), late, too_late);
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (10, 20, 30));
    assert_eq!(calls.batches(), [vec![1, 2], vec![3]]);
}

#[test]
fn nested_loaders_call_each_other_without_deadlock() {
    // A batch function that loads from another loader, which loads from a third, all inside
    // the outer batch: one batch per loader.
    let inner_calls = Calls::default();
    let inner = DataLoader::new(Echo {
        calls: inner_calls.clone(),
    });
    let middle = DataLoader::new(coalesce_loader::from_fn({
        let inner = inner.clone();
        move |keys: Vec<u64>| {
            let inner = inner.clone();
            async move {
                let values = inner.load_many(keys.iter().map(|k| k + 1)).await;
                Ok::<_, common::TestError>(
                    values
                        .into_iter()
                        .map(|v| v.map_err(|e| common::TestError(e.to_string())))
                        .collect::<Vec<_>>(),
                )
            }
        }
    }));
    let outer = DataLoader::new(coalesce_loader::from_fn({
        let middle = middle.clone();
        move |keys: Vec<u64>| {
            let middle = middle.clone();
            async move {
                let values = join_all(keys.iter().map(|&k| middle.load(k))).await;
                Ok::<_, common::TestError>(
                    values
                        .into_iter()
                        .map(|v| v.map_err(|e| common::TestError(e.to_string())))
                        .collect::<Vec<_>>(),
                )
            }
        }
    }));
    let values = futures::executor::block_on(join_all((1..=5).map(|k| outer.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [20, 30, 40, 50, 60]
    );
    assert_eq!((outer.stats().batches, middle.stats().batches), (1, 1));
    assert_eq!(inner_calls.batches(), [vec![2, 3, 4, 5, 6]]);
}

/// Employees whose batch function loads their managers through the same loader.
struct Staff {
    me: Arc<std::sync::OnceLock<DataLoader<Staff>>>,
}

impl coalesce_loader::Loader for Staff {
    type Key = u64;
    type Output = Vec<Result<u64, common::TestError>>;
    type Error = common::TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, Self::Error> {
        let loader = self.me.get().expect("set after build");
        // Keys above 100 are managers, who have none.
        Ok(join_all(keys.iter().map(|&k| async move {
            if k > 100 {
                Ok(k)
            } else {
                loader
                    .load(k + 100)
                    .await
                    .map_err(|e| common::TestError(e.to_string()))
            }
        }))
        .await)
    }
}

#[test]
fn a_batch_function_may_load_other_keys_from_its_own_loader() {
    let me = Arc::new(std::sync::OnceLock::new());
    let loader = DataLoader::new(Staff { me: me.clone() });
    assert!(me.set(loader.clone()).is_ok());
    let values = futures::executor::block_on(join_all((1..=3).map(|k| loader.load(k))));
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [101, 102, 103]
    );
    assert_eq!(loader.stats().batches, 2);
}

/// Depth of a node in a chain: the depth of its parent (loaded through the same loader) + 1.
struct Depths {
    me: Arc<std::sync::OnceLock<DataLoader<Depths>>>,
}

impl coalesce_loader::Loader for Depths {
    type Key = u64;
    type Output = Vec<Result<u64, common::TestError>>;
    type Error = common::TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, Self::Error> {
        let me = self.me.get().expect("set after build");
        let mut out = Vec::new();
        for &k in keys {
            out.push(match k {
                0 => Ok(0),
                _ => me
                    .load(k - 1)
                    .await
                    .map(|d| d + 1)
                    .map_err(|e| common::TestError(e.to_string())),
            });
        }
        Ok(out)
    }
}

#[test]
fn a_batch_function_loading_its_own_loader_under_a_permit_limit_does_not_wait_for_itself() {
    let me = Arc::new(std::sync::OnceLock::new());
    let loader = DataLoader::builder(Depths { me: me.clone() })
        .max_concurrent_batches(1)
        .build();
    assert!(me.set(loader.clone()).is_ok());
    assert_eq!(futures::executor::block_on(loader.load(3)).unwrap(), 3);
    assert_eq!(loader.stats().batches, 4);
}

#[test]
fn loads_awaited_one_by_one_count_one_single_key_run() {
    let (loader, calls) = echo();
    load_one_by_one(&loader, 0..25);
    assert_eq!(calls.count(), 25);
    // 25 batches of one key in a row: one run, however long, at the default of 10.
    assert_eq!(loader.stats().single_key_runs, 1);
}

#[test]
fn a_batch_of_several_keys_ends_a_run_of_single_key_batches() {
    let (loader, _) = echo();
    for round in 0..3 {
        load_one_by_one(&loader, round * 100..round * 100 + 9);
        futures::executor::block_on(loader.load_many([round * 100 + 50, round * 100 + 51]));
    }
    // Three runs of nine: none reaches ten.
    assert_eq!(loader.stats().single_key_runs, 0);
}

#[test]
fn loaders_that_send_one_key_per_batch_by_design_never_count_a_run() {
    for builder in [
        DataLoader::builder(Echo {
            calls: Calls::default(),
        })
        .batch(false),
        DataLoader::builder(Echo {
            calls: Calls::default(),
        })
        .n_plus_one_after(None),
    ] {
        let loader = builder.build();
        load_one_by_one(&loader, 0..25);
        assert_eq!(loader.stats().single_key_runs, 0);
    }
}
