//! Counters a loader keeps about its own work.
//!
//! They are plain integers updated under the loader's lock, which every load takes anyway, so
//! keeping them costs no atomic operation on the hot path. [`DataLoader::stats`](crate::DataLoader::stats)
//! copies them out.

/// What a loader has done since it was built.
///
/// ```
/// # futures::executor::block_on(async {
/// let loader = coalesce_loader::DataLoader::new(coalesce_loader::from_fn(|ids: Vec<u32>| async move {
///     Ok::<_, std::convert::Infallible>(ids.iter().map(|&id| Ok(id)).collect::<Vec<_>>())
/// }));
/// let _ = futures::join!(loader.load(1), loader.load(2), loader.load(1));
/// let _ = loader.load(2).await;
/// let stats = loader.stats();
/// assert_eq!((stats.loads, stats.batches, stats.keys), (4, 1, 2));
/// assert_eq!((stats.deduplicated, stats.cache_hits), (1, 1));
/// # });
/// ```
///
/// With the `serde` feature, `Stats` is `Serialize`, with camelCase field names as in a GraphQL
/// response's `extensions`:
///
/// ```
/// # #[cfg(feature = "serde")] {
/// let stats = coalesce_loader::Stats::default();
/// let json = serde_json::to_value(stats).unwrap();
/// assert_eq!(json["cacheHits"], 0);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
#[non_exhaustive]
pub struct Stats {
    /// Keys asked for, through `load` and `load_many`.
    pub loads: u64,
    /// Loads answered from the memo without waiting: a hit is answered at its first poll, even
    /// while a batch is open, since it adds no key to any batch (see
    /// [`DataLoader::load`](crate::DataLoader::load)).
    pub cache_hits: u64,
    /// Loads that joined a key already queued or in flight instead of sending it again.
    pub deduplicated: u64,
    /// Calls of the batch function (a batch answered entirely by primes or by the shared tier
    /// makes none).
    pub batches: u64,
    /// Keys sent to the batch function, over all batches.
    pub keys: u64,
    /// The most keys one batch was given.
    pub largest_batch: u64,
    /// Per-key errors the batch function returned.
    pub key_errors: u64,
    /// Batches that failed as a whole: an error, a panic, or a result of the wrong length.
    pub failed_batches: u64,
    /// Keys the shared tier answered, which the batch function then did not get
    /// ([`crate::tier`]).
    pub tier_hits: u64,
    /// Failed operations of the shared tier: each one counted as misses, never as a failed load.
    pub tier_errors: u64,
    /// Runs of [`n_plus_one_after`](crate::Builder::n_plus_one_after) (10 by default) or more
    /// batches of one key in a row: the sign of an N+1, a resolver awaiting its loads one by
    /// one. A run counts once, however long; a batch of several keys ends it.
    pub single_key_runs: u64,
}

impl Stats {
    /// Average keys per batch, or 0 before the first batch.
    pub fn keys_per_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.keys as f64 / self.batches as f64
        }
    }
}
