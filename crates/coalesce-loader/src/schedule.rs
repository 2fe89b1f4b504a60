//! When a batch is sent: the frame rule and the optional schedules, and the decision a driver
//! asks of them at each poll of a collecting batch.

use std::fmt;
use std::task::Context;

/// When a loader stops collecting keys and calls its batch function.
///
/// # The frame rule (the default, [`Schedule::Frame`])
///
/// The first waiter polled for a new batch (its *driver*) yields back to the executor, and sends
/// the batch once two trips through the executor in a row have added no key to it. Every load that
/// the same task, or any task the executor runs before then, makes in the meantime is in the batch,
/// including loads made by futures that yield once before they load. No timer is involved: the
/// added latency is one or two trips through the executor's run queue, microseconds.
///
/// This batches, with one batch per level:
/// - a `join_all` (or `join!`, `FuturesUnordered`, `try_join_all`) of loads, at any size;
/// - a GraphQL list field whose items each load a key, and nested fields loading at each level;
/// - loads made by `load` calls before the first `.await` (`load` queues its key when called);
/// - on tokio's current-thread and multi-thread runtimes, and under `futures::executor::block_on`.
///
/// Its limits: loads made by tasks that are not polled in the driver's next turn (unrelated
/// spawned tasks, a task waiting for I/O before it loads) may land in the next batch instead. Use
/// `Schedule::Window` (feature `tokio`) to wait for stragglers, or call
/// [`dispatch`](crate::DataLoader::dispatch) yourself.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Schedule {
    /// Send when the batch has stopped growing for two trips through the executor. The default.
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
                if pace.seen != keys {
                    pace.seen = keys;
                    pace.yields = 0;
                    return Decision::Yield;
                }
                pace.yields += 1;
                if pace.yields >= QUIET_ROUNDS {
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
