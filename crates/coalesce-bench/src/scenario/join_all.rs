//! Scenarios 1 and 2: distinct keys loaded in one frame by a `join_all` of single loads, the
//! shape of a GraphQL list whose items each load a key; and the bare harness, the floor any
//! loader pays for the `join_all` itself.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::join_all;
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
}

/// The floor of [`JoinAll`]: `futures` futures that each yield once, as a waiting load does, and
/// return the value a load would, through the same `join_all`. No loader could beat it.
pub fn bare_join_all(rt: &Runtime, futures: u64, rounds: u64) -> Run {
    on_worker(rt, async move {
        let mut meter = Meter::default();
        for _ in 0..rounds {
            let start = Meter::start();
            let values = join_all((0..futures).map(|key| async move {
                YieldOnce(false).await;
                Some(Echo::value(key))
            }))
            .await;
            let correct = Echo::count_correct(0, values);
            meter.stop(start);
            assert_eq!(correct, futures);
        }
        meter.finish(rounds, futures, 0)
    })
}

/// Pending once, after asking to be polled again; ready the next time. The cheapest way to give
/// the executor a turn, and what a load that waits for its batch does at the least.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
