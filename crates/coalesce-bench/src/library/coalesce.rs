//! coalesce, as its documentation shows it: a [`Loader`] over the batch function, in a
//! [`DataLoader`] with the default options, or another [`Schedule`] to measure what the frame
//! rule costs; answering in the mapped shape that every Rust library accepts, or in the
//! positional one that graphql/dataloader's batch functions use.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;

use coalesce_loader::{BatchOutput, DataLoader, Loader, Schedule};
use futures_util::FutureExt;

use super::Library;
use crate::dataset::{BatchFn, Dataset};

/// The coalesce library, with its defaults unless `schedule` says otherwise, its batch function
/// answering in shape `S`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Coalesce<S = Mapped> {
    /// When batches are sent; the default, [`Schedule::Frame`], is what the comparison runs.
    pub schedule: Schedule,
    /// The shape of the batch function's answer.
    pub shape: S,
}

/// How a batch function answers coalesce: which [`BatchOutput`] it returns.
pub trait Shape: Copy + Debug + Default + Send + Sync + 'static {
    /// The answer for a batch of dataset `D`'s keys.
    type Output<D: Dataset>: BatchOutput<D::Key, Infallible, Value = Option<D::Value>> + Send;

    /// One batch's answer from `batch_fn`.
    fn answer<D: Dataset>(batch_fn: &BatchFn<D>, keys: &[D::Key]) -> Self::Output<D>;
}

/// The rows found, by key: a `HashMap`, which coalesce lines up with the keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mapped;

impl Shape for Mapped {
    type Output<D: Dataset> = HashMap<D::Key, D::Value>;

    fn answer<D: Dataset>(batch_fn: &BatchFn<D>, keys: &[D::Key]) -> Self::Output<D> {
        batch_fn.call(keys)
    }
}

/// One answer per key, in key order, as graphql/dataloader's batch functions return: nothing
/// to line up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Positional;

impl Shape for Positional {
    type Output<D: Dataset> = Vec<Result<Option<D::Value>, Infallible>>;

    fn answer<D: Dataset>(batch_fn: &BatchFn<D>, keys: &[D::Key]) -> Self::Output<D> {
        batch_fn.call_in_order(keys, Ok)
    }
}

/// The shared batch function as a coalesce [`Loader`], answering in shape `S`.
pub struct Batch<D, S>(BatchFn<D>, PhantomData<fn() -> S>);

impl<D: Dataset, S: Shape> Loader for Batch<D, S> {
    type Key = D::Key;
    type Output = S::Output<D>;
    type Error = Infallible;

    async fn load_batch(&self, keys: &[D::Key]) -> Result<Self::Output, Infallible> {
        Ok(S::answer(&self.0, keys))
    }
}

impl<S: Shape> Library for Coalesce<S> {
    type Handle<D: Dataset> = DataLoader<Batch<D, S>>;

    fn build<D: Dataset>(self, batch_fn: BatchFn<D>) -> Self::Handle<D> {
        DataLoader::builder(Batch(batch_fn, PhantomData))
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
