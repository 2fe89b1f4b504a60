//! async-graphql's `DataLoader`, as its documentation shows it: a `Loader` over the batch
//! function, spawned on tokio, with a `HashMapCache` so that it memoizes as the others do.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::FutureExt;

use super::Library;
use crate::dataset::{BatchFn, Dataset};

/// async-graphql's loader, collecting keys for `delay` before each batch.
#[derive(Clone, Copy, Debug)]
pub struct AsyncGraphql {
    /// Its `delay`: 1 ms by default.
    pub delay: Duration,
}

/// The shared batch function as an async-graphql `Loader`.
pub struct Batch<D>(BatchFn<D>);

impl<D: Dataset> Loader<D::Key> for Batch<D> {
    type Value = D::Value;
    type Error = Infallible;

    async fn load(&self, keys: &[D::Key]) -> Result<HashMap<D::Key, D::Value>, Infallible> {
        Ok(self.0.call(keys))
    }
}

impl Library for AsyncGraphql {
    type Handle<D: Dataset> = DataLoader<Batch<D>, HashMapCache>;

    fn build<D: Dataset>(self, batch_fn: BatchFn<D>) -> Self::Handle<D> {
        DataLoader::with_cache(Batch(batch_fn), tokio::spawn, HashMapCache::default())
            .delay(self.delay)
    }

    fn load<D: Dataset>(
        handle: &Self::Handle<D>,
        key: D::Key,
    ) -> impl Future<Output = Option<D::Value>> + Send {
        handle.load_one(key).map(|value| {
            let Ok(value) = value;
            value
        })
    }

    fn load_many<D: Dataset>(
        handle: &Self::Handle<D>,
        keys: Vec<D::Key>,
    ) -> impl Future<Output = usize> + Send {
        handle.load_many(keys).map(|values| {
            let Ok(values) = values;
            values.len()
        })
    }
}
