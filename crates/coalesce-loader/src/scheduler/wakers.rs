//! A batch's list of wakers, one per waiter, or the wakers a step collects to wake once
//! unlocked. Kept in an [`InlineVec`]: most batches of dependent loads have a single waiter,
//! whose waker then costs no allocation.

use std::ops::{Deref, DerefMut};
use std::task::Waker;

use super::inline_vec::InlineVec;

/// One entry per waiter of a batch, indexed by the waiter's index; `None` for a waiter not
/// polled yet, or dropped.
#[derive(Default)]
pub(super) struct Wakers(InlineVec<Option<Waker>>);

impl Wakers {
    /// Appends an entry, at index `len()` before the call.
    #[inline]
    pub(super) fn push(&mut self, waker: Option<Waker>) {
        self.0.push(waker);
    }

    /// The index of the first entry at or after `start` that holds a waker.
    pub(super) fn next_waker(&self, start: usize) -> Option<usize> {
        let offset = self.0.get(start..)?.iter().position(Option::is_some)?;
        Some(start + offset)
    }

    /// Wakes every waker, first to last, and empties the list.
    pub(super) fn wake_all(&mut self) {
        for waker in std::mem::take(&mut self.0).into_iter().flatten() {
            waker.wake();
        }
    }
}

impl Deref for Wakers {
    type Target = [Option<Waker>];

    fn deref(&self) -> &[Option<Waker>] {
        &self.0
    }
}

impl DerefMut for Wakers {
    fn deref_mut(&mut self) -> &mut [Option<Waker>] {
        &mut self.0
    }
}
