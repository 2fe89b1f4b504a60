//! The batch function every library is given: the same data, the same answer shape, the same
//! counting, so that the libraries differ only in how they get keys to it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a batch function reads: a table answering a list of keys with the rows it has.
///
/// The answer is a `HashMap` because that is the one shape all three libraries accept
/// (async-graphql's `Loader` and the `dataloader` crate's `BatchFn` require it); coalesce lines
/// it up with the keys itself.
pub trait Dataset: Send + Sync + 'static {
    /// What a load asks for. `Copy` and `Debug` because the `dataloader` crate's loader needs
    /// `Clone + Debug` keys, and copying keeps key handling free in every library.
    type Key: Copy + Eq + Hash + Debug + Send + Sync + 'static;
    /// What a key loads to; cloned out of each library's memo on every load.
    type Value: Clone + Send + Sync + 'static;

    /// The rows for `keys` that exist.
    fn fetch(&self, keys: &[Self::Key]) -> HashMap<Self::Key, Self::Value>;
}

/// A [`Dataset`] behind a counter of the calls made to it: the batch calls of a table's rows.
///
/// Clones share the dataset and the count, so a fresh loader per round still adds to one count.
pub struct BatchFn<D> {
    dataset: Arc<D>,
    calls: Arc<AtomicU64>,
}

impl<D> Clone for BatchFn<D> {
    fn clone(&self) -> Self {
        BatchFn {
            dataset: Arc::clone(&self.dataset),
            calls: Arc::clone(&self.calls),
        }
    }
}

impl<D: Dataset> BatchFn<D> {
    /// A batch function over `dataset`, not yet called.
    pub fn new(dataset: D) -> Self {
        BatchFn {
            dataset: Arc::new(dataset),
            calls: Arc::default(),
        }
    }

    /// One batch: counts the call and reads the rows.
    pub fn call(&self, keys: &[D::Key]) -> HashMap<D::Key, D::Value> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.dataset.fetch(keys)
    }

    /// How many batches have been fetched, by every clone.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// The micro-benchmarks' table: every `u64` key exists and loads to [`Echo::value`]. As trivial
/// as a batch function gets, so that the loader's own cost is what is measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Echo {
    /// The value of `key`, which callers check their answers against.
    pub fn value(key: u64) -> u64 {
        key + 1
    }

    /// How many of `values`, the answers for consecutive keys from `first`, are the right ones.
    pub fn count_correct(first: u64, values: impl IntoIterator<Item = Option<u64>>) -> u64 {
        (first..)
            .zip(values)
            .filter(|&(key, value)| value == Some(Echo::value(key)))
            .count() as u64
    }
}

impl Dataset for Echo {
    type Key = u64;
    type Value = u64;

    fn fetch(&self, keys: &[u64]) -> HashMap<u64, u64> {
        keys.iter().map(|&key| (key, Echo::value(key))).collect()
    }
}
