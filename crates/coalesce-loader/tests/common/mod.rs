//! Test doubles shared by the integration tests: a batch function that records its calls, a
//! controllable gate to hold a batch in flight, and a no-op waker for polling by hand.
#![allow(dead_code)] // each test file uses a different part of this module

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use coalesce_loader::{DataLoader, Loader};

/// The keys of every call of a batch function, in call order.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<Vec<u64>>>>);

impl Calls {
    pub fn record(&self, keys: &[u64]) {
        self.0.lock().unwrap().push(keys.to_vec());
    }
    pub fn batches(&self) -> Vec<Vec<u64>> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// An error that is deliberately not `Clone`, like `sqlx::Error`.
#[derive(Debug, PartialEq)]
pub struct TestError(pub String);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestError {}

/// Keys at or above this load as a per-key "not found" error.
pub const MISSING: u64 = 1_000_000;

/// Loads `key * 10`, and a per-key error for keys `>= MISSING`, recording each batch.
pub struct Echo {
    pub calls: Calls,
}

impl Loader for Echo {
    type Key = u64;
    type Output = Vec<Result<u64, TestError>>;
    type Error = TestError;

    async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, TestError> {
        self.calls.record(keys);
        Ok(keys.iter().map(|&k| echo_value(k)).collect())
    }
}

pub fn echo_value(key: u64) -> Result<u64, TestError> {
    if key >= MISSING {
        Err(TestError(format!("key {key} not found")))
    } else {
        Ok(key * 10)
    }
}

/// Awaits a load of each of `keys` before the next starts: what a resolver with an N+1 does.
pub fn load_one_by_one(loader: &DataLoader<Echo>, keys: std::ops::Range<u64>) {
    futures::executor::block_on(async {
        for key in keys {
            assert_eq!(loader.load(key).await.unwrap(), key * 10);
        }
    });
}

/// A default `Echo` loader and the record of its calls.
pub fn echo() -> (DataLoader<Echo>, Calls) {
    let calls = Calls::default();
    (
        DataLoader::new(Echo {
            calls: calls.clone(),
        }),
        calls,
    )
}

/// A future that is pending until `open` is called: holds a batch in flight for as long as a
/// test needs, without sleeping.
#[derive(Clone, Default)]
pub struct Gate {
    open: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    /// How many futures are waiting at the gate right now.
    pub waiting: Arc<AtomicUsize>,
}

impl Gate {
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        let gate = self.clone();
        gate.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(gate.waiting.clone());
        std::future::poll_fn(move |cx| {
            let _ = &_leave;
            if gate.open.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *gate.waker.lock().unwrap() = Some(cx.waker().clone());
            if gate.open.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

struct Leave(Arc<AtomicUsize>);
impl Drop for Leave {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// Yields to the executor once, like `tokio::task::yield_now`, on any executor.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Any loader shaped like [`Echo`]: u64 keys, positional u64 values, `TestError`.
pub trait U64Loader:
    Loader<Key = u64, Output = Vec<Result<u64, TestError>>, Error = TestError>
{
}

impl<L: Loader<Key = u64, Output = Vec<Result<u64, TestError>>, Error = TestError>> U64Loader
    for L
{
}

/// A loader whose batches wait at `gate`, recording calls and noting cancelled fetches.
pub fn gated() -> (DataLoader<impl U64Loader>, Gate, Calls, Arc<AtomicUsize>) {
    let (gate, calls, cancelled) = (
        Gate::default(),
        Calls::default(),
        Arc::new(AtomicUsize::new(0)),
    );
    let loader = DataLoader::new(coalesce_loader::from_fn({
        let (gate, calls, cancelled) = (gate.clone(), calls.clone(), cancelled.clone());
        move |keys: Vec<u64>| {
            calls.record(&keys);
            let wait = gate.wait();
            let guard = CancelGuard {
                done: AtomicBool::new(false),
                cancelled: cancelled.clone(),
            };
            async move {
                wait.await;
                guard.done.store(true, Ordering::SeqCst);
                Ok::<_, TestError>(keys.iter().map(|&k| Ok(k * 10)).collect::<Vec<_>>())
            }
        }
    }));
    (loader, gate, calls, cancelled)
}

/// Counts fetches dropped before they finished.
struct CancelGuard {
    done: AtomicBool,
    cancelled: Arc<AtomicUsize>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.done.load(Ordering::SeqCst) {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub fn poll_until_waiting<F: std::future::Future + Unpin>(fut: &mut F, gate: &Gate) {
    for _ in 0..100 {
        if gate.waiting.load(Ordering::SeqCst) > 0 {
            return;
        }
        assert!(poll_once(fut).is_pending());
    }
    panic!("the batch never reached the gate");
}

/// A waker that records whether it was woken: a future parked with it is re-polled by a real
/// executor only if this flag is set, so a test can see a lost wake-up that polling by hand hides.
pub struct WakeFlag(AtomicBool);

impl std::task::Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl WakeFlag {
    /// A fresh, unwoken flag and its waker.
    pub fn new() -> (Arc<WakeFlag>, Waker) {
        let flag = Arc::new(WakeFlag(AtomicBool::new(false)));
        (flag.clone(), Waker::from(flag))
    }

    pub fn woken(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Whether it was woken since the last `take`, resetting it: to drive a future by hand
    /// with one waker and see each poll that nothing will follow.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// Polls `fut` once with `waker`.
pub fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}
