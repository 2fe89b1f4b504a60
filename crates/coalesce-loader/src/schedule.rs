//! When a batch is sent: the frame rule and the optional schedules, and the decision a driver
//! asks of them at each poll of a collecting batch.

use std::fmt;
use std::task::Context;

/// When a loader stops collecting keys and calls its batch function.
///
/// # The frame rule (the default, [`Schedule::Frame`])
///
/// The first waiter polled for a new batch (its *driver*) yields back to the executor, and sends
/// the batch once enough trips through the executor in a row have added no key to it. No timer
/// is involved. What a trip is, and so what is caught, depends on where the driver runs:
///
/// - **On a tokio runtime** (feature `tokio`; in its tasks, and in the future that a
///   current-thread runtime's `block_on` runs): the driver yields the way
///   `tokio::task::yield_now` does, so tokio polls it again only after it has run every task
///   that is ready, including the tasks its run woke, and has woken the tasks that yielded. The
///   batch is sent after nine such rounds in a row add no key. Caught: every load made by the
///   tasks of the driver's worker before they wait on I/O or a timer, after any chain of awaits
///   that wake each other (channels, `Notify`, memoized loads, joined futures), after up to
///   eight `tokio::task::yield_now()`s, and after yields that tokio's cooperative budget forces.
///   Each round costs one pass of tokio's scheduler (which polls its I/O driver, without waiting).
///   On the multi-thread runtime, a task that another worker runs is caught if that worker gets
///   to its load within those rounds, which its own load decides.
/// - **Anywhere else** (`futures::executor::block_on`, other executors, tokio without the
///   feature): the driver wakes itself at once and sends the batch after two trips through the
///   executor add no key. Caught: every load the same task, or any task the executor runs
///   before then, makes in the meantime, including loads made by futures that yield once before
///   they load.
///
/// Either way this batches, with one batch per level:
/// - a `join_all` (or `join!`, `FuturesUnordered`, `try_join_all`) of loads, at any size;
/// - a GraphQL list field whose items each load a key, and nested fields loading at each level;
/// - loads made by `load` calls before the first `.await` (`load` queues its key when called).
///
/// Its limits: loads made after waiting for I/O or a timer, by tasks the executor does not run
/// within the driver's rounds, or after more yields than the rounds above, may land in the next
/// batch instead. Use `Schedule::Window` (feature `tokio`) to wait for stragglers, or call
/// [`dispatch`](crate::DataLoader::dispatch) yourself. On a tokio runtime, poll loads through
/// tokio itself: another executor nested in a task (`futures::executor::block_on` called in an
/// `async` block) blocks the very thread that would wake the driver; use
/// [`Schedule::Yields`] there, which wakes at once.
///
/// ```
/// use coalesce_loader::{DataLoader, from_fn};
/// use std::convert::Infallible;
///
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let loader = DataLoader::new(from_fn(|keys: Vec<u64>| async move {
///     Ok::<_, Infallible>(keys.iter().map(|&k| Ok(k * 10)).collect::<Vec<_>>())
/// }));
/// // The second load comes after three of tokio's yields: still the same batch.
/// let late = async {
///     for _ in 0..3 {
///         tokio::task::yield_now().await;
///     }
///     loader.load(2).await
/// };
/// let (a, b) = tokio::join!(loader.load(1), late);
/// assert_eq!((a.unwrap(), b.unwrap()), (10, 20));
/// assert_eq!(loader.stats().batches, 1);
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Schedule {
    /// Send when the batch has stopped growing for a run of trips through the executor: nine of
    /// tokio's rounds on a tokio runtime (feature `tokio`), two immediate wakes anywhere else.
    /// The default.
    #[default]
    Frame,
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

/// Frame rule on a tokio runtime: how many of tokio's deferred rounds in a row must add no key
/// before a batch is sent. tokio wakes deferred tasks (`yield_now`, a spent cooperative budget)
/// together, once its run queue is empty, so a load made after `n` such yields arrives within `n`
/// rounds; every wake that is not deferred runs before the round ends. Nine covers eight yields.
#[cfg(feature = "tokio")]
const DEFERRED_QUIET_ROUNDS: u32 = 9;

/// What the schedule remembers of a batch from when it opened: the end of its time window.
pub(crate) struct Opened {
    #[cfg(feature = "tokio")]
    deadline: Option<tokio::time::Instant>,
}

/// A waiter's progress through the schedule while it drives. Kept per waiter, not per batch: a
/// waiter that inherits the driver's role starts counting afresh.
#[derive(Default)]
pub(crate) struct Pace {
    /// Frame rule: the batch's size at this waiter's last poll as its driver.
    seen: u32,
    /// How often this waiter has yielded as the driver: in a row without growth for the frame
    /// rule, in all for `Schedule::Yields`.
    yields: u32,
    /// The window's timer, registered at the first poll as driver.
    #[cfg(feature = "tokio")]
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// Frame rule: whether this waiter yields through tokio's deferred wakes, decided at its
    /// first poll as driver (on a tokio runtime or not).
    #[cfg(feature = "tokio")]
    deferred: Option<bool>,
}

impl Pace {
    /// Wakes the driver for its next round, after a `Decision::Yield`: through tokio's deferred
    /// wakes where the frame rule counts tokio's rounds, at once otherwise.
    pub(crate) fn wake(&self, cx: &mut Context<'_>) {
        #[cfg(feature = "tokio")]
        if self.deferred == Some(true) {
            // Its first poll hands the waker to the runtime, which wakes it once it has run every
            // task that is ready, and returns `Pending`: nothing to do with its answer.
            let _ = std::pin::pin!(tokio::task::yield_now()).poll(cx);
            return;
        }
        cx.waker().wake_by_ref();
    }

    /// Frame rule: how many quiet rounds in a row send the batch.
    fn quiet_rounds(&mut self) -> u32 {
        #[cfg(feature = "tokio")]
        if *self
            .deferred
            .get_or_insert_with(|| tokio::runtime::Handle::try_current().is_ok())
        {
            return DEFERRED_QUIET_ROUNDS;
        }
        QUIET_ROUNDS
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
                let quiet_rounds = pace.quiet_rounds();
                if pace.seen != keys {
                    pace.seen = keys;
                    pace.yields = 0;
                    return Decision::Yield;
                }
                pace.yields += 1;
                if pace.yields >= quiet_rounds {
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
