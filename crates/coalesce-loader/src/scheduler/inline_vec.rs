//! [`InlineVec`]: a `Vec` that holds one element without allocating.
//!
//! Most batches of dependent loads (one level of a nested query, for one parent) hold a single
//! key, with a single waiter and a single answer. Each of a batch's lists (its keys, their cache
//! keys, its waiters' wakers, its answers) would cost an allocation and a free for that one
//! element; in a three-level query that was nine of its 26 allocations. An `InlineVec` keeps the
//! first element in place and moves to a `Vec` at the second, so a batch of one key allocates
//! none of them.
//!
//! Rejected: `smallvec`, a dependency for some forty lines; and a first element kept apart from a
//! `Vec` of the rest, which cannot lend the batch function its keys as one slice.

use std::ops::{Deref, DerefMut};

/// A list, contiguous like a `Vec`, whose first element is stored inline.
#[derive(Default)]
pub(super) enum InlineVec<T> {
    #[default]
    Empty,
    One(T),
    /// Two elements or more: `push` and `collect` move to the heap only at the second.
    Many(Vec<T>),
}

impl<T> InlineVec<T> {
    /// Appends `value` at index `len()`.
    #[inline]
    pub(super) fn push(&mut self, value: T) {
        match self {
            InlineVec::Many(values) => values.push(value),
            InlineVec::Empty => *self = InlineVec::One(value),
            InlineVec::One(_) => self.spill(value),
        }
    }

    /// `push` of a second element: the move to the heap.
    #[cold]
    fn spill(&mut self, value: T) {
        let InlineVec::One(first) = std::mem::take(self) else {
            unreachable!("only a list of one spills")
        };
        // Room to grow: a batch that has two keys usually gets more.
        let mut values = Vec::with_capacity(4);
        values.extend([first, value]);
        *self = InlineVec::Many(values);
    }
}

impl<T> Deref for InlineVec<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            InlineVec::Empty => &[],
            InlineVec::One(value) => std::slice::from_ref(value),
            InlineVec::Many(values) => values,
        }
    }
}

impl<T> DerefMut for InlineVec<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            InlineVec::Empty => &mut [],
            InlineVec::One(value) => std::slice::from_mut(value),
            InlineVec::Many(values) => values,
        }
    }
}

impl<T> FromIterator<T> for InlineVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        let Some(first) = iter.next() else {
            return InlineVec::Empty;
        };
        let Some(second) = iter.next() else {
            return InlineVec::One(first);
        };
        let mut values = Vec::with_capacity(iter.size_hint().0.saturating_add(2));
        values.extend([first, second]);
        values.extend(iter);
        InlineVec::Many(values)
    }
}

impl<T> IntoIterator for InlineVec<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        match self {
            InlineVec::Empty => IntoIter::Inline(None),
            InlineVec::One(value) => IntoIter::Inline(Some(value)),
            InlineVec::Many(values) => IntoIter::Heap(values.into_iter()),
        }
    }
}

impl<'a, T> IntoIterator for &'a InlineVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The owning iterator of an [`InlineVec`].
pub(super) enum IntoIter<T> {
    Inline(Option<T>),
    Heap(std::vec::IntoIter<T>),
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            IntoIter::Inline(value) => value.take(),
            IntoIter::Heap(values) => values.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            IntoIter::Inline(value) => (value.is_some() as usize, Some(value.is_some() as usize)),
            IntoIter::Heap(values) => values.size_hint(),
        }
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}

#[cfg(test)]
mod tests {
    use super::InlineVec;

    #[test]
    fn pushes_keep_their_order_across_the_move_to_the_heap() {
        let mut list = InlineVec::default();
        for i in 0..5 {
            list.push(i);
            assert_eq!(&*list, (0..=i).collect::<Vec<_>>());
        }
        assert_eq!(list.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn one_element_is_kept_inline() {
        let list: InlineVec<u32> = std::iter::once(7).collect();
        assert!(matches!(list, InlineVec::One(7)));
        let empty: InlineVec<u32> = std::iter::empty().collect();
        assert!(empty.is_empty());
    }

    #[test]
    fn collected_lists_index_and_iterate_like_a_vec() {
        let mut list: InlineVec<u32> = (1..=3).collect();
        list[1] = 20;
        assert_eq!(&*list, [1, 20, 3]);
        let mut iter = list.into_iter();
        assert_eq!(iter.len(), 3);
        assert_eq!(iter.next(), Some(1));
        assert_eq!(iter.collect::<Vec<_>>(), [20, 3]);
    }
}
