//! Scenarios 1 and 2: distinct keys loaded in one frame by a `join_all` of single loads, the
//! shape of a GraphQL list whose items each load a key; and the bare harness, the floors any
//! loader pays for the `join_all` itself: futures that wait once and are woken, and futures that
//! do not wait at all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::{Meter, Run, Scenario, on_worker};
use crate::dataset::{BatchFn, Echo};
use crate::library::Library;

/// `keys` distinct keys, `0..keys`, each loaded by its own future, all joined by one `join_all`
/// on a fresh loader.
#[derive(Clone, Copy, Debug)]
pub struct JoinAll {
    /// How many keys, and loads, per round.
    pub keys: u64,
}

impl Scenario for JoinAll {
    fn run<L: Library>(&self, library: L, rt: &Runtime, rounds: u64) -> Run {
        let keys = self.keys;
        on_worker(rt, async move {
            let batch_fn = BatchFn::new(Echo);
            let mut meter = Meter::default();
            for _ in 0..rounds {
                let start = Meter::start();
                let loader = library.build(batch_fn.clone());
                let values = join_all((0..keys).map(|key| L::load(&loader, key))).await;
                let correct = Echo::count_correct(0, values);
                drop(loader);
                meter.stop(start);
                assert_eq!(correct, keys, "every key loads to its own value");
            }
            meter.finish(rounds, keys, batch_fn.calls())
        })
    }

    fn portable(&self) -> Option<Value> {
        Some(json!({ "name": "frame", "keys": self.keys }))
    }
}

/// The fair floor of [`JoinAll`]: `futures` futures that each pend once, leaving their waker, and
/// are woken by another, as a load waiting for its batch is, then return the value a load would,
/// through the same `join_all`. No loader could beat it: any loader's waiting loads do at least
/// this much.
///
/// A future that wakes itself instead would be unfair to the loaders: `FuturesUnordered`, under
/// `join_all`, treats a future woken while it is polled as a yield and gives the executor a turn
/// for every two of them, an extra trip no waiting load makes.
pub fn woken_floor(rt: &Runtime, futures: u64, rounds: u64) -> Run {
    on_worker(rt, async move {
        let mut meter = Meter::default();
        for _ in 0..rounds {
            let start = Meter::start();
            let gate = Gate::new(futures);
            let values = join_all((0..futures).map(|key| {
                let gate = &gate;
                async move {
                    Pend { gate, left: false }.await;
                    Some(Echo::value(key))
                }
            }))
            .await;
            let correct = Echo::count_correct(0, values);
            meter.stop(start);
            assert_eq!(correct, futures);
        }
        meter.finish(rounds, futures, 0)
    })
}

/// The floor below the floor: the same `join_all` of futures that are ready at once, as cache hits
/// would be. What the `join_all` itself costs, without a single wait.
pub fn ready_floor(rt: &Runtime, futures: u64, rounds: u64) -> Run {
    on_worker(rt, async move {
        let mut meter = Meter::default();
        for _ in 0..rounds {
            let start = Meter::start();
            let values =
                join_all((0..futures).map(|key| async move { Some(Echo::value(key)) })).await;
            let correct = Echo::count_correct(0, values);
            meter.stop(start);
            assert_eq!(correct, futures);
        }
        meter.finish(rounds, futures, 0)
    })
}

/// Where the floor's futures wait: the wakers of those that have pended, until the last of a
/// round's futures arrives and wakes them all, as a batch's answer wakes its loads.
struct Gate {
    waiting: Mutex<Vec<Waker>>,
    expected: usize,
}

impl Gate {
    fn new(expected: u64) -> Gate {
        let expected = usize::try_from(expected).expect("a count of futures in memory");
        Gate {
            waiting: Mutex::new(Vec::with_capacity(expected)),
            expected,
        }
    }
}

/// Pending once, its waker left at the gate; ready when polled again, which only the gate's wake
/// makes happen.
struct Pend<'g> {
    gate: &'g Gate,
    left: bool,
}

impl Future for Pend<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left {
            return Poll::Ready(());
        }
        self.left = true;
        let mut waiting = self.gate.waiting.lock().expect("no floor future panics");
        waiting.push(cx.waker().clone());
        if waiting.len() == self.gate.expected {
            // The last to arrive wakes the round, itself included: one self-wake per round, where
            // `FuturesUnordered` yields only at the second.
            waiting.drain(..).for_each(Waker::wake);
        }
        Poll::Pending
    }
}
