//! Stress: 10 000 concurrent loads on a multi-thread runtime, through loaders that call each
//! other, with batch functions that fail whole batches, fail single keys and panic, and waiters
//! dropped at random points. Every load that is not dropped must get exactly its own value or an
//! error that truly concerns its key, within a generous bound, and no panic may escape.
//!
//! The run is deterministic in what it asks (a fixed seed drives keys, failures and drops) but
//! not in how the two worker threads interleave, which is the point. `COALESCE_STRESS_SEEDS=N`
//! runs N seeds instead of one.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use coalesce::{DataLoader, LoadError, Loader};
use common::TestError;
use futures::future::{Either, join_all, select};

/// Loads in one run.
const LOADS: usize = 10_000;
/// Per mille: how often a batch fails as a whole, a key fails alone, a batch panics.
const BATCH_FAILS: u64 = 50;
const KEY_FAILS: u64 = 50;
const PANICS: u64 = 10;
/// A load that takes longer than this is hung: the test fails.
const BOUND: Duration = Duration::from_secs(30);

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

/// The loaders of one request, which call each other: comments load posts and users, posts
/// load users.
struct Request {
    users: DataLoader<Users>,
    posts: DataLoader<Posts>,
    comments: DataLoader<Comments>,
}

struct Users {
    seed: u64,
    calls: AtomicU64,
}

struct Posts {
    seed: u64,
    calls: AtomicU64,
    users: DataLoader<Users>,
}

struct Comments {
    seed: u64,
    calls: AtomicU64,
    request: Arc<OnceLock<(DataLoader<Posts>, DataLoader<Users>)>>,
}

type Answers = Vec<Result<u64, TestError>>;

/// The per-key outcome: the value, or a key failure drawn for this key in this call.
fn per_key(
    seed: u64,
    name: &str,
    call: u64,
    key: u64,
    value: Result<u64, String>,
) -> Result<u64, TestError> {
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
    fn new(seed: u64) -> Request {
        let users = DataLoader::new(Users {
            seed,
            calls: AtomicU64::new(0),
        });
        let posts = DataLoader::builder(Posts {
            seed,
            calls: AtomicU64::new(0),
            users: users.clone(),
        })
        .max_batch_size(16)
        .build();
        let request = Arc::new(OnceLock::new());
        let comments = DataLoader::new(Comments {
            seed,
            calls: AtomicU64::new(0),
            request: request.clone(),
        });
        assert!(request.set((posts.clone(), users.clone())).is_ok());
        Request {
            users,
            posts,
            comments,
        }
    }
}

/// What a correct answer was: the value, or which kind of error.
#[derive(Clone, Copy)]
enum Answer {
    Value,
    KeyError,
    BatchError,
    Panic,
}

/// Checks one load's answer: its own value, or an error that concerns its key.
fn check(
    loader: &str,
    key: u64,
    expected: u64,
    answer: Result<u64, LoadError<TestError>>,
) -> Result<Answer, String> {
    let concerns_key = |message: &str| message.contains(&format!(",{key},"));
    let own_key_error = |message: &str| {
        message.starts_with(&format!("{loader} {key} "))
            || message.starts_with(&format!("{loader} {key}:"))
    };
    match answer {
        Ok(value) if value == expected => Ok(Answer::Value),
        Ok(value) => Err(format!("{loader} {key}: got {value}, expected {expected}")),
        Err(LoadError::Key(e)) if own_key_error(&e.0) => Ok(Answer::KeyError),
        Err(LoadError::Batch(e))
            if e.0.starts_with(&format!("{loader} batch failed")) && concerns_key(&e.0) =>
        {
            Ok(Answer::BatchError)
        }
        Err(LoadError::Panic { message, .. })
            if message.starts_with(&format!("{loader} batch panicked"))
                && concerns_key(&message) =>
        {
            Ok(Answer::Panic)
        }
        Err(other) => Err(format!(
            "{loader} {key}: an error that is not its own: {other:?}"
        )),
    }
}

/// Yields `n` times: racing a load against it drops the load after a pseudo-random delay.
async fn yields(n: u64) {
    for _ in 0..n {
        common::yield_now().await;
    }
}

#[derive(Default)]
struct Tally {
    /// Correct answers, by kind (indexed by `Answer as usize`).
    answered: [AtomicUsize; 4],
    dropped: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
}

/// One load on one of the request's loaders, dropped after `cancel_after` yields if drawn so.
async fn one_load(request: &Request, seed: u64, i: u64, tally: &Tally) {
    let which = roll(seed, ("loader", i)) % 3;
    let key = roll(seed, ("key", i)) % 200;
    let load = async {
        match which {
            0 => check("user", key, user(key), request.users.load(key).await),
            1 => check("post", key, post(key), request.posts.load(key).await),
            _ => check(
                "comment",
                key,
                comment(key),
                request.comments.load(key).await,
            ),
        }
    };
    let bounded = tokio::time::timeout(BOUND, load);
    // One load in ten is dropped after 0 to 19 yields: before, while or after its batch runs.
    let outcome = if roll(seed, ("drop", i)) < 100 {
        match select(
            Box::pin(bounded),
            Box::pin(yields(roll(seed, ("after", i)) % 20)),
        )
        .await
        {
            Either::Left((outcome, _)) => Some(outcome),
            Either::Right(((), _)) => None,
        }
    } else {
        Some(bounded.await)
    };
    match outcome {
        None => {
            tally.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Some(Err(_)) => tally
            .failures
            .lock()
            .unwrap()
            .push(format!("load {i} waited past {BOUND:?}")),
        Some(Ok(Err(wrong))) => tally.failures.lock().unwrap().push(wrong),
        Some(Ok(Ok(answer))) => {
            tally.answered[answer as usize].fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn run(seed: u64) -> Tally {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let tally = Arc::new(Tally::default());
    runtime.block_on(async {
        // 100 requests of 100 loads, each request's loads spread over 4 tasks: loads of one
        // request come from several threads at once.
        let tasks: Vec<_> = (0..100u64)
            .flat_map(|r| {
                let request = Arc::new(Request::new(seed ^ r));
                (0..4u64).map(move |t| (request.clone(), r, t))
            })
            .map(|(request, r, t)| {
                let tally = tally.clone();
                tokio::spawn(async move {
                    let loads = (0..(LOADS as u64 / 400)).map(|j| {
                        let i = r * 100 + t * 25 + j;
                        one_load(&request, seed, i, &tally)
                    });
                    join_all(loads).await;
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("no panic escapes a load");
        }
    });
    Arc::try_unwrap(tally).ok().expect("every task is done")
}

#[test]
fn ten_thousand_loads_with_failures_panics_and_drops_each_get_their_own_answer() {
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
    for seed in 0..seeds {
        let tally = run(0x5eed + seed);
        let failures = tally.failures.into_inner().unwrap();
        assert!(
            failures.is_empty(),
            "seed {seed}: {} wrong answers, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        let [values, key_errors, batch_errors, panics] =
            tally.answered.map(AtomicUsize::into_inner);
        let dropped = tally.dropped.into_inner();
        assert_eq!(
            values + key_errors + batch_errors + panics + dropped,
            LOADS,
            "seed {seed}: every load was answered or dropped"
        );
        println!(
            "seed {seed}: {values} values, {key_errors} key errors, {batch_errors} batch errors, \
             {panics} panics, {dropped} dropped, 0 wrong, 0 hung"
        );
        // The run exercised every case it is about, or it proves nothing.
        assert!(
            values > LOADS / 2 && key_errors > 0 && batch_errors > 0 && panics > 0 && dropped > 0,
            "seed {seed}: values {values}, key errors {key_errors}, batch errors {batch_errors}, \
             panics {panics}, dropped {dropped}"
        );
    }
}
