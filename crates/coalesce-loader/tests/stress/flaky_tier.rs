//! A loader behind a shared tier that answers late, fails at random and is cancelled mid-flight,
//! while mutations change the source and clear what they changed.
//!
//! The source keeps a version per key; mutations bump it, then `clear`, `clear_shared` or
//! `clear_all_shared` the key (some `clear_shared`s are dropped before they finish); values carry
//! the version they were read at. What is checked: once a mutation has cleared its key (its
//! `clear` has returned, or its `clear_shared` has been polled, which is when it forgets the key
//! and owes the deletion), no load started later on that request's loader, or on any loader built
//! later, returns an older version. The deletion may fail, be dropped in flight, or be owed by a
//! request that is long gone: until the tier confirms it, nobody may read the key from the tier.
//!
//! One exception is documented ([`coalesce_loader::tier`]): a batch that read the source before the
//! mutation may write its value back after the deletion. The tier marks every value it stores
//! after it deleted a newer version of the key (`Versioned::late`); such a value is excused, and
//! counted. A value that the deletion should have removed, or that was read from the tier while
//! its deletion was owed, is not marked, and fails the test.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use coalesce_loader::tier::{BoxFuture, Tier, TierError, ValueCache};
use coalesce_loader::{DataLoader, LoadError, Loader};

use crate::common::{TestError, yield_now};
use crate::{Answer, Answers, Freed, Process, Tally, check_error_where, draw, per_key, race, roll};

/// Keys of the versioned source: few, so that mutations and loads of one key meet often.
const KEYS: u64 = 16;
/// Per mille: tier operations that fail, and reads answered with one entry too few.
const FAILS: u64 = 100;
const SHORT: u64 = 50;
/// A tier operation answers after fewer yields than this, and so does a dropped mutation.
const DELAY: u64 = 8;
/// One stretch of tier operations in `READ_ONLY_EVERY` is read-only, as a Redis replica is
/// during a failover: every write, deletion and clear fails, reads work. Deletions then stay
/// owed across requests while the stale entries are still there to be read.
const READ_ONLY_STRETCH: u64 = 100;
const READ_ONLY_EVERY: u64 = 4;
/// Per mille: `clear_shared`s dropped before they finish.
const MUTATION_DROPS: u64 = 300;

/// Categories of [`Shared::tally`] that a correct run need not show: the documented race, and a
/// consequence of failures that the run does not aim for.
pub const MAY_NOT_OCCUR: &[&str] = &[
    "late write-backs",
    "late values excused",
    "tier hits failed with their batch's misses",
];

/// A value of the source: its key, the version it was read at, and whether the tier stored it
/// after it had deleted a newer version of the key.
#[derive(Clone, Debug)]
pub struct Versioned {
    key: u64,
    version: u64,
    late: bool,
}

/// The source and the tier's store, one per run: the store needs the source's versions to
/// mark late write-backs.
struct Backend {
    seed: u64,
    versions: [AtomicU64; KEYS as usize],
    stored: Mutex<Stored>,
    /// Numbers the tier's operations, to draw their delays and failures.
    ops: AtomicU64,
    counts: Counts,
}

#[derive(Default)]
struct Stored {
    entries: HashMap<u64, Versioned>,
    /// Per key, the source's version when the tier last deleted it.
    deleted_at: HashMap<u64, u64>,
}

#[derive(Default)]
struct Counts {
    gets: AtomicUsize,
    sets: AtomicUsize,
    deletes: AtomicUsize,
    clears: AtomicUsize,
    failed: AtomicUsize,
    read_only: AtomicUsize,
    short: AtomicUsize,
    cancelled: AtomicUsize,
    late_writes: AtomicUsize,
    cleared: AtomicUsize,
    cleared_shared: AtomicUsize,
    cleared_all_shared: AtomicUsize,
    shared_dropped: AtomicUsize,
    checked: AtomicUsize,
    excused: AtomicUsize,
    hits_failed: AtomicUsize,
    hits: AtomicUsize,
}

impl Backend {
    fn version(&self, key: u64) -> u64 {
        self.versions[key as usize].load(Ordering::SeqCst)
    }

    /// One tier operation: applied to the store when it is called or when it answers (drawn),
    /// answered after a few yields, failed at random, or refused if it `writes` in a read-only
    /// stretch. Dropped before it answers, it was either applied with its answer lost, or never
    /// applied: a server's round trip cut short.
    fn op<'a, T: Send + 'a>(
        &'a self,
        kind: &AtomicUsize,
        writes: bool,
        apply: impl FnOnce(&mut Stored, u64) -> T + Send + 'a,
    ) -> BoxFuture<'a, Result<T, TierError>> {
        kind.fetch_add(1, Ordering::Relaxed);
        let n = self.ops.fetch_add(1, Ordering::Relaxed);
        let delay = roll(self.seed, ("tier delay", n)) % DELAY;
        let refused = writes && (n / READ_ONLY_STRETCH) % READ_ONLY_EVERY == READ_ONLY_EVERY - 1;
        let fails = roll(self.seed, ("tier fails", n)) < FAILS;
        let mut apply = Some(apply);
        let early = (!refused && roll(self.seed, ("tier applies early", n)) < 500)
            .then(|| (apply.take().expect("not applied yet"))(&mut self.stored.lock().unwrap(), n));
        Box::pin(async move {
            let mut flight = InFlight(Some(&self.counts.cancelled));
            crate::yields(delay).await;
            flight.0 = None;
            if refused {
                self.counts.read_only.fetch_add(1, Ordering::Relaxed);
                return Err("READONLY You can't write against a read only replica.".into());
            }
            if fails {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                return Err("tier timed out".into());
            }
            Ok(match (early, apply) {
                (Some(answer), _) => answer,
                (None, Some(apply)) => apply(&mut self.stored.lock().unwrap(), n),
                (None, None) => unreachable!("applied early or now"),
            })
        })
    }

    fn deleted(&self, stored: &mut Stored, key: u64) {
        stored.entries.remove(&key);
        stored.deleted_at.insert(key, self.version(key));
    }
}

/// Counts a tier operation dropped before it answered.
struct InFlight<'a>(Option<&'a AtomicUsize>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(cancelled) = self.0 {
            cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The tier as the process builds it once: on the [`Backend`]'s store.
struct Flaky(Arc<Backend>);

impl ValueCache<u64, Versioned> for Flaky {
    fn get_many<'a>(
        &'a self,
        keys: &'a [u64],
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned>>, TierError>> {
        let backend = &self.0;
        backend.op(&backend.counts.gets, false, move |stored, n| {
            let mut found: Vec<_> = keys
                .iter()
                .map(|k| stored.entries.get(k).cloned())
                .collect();
            if roll(backend.seed, ("tier short", n)) < SHORT {
                backend.counts.short.fetch_add(1, Ordering::Relaxed);
                found.pop();
            }
            found
        })
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(&'a u64, &'a Versioned)],
    ) -> BoxFuture<'a, Result<(), TierError>> {
        let backend = &self.0;
        backend.op(&backend.counts.sets, true, move |stored, _| {
            for &(&key, value) in entries {
                let late = value.version < stored.deleted_at.get(&key).copied().unwrap_or(0);
                if late {
                    backend.counts.late_writes.fetch_add(1, Ordering::Relaxed);
                }
                let late = value.late || late;
                stored.entries.insert(key, Versioned { late, ..*value });
            }
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [u64]) -> BoxFuture<'a, Result<(), TierError>> {
        let backend = &self.0;
        backend.op(&backend.counts.deletes, true, move |stored, _| {
            keys.iter().for_each(|&k| backend.deleted(stored, k));
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), TierError>> {
        let backend = &self.0;
        backend.op(&backend.counts.clears, true, move |stored, _| {
            (0..KEYS).for_each(|k| backend.deleted(stored, k));
        })
    }
}

/// What one run's requests share: the source and the tier.
pub struct Shared {
    backend: Arc<Backend>,
    tier: Tier<u64, Versioned>,
    /// Per key, the newest version a mutation has cleared: a request built later starts with it
    /// as the oldest version it may see.
    cleared: [AtomicU64; KEYS as usize],
}

impl Shared {
    pub fn new(seed: u64) -> Self {
        let backend = Arc::new(Backend {
            seed,
            versions: Default::default(),
            stored: Mutex::default(),
            ops: AtomicU64::new(0),
            counts: Counts::default(),
        });
        Shared {
            tier: Tier::new(Flaky(Arc::clone(&backend))),
            backend,
            cleared: Default::default(),
        }
    }

    /// What happened, by category: for the report, and to see that each case occurred.
    pub fn tally(&self) -> Vec<(&'static str, usize)> {
        let c = &self.backend.counts;
        [
            ("mutations by clear", &c.cleared),
            ("mutations by clear_shared", &c.cleared_shared),
            ("mutations by clear_all_shared", &c.cleared_all_shared),
            ("clear_shared dropped mid-flight", &c.shared_dropped),
            ("values checked against a mutation", &c.checked),
            ("late values excused", &c.excused),
            ("tier hits failed with their batch's misses", &c.hits_failed),
            ("tier hits", &c.hits),
            ("tier gets", &c.gets),
            ("tier sets", &c.sets),
            ("tier deletes", &c.deletes),
            ("tier clears", &c.clears),
            ("tier failures", &c.failed),
            ("tier writes refused as read-only", &c.read_only),
            ("short tier answers", &c.short),
            ("tier operations cancelled mid-flight", &c.cancelled),
            ("late write-backs", &c.late_writes),
        ]
        .into_iter()
        .map(|(what, n)| (what, n.load(Ordering::Relaxed)))
        .collect()
    }
}

/// A request's loader of versioned values, through the tier, and the oldest version of each
/// key that a load started now may see.
pub struct Versions {
    loader: DataLoader<Database>,
    floors: [AtomicU64; KEYS as usize],
}

struct Database {
    seed: u64,
    calls: AtomicU64,
    backend: Arc<Backend>,
    _freed: Freed,
}

impl Loader for Database {
    type Key = u64;
    type Output = Answers<Versioned>;
    type Error = TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, TestError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        yield_now().await;
        if let Some(failure) = draw(self.seed, "version", call, keys) {
            return Err(TestError(failure));
        }
        Ok(keys
            .iter()
            .map(|&key| {
                let version = self.backend.version(key);
                let value = Versioned {
                    key,
                    version,
                    late: false,
                };
                per_key(self.seed, "version", call, key, Ok(value))
            })
            .collect())
    }
}

impl Versions {
    /// A request's loader, with 1 to 4 keys per batch and, for some requests, a permit limit.
    pub fn new(process: &Process, seed: u64) -> Self {
        let shared = &process.tier;
        let mut builder = DataLoader::builder(Database {
            seed,
            calls: AtomicU64::new(0),
            backend: Arc::clone(&shared.backend),
            _freed: process.freed.clone(),
        })
        .max_batch_size(1 + roll(seed, "versions batch size") as usize % 4);
        if roll(seed, "versions permits") < 500 {
            builder = builder.max_concurrent_batches(1 + roll(seed, "versions limit") as usize % 2);
        }
        Versions {
            loader: builder.value_cache(shared.tier.clone()).build(),
            floors: std::array::from_fn(|k| {
                AtomicU64::new(shared.cleared[k].load(Ordering::SeqCst))
            }),
        }
    }

    /// Counts what the request's loader found in the tier, once its operations are over.
    pub fn finish(&self, shared: &Shared) {
        let hits = self.loader.stats().tier_hits as usize;
        shared
            .backend
            .counts
            .hits
            .fetch_add(hits, Ordering::Relaxed);
    }

    /// A mutation to `version` has cleared `key`: later loads of this request, and every load
    /// of a request built from now on, must see it or a newer one.
    fn cleared(&self, shared: &Shared, key: u64, version: u64) {
        self.floors[key as usize].fetch_max(version, Ordering::SeqCst);
        shared.cleared[key as usize].fetch_max(version, Ordering::SeqCst);
    }
}

/// Operation `i` as a load of one key, checked against the mutations that cleared it before.
pub async fn load(shared: &Shared, versions: &Versions, i: u64) -> Result<Answer, String> {
    let key = roll(shared.backend.seed, ("key", i)) % KEYS;
    // Read before the load starts: every mutation that cleared the key by then bounds the answer.
    let floor = versions.floors[key as usize].load(Ordering::SeqCst);
    let answer = versions.loader.load(key).await;
    check(shared, key, floor, answer)
}

fn check(
    shared: &Shared,
    key: u64,
    floor: u64,
    answer: Result<Versioned, LoadError<TestError>>,
) -> Result<Answer, String> {
    let counts = &shared.backend.counts;
    let value = match answer {
        Ok(value) => value,
        Err(e) => return check_tier_error(counts, key, e),
    };
    if value.key != key || value.version > shared.backend.version(key) {
        return Err(format!("version {key}: got {value:?}"));
    }
    if value.version < floor {
        if !value.late {
            return Err(format!(
                "version {key}: got version {}, but a mutation to version {floor} cleared the key \
                 before this load started",
                value.version
            ));
        }
        counts.excused.fetch_add(1, Ordering::Relaxed);
    }
    if floor > 0 {
        counts.checked.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Answer::Value)
}

/// Checks an error as [`crate::check_error`] does, except that a batch failure need not list the key: a
/// key found in the tier is not sent to the batch function, but fails with the batch's misses.
fn check_tier_error(
    counts: &Counts,
    key: u64,
    error: LoadError<TestError>,
) -> Result<Answer, String> {
    check_error_where("version", key, error, |message| {
        if !message.contains(&format!(",{key},")) {
            counts.hits_failed.fetch_add(1, Ordering::Relaxed);
        }
        true
    })
}

/// Operation `i` as a mutation: a new version of one key in the source, then that key cleared
/// through the request's loader.
pub async fn mutate(shared: &Shared, versions: &Versions, i: u64, tally: &Tally) {
    let (seed, counts) = (shared.backend.seed, &shared.backend.counts);
    let key = roll(seed, ("mutated key", i)) % KEYS;
    let version = shared.backend.versions[key as usize].fetch_add(1, Ordering::SeqCst) + 1;
    let loader = &versions.loader;
    let mut clearing: Pin<Box<dyn Future<Output = ()> + Send + '_>> =
        match roll(seed, ("mutation", i)) % 20 {
            0..8 => {
                counts.cleared.fetch_add(1, Ordering::Relaxed);
                loader.clear(&key);
                versions.cleared(shared, key, version);
                return;
            }
            8..19 => {
                counts.cleared_shared.fetch_add(1, Ordering::Relaxed);
                Box::pin(loader.clear_shared([key]))
            }
            _ => {
                counts.cleared_all_shared.fetch_add(1, Ordering::Relaxed);
                Box::pin(loader.clear_all_shared())
            }
        };
    // The first poll forgets the key and owes its deletion: from then on the mutation holds,
    // whether the deletion is confirmed, fails, or is dropped in flight below.
    let first = std::future::poll_fn(|cx| Poll::Ready(clearing.as_mut().poll(cx))).await;
    versions.cleared(shared, key, version);
    if first.is_ready() {
        return;
    }
    let dropped = roll(seed, ("drop mutation", i)) < MUTATION_DROPS;
    match race(clearing, dropped, roll(seed, ("mutation after", i)) % DELAY).await {
        None => {
            counts.shared_dropped.fetch_add(1, Ordering::Relaxed);
        }
        Some(Err(_)) => tally.fail(format!("mutation {i} waited past {:?}", crate::BOUND)),
        Some(Ok(())) => {}
    }
}
