//! `Schedule::TokioRounds` inside tokio tasks: loads made after tokio's deferred yields
//! (`yield_now`, a spent cooperative budget) or after chains of awaits that wait on nothing join
//! the batch: in
//! one task on both runtimes, and across the tasks of a current-thread runtime. (Across the
//! tasks of a multi-thread runtime, another worker may run the late task at any pace: that is
//! the rule's documented limit, not something a test can pin.) Each case runs for many rounds,
//! since a rule that catches a load only when the scheduler runs tasks in a lucky order would
//! split some round.
#![cfg(feature = "tokio")]

mod common;

use std::future::Future;
use std::sync::Arc;

use coalesce_loader::{DataLoader, Schedule};
use common::{Calls, Echo};
use tokio::runtime::Runtime;

const ROUNDS: usize = 20;

/// The most `tokio::task::yield_now()`s a load may follow and still join the batch.
const YIELDS: usize = 8;

/// An `Echo` loader that sends once `YIELDS + 1` of tokio's rounds add no key.
fn echo() -> (DataLoader<Echo>, Calls) {
    let calls = Calls::default();
    let loader = DataLoader::builder(Echo {
        calls: calls.clone(),
    })
    .schedule(Schedule::TokioRounds(YIELDS as u32 + 1))
    .build();
    (loader, calls)
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `round` on a task of `rt` `ROUNDS` times, each with a fresh loader, and returns the
/// batch calls of every round.
fn batches_per_round<F, Fut>(rt: &Runtime, round: F) -> Vec<Vec<Vec<u64>>>
where
    F: Fn(Arc<DataLoader<Echo>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let round = Arc::new(round);
    (0..ROUNDS)
        .map(|_| {
            let (loader, calls) = echo();
            let round = Arc::clone(&round);
            rt.block_on(async move { tokio::spawn(round(Arc::new(loader))).await.unwrap() });
            calls.batches()
        })
        .collect()
}

fn one_batch_of_1_and_2_each_round(rounds: Vec<Vec<Vec<u64>>>) {
    for batches in rounds {
        let mut keys: Vec<_> = batches.concat();
        keys.sort_unstable();
        assert_eq!(keys, [1, 2], "both keys are fetched once");
        assert_eq!(batches.len(), 1, "one batch per round, not {batches:?}");
    }
}

/// A load of 1 beside a load of 2 made after `n` yields, in one task.
async fn yields_in_one_task(loader: Arc<DataLoader<Echo>>, n: usize) {
    let late = async {
        yields(n).await;
        loader.load(2).await
    };
    let (a, b) = tokio::join!(loader.load(1), late);
    assert_eq!((a.unwrap(), b.unwrap()), (10, 20));
}

/// A load of 1 beside a load of 2 that a spawned task makes once `before` is done.
async fn beside_a_spawned_task(
    loader: Arc<DataLoader<Echo>>,
    before: impl Future<Output = ()> + Send + 'static,
) {
    let other = Arc::clone(&loader);
    let late = tokio::spawn(async move {
        before.await;
        other.load(2).await.unwrap()
    });
    assert_eq!(loader.load(1).await.unwrap(), 10);
    assert_eq!(late.await.unwrap(), 20);
}

async fn yields(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// A load of 1 beside a load of 2 that a spawned task makes after `n` yields.
async fn yields_in_a_spawned_task(loader: Arc<DataLoader<Echo>>, n: usize) {
    beside_a_spawned_task(loader, yields(n)).await;
}

#[test]
fn loads_after_eight_yields_in_the_same_task_join_the_batch_on_current_thread() {
    let rounds = batches_per_round(&current_thread(), |l| yields_in_one_task(l, YIELDS));
    one_batch_of_1_and_2_each_round(rounds);
}

#[test]
fn loads_after_eight_yields_in_the_same_task_join_the_batch_on_two_workers() {
    let rounds = batches_per_round(&two_workers(), |l| yields_in_one_task(l, YIELDS));
    one_batch_of_1_and_2_each_round(rounds);
}

#[test]
fn loads_after_eight_yields_in_a_spawned_task_join_the_batch_on_current_thread() {
    let rounds = batches_per_round(&current_thread(), |l| yields_in_a_spawned_task(l, YIELDS));
    one_batch_of_1_and_2_each_round(rounds);
}

/// A load of 2 made by a task whose cooperative budget is spent first, so that tokio makes it
/// yield (through `consume_budget`) before it loads.
async fn budget_forced_yield(loader: Arc<DataLoader<Echo>>) {
    // tokio's budget is 128 units per poll: this spends it, and the last call yields.
    let spend = async {
        for _ in 0..=128 {
            tokio::task::consume_budget().await;
        }
    };
    beside_a_spawned_task(loader, spend).await;
}

#[test]
fn loads_after_a_budget_forced_yield_join_the_batch() {
    one_batch_of_1_and_2_each_round(batches_per_round(&current_thread(), budget_forced_yield));
}

/// A load of 2 at the end of a chain of hand-offs between tasks (oneshot channels, each task
/// waking the next) that waits on no I/O and no timer.
async fn chain_of_hand_offs(loader: Arc<DataLoader<Echo>>) {
    let (first, mut rx) = tokio::sync::oneshot::channel::<()>();
    for _ in 0..6 {
        let (tx, next) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            rx.await.unwrap();
            tokio::task::yield_now().await;
            tx.send(()).unwrap();
        });
        rx = next;
    }
    first.send(()).unwrap();
    beside_a_spawned_task(loader, async { rx.await.unwrap() }).await;
}

#[test]
fn loads_after_a_chain_of_awaits_on_no_io_join_the_batch() {
    one_batch_of_1_and_2_each_round(batches_per_round(&current_thread(), chain_of_hand_offs));
}
