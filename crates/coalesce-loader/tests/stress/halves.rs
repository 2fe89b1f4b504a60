//! A loader that loads from itself, under a permit limit and a batch-size limit drawn per
//! request: key `k` is worth `k` plus the worth of `k / 2`, loaded through the same loader, so
//! batching splits chains of keys across batches in every way. A batch needed by a running one
//! must never wait for that one's permit, and batches that need each other must fail one load
//! with a cycle rather than hang. Each answer a batch function gets from its own loader is
//! checked as strictly as the test's own loads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use coalesce_loader::{DataLoader, LoadError, Loader};
use futures::future::join_all;

use crate::common::{TestError, yield_now};
use crate::{Answers, Freed, Process, Tally, check, draw, per_key, roll};

/// A loader's reference to itself, which the test breaks once the run is over.
pub type Me = Arc<Mutex<Option<DataLoader<Halves>>>>;

pub struct Halves {
    seed: u64,
    calls: AtomicU64,
    me: Me,
    /// Where a wrong answer inside a batch function is reported.
    tally: Arc<Tally>,
    _freed: Freed,
}

/// A request's self-loading loader, with at most 1 to 4 batches running at once and 1 to 4 keys
/// per batch.
pub fn build(process: &Process, seed: u64) -> (DataLoader<Halves>, Me) {
    let me = Me::default();
    let loader = DataLoader::builder(Halves {
        seed,
        calls: AtomicU64::new(0),
        me: Arc::clone(&me),
        tally: Arc::clone(&process.tally),
        _freed: process.freed.clone(),
    })
    .name("halves")
    .max_concurrent_batches(1 + roll(seed, "halves permits") as usize % 4)
    .max_batch_size(1 + roll(seed, "halves batch size") as usize % 4)
    .build();
    *me.lock().unwrap() = Some(loader.clone());
    (loader, me)
}

/// The worth of `k` as `Halves` computes it.
pub fn worth(k: u64) -> u64 {
    match k {
        0 | 1 => k,
        _ => k + worth(k / 2),
    }
}

impl Loader for Halves {
    type Key = u64;
    type Output = Answers;
    type Error = TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Answers, TestError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let me = self
            .me
            .lock()
            .unwrap()
            .clone()
            .expect("set until the run is over");
        yield_now().await;
        let below: Vec<u64> = keys.iter().filter(|&&k| k >= 2).map(|k| k / 2).collect();
        // Each way of loading adds its waits to the wait-for graph in its own way: one waiter for
        // several batches, several waiters at once, or one after another.
        let answers = match roll(self.seed, ("halves loads", call)) % 3 {
            0 => me.load_many(below.iter().copied()).await,
            1 => join_all(below.iter().map(|&b| me.load(b))).await,
            _ => {
                let mut answers = Vec::new();
                for &b in &below {
                    answers.push(me.load(b).await);
                }
                answers
            }
        };
        if let Some(failure) = draw(self.seed, "halves", call, keys) {
            return Err(TestError(failure));
        }
        let mut answers = answers.into_iter();
        Ok(keys
            .iter()
            .map(|&k| {
                let value = match k {
                    0 | 1 => Ok(k),
                    _ => self.on_top_of(k, answers.next().expect("one answer per key below")),
                };
                per_key(self.seed, "halves", call, k, value)
            })
            .collect())
    }
}

impl Halves {
    /// The worth of `k` from the answer for `k / 2`, which is checked like any load's: its
    /// value, an error of its own, or a cycle of `halves` batches that this load closed.
    fn on_top_of(&self, k: u64, below: Result<u64, LoadError<TestError>>) -> Result<u64, String> {
        let b = k / 2;
        match below {
            Ok(v) if v == worth(b) => Ok(k + v),
            Err(LoadError::Cycle { loader, path })
                if &*loader == "halves"
                    && path.matches("of `").count() == path.matches("of `halves`").count() =>
            {
                Err(format!("cycle below: {path}"))
            }
            below => {
                let message = match &below {
                    Ok(v) => format!("got {v}"),
                    Err(e) => e.to_string(),
                };
                if let Err(wrong) = check("halves", b, worth(b), below) {
                    self.tally
                        .fail(format!("inside a batch of halves: {wrong}"));
                }
                Err(format!("below failed: {message}"))
            }
        }
    }
}
