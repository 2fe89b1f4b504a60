//! Stress: 10 000 concurrent operations on a multi-thread runtime, through loaders that call each
//! other, a loader that loads from itself under permit and batch-size limits, and a loader behind
//! a shared tier whose every operation answers late, fails at random or is cancelled mid-flight,
//! while mutations change the source and clear what they changed. Batch functions fail whole
//! batches, fail single keys and panic; waiters are dropped at random points. Every load that is
//! not dropped must get exactly its own value or an error that truly concerns its key, within a
//! generous bound, and no panic may escape; afterwards, every loader must have been freed.
//!
//! The run is deterministic in what it asks (a fixed seed drives keys, failures and drops) but
//! not in how the two worker threads interleave, which is the point. `COALESCE_STRESS_SEEDS=N`
//! runs N seeds instead of one.

mod common;
// Beside this file rather than in `tests/`, where cargo would build each as a test of its own.
#[path = "stress/flaky_tier.rs"]
mod flaky_tier;
#[path = "stress/halves.rs"]
mod halves;

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use coalesce_loader::{DataLoader, LoadError, Loader};
use common::TestError;
use futures::FutureExt;
use futures::future::{BoxFuture, Either, join_all, select};

/// Operations in one run.
const OPS: usize = 10_000;
/// Per mille: how often a batch fails as a whole, a key fails alone, a batch panics.
const BATCH_FAILS: u64 = 50;
const KEY_FAILS: u64 = 50;
const PANICS: u64 = 10;
/// A load that takes longer than this is hung: the test fails.
const BOUND: Duration = Duration::from_secs(30);
/// Requests run this many at a time; each lane runs its requests one after another, so that
/// later requests are built after earlier ones' mutations (see [`flaky_tier`]).
const LANES: u64 = 20;
const REQUESTS: u64 = 100;
/// Each request's operations are spread over this many tasks: they come from several threads.
const TASKS: u64 = 4;

/// A pseudo-random number below 1000 for `what`, fixed by the seed.
fn roll(seed: u64, what: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    (seed, what).hash(&mut hasher);
    hasher.finish() % 1000
}

/// What a batch function of loader `name` does with `keys`: the failure it draws, if any. The
/// messages list the batch's keys, so a waiter can tell that an error really was its batch's.
fn draw(seed: u64, name: &str, call: u64, keys: &[u64]) -> Option<String> {
    let list: String = keys.iter().map(|k| format!("{k},")).collect();
    match roll(seed, (name, call)) {
        r if r < PANICS => panic!("{name} batch panicked: ,{list}"),
        r if r < PANICS + BATCH_FAILS => Some(format!("{name} batch failed: ,{list}")),
        _ => None,
    }
}

/// The answer a key gets unless something fails: pure, so every waiter can check its value.
fn user(k: u64) -> u64 {
    k * 3 + 1
}
fn post(p: u64) -> u64 {
    p * 1000 + user(p % 97)
}
fn comment(c: u64) -> u64 {
    c * 1_000_000 + post(c % 89) + user(c % 53)
}

/// Counts the drops of one kind of value: the loaders, to see that none outlived the run.
#[derive(Clone, Default)]
struct Freed(Arc<AtomicUsize>);

impl Drop for Freed {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Freed {
    /// How many clones were dropped so far.
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// What one run shares between its requests: the tier and its source, the tally.
struct Process {
    seed: u64,
    tally: Arc<Tally>,
    tier: flaky_tier::Shared,
    /// Counts the loaders freed, one token per loader.
    freed: Freed,
    /// Each request's self-loading loader's reference to itself, broken after the run.
    selves: Mutex<Vec<halves::Me>>,
}

/// The loaders of one request, which call each other: comments load posts and users, posts
/// load users, halves load halves; versions read through the shared tier.
struct Request {
    users: DataLoader<Users>,
    posts: DataLoader<Posts>,
    comments: DataLoader<Comments>,
    halves: DataLoader<halves::Halves>,
    versions: flaky_tier::Versions,
}

/// Loaders per request, for the freed check.
const LOADERS: usize = 5;

struct Users {
    seed: u64,
    calls: AtomicU64,
    _freed: Freed,
}

struct Posts {
    seed: u64,
    calls: AtomicU64,
    users: DataLoader<Users>,
    _freed: Freed,
}

struct Comments {
    seed: u64,
    calls: AtomicU64,
    request: Arc<OnceLock<(DataLoader<Posts>, DataLoader<Users>)>>,
    _freed: Freed,
}

type Answers<T = u64> = Vec<Result<T, TestError>>;

/// The per-key outcome: the value, or a key failure drawn for this key in this call.
fn per_key<T>(
    seed: u64,
    name: &str,
    call: u64,
    key: u64,
    value: Result<T, String>,
) -> Result<T, TestError> {
    if roll(seed, (name, call, key)) < KEY_FAILS {
        return Err(TestError(format!("{name} {key} failed")));
    }
    value.map_err(|why| TestError(format!("{name} {key}: {why}")))
}

impl Loader for Users {
    type Key = u64;
    type Output = Answers;
    type Error = TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Answers, TestError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        common::yield_now().await; // a database round trip, as far as the executor can tell
        if let Some(failure) = draw(self.seed, "user", call, keys) {
            return Err(TestError(failure));
        }
        Ok(keys
            .iter()
            .map(|&k| per_key(self.seed, "user", call, k, Ok(user(k))))
            .collect())
    }
}

impl Loader for Posts {
    type Key = u64;
    type Output = Answers;
    type Error = TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Answers, TestError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let authors = self.users.load_many(keys.iter().map(|p| p % 97)).await;
        if let Some(failure) = draw(self.seed, "post", call, keys) {
            return Err(TestError(failure));
        }
        Ok(keys
            .iter()
            .zip(authors)
            .map(|(&p, author)| {
                let value = author
                    .map(|u| p * 1000 + u)
                    .map_err(|e| format!("author failed: {e}"));
                per_key(self.seed, "post", call, p, value)
            })
            .collect())
    }
}

impl Loader for Comments {
    type Key = u64;
    type Output = Answers;
    type Error = TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Answers, TestError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let (posts, users) = self.request.get().expect("set when the request is built");
        let (on_posts, by_users) = futures::join!(
            posts.load_many(keys.iter().map(|c| c % 89)),
            join_all(keys.iter().map(|c| users.load(c % 53))),
        );
        if let Some(failure) = draw(self.seed, "comment", call, keys) {
            return Err(TestError(failure));
        }
        Ok(keys
            .iter()
            .zip(on_posts.into_iter().zip(by_users))
            .map(|(&c, (post, user))| {
                let value = match (post, user) {
                    (Ok(p), Ok(u)) => Ok(c * 1_000_000 + p + u),
                    (Err(e), _) | (_, Err(e)) => Err(format!("dependency failed: {e}")),
                };
                per_key(self.seed, "comment", call, c, value)
            })
            .collect())
    }
}

impl Request {
    fn new(process: &Arc<Process>, r: u64) -> Request {
        let seed = process.seed ^ r;
        let freed = || process.freed.clone();
        let users = DataLoader::new(Users {
            seed,
            calls: AtomicU64::new(0),
            _freed: freed(),
        });
        let posts = DataLoader::builder(Posts {
            seed,
            calls: AtomicU64::new(0),
            users: users.clone(),
            _freed: freed(),
        })
        .max_batch_size(16)
        .build();
        let request = Arc::new(OnceLock::new());
        let comments = DataLoader::new(Comments {
            seed,
            calls: AtomicU64::new(0),
            request: request.clone(),
            _freed: freed(),
        });
        assert!(request.set((posts.clone(), users.clone())).is_ok());
        let (halves, me) = halves::build(process, seed);
        process.selves.lock().unwrap().push(me);
        Request {
            users,
            posts,
            comments,
            halves,
            versions: flaky_tier::Versions::new(process, seed),
        }
    }
}

/// What a correct answer was: the value, or which kind of error. A load of `halves` may fail
/// because batching split a chain of keys into batches that wait for each other: a cycle.
#[derive(Clone, Copy)]
enum Answer {
    Value,
    KeyError,
    BatchError,
    Panic,
    Cycle,
}

/// Checks one load's answer: its own value, or an error that concerns its key.
fn check(
    loader: &str,
    key: u64,
    expected: u64,
    answer: Result<u64, LoadError<TestError>>,
) -> Result<Answer, String> {
    match answer {
        Ok(value) if value == expected => Ok(Answer::Value),
        Ok(value) => Err(format!("{loader} {key}: got {value}, expected {expected}")),
        Err(e) => check_error(loader, key, e),
    }
}

/// Checks one load's error: its key's own, its batch's, or its batch's panic. A load made
/// outside any batch function can never close a cycle, so `LoadError::Cycle` is wrong here.
fn check_error(loader: &str, key: u64, error: LoadError<TestError>) -> Result<Answer, String> {
    check_error_where(loader, key, error, |message| {
        message.contains(&format!(",{key},"))
    })
}

/// [`check_error`], with `concerns_key` telling whether a batch failure's message (which lists
/// the keys sent to the batch function) concerns the key.
fn check_error_where(
    loader: &str,
    key: u64,
    error: LoadError<TestError>,
    concerns_key: impl Fn(&str) -> bool,
) -> Result<Answer, String> {
    let own_key_error = |message: &str| {
        message.starts_with(&format!("{loader} {key} "))
            || message.starts_with(&format!("{loader} {key}:"))
    };
    match error {
        // A cycle below this key, which its batch function answered as this key's error.
        LoadError::Key(e) if own_key_error(&e.0) && e.0.contains("cycle") => Ok(Answer::Cycle),
        LoadError::Key(e) if own_key_error(&e.0) => Ok(Answer::KeyError),
        LoadError::Batch(e)
            if e.0.starts_with(&format!("{loader} batch failed")) && concerns_key(&e.0) =>
        {
            Ok(Answer::BatchError)
        }
        LoadError::Panic { message, .. }
            if message.starts_with(&format!("{loader} batch panicked"))
                && concerns_key(&message) =>
        {
            Ok(Answer::Panic)
        }
        other => Err(format!(
            "{loader} {key}: an error that is not its own: {other:?}"
        )),
    }
}

/// Yields `n` times: racing a future against it drops the future after a pseudo-random delay.
async fn yields(n: u64) {
    for _ in 0..n {
        common::yield_now().await;
    }
}

/// Awaits `fut` within [`BOUND`], or, if `dropped`, drops it after `after` yields unless it is
/// done by then: `None` when it was dropped, `Err` when it hung.
async fn race<F: Future>(
    fut: F,
    dropped: bool,
    after: u64,
) -> Option<Result<F::Output, tokio::time::error::Elapsed>> {
    let bounded = tokio::time::timeout(BOUND, fut);
    if !dropped {
        return Some(bounded.await);
    }
    match select(pin!(bounded), pin!(yields(after))).await {
        Either::Left((outcome, _)) => Some(outcome),
        Either::Right(((), _)) => None,
    }
}

#[derive(Default)]
struct Tally {
    /// Correct answers, by kind (indexed by `Answer as usize`).
    answered: [AtomicUsize; 5],
    dropped: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, why: String) {
        self.failures.lock().unwrap().push(why);
    }

    /// Counts a load's outcome: `None` if it was dropped.
    fn count(&self, what: &str, outcome: Option<Result<Result<Answer, String>, impl Sized>>) {
        match outcome {
            None => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(_)) => self.fail(format!("{what} waited past {BOUND:?}")),
            Some(Ok(Err(wrong))) => self.fail(wrong),
            Some(Ok(Ok(answer))) => {
                self.answered[answer as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Per mille: mutations among the operations; loads dropped, more often for the loader behind
/// the tier, whose tier operations are then cancelled mid-flight.
const MUTATIONS: u64 = 50;
const DROPS: u64 = 100;
const TIER_DROPS: u64 = 300;

/// Operation `i` of `request`: a load on one of its loaders, dropped after 0 to 19 yields if
/// drawn so (before, while or after its batch runs), or a mutation.
async fn one_op(process: &Process, request: &Request, i: u64) {
    let seed = process.seed;
    let which = roll(seed, ("op", i));
    if which < MUTATIONS {
        return flaky_tier::mutate(&process.tier, &request.versions, i, &process.tally).await;
    }
    let key = roll(seed, ("key", i)) % 200;
    let (load, drops): (BoxFuture<'_, _>, _) = match which {
        MUTATIONS..250 => (
            async move { check("user", key, user(key), request.users.load(key).await) }.boxed(),
            DROPS,
        ),
        250..450 => (
            async move { check("post", key, post(key), request.posts.load(key).await) }.boxed(),
            DROPS,
        ),
        450..600 => (
            async move {
                let answer = request.comments.load(key).await;
                check("comment", key, comment(key), answer)
            }
            .boxed(),
            DROPS,
        ),
        600..800 => (
            async move {
                let answer = request.halves.load(key).await;
                check("halves", key, halves::worth(key), answer)
            }
            .boxed(),
            DROPS,
        ),
        _ => (
            flaky_tier::load(&process.tier, &request.versions, i).boxed(),
            TIER_DROPS,
        ),
    };
    let dropped = roll(seed, ("drop", i)) < drops;
    let outcome = race(load, dropped, roll(seed, ("after", i)) % 20).await;
    process.tally.count(&format!("load {i}"), outcome);
}

fn run(seed: u64) -> Arc<Process> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let process = Arc::new(Process {
        seed,
        tally: Arc::default(),
        tier: flaky_tier::Shared::new(seed),
        freed: Freed::default(),
        selves: Mutex::default(),
    });
    let per_task = OPS as u64 / REQUESTS / TASKS;
    runtime.block_on(async {
        let lanes: Vec<_> = (0..LANES)
            .map(|lane| {
                let process = process.clone();
                tokio::spawn(async move {
                    for r in (lane..REQUESTS).step_by(LANES as usize) {
                        let request = Arc::new(Request::new(&process, r));
                        let tasks: Vec<_> = (0..TASKS)
                            .map(|t| {
                                let (process, request) = (process.clone(), request.clone());
                                tokio::spawn(async move {
                                    let ops = (0..per_task).map(|j| {
                                        let i = (r * TASKS + t) * per_task + j;
                                        one_op(&process, &request, i)
                                    });
                                    join_all(ops).await;
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.expect("no panic escapes a load");
                        }
                        request.versions.finish(&process.tier);
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await.expect("no panic escapes a load");
        }
    });
    drop(runtime);
    process
}

/// Breaks each self-loading loader's reference to itself; then every loader of every request
/// must be gone: no batch future, waiter or wait-for entry outlived the loads.
fn freed(process: &Process) -> usize {
    let selves = std::mem::take(&mut *process.selves.lock().unwrap());
    for me in selves {
        drop(me.lock().unwrap().take());
    }
    process.freed.count()
}

/// "6232 values, 1478 key errors, ...": one line of the report.
fn describe(counts: &[(&str, usize)]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    parts.join(", ")
}

#[test]
fn ten_thousand_operations_with_failures_panics_drops_cycles_and_a_flaky_tier_each_get_their_own_answer()
 {
    let seeds: u64 = std::env::var("COALESCE_STRESS_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    // The panics inside batch functions are caught and are part of the test: keep them quiet.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let quiet = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.contains("batch panicked"));
        if !quiet {
            default_hook(info);
        }
    }));
    let started = Instant::now();
    let mut totals: Vec<(&str, usize)> = Vec::new();
    for seed in 0..seeds {
        let process = run(0x5eed + seed);
        let freed = freed(&process);
        let tally = &process.tally;
        let failures = std::mem::take(&mut *tally.failures.lock().unwrap());
        assert!(
            failures.is_empty(),
            "seed {seed}: {} wrong answers, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert_eq!(
            freed,
            LOADERS * REQUESTS as usize,
            "seed {seed}: every loader was freed"
        );
        let [values, key_errors, batch_errors, panics, cycles] =
            tally.answered.each_ref().map(|n| n.load(Ordering::Relaxed));
        let dropped = tally.dropped.load(Ordering::Relaxed);
        let tier = process.tier.tally();
        let mutations: usize = tier
            .iter()
            .filter(|(what, _)| what.starts_with("mutations"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            values + key_errors + batch_errors + panics + cycles + dropped + mutations,
            OPS,
            "seed {seed}: every operation was answered, dropped or done"
        );
        let counts: Vec<(&str, usize)> = [
            ("values", values),
            ("key errors", key_errors),
            ("batch errors", batch_errors),
            ("panics", panics),
            ("cycles", cycles),
            ("dropped", dropped),
        ]
        .into_iter()
        .chain(tier)
        .collect();
        println!(
            "seed {seed}: {}, 0 wrong, 0 hung, all {freed} loaders freed",
            describe(&counts)
        );
        // The run exercised every case it is about, or it proves nothing.
        assert!(values > OPS / 2, "seed {seed}: only {values} values");
        for (what, n) in &counts {
            assert!(
                *n > 0 || flaky_tier::MAY_NOT_OCCUR.contains(what),
                "seed {seed}: no {what}"
            );
        }
        if totals.is_empty() {
            totals = counts.iter().map(|(what, _)| (*what, 0)).collect();
        }
        for (total, (_, n)) in totals.iter_mut().zip(&counts) {
            total.1 += n;
        }
    }
    println!(
        "{seeds} seeds, {} operations in {:.1?}: {}, 0 wrong, 0 hung",
        seeds as usize * OPS,
        started.elapsed(),
        describe(&totals)
    );
}
