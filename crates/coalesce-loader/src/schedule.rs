//! When a batch is sent: the frame rule and the optional schedules, and the decision a driver
//! asks of them at each poll of a collecting batch.

use std::fmt;
use std::task::Context;

/// When a loader stops collecting keys and calls its batch function.
///
/// # The frame rule (the default, [`Schedule::Frame`])
///
/// The first waiter polled for a new batch (its *driver*) wakes itself and yields back to the
/// executor, and sends the batch once two trips through the executor in a row have added no key
/// to it. Every load that the same task, or any task the executor runs before then, makes in the
/// meantime is in the batch, including loads made by futures that yield once before they load.
/// No timer is involved: the added latency is two or three trips through the executor's run
/// queue, microseconds. It works the same on every executor: tokio's runtimes,
/// `futures::executor::block_on`, a synchronous server's request thread.
///
/// This batches, with one batch per level:
/// - a `join_all` (or `join!`, `FuturesUnordered`, `try_join_all`) of loads, at any size;
/// - a GraphQL list field whose items each load a key, and nested fields loading at each level;
/// - loads made by `load` calls before the first `.await` (`load` queues its key when called).
///
/// ```
/// use coalesce_loader::{DataLoader, from_fn};
/// use std::convert::Infallible;
///
/// let loader = DataLoader::new(from_fn(|keys: Vec<u64>| async move {
///     Ok::<_, Infallible>(keys.iter().map(|&k| Ok(k * 10)).collect::<Vec<_>>())
/// }));
/// let loads = futures::future::join_all((1..=100).map(|k| loader.load(k)));
/// let values = futures::executor::block_on(loads);
/// assert_eq!(values[99].as_ref().ok(), Some(&1000));
/// assert_eq!(loader.stats().batches, 1);
/// ```
///
/// Its limits: loads made after waiting for I/O or a timer, by tasks the executor does not run
/// within the driver's two trips, or after more than one deferred yield (tokio defers
/// `tokio::task::yield_now()` and the yields its cooperative budget forces until its run queue
/// is empty), may land in the next batch instead. Use `Schedule::TokioRounds` to catch those
/// on tokio, `Schedule::Window` (feature `tokio`) to wait for stragglers, or call
/// [`dispatch`](crate::DataLoader::dispatch) yourself.
///
/// # Catching every deferred yield on tokio (`Schedule::TokioRounds`, feature `tokio`)
///
/// With `TokioRounds(n)` the driver yields the way `tokio::task::yield_now` does, so tokio polls
/// it again only after it has run every task that is ready (including the tasks its run woke)
/// and has woken the tasks that yielded; the batch is sent after `n` such rounds in a row add no
/// key. Caught, with `n = 9`: every load made by the tasks of the driver's worker before they
/// wait on I/O or a timer, after any chain of awaits that wake each other (channels, `Notify`,
/// memoized loads, joined futures), after up to eight `yield_now()`s, and after yields that the
/// cooperative budget forces. On the multi-thread runtime, a task that another worker runs is
/// caught if that worker reaches its load within those rounds.
///
/// It is not the default, for two reasons:
/// - each round is a pass of tokio's scheduler (its timer and I/O driver polled without
///   waiting), per batch: nine rounds made three dependent loads about three times as costly as
///   the frame rule's two trips;
/// - the wake is handed to the worker thread's scheduler, so a load polled by another executor
///   nested inside a tokio task (`futures::executor::block_on` in an `async` block) would never
///   be woken: that thread is blocked in the nested executor. The frame rule wakes at once and
///   has no such case.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Schedule {
    /// Send when two trips through the executor in a row have added no key to the batch. The
    /// default, on every executor.
    #[default]
    Frame,
    /// Send when this many of tokio's scheduler rounds in a row have added no key: on a tokio
    /// runtime, the driver yields as `tokio::task::yield_now` does, so each round runs every
    /// other ready task first. Catches loads made after up to `n - 1` `yield_now()`s, after
    /// yields that tokio's cooperative budget forces, and after chains of wakes between tasks.
    /// Costs one pass of tokio's scheduler per round per batch. Outside a tokio runtime it is
    /// [`Schedule::Frame`]. Needs the `tokio` feature; see the type's docs for why it is not the
    /// default, and where not to use it.
    ///
    /// ```
    /// use coalesce_loader::{DataLoader, Schedule, from_fn};
    /// use std::convert::Infallible;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let loader = DataLoader::builder(from_fn(|keys: Vec<u64>| async move {
    ///     Ok::<_, Infallible>(keys.iter().map(|&k| Ok(k * 10)).collect::<Vec<_>>())
    /// }))
    /// .schedule(Schedule::TokioRounds(9))
    /// .build();
    /// // The second load comes after eight of tokio's yields: still the same batch.
    /// let late = async {
    ///     for _ in 0..8 {
    ///         tokio::task::yield_now().await;
    ///     }
    ///     loader.load(2).await
    /// };
    /// let (a, b) = tokio::join!(loader.load(1), late);
    /// assert_eq!((a.unwrap(), b.unwrap()), (10, 20));
    /// assert_eq!(loader.stats().batches, 1);
    /// # });
    /// ```
    #[cfg(feature = "tokio")]
    TokioRounds(u32),
    /// Send after the driver has yielded to the executor this many times, grown or not.
    Yields(u32),
    /// Send this long after the batch's first key. Needs the `tokio` feature and a tokio
    /// runtime with the timer enabled.
    #[cfg(feature = "tokio")]
    Window(std::time::Duration),
    /// Send only when [`dispatch`](crate::DataLoader::dispatch) is called, or when the batch is
    /// full ([`max_batch_size`](crate::Builder::max_batch_size)): for executors and tests that
    /// drive batching themselves.
    Manual,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Frame => f.write_str("Frame"),
            #[cfg(feature = "tokio")]
            Schedule::TokioRounds(n) => write!(f, "TokioRounds({n})"),
            Schedule::Yields(n) => write!(f, "Yields({n})"),
            #[cfg(feature = "tokio")]
            Schedule::Window(d) => write!(f, "Window({d:?})"),
            Schedule::Manual => f.write_str("Manual"),
        }
    }
}

/// What the schedule decides for a collecting batch, asked by its driver at each of its polls.
pub(crate) enum Decision {
    /// Seal the batch and send it.
    Send,
    /// Yield to the executor once, then ask again.
    Yield,
    /// Wait: a waker is registered where the awaited event will fire it (the window's timer;
    /// under `Manual`, `dispatch` or a full batch).
    Wait,
}

/// Frame rule: how many trips through the executor in a row must add no key before a batch is
/// sent. One would miss loads made by futures that yield once before loading (tokio's cooperative
/// budget can force exactly that on a resolver); each extra round costs one executor trip per
/// batch, not per load.
const QUIET_ROUNDS: u32 = 2;

/// What the schedule remembers of a batch from when it opened: the end of its time window.
pub(crate) struct Opened {
    #[cfg(feature = "tokio")]
    deadline: Option<tokio::time::Instant>,
}

/// A batch driver's progress through the schedule. Kept in the batch, and reset when a waiter
/// inherits the driver's role: it starts counting afresh.
#[derive(Default)]
pub(crate) struct Pace {
    /// Frame rule: the batch's size at the driver's last poll.
    seen: u32,
    /// How often the driver has yielded: in a row without growth for the frame rule, in all for
    /// `Schedule::Yields`.
    yields: u32,
    /// The window's timer, registered at the driver's first poll.
    #[cfg(feature = "tokio")]
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// `TokioRounds`: whether the driver yields through tokio's deferred wakes, decided at its
    /// first poll (on a tokio runtime or not).
    #[cfg(feature = "tokio")]
    deferred: Option<bool>,
}

/// How a driver that yields after a `Decision::Yield` is woken for its next round: through
/// tokio's deferred wakes where `TokioRounds` counts tokio's rounds, at once otherwise. Taken
/// from the batch's [`Pace`] under the loader's lock, used once the lock is released.
#[derive(Clone, Copy)]
pub(crate) struct Rewake {
    #[cfg(feature = "tokio")]
    deferred: bool,
}

impl Rewake {
    /// Wakes the driver's task for its next round.
    pub(crate) fn wake(self, cx: &mut Context<'_>) {
        #[cfg(feature = "tokio")]
        if self.deferred {
            // Its first poll hands the waker to the runtime, which wakes it once it has run every
            // task that is ready, and returns `Pending`: nothing to do with its answer.
            let _ = std::pin::pin!(tokio::task::yield_now()).poll(cx);
            return;
        }
        cx.waker().wake_by_ref();
    }
}

impl Pace {
    /// How the driver is to be woken after this decision to yield.
    pub(crate) fn rewake(&self) -> Rewake {
        Rewake {
            #[cfg(feature = "tokio")]
            deferred: self.deferred == Some(true),
        }
    }

    /// Counts one poll as driver of a batch of `keys` keys: whether `quiet_rounds` rounds in
    /// a row have now added no key.
    fn quiet_for(&mut self, keys: u32, quiet_rounds: u32) -> bool {
        if self.seen != keys {
            self.seen = keys;
            self.yields = 0;
            return false;
        }
        self.yields += 1;
        self.yields >= quiet_rounds
    }
}

impl Schedule {
    /// A batch opens now.
    pub(crate) fn open(self) -> Opened {
        Opened {
            #[cfg(feature = "tokio")]
            deadline: match self {
                Schedule::Window(window) => Some(tokio::time::Instant::now() + window),
                _ => None,
            },
        }
    }

    /// The decision for a collecting batch of `keys` keys, opened at `opened`, whose driver has
    /// got this far (`pace`).
    pub(crate) fn decide(
        self,
        #[cfg_attr(not(feature = "tokio"), allow(unused_variables))] opened: &Opened,
        pace: &mut Pace,
        keys: u32,
        #[cfg_attr(not(feature = "tokio"), allow(unused_variables))] cx: &mut Context<'_>,
    ) -> Decision {
        match self {
            Schedule::Frame => {
                // Yield until QUIET_ROUNDS trips through the executor in a row add no key: every
                // load made in this frame, even by a future that yielded once first, is then in.
                if pace.quiet_for(keys, QUIET_ROUNDS) {
                    Decision::Send
                } else {
                    Decision::Yield
                }
            }
            #[cfg(feature = "tokio")]
            Schedule::TokioRounds(rounds) => {
                // tokio wakes deferred tasks (`yield_now`, a spent budget) together once its run
                // queue is empty, so a load made after `n` such yields arrives within `n` rounds,
                // and every wake that is not deferred runs before the round ends.
                let on_tokio = *pace
                    .deferred
                    .get_or_insert_with(|| tokio::runtime::Handle::try_current().is_ok());
                let rounds = if on_tokio { rounds } else { QUIET_ROUNDS };
                if pace.quiet_for(keys, rounds) {
                    Decision::Send
                } else {
                    Decision::Yield
                }
            }
            Schedule::Yields(n) => {
                if pace.yields >= n {
                    return Decision::Send;
                }
                pace.yields += 1;
                Decision::Yield
            }
            #[cfg(feature = "tokio")]
            Schedule::Window(_) => {
                let deadline = opened.deadline.expect("windowed batches have a deadline");
                let sleep = pace
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                // Registers the timer's wake-up; tokio's timer runs no user code here.
                if sleep.as_mut().poll(cx).is_ready() {
                    Decision::Send
                } else {
                    Decision::Wait
                }
            }
            Schedule::Manual => Decision::Wait,
        }
    }
}
