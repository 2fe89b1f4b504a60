//! [`Runner`], which resolves deferred loads round by round.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use super::{Deferred, Unresolved};

/// Resolves the deferred loads of one request, round by round: each round sends the batches
/// that have keys, then resolves their [`Deferred`] values.
///
/// Build one per request (it is cheap), build the request's loaders with it, then
/// [`run`](Self::run) it, or [`resolve`](Self::resolve) the value you need.
#[derive(Default)]
pub struct Runner {
    loaders: Rc<RunnerLoaders>,
    rounds: Cell<u64>,
}

/// The loaders of one runner, shared with them (they hold it weakly).
#[derive(Default)]
pub(super) struct RunnerLoaders {
    /// Loaders with keys waiting for the next round, each once.
    due: RefCell<Vec<Weak<dyn Round>>>,
    /// Every loader built with the runner, to withdraw their waiting loads when it is dropped.
    all: RefCell<Vec<Weak<dyn Round>>>,
}

/// A loader as the runner sees it.
pub(super) trait Round {
    /// Sends this loader's batches and resolves the loads they answer.
    fn run_round(&self);
    /// Withdraws every waiting load: the request is over.
    fn withdraw(&self);
}

impl Runner {
    /// A runner with no loaders yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs rounds until no loader has a key waiting: every deferred load made through this
    /// runner's loaders, and every load their continuations made, is then resolved. Returns how
    /// many rounds that took (0 when nothing was pending).
    pub fn run(&self) -> u64 {
        let mut rounds = 0;
        loop {
            let due = std::mem::take(&mut *self.loaders.due.borrow_mut());
            if due.is_empty() {
                self.rounds.set(self.rounds.get() + rounds);
                return rounds;
            }
            rounds += 1;
            for loader in due.iter().filter_map(Weak::upgrade) {
                loader.run_round();
            }
        }
    }

    /// [`run`](Self::run)s, then takes `value` out: the value, or [`Unresolved`] if it waits on
    /// something this runner cannot resolve.
    pub fn resolve<T: 'static>(&self, value: Deferred<T>) -> Result<T, Unresolved> {
        self.run();
        value.try_take()
    }

    /// Rounds run so far, over all calls of [`run`](Self::run).
    pub fn rounds(&self) -> u64 {
        self.rounds.get()
    }

    /// The handle a loader built with this runner keeps, to say when it is due.
    pub(super) fn loaders(&self) -> Weak<RunnerLoaders> {
        Rc::downgrade(&self.loaders)
    }

    /// Adds a loader built with this runner.
    pub(super) fn enroll(&self, loader: Weak<dyn Round>) {
        self.loaders.all.borrow_mut().push(loader);
    }
}

impl RunnerLoaders {
    /// Puts `loader` in the next round.
    pub(super) fn mark_due(&self, loader: Weak<dyn Round>) {
        self.due.borrow_mut().push(loader);
    }
}

/// A runner dropped with loads still waiting (a request that failed or was abandoned before it
/// resolved everything) withdraws them: their deferred values stay unresolved, and the
/// continuations they hold, which may hold loaders, are dropped instead of kept alive in a cycle.
impl Drop for Runner {
    fn drop(&mut self) {
        let all = std::mem::take(&mut *self.loaders.all.borrow_mut());
        for loader in all.iter().filter_map(Weak::upgrade) {
            loader.withdraw();
        }
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("due", &self.loaders.due.borrow().len())
            .field("rounds", &self.rounds.get())
            .finish()
    }
}
