//! coalesce, as its documentation shows it: a [`Loader`] over the batch function, in a
//! [`DataLoader`] with the default options, or another [`Schedule`] to measure what the frame
//! rule costs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;

use coalesce_loader::{DataLoader, Loader, Schedule};
use futures_util::FutureExt;

use super::Library;
use crate::dataset::{BatchFn, Dataset};

/// The coalesce library, with its defaults unless `schedule` says otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct Coalesce {
    /// When batches are sent; the default, [`Schedule::Frame`], is what the comparison runs.
    pub schedule: Schedule,
}

/// The shared batch function as a coalesce [`Loader`], answering in the mapped shape.
pub struct Batch<D>(BatchFn<D>);

impl<D: Dataset> Loader for Batch<D> {
    type Key = D::Key;
    type Output = HashMap<D::Key, D::Value>;
    type Error = Infallible;

    async fn load_batch(&self, keys: &[D::Key]) -> Result<Self::Output, Infallible> {
        Ok(self.0.call(keys))
    }
}

impl Library for Coalesce {
    type Handle<D: Dataset> = DataLoader<Batch<D>>;

    fn build<D: Dataset>(self, batch_fn: BatchFn<D>) -> Self::Handle<D> {
        DataLoader::builder(Batch(batch_fn))
            .schedule(self.schedule)
            .build()
    }

    fn load<D: Dataset>(
        handle: &Self::Handle<D>,
        key: D::Key,
    ) -> impl Future<Output = Option<D::Value>> + Send {
        handle
            .load(key)
            .map(|value| value.expect("the batch function cannot fail"))
    }

    fn load_many<D: Dataset>(
        handle: &Self::Handle<D>,
        keys: Vec<D::Key>,
    ) -> impl Future<Output = usize> + Send {
        handle.load_many(keys).map(|values| {
            values
                .iter()
                .filter(|value| matches!(value, Ok(Some(_))))
                .count()
        })
    }
}
