//! A list of wakers, indexed like a `Vec`, whose first entry is kept inline: most batches of
//! dependent loads (one level of a nested query for one parent) have a single waiter, and its
//! waker then costs no allocation.

use std::ops::{Index, IndexMut};
use std::task::Waker;

/// One entry per waiter of a batch, or the wakers a step collects to wake once unlocked; `None`
/// for a waiter not polled yet, or dropped.
#[derive(Default)]
pub(super) struct Wakers {
    len: usize,
    first: Option<Waker>,
    rest: Vec<Option<Waker>>,
}

impl Wakers {
    /// Appends an entry, at index `len()` before the call.
    pub(super) fn push(&mut self, waker: Option<Waker>) {
        if self.len == 0 {
            self.first = waker;
        } else {
            self.rest.push(waker);
        }
        self.len += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index of the first entry at or after `start` that holds a waker.
    pub(super) fn next_waker(&self, start: usize) -> Option<usize> {
        if start == 0 && self.first.is_some() {
            return Some(0);
        }
        // Entry `i` of the list is `rest[i - 1]`.
        let from = start.max(1) - 1;
        let offset = self.rest.get(from..)?.iter().position(Option::is_some)?;
        Some(from + offset + 1)
    }

    /// Wakes every waker, first to last, and empties the list.
    pub(super) fn wake_all(&mut self) {
        let first = self.first.take();
        let rest = std::mem::take(&mut self.rest);
        self.len = 0;
        for waker in first.into_iter().chain(rest.into_iter().flatten()) {
            waker.wake();
        }
    }
}

impl Index<usize> for Wakers {
    type Output = Option<Waker>;

    fn index(&self, index: usize) -> &Option<Waker> {
        assert!(index < self.len, "waker {index} of {}", self.len);
        match index {
            0 => &self.first,
            _ => &self.rest[index - 1],
        }
    }
}

impl IndexMut<usize> for Wakers {
    fn index_mut(&mut self, index: usize) -> &mut Option<Waker> {
        assert!(index < self.len, "waker {index} of {}", self.len);
        match index {
            0 => &mut self.first,
            _ => &mut self.rest[index - 1],
        }
    }
}
