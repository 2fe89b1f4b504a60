//! Dropped waiters never strand the others, and a batch nobody waits for is cancelled.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use coalesce_loader::DataLoader;
use common::{Calls, Echo, TestError, echo, gated, poll_once, poll_until_waiting};
use futures::executor::block_on;

#[test]
fn cancelling_the_first_waiter_before_the_batch_runs_does_not_strand_the_others() {
    let (loader, calls) = echo();
    let mut first = loader.load(1);
    let second = loader.load(2);
    // `first` drives the batch: it has yielded, waiting for the frame to end.
    assert!(poll_once(&mut first).is_pending());
    drop(first);
    assert_eq!(block_on(second).unwrap(), 20);
    assert_eq!(calls.count(), 1);
}

#[test]
fn cancelling_the_driver_mid_fetch_lets_another_waiter_finish_the_same_fetch() {
    let (loader, gate, calls, cancelled) = gated();
    let mut first = loader.load(1);
    let second = loader.load(2);
    poll_until_waiting(&mut first, &gate);
    drop(first);
    gate.open();
    assert_eq!(block_on(second).unwrap(), 20);
    assert_eq!(
        calls.batches(),
        [vec![1, 2]],
        "the fetch was not started twice"
    );
    assert_eq!(cancelled.load(Ordering::SeqCst), 0);
}

#[test]
fn a_batch_whose_waiters_are_all_dropped_is_cancelled_and_forgotten() {
    let (loader, gate, calls, cancelled) = gated();
    let mut first = loader.load(1);
    let second = loader.load(1);
    poll_until_waiting(&mut first, &gate);
    drop(first);
    drop(second);
    assert_eq!(cancelled.load(Ordering::SeqCst), 1, "the fetch was dropped");
    assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    // Nothing was memoized: the next load fetches again, and gets its value.
    gate.open();
    assert_eq!(block_on(loader.load(1)).unwrap(), 10);
    assert_eq!(calls.batches(), [vec![1], vec![1]]);
}

#[test]
fn a_queued_batch_whose_waiters_are_all_dropped_never_runs() {
    let (loader, calls) = echo();
    let mut load = loader.load_many([1, 2]);
    assert!(poll_once(&mut load).is_pending());
    drop(load);
    assert_eq!(block_on(loader.load(3)).unwrap(), 30);
    assert_eq!(
        calls.batches(),
        [vec![3]],
        "the abandoned keys were never sent"
    );
}

#[test]
fn a_dropped_loader_with_an_abandoned_batch_frees_everything() {
    // The batch future holds the loader; abandoning the batch must break that cycle.
    struct Tracked {
        _token: Arc<()>,
    }
    impl coalesce_loader::Loader for Tracked {
        type Key = u64;
        type Output = Vec<Result<u64, TestError>>;
        type Error = TestError;
        async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, TestError> {
            std::future::pending::<()>().await;
            Ok(keys.iter().map(|&k| Ok(k)).collect())
        }
    }
    let token = Arc::new(());
    let loader = DataLoader::new(Tracked {
        _token: token.clone(),
    });
    {
        let mut load = loader.load(1);
        for _ in 0..10 {
            assert!(poll_once(&mut load).is_pending());
        }
    }
    drop(loader);
    assert_eq!(Arc::strong_count(&token), 1, "the loader was freed");
}

#[test]
fn dropping_a_load_many_driver_hands_every_batch_on() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .max_batch_size(3)
    .build();
    // [1, 2, 3] is full and runs at the first poll; [4] is still collecting, driven by `many`.
    let mut many = loader.load_many([1, 2, 3, 4]);
    let others = loader.load_many([1, 4]);
    assert!(poll_once(&mut many).is_pending());
    drop(many);
    let values = block_on(others);
    assert_eq!(
        values.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [10, 40]
    );
    assert_eq!(calls.batches(), [vec![1, 2, 3], vec![4]]);
}

#[test]
fn a_waiter_dropped_on_another_thread_while_the_driver_runs_is_harmless() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (loader, gate, _, _) = gated();
    rt.block_on(async {
        let driver = tokio::spawn({
            let loader = loader.clone();
            async move { loader.load(1).await }
        });
        let quitter = tokio::spawn({
            let loader = loader.clone();
            async move { loader.load(1).await }
        });
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        quitter.abort();
        let _ = quitter.await;
        gate.open();
        assert_eq!(driver.await.unwrap().unwrap(), 10);
    });
}

#[test]
fn duplicate_keys_with_the_cache_off_and_a_dropped_waiter_do_not_hang() {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .cache(false)
    .build();
    let mut a = loader.load(1);
    let b = loader.load(1);
    let c = loader.load(1);
    assert!(poll_once(&mut a).is_pending());
    drop(a);
    let (b, c) = block_on(futures::future::join(b, c));
    assert_eq!((b.unwrap(), c.unwrap()), (10, 10));
    assert_eq!(calls.batches(), [vec![1, 1, 1]]);
}

#[test]
fn an_heir_dropped_before_it_polls_passes_the_batch_on() {
    // A cancelled request drops its loads one after the other: first the driver, then the heir
    // the driver woke, before the heir could poll. A third waiter must still be answered.
    let (loader, gate, calls, _) = gated();
    let mut driver = loader.load(1);
    let mut heir = loader.load(1);
    let mut survivor = loader.load(1);
    let (woken, waker) = common::WakeFlag::new();
    poll_until_waiting(&mut driver, &gate);
    assert!(poll_once(&mut heir).is_pending());
    assert!(common::poll_with(&mut survivor, &waker).is_pending());
    drop(driver);
    drop(heir);
    assert!(
        woken.woken(),
        "the survivor is woken to take the batch over"
    );
    gate.open();
    assert_eq!(block_on(survivor).unwrap(), 10);
    assert_eq!(
        calls.count(),
        1,
        "the running fetch was finished, not restarted"
    );
}

#[test]
fn a_freed_permit_passes_on_when_the_batch_given_it_is_abandoned() {
    let (gate, calls) = (common::Gate::default(), Calls::default());
    let loader = DataLoader::builder(coalesce_loader::from_fn({
        let (gate, calls) = (gate.clone(), calls.clone());
        move |keys: Vec<u64>| {
            calls.record(&keys);
            let wait = (keys == [1]).then(|| gate.wait());
            async move {
                if let Some(wait) = wait {
                    wait.await;
                }
                Ok::<_, TestError>(keys.iter().map(|&k| Ok(k * 10)).collect::<Vec<_>>())
            }
        }
    }))
    .max_batch_size(1)
    .max_concurrent_batches(1)
    .build();
    let mut a = loader.load(1);
    let mut b = loader.load(2);
    let mut c = loader.load(3);
    let (c_woken, c_waker) = common::WakeFlag::new();
    poll_until_waiting(&mut a, &gate); // A runs and holds the only permit
    assert!(poll_once(&mut b).is_pending()); // B and C queue for it
    assert!(common::poll_with(&mut c, &c_waker).is_pending());
    gate.open();
    assert_eq!(block_on(a).unwrap(), 10); // A's completion hands the permit to B...
    assert!(!c_woken.woken());
    drop(b); // ...whose request is cancelled before B polls
    assert!(c_woken.woken(), "C is woken for the permit B never used");
    assert_eq!(block_on(c).unwrap(), 30);
    assert_eq!(calls.batches(), [vec![1], vec![3]]);
}
