//! What each kind of failure does to the loads of a batch, and to the memo.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coalesce_loader::{DataLoader, FnLoader, LoadError};
use common::{MISSING, TestError, echo};
use futures::executor::block_on;
use futures::future::join_all;

/// A batch function that fails its first `failures` calls in the way `fail` says, then works.
fn failing_first(
    failures: usize,
    fail: impl Fn(&[u64]) -> Result<Vec<Result<u64, TestError>>, TestError> + Send + Sync + 'static,
) -> (DataLoader<impl common::U64Loader>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let loader = DataLoader::new(coalesce_loader::from_fn(move |keys: Vec<u64>| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        let result = if call < failures {
            fail(&keys)
        } else {
            Ok(keys.iter().map(|&k| Ok(k * 10)).collect())
        };
        async move { result }
    }));
    (loader, calls)
}

#[test]
fn a_per_key_error_reaches_that_key_only() {
    let (loader, _) = echo();
    let (ok, missing) = block_on(async { futures::join!(loader.load(1), loader.load(MISSING)) });
    assert_eq!(ok.unwrap(), 10);
    match missing.unwrap_err() {
        LoadError::Key(e) => assert_eq!(e.0, format!("key {MISSING} not found")),
        other => panic!("expected a per-key error, got {other:?}"),
    }
    assert_eq!(loader.stats().key_errors, 1);
}

#[test]
fn a_per_key_error_is_cached_like_a_value() {
    let (loader, calls) = echo();
    assert!(block_on(loader.load(MISSING)).is_err());
    assert!(block_on(loader.load(MISSING)).is_err());
    assert_eq!(calls.count(), 1);
    loader.clear(&MISSING);
    assert!(block_on(loader.load(MISSING)).is_err());
    assert_eq!(calls.count(), 2, "clear lets an error be retried");
}

#[test]
fn load_many_never_fails_as_a_whole() {
    let (loader, _) = echo();
    let results = block_on(loader.load_many([1, MISSING, 3]));
    assert_eq!(results[0].as_ref().unwrap(), &10);
    assert!(results[1].as_ref().unwrap_err().is_key_error());
    assert_eq!(results[2].as_ref().unwrap(), &30);
}

#[test]
fn whole_batch_error_reaches_every_load_of_the_batch() {
    let (loader, _) = failing_first(1, |_| Err(TestError("database is down".into())));
    let results = block_on(join_all([1, 2, 3].map(|k| loader.load(k))));
    for result in results {
        match result.unwrap_err() {
            LoadError::Batch(e) => assert_eq!(e.0, "database is down"),
            other => panic!("expected a batch error, got {other:?}"),
        }
    }
    assert_eq!(loader.stats().failed_batches, 1);
}

#[test]
fn whole_batch_error_is_not_cached() {
    let (loader, calls) = failing_first(1, |_| Err(TestError("database is down".into())));
    assert!(block_on(loader.load(1)).is_err());
    assert_eq!(
        block_on(loader.load(1)).unwrap(),
        10,
        "the next load retries"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn wrong_length_fails_every_load_and_names_both_counts() {
    let (loader, calls) =
        failing_first(1, |keys| Ok(keys.iter().skip(1).map(|&k| Ok(k)).collect()));
    let results = block_on(join_all([1, 2, 3].map(|k| loader.load(k))));
    for result in results {
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::WrongLength {
                    keys: 3,
                    values: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("returned 2 values for 3 keys"),
            "{message}"
        );
    }
    assert_eq!(block_on(loader.load(1)).unwrap(), 10, "nothing was cached");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panicking_batch_fails_its_loads_and_leaves_the_loader_usable() {
    let (loader, calls) = failing_first(1, |_| panic!("the batch function exploded"));
    let results = block_on(join_all([1, 2].map(|k| loader.load(k))));
    for result in results {
        match result.unwrap_err() {
            LoadError::Panic { message, .. } => {
                assert_eq!(&*message, "the batch function exploded")
            }
            other => panic!("expected a panic error, got {other:?}"),
        }
    }
    assert_eq!(
        block_on(loader.load(1)).unwrap(),
        10,
        "nothing was cached, the loader still works"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panic_after_an_await_in_the_batch_function_is_caught_too() {
    let loader = DataLoader::new(coalesce_loader::from_fn(|keys: Vec<u64>| async move {
        common::yield_now().await;
        if keys.contains(&13) {
            panic!("unlucky key");
        }
        Ok::<_, TestError>(keys.iter().map(|&k| Ok(k)).collect::<Vec<_>>())
    }));
    let results = block_on(join_all([12, 13].map(|k| loader.load(k))));
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(LoadError::Panic { .. })))
    );
}

#[test]
fn panic_message_names_the_loader() {
    let loader = DataLoader::builder(coalesce_loader::from_fn(|_: Vec<u64>| async move {
        if true {
            panic!("boom");
        }
        Ok::<Vec<Result<u64, TestError>>, TestError>(vec![])
    }))
    .name("users")
    .build();
    let err = block_on(loader.load(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "batch function of loader `users` panicked: boom"
    );
}

#[test]
fn a_batch_function_loading_a_key_of_its_own_batch_gets_a_cycle_error_not_a_hang() {
    struct Cyclic {
        me: Arc<std::sync::OnceLock<DataLoader<Cyclic>>>,
    }
    impl coalesce_loader::Loader for Cyclic {
        type Key = u64;
        type Output = Vec<Result<String, TestError>>;
        type Error = TestError;
        async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, TestError> {
            let me = self.me.get().unwrap();
            // Key 1 asks for itself, which is being loaded right now by this very batch.
            let inner = me.load(keys[0]).await;
            Ok(keys.iter().map(|_| Ok(format!("{inner:?}"))).collect())
        }
    }
    let me = Arc::new(std::sync::OnceLock::new());
    let loader = DataLoader::builder(Cyclic { me: me.clone() })
        .name("cyclic")
        .build();
    assert!(me.set(loader.clone()).is_ok());
    let value = block_on(loader.load(1)).unwrap();
    assert!(value.contains("Cycle"), "{value}");
}

#[test]
fn load_error_works_with_question_mark_into_anyhow() {
    fn fetch(loader: &DataLoader<common::Echo>, key: u64) -> anyhow::Result<u64> {
        Ok(block_on(loader.load(key))?)
    }
    let (loader, _) = echo();
    assert_eq!(fetch(&loader, 1).unwrap(), 10);
    let err = fetch(&loader, MISSING).unwrap_err();
    assert_eq!(err.to_string(), format!("key {MISSING} not found"));
    assert!(err.downcast_ref::<LoadError<TestError>>().is_some());
}

#[test]
fn load_error_is_clone_although_the_source_error_is_not() {
    let (loader, _) = echo();
    let err = block_on(loader.load(MISSING)).unwrap_err();
    let copy = err.clone();
    assert_eq!(copy.to_string(), err.to_string());
    assert_eq!(
        copy.source_error().unwrap().0,
        format!("key {MISSING} not found")
    );
}

#[test]
fn batch_error_shows_its_cause_once_and_hands_it_out_whole() {
    let (loader, _) = failing_first(1, |_| Err(TestError("database is down".into())));
    let err = block_on(loader.load(1)).unwrap_err();
    assert_eq!(err.to_string(), "batch load failed: database is down");
    // The cause is in the message already, so it is not the `source` too (a reporter would
    // print it twice); the batch function's own error value is still there to inspect.
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(err.source_error().unwrap().0, "database is down");
}

/// A user-written batch shape that returns one entry too few for batches holding key 1.
struct OneShort(Vec<u64>);

impl coalesce_loader::BatchOutput<u64, TestError> for OneShort {
    type Value = u64;
    fn align(self, keys: &[u64]) -> Result<Vec<Result<u64, TestError>>, usize> {
        let short = usize::from(keys.contains(&1));
        Ok(self.0.into_iter().skip(short).map(Ok).collect())
    }
}

#[test]
fn a_custom_shape_of_the_wrong_length_fails_its_batch_and_corrupts_nothing() {
    let loader = DataLoader::new(coalesce_loader::from_fn(|keys: Vec<u64>| async move {
        Ok::<_, TestError>(OneShort(keys.iter().map(|k| k * 10).collect()))
    }));
    let results = block_on(join_all([1, 2, 3].map(|k| loader.load(k))));
    assert!(
        results.iter().all(|r| matches!(
            r,
            Err(LoadError::WrongLength {
                keys: 3,
                values: 2,
                ..
            })
        )),
        "{results:?}"
    );
    let later = block_on(join_all([10, 11, 3].map(|k| loader.load(k))));
    assert_eq!(
        later.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [100, 110, 30]
    );
}

/// A value whose `Clone` panics once when armed: user code that runs while memoizing.
#[derive(Debug, PartialEq)]
struct Fragile(u64);

static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if ARMED.swap(false, Ordering::SeqCst) {
            panic!("clone failed");
        }
        Fragile(self.0)
    }
}

#[test]
fn a_panic_while_memoizing_never_serves_one_key_anothers_value() {
    let loader = DataLoader::new(coalesce_loader::from_fn(|keys: Vec<u64>| async move {
        if keys.contains(&1) {
            ARMED.store(true, Ordering::SeqCst);
        }
        Ok::<_, TestError>(
            keys.iter()
                .map(|&k| Ok(Fragile(k * 10)))
                .collect::<Vec<_>>(),
        )
    }));
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(async { futures::join!(loader.load(1), loader.load(2)) })
    }));
    assert!(first.is_err(), "the value's own panic reaches the driver");
    let (a, b, c) =
        block_on(async { futures::join!(loader.load(10), loader.load(11), loader.load(2)) });
    assert_eq!(
        (a.unwrap(), b.unwrap(), c.unwrap()),
        (Fragile(100), Fragile(110), Fragile(20))
    );
    assert_eq!(block_on(loader.load(2)).unwrap(), Fragile(20));
}

#[test]
fn an_error_chain_prints_each_message_once() {
    #[derive(Debug)]
    struct Refused;
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection refused")
        }
    }
    impl std::error::Error for Refused {}
    let loader = DataLoader::new(coalesce_loader::from_fn(|_: Vec<u64>| async move {
        Err::<Vec<Result<u64, Refused>>, _>(Refused)
    }));
    let err = anyhow::Error::from(block_on(loader.load(1)).unwrap_err());
    assert_eq!(format!("{err:#}"), "batch load failed: connection refused");
}

#[test]
fn question_mark_works_into_anyhow_when_the_batch_function_fails_with_anyhow() {
    type Users = FnLoader<u64, Vec<Result<u64, anyhow::Error>>, anyhow::Error>;
    fn first_user(loader: &DataLoader<Users>) -> anyhow::Result<u64> {
        Ok(block_on(loader.load(1))?)
    }
    let loader = DataLoader::new(coalesce_loader::from_fn(|_: Vec<u64>| async move {
        Err(anyhow::anyhow!("connection refused").context("users query"))
    }));
    let err = first_user(&loader).unwrap_err();
    let chain = "batch load failed: users query: connection refused";
    assert_eq!(
        err.to_string(),
        chain,
        "the whole cause, as a GraphQL message shows it"
    );
    assert_eq!(format!("{err:#}"), chain, "each message once");
}

#[test]
fn question_mark_works_into_anyhow_when_the_batch_function_fails_with_a_boxed_error() {
    type Boxed = Box<dyn std::error::Error + Send + Sync>;
    type Users = FnLoader<u64, Vec<Result<u64, Boxed>>, Boxed>;
    fn first_user(loader: &DataLoader<Users>) -> anyhow::Result<u64> {
        Ok(block_on(loader.load(1))?)
    }
    let loader = DataLoader::new(coalesce_loader::from_fn(|ids: Vec<u64>| async move {
        Ok(ids
            .iter()
            .map(|_| Err(Boxed::from("user 1 is banned")))
            .collect())
    }));
    assert_eq!(
        first_user(&loader).unwrap_err().to_string(),
        "user 1 is banned"
    );
}
