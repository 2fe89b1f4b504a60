//! The batch pipeline: what a batch future does once its driver starts it.
//!
//! Without a tier, the batch function is called with the batch's keys and its answer is lined up
//! with them. With a tier ([`crate::tier`]), the future first sends the deletions the tier owes,
//! reads the keys from the tier in bulk, calls the batch function for the misses only and writes
//! what it returned back in bulk. A failing tier never fails the batch: each failure is counted
//! and logged, then treated as a miss (a read) or skipped (a write or deletion).
//!
//! The future owns its keys and an `Arc` of the loader, so it can move from driver to driver;
//! the state machine in the parent module polls it without holding the lock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::inline_vec::InlineVec;
use super::trace::BatchTrace;
use super::{Shared, State, Tier};
use crate::error::BatchFailure;
use crate::tier::Op;
use crate::{BatchOutput, CacheKey, Loader, ValueOf};

/// The batch function's answer lined up with the keys sent: one result per key, in key order.
pub(super) type Aligned<L> = Vec<Result<ValueOf<L>, <L as Loader>::Error>>;

/// A running batch's future, as its drivers poll it.
pub(super) type BatchFuture<L> =
    Pin<Box<dyn Future<Output = Result<Aligned<L>, BatchFailure<<L as Loader>::Error>>> + Send>>;

/// The batch future for `keys`: calls the batch function, through the tier if there is one,
/// after sending the deletions the tier owes; in the batch's span (`trace`).
pub(super) fn batch_future<L: Loader, C: CacheKey>(
    shared: &Arc<Shared<L, C>>,
    keys: InlineVec<L::Key>,
    trace: &BatchTrace,
) -> BatchFuture<L> {
    let size = keys.len();
    let shared = Arc::clone(shared);
    // Two futures, not one with a branch: a future is as large as its largest state, and the
    // tier's states (a bulk read, a bulk write, the deletions owed) would make every batch of a
    // loader without one allocate and copy several times what it needs.
    if shared.tier.is_none() {
        return Box::pin(trace.start(size, async move { shared.fetch(&keys).await }));
    }
    Box::pin(trace.start(size, async move {
        let tier = shared.tier.as_ref().expect("checked above");
        if tier.owes() {
            shared.settle().await;
        }
        shared.fetch_through(tier, keys).await
    }))
}

impl<L: Loader, C: CacheKey> State<L, C> {
    /// Counts a call of the batch function with `keys` keys; none when there is nothing to send.
    /// A run of `n_plus_one_after` batches of one key in a row is counted in
    /// `Stats::single_key_runs`, and the loader's first such run logs a warning.
    pub(super) fn count_batch(&mut self, shared: &Shared<L, C>, keys: usize) {
        if keys == 0 {
            return;
        }
        let stats = &mut self.stats;
        stats.batches += 1;
        stats.keys += keys as u64;
        stats.largest_batch = stats.largest_batch.max(keys as u64);
        if keys > 1 {
            self.single_key_run = 0;
            return;
        }
        self.single_key_run = self.single_key_run.saturating_add(1);
        if Some(self.single_key_run) == shared.config.n_plus_one_after {
            stats.single_key_runs += 1;
            #[cfg(feature = "tracing")]
            if stats.single_key_runs == 1 {
                tracing::warn!(
                    loader = %shared.name(),
                    batches = self.single_key_run,
                    "possible N+1: {} batches of one key in a row; a resolver seems to await its \
                     loads one by one: start them together (join_all, load_many) to share a batch",
                    self.single_key_run,
                );
            }
        }
    }
}

impl<L: Loader, C: CacheKey> Shared<L, C> {
    /// Sends the deletions the tier owes (this loader's and any other's) now. What fails, or is
    /// dropped in flight, stays owed: see [`crate::tier`].
    pub(crate) async fn settle(&self) {
        if let Some(tier) = &self.tier {
            if let Err((op, e)) = tier.settle().await {
                self.tier_failed(op, &*e);
            }
        }
    }

    /// Counts and logs a failed tier operation, which never fails a load.
    fn tier_failed(&self, op: Op, error: &dyn std::fmt::Display) {
        self.lock().stats.tier_errors += 1;
        #[cfg(feature = "tracing")]
        tracing::warn!(loader = %self.name(), ?op, %error, "shared cache failed; treated as a miss");
        #[cfg(not(feature = "tracing"))]
        let _ = (op, error);
    }

    /// Calls the batch function for `keys` and lines its answer up with them.
    async fn fetch(&self, keys: &[L::Key]) -> Result<Aligned<L>, BatchFailure<L::Error>> {
        if keys.is_empty() {
            // Every key was primed while queued, or found in the tier: nothing to fetch.
            return Ok(Vec::new());
        }
        let count = keys.len();
        match self.loader.load_batch(keys).await {
            // `align` of a user's own `BatchOutput` is checked too: with the lengths off, no
            // answer can be trusted to belong to the key at its position.
            Ok(output) => match output.align(keys) {
                Ok(values) if values.len() == count => Ok(values),
                Ok(values) => Err(BatchFailure::WrongLength {
                    keys: count,
                    values: values.len(),
                }),
                Err(values) => Err(BatchFailure::WrongLength {
                    keys: count,
                    values,
                }),
            },
            Err(e) => Err(BatchFailure::Error(e)),
        }
    }

    /// [`fetch`](Self::fetch) through the tier: one bulk read, the batch function for the misses
    /// only, one bulk write of what it returned (per-key errors excepted).
    async fn fetch_through(
        &self,
        tier: &Tier<L, C>,
        keys: InlineVec<L::Key>,
    ) -> Result<Aligned<L>, BatchFailure<L::Error>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let cache_keys: Vec<_> = keys
            .iter()
            .map(|key| self.key_fn.cache_key(key).into_owned())
            .collect();
        let found = match tier.get_many(&cache_keys).await {
            Ok(found) => found,
            Err((op, e)) => {
                self.tier_failed(op, &*e);
                Vec::new()
            }
        };
        let mut found = found.into_iter();
        let mut hits = Vec::with_capacity(keys.len());
        let (mut miss_keys, mut miss_cache_keys) = (Vec::new(), Vec::new());
        for (key, cache_key) in keys.into_iter().zip(cache_keys) {
            let hit = found.next().flatten();
            if hit.is_none() {
                miss_keys.push(key);
                miss_cache_keys.push(cache_key);
            }
            hits.push(hit);
        }
        {
            let state = &mut *self.lock();
            state.stats.tier_hits += (hits.len() - miss_keys.len()) as u64;
            state.count_batch(self, miss_keys.len());
        }

        let fetched = self.fetch(&miss_keys).await?;
        let fresh: Vec<_> = miss_cache_keys
            .iter()
            .zip(&fetched)
            .filter_map(|(cache_key, value)| Some((cache_key, value.as_ref().ok()?)))
            .collect();
        if !fresh.is_empty() {
            if let Err((op, e)) = tier.set_many(&fresh).await {
                self.tier_failed(op, &*e);
            }
        }
        drop(fresh);

        let mut fetched = fetched.into_iter();
        Ok(hits
            .into_iter()
            .map(|hit| match hit {
                Some(value) => Ok(value),
                None => fetched.next().expect("one answer per miss"),
            })
            .collect())
    }
}
