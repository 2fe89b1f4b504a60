//! When a batch is sent: the frame rule and the optional schedules.

use std::fmt;

/// When a loader stops collecting keys and calls its batch function.
///
/// # The frame rule (the default, [`Schedule::Frame`])
///
/// graphql/dataloader sends a batch once every promise job queued in the current tick has run.
/// Rust has no such global queue, so coalesce uses the executor's own turn instead: the first
/// waiter polled for a new batch (its *driver*) yields back to the executor, and sends the batch
/// once two trips through the executor in a row have added no key to it. Every load that the
/// same task, or any task the executor runs before then, makes in the meantime is in the batch,
/// including loads made by futures that yield once before they load.
/// No timer is involved: the added latency is one or two trips through the executor's run queue,
/// microseconds, where async-graphql's loader waits a millisecond.
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
    /// Send after the driver has yielded to the executor this many times, grown or not (the
    /// `dataloader` crate's schedule, which yields 10 times).
    Yields(u32),
    /// Send this long after the batch's first key, like async-graphql's `delay`. Needs the
    /// `tokio` feature and a tokio runtime with the timer enabled.
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
