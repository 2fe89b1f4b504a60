//! Batch functions that load from loaders, their own included: whatever batches those loads fall
//! into, under whatever permit limit, every load is answered, and a wait that could never end is
//! a [`LoadError::Cycle`] rather than a hang.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use coalesce_loader::{DataLoader, Loader};
use common::{Gate, TestError, poll_once};

/// Key `k` is worth `k` plus the worth of `k / 2`, loaded through this same loader: a chain of
/// dependencies that batching may split across batches in any way. Every batch first waits at
/// the gate, so that a test can have several batches running before any of them loads. Counts its
/// own drop, so a test can see that nothing kept the loader alive.
struct Halves {
    me: Arc<Mutex<Option<DataLoader<Halves>>>>,
    gate: Gate,
    dropped: Arc<AtomicUsize>,
}

impl Drop for Halves {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Loader for Halves {
    type Key = u64;
    type Output = Vec<Result<u64, TestError>>;
    type Error = TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, TestError> {
        let me = self.me.lock().unwrap().clone().expect("set after build");
        self.gate.wait().await;
        let mut out = Vec::new();
        for &k in keys {
            out.push(match k {
                0 | 1 => Ok(k),
                _ => me
                    .load(k / 2)
                    .await
                    .map(|below| k + below)
                    .map_err(|e| TestError(e.to_string())),
            });
        }
        Ok(out)
    }
}

struct Fixture {
    loader: DataLoader<Halves>,
    gate: Gate,
    dropped: Arc<AtomicUsize>,
}

impl Fixture {
    fn new(build: impl FnOnce(coalesce_loader::Builder<Halves>) -> DataLoader<Halves>) -> Self {
        let (me, gate, dropped) = (Arc::default(), Gate::default(), Arc::default());
        let loader = build(DataLoader::builder(Halves {
            me: Arc::clone(&me),
            gate: gate.clone(),
            dropped: Arc::clone(&dropped),
        }));
        *me.lock().unwrap() = Some(loader.clone());
        Fixture {
            loader,
            gate,
            dropped,
        }
    }

    /// Loads `keys` as two batches of two (with `max_batch_size(2)`), each started by a waiter
    /// of its own, as two requests would; once both are running, lets them go on, and answers
    /// every load.
    fn run_two_batches(
        &self,
        keys: [u64; 4],
    ) -> Vec<Result<u64, coalesce_loader::LoadError<TestError>>> {
        let mut loads = keys.map(|k| self.loader.load(k));
        assert!(poll_once(&mut loads[0]).is_pending());
        assert!(poll_once(&mut loads[2]).is_pending());
        let running = self.gate.waiting.load(Ordering::SeqCst);
        assert_eq!(running, 2, "both batches running");
        self.gate.open();
        poll_all(&mut loads, 100)
    }

    /// Breaks the loader's reference to itself, drops it, and tells whether it was freed: no
    /// batch future, waiter or wait-for entry outlived the loads.
    fn freed(self) -> bool {
        let Fixture {
            loader, dropped, ..
        } = self;
        loader.loader().me.lock().unwrap().take();
        drop(loader);
        dropped.load(Ordering::SeqCst) == 1
    }
}

/// The worth of `k` as `Halves` computes it.
fn worth(k: u64) -> u64 {
    match k {
        0 | 1 => k,
        _ => k + worth(k / 2),
    }
}

/// Polls every future by hand until all are answered, at most `rounds` times each.
fn poll_all<F: std::future::Future + Unpin>(futures: &mut [F], rounds: usize) -> Vec<F::Output> {
    let mut answers: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    for _ in 0..rounds {
        for (fut, answer) in futures.iter_mut().zip(&mut answers) {
            if answer.is_none() {
                if let Poll::Ready(v) = poll_once(fut) {
                    *answer = Some(v);
                }
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.expect("every load is answered"))
        .collect()
}

#[test]
fn a_batch_needed_by_a_running_batch_of_its_loader_never_waits_for_that_batchs_permit() {
    let f = Fixture::new(|b| b.max_concurrent_batches(1).build());
    // Batch A = {4} takes the only permit and waits at the gate.
    let mut a = f.loader.load(4);
    for _ in 0..10 {
        assert!(poll_once(&mut a).is_pending());
    }
    assert_eq!(f.gate.waiting.load(Ordering::SeqCst), 1);
    // Another task's batch B = {2} is sealed and queued behind A's permit.
    let mut b = f.loader.load(2);
    for _ in 0..10 {
        assert!(poll_once(&mut b).is_pending());
    }
    assert_eq!(
        f.gate.waiting.load(Ordering::SeqCst),
        1,
        "B waits for the permit"
    );
    // A now needs key 2, which B holds: B must run on A's permit, or neither ever finishes.
    f.gate.open();
    let answers = poll_all(&mut [a, b], 100);
    assert_eq!(answers[0].as_ref().unwrap(), &worth(4));
    assert_eq!(answers[1].as_ref().unwrap(), &worth(2));
    assert!(f.freed());
}

#[test]
fn a_permit_limit_never_deadlocks_loaders_that_load_from_themselves_across_tasks() {
    let f = Fixture::new(|b| b.max_concurrent_batches(1).max_batch_size(2).build());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    f.gate.open();
    let tasks: Vec<_> = (0..64u64)
        .map(|k| {
            let loader = f.loader.clone();
            rt.spawn(async move { (k * 7 % 64, loader.load(k * 7 % 64).await) })
        })
        .collect();
    let answers = rt.block_on(async {
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(
                tokio::time::timeout(std::time::Duration::from_secs(30), task)
                    .await
                    .expect("hung")
                    .unwrap(),
            );
        }
        answers
    });
    for (k, answer) in answers {
        match answer {
            Ok(v) => assert_eq!(v, worth(k)),
            // Splitting into batches of two can put a key and the key it needs into batches that
            // need each other: that is a cycle, reported, never a hang.
            Err(e) => assert!(e.to_string().contains("cycle"), "{k}: {e}"),
        }
    }
    drop(rt);
    assert!(f.freed());
}

#[test]
fn batches_that_wait_for_each_other_fail_the_closing_load_with_a_cycle_instead_of_hanging() {
    let f = Fixture::new(|b| b.max_batch_size(2).name("halves").build());
    // Batches P = {4, 3} and Q = {8, 2}, each started by a waiter of its own (two requests):
    // 4 needs 2, which is in Q, and 8 needs 4, which is in P.
    let mut cycles = 0;
    for (k, answer) in [4, 3, 8, 2]
        .into_iter()
        .zip(f.run_two_batches([4, 3, 8, 2]))
    {
        match answer {
            Ok(v) => assert_eq!(v, worth(k), "key {k}"),
            Err(e) => {
                let message = e.to_string();
                assert!(message.contains("cycle"), "key {k}: {message}");
                assert!(message.contains("halves"), "key {k}: {message}");
                cycles += 1;
            }
        }
    }
    assert_eq!(cycles, 1, "only the load that closes the cycle fails");
    // The load that closed the cycle got the error; the key it asked for kept its own answer.
    for k in [2, 3, 4] {
        let answer = futures::executor::block_on(f.loader.load(k));
        assert_eq!(answer.unwrap(), worth(k), "key {k}");
    }
    assert!(f.freed());
}

#[test]
fn batches_that_depend_on_each_other_one_way_all_succeed() {
    let f = Fixture::new(|b| b.max_batch_size(2).build());
    // Q = {6, 5} needs 3, which is in P = {8, 3}; P needs only keys of neither batch.
    for (k, answer) in [8, 3, 6, 5]
        .into_iter()
        .zip(f.run_two_batches([8, 3, 6, 5]))
    {
        assert_eq!(answer.unwrap(), worth(k), "key {k}");
    }
    assert!(f.freed());
}
