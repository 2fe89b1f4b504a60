//! [`Deferred`]: a value that a [`Runner`](super::Runner) will produce, with `.then` chaining.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

/// A value not known yet: what [`DataLoader::load`](super::DataLoader::load) returns.
///
/// Work is chained on with [`map`](Self::map) (a plain function of the value),
/// [`then`](Self::then) (a function returning another `Deferred`, which is flattened: chained
/// loads), and, for deferred `Result`s, [`and_then`](Self::and_then), which stops at the first
/// error. A [`Runner`](super::Runner) resolves them all; the value is then taken out with
/// [`Runner::resolve`](super::Runner::resolve) or [`try_take`](Self::try_take).
///
/// A `Deferred` is neither `Send` nor `Sync`: it belongs to the thread whose runner resolves it.
///
/// ```
/// use coalesce_loader::blocking::Deferred;
///
/// let seven = Deferred::ready(3).map(|n| n + 1).then(|n| Deferred::ready(n + 3));
/// assert_eq!(seven.try_take().unwrap(), 7);
/// ```
#[must_use = "a deferred value does nothing unless resolved"]
pub struct Deferred<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

enum Slot<T> {
    /// Not resolved yet; the continuation to run with the value, if one was chained.
    Waiting(Option<Box<dyn FnOnce(T)>>),
    Ready(T),
    /// Handed to a continuation or taken.
    Consumed,
}

/// The producing end of a [`Deferred`].
pub(crate) struct Resolver<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

impl<T: 'static> Deferred<T> {
    /// A value that is known already.
    pub fn ready(value: T) -> Self {
        Deferred {
            slot: Rc::new(RefCell::new(Slot::Ready(value))),
        }
    }

    /// A value to be produced through the returned resolver.
    pub(crate) fn pending() -> (Self, Resolver<T>) {
        let slot = Rc::new(RefCell::new(Slot::Waiting(None)));
        (Deferred { slot: slot.clone() }, Resolver { slot })
    }

    /// Runs `k` with the value: now if it is known, else when it is resolved.
    fn on_ready(self, k: impl FnOnce(T) + 'static) {
        let mut slot = self.slot.borrow_mut();
        match std::mem::replace(&mut *slot, Slot::Consumed) {
            Slot::Ready(value) => {
                // Released first: `k` may chain on other deferred values, or resolve this one's
                // neighbours, which borrow their own slots.
                drop(slot);
                k(value)
            }
            Slot::Waiting(None) => *slot = Slot::Waiting(Some(Box::new(k))),
            Slot::Waiting(Some(_)) | Slot::Consumed => {
                unreachable!("a Deferred has one consumer: chaining takes it by value")
            }
        }
    }

    /// The value transformed by `f`.
    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + 'static) -> Deferred<U> {
        let (out, resolver) = Deferred::pending();
        self.on_ready(move |value| resolver.resolve(f(value)));
        out
    }

    /// The value of the `Deferred` that `f` makes of this one's value: chained loads, as in
    /// `load(1).then(|user| load(user.best_friend_id))`.
    pub fn then<U: 'static>(self, f: impl FnOnce(T) -> Deferred<U> + 'static) -> Deferred<U> {
        let (out, resolver) = Deferred::pending();
        self.on_ready(move |value| f(value).on_ready(move |next| resolver.resolve(next)));
        out
    }

    /// Whether the value is known.
    pub fn is_ready(&self) -> bool {
        matches!(*self.slot.borrow(), Slot::Ready(_))
    }

    /// The value, or [`Unresolved`] if it is not known: never a wait.
    pub fn try_take(self) -> Result<T, Unresolved> {
        match std::mem::replace(&mut *self.slot.borrow_mut(), Slot::Consumed) {
            Slot::Ready(value) => Ok(value),
            _ => Err(Unresolved),
        }
    }

    /// All the values, in order, once each is known.
    ///
    /// ```
    /// use coalesce_loader::blocking::Deferred;
    ///
    /// let all = Deferred::join_all([Deferred::ready(1), Deferred::ready(2)]);
    /// assert_eq!(all.try_take().unwrap(), [1, 2]);
    /// ```
    pub fn join_all(parts: impl IntoIterator<Item = Deferred<T>>) -> Deferred<Vec<T>> {
        let parts: Vec<Deferred<T>> = parts.into_iter().collect();
        let (out, resolver) = Deferred::pending();
        let join = Rc::new(RefCell::new(Join {
            values: parts.iter().map(|_| None).collect(),
            missing: parts.len(),
            resolver: Some(resolver),
        }));
        if parts.is_empty() {
            Join::finish(&join);
        }
        for (i, part) in parts.into_iter().enumerate() {
            let join = join.clone();
            part.on_ready(move |value| {
                let done = {
                    let mut j = join.borrow_mut();
                    j.values[i] = Some(value);
                    j.missing -= 1;
                    j.missing == 0
                };
                if done {
                    Join::finish(&join);
                }
            });
        }
        out
    }
}

struct Join<T> {
    values: Vec<Option<T>>,
    missing: usize,
    resolver: Option<Resolver<Vec<T>>>,
}

impl<T: 'static> Join<T> {
    fn finish(join: &Rc<RefCell<Join<T>>>) {
        let (values, resolver) = {
            let mut j = join.borrow_mut();
            (std::mem::take(&mut j.values), j.resolver.take())
        };
        if let Some(resolver) = resolver {
            resolver.resolve(
                values
                    .into_iter()
                    .map(|v| v.expect("every part resolved"))
                    .collect(),
            );
        }
    }
}

impl<V: 'static, E: 'static> Deferred<Result<V, E>> {
    /// Chains a load on a successful value; an error skips `f` and is passed on as it is, so
    /// the caller sees the real error, not a generic one.
    ///
    /// ```
    /// use coalesce_loader::blocking::Deferred;
    ///
    /// let ok = Deferred::ready(Ok::<u32, String>(2)).and_then(|n| Deferred::ready(Ok(n * 10)));
    /// assert_eq!(ok.try_take().unwrap(), Ok(20));
    /// let err = Deferred::ready(Err::<u32, _>("not found".to_string()))
    ///     .and_then(|n| Deferred::ready(Ok(n * 10)));
    /// assert_eq!(err.try_take().unwrap(), Err("not found".to_string()));
    /// ```
    pub fn and_then<U: 'static>(
        self,
        f: impl FnOnce(V) -> Deferred<Result<U, E>> + 'static,
    ) -> Deferred<Result<U, E>> {
        self.then(|result| match result {
            Ok(value) => f(value),
            Err(e) => Deferred::ready(Err(e)),
        })
    }
}

impl<T: 'static> Resolver<T> {
    /// Gives the value to the waiting continuation, or stores it.
    pub(crate) fn resolve(self, value: T) {
        let mut slot = self.slot.borrow_mut();
        match std::mem::replace(&mut *slot, Slot::Consumed) {
            Slot::Waiting(Some(k)) => {
                drop(slot);
                run_continuation(Box::new(move || k(value)));
            }
            Slot::Waiting(None) => *slot = Slot::Ready(value),
            // The consumer took it while unresolved (and got `Unresolved`): nobody wants it.
            Slot::Consumed => {}
            Slot::Ready(_) => unreachable!("a Deferred is resolved once"),
        }
    }
}

thread_local! {
    /// Continuations ready to run, and whether a frame below is already running them.
    static READY: RefCell<VecDeque<Box<dyn FnOnce()>>> = RefCell::new(VecDeque::new());
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `k`, and the continuations it makes ready, from a queue rather than by recursion: a chain
/// of a hundred thousand `.map`s resolves in constant stack depth.
fn run_continuation(k: Box<dyn FnOnce()>) {
    READY.with(|ready| ready.borrow_mut().push_back(k));
    if RUNNING.replace(true) {
        return; // a frame below is draining the queue and will run it
    }
    /// Resets the queue's owner even if a continuation panics, and drops what the panicking
    /// request left queued, so that it never runs in a later request on this thread.
    struct Drained;
    impl Drop for Drained {
        fn drop(&mut self) {
            if std::thread::panicking() {
                READY.with(|ready| ready.borrow_mut().clear());
            }
            RUNNING.set(false);
        }
    }
    let _drained = Drained;
    while let Some(k) = READY.with(|ready| ready.borrow_mut().pop_front()) {
        k();
    }
}

impl<T> fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match *self.slot.borrow() {
            Slot::Ready(_) => "ready",
            Slot::Waiting(_) => "waiting",
            Slot::Consumed => "consumed",
        };
        f.debug_tuple("Deferred").field(&state).finish()
    }
}

/// A [`Deferred`] was read before it was resolved.
///
/// After [`Runner::run`](super::Runner::run) returns, a value is unresolved only if it waits on
/// a loader whose runner has not run: one bound to another [`Runner`](super::Runner), or one
/// dropped with its loads pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unresolved;

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "deferred value read before it was resolved: it waits on a load that this runner \
             never dispatched (a loader bound to another Runner, or one dropped with loads pending)",
        )
    }
}

impl std::error::Error for Unresolved {}
