//! The `dataloader` crate (0.18), as its documentation shows it: a `BatchFn` in a cached
//! `Loader`, on its tokio runtime feature, with its defaults (at most 200 keys per batch) and the
//! yield count asked for (10 by default: each load yields that many times before it sends what
//! has been queued).

use std::collections::HashMap;
use std::future::Future;

use dataloader::BatchFn as DataloaderBatchFn;
use dataloader::cached::Loader;
use futures_util::FutureExt;

use super::Library;
use crate::dataset::{BatchFn, Dataset};

/// The `dataloader` crate's cached loader.
#[derive(Clone, Copy, Debug)]
pub struct DataloaderCrate {
    /// Its `with_yield_count`: how many times each load yields before it sends a batch.
    pub yield_count: usize,
}

impl DataloaderCrate {
    /// The crate's own default yield count.
    pub const DEFAULT_YIELD_COUNT: usize = 10;
}

/// The shared batch function as a `dataloader::BatchFn`.
pub struct Batch<D>(BatchFn<D>);

impl<D: Dataset> DataloaderBatchFn<D::Key, D::Value> for Batch<D> {
    async fn load(&mut self, keys: &[D::Key]) -> HashMap<D::Key, D::Value> {
        self.0.call(keys)
    }
}

impl Library for DataloaderCrate {
    type Handle<D: Dataset> = Loader<D::Key, D::Value, Batch<D>>;

    fn build<D: Dataset>(self, batch_fn: BatchFn<D>) -> Self::Handle<D> {
        Loader::new(Batch(batch_fn)).with_yield_count(self.yield_count)
    }

    fn load<D: Dataset>(
        handle: &Self::Handle<D>,
        key: D::Key,
    ) -> impl Future<Output = Option<D::Value>> + Send {
        // `try_load` rather than `load`, which panics on a key without a row.
        handle.try_load(key).map(Result::ok)
    }

    fn load_many<D: Dataset>(
        handle: &Self::Handle<D>,
        keys: Vec<D::Key>,
    ) -> impl Future<Output = usize> + Send {
        handle
            .try_load_many(keys)
            .map(|values| values.map_or(0, |values| values.len()))
    }
}
