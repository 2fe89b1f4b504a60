//! The batch function every library is given: the same data, the same answer shape, the same
//! counting, so that the libraries differ only in how they get keys to it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a batch function reads: a table of rows by key.
///
/// [`BatchFn`] answers a batch from it in two shapes: mapped, a `HashMap` of the rows found,
/// the one shape all three Rust libraries accept (async-graphql's `Loader` and the `dataloader`
/// crate's `BatchFn` require it), which coalesce lines up with the keys itself; and positional,
/// one answer per key in key order, as graphql/dataloader's batch functions return theirs.
pub trait Dataset: Send + Sync + 'static {
    /// What a load asks for. `Copy` and `Debug` because the `dataloader` crate's loader needs
    /// `Clone + Debug` keys, and copying keeps key handling free in every library.
    type Key: Copy + Eq + Hash + Debug + Send + Sync + 'static;
    /// What a key loads to; cloned out of each library's memo on every load.
    type Value: Clone + Send + Sync + 'static;

    /// The row of `key`, if it exists.
    fn get(&self, key: &Self::Key) -> Option<Self::Value>;
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

    /// One batch, mapped: counts the call and returns the rows found, by key.
    pub fn call(&self, keys: &[D::Key]) -> HashMap<D::Key, D::Value> {
        let dataset = self.dataset();
        keys.iter()
            .filter_map(|key| Some((*key, dataset.get(key)?)))
            .collect()
    }

    /// One batch, positional: counts the call and returns `each` of every key's row (or
    /// `None`), in key order.
    pub fn call_in_order<T>(
        &self,
        keys: &[D::Key],
        each: impl Fn(Option<D::Value>) -> T,
    ) -> Vec<T> {
        let dataset = self.dataset();
        keys.iter().map(|key| each(dataset.get(key))).collect()
    }

    /// The dataset, for one batch call, counted.
    fn dataset(&self) -> &D {
        self.calls.fetch_add(1, Ordering::Relaxed);
        &self.dataset
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

    fn get(&self, key: &u64) -> Option<u64> {
        Some(Echo::value(*key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of the even keys only, so that both shapes have a missing row to show.
    struct Evens;

    impl Dataset for Evens {
        type Key = u64;
        type Value = u64;

        fn get(&self, key: &u64) -> Option<u64> {
            key.is_multiple_of(2).then_some(key * 10)
        }
    }

    #[test]
    fn both_shapes_answer_the_same_rows_and_count_one_call_each() {
        let batch_fn = BatchFn::new(Evens);
        let keys = [4, 3, 2];
        let mapped = batch_fn.call(&keys);
        assert_eq!(mapped, HashMap::from([(4, 40), (2, 20)]));
        let positional = batch_fn.call_in_order(&keys, |row| row);
        assert_eq!(positional, [Some(40), None, Some(20)]);
        assert_eq!(batch_fn.calls(), 2);
    }
}
