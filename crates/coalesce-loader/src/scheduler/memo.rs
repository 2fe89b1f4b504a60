//! Changes to the memo from outside a batch: `clear`, `clear_all` and `prime`.
//!
//! Each runs in one critical section of the loader's lock. A key's in-flight entry in the
//! [`KeyIndex`](super::KeyIndex) goes with its memo entry, so that the batch it points to does
//! not memoize its answer for that key when it completes: a cleared key is fetched afresh by the
//! next load, and a primed key keeps the primed value.

use std::borrow::Borrow;

use super::key_index::Found;
use super::trace::Sent;
use super::{Entry, Phase, Shared, State, WakeOnDrop, Wakers, live};
use crate::{CacheKey, Loader};

impl<L: Loader, C: CacheKey> Shared<L, C> {
    /// Forgets `keys` in the memo, and queues their deletion from the tier.
    pub(crate) fn clear(&self, keys: impl IntoIterator<Item = impl Borrow<L::Key>>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.keys.is_none() && self.tier.is_none() {
            return;
        }
        let mut owed = Vec::new();
        for key in keys {
            let cache_key = self.key_fn.cache_key(key.borrow());
            if let Some(index) = state.keys.as_mut() {
                index.remove(&cache_key);
            }
            if self.tier.is_some() {
                owed.push(cache_key.into_owned());
            }
        }
        drop(guard);
        if let Some(tier) = &self.tier {
            tier.owe(owed);
        }
    }

    /// Forgets every key in the memo, and queues clearing the tier.
    pub(crate) fn clear_all(&self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(index) = state.keys.as_mut() {
            index.clear();
        }
        drop(guard);
        if let Some(tier) = &self.tier {
            tier.owe_all();
        }
    }

    /// Memoizes values loaded some other way. A key already memoized or in flight is left alone
    /// unless `force`; a key queued in a batch not yet sent is answered with the value and taken
    /// out of the batch (it will not be fetched). An entry may be a key's error
    /// (`prime_error`): memoized and answered like a per-key error the batch function returned.
    pub(crate) fn prime(&self, entries: impl IntoIterator<Item = (L::Key, Entry<L>)>, force: bool) {
        // Lock rule: declared first, so the driver it wakes is woken after the lock is released.
        let mut wake = WakeOnDrop(Wakers::default());
        let mut guard = self.lock();
        let state: &mut State<L, C> = &mut guard;
        if state.keys.is_none() {
            return;
        }
        for (key, value) in entries {
            let cache_key = self.key_fn.cache_key(&key);
            let index = state.keys.as_mut().expect("checked above");
            match index.find(&cache_key, live(&state.batches)) {
                Found::InFlight(p) => {
                    let batch = &mut state.batches[p.batch()];
                    if matches!(batch.phase, Phase::Collecting | Phase::Sealed) {
                        batch.primed.push((p.slot, value.clone()));
                        if batch.primed.len() == batch.slots as usize {
                            // Nothing is left to fetch: make sure the driver notices.
                            wake.0.push(state.seal(p.batch(), Sent::Primed));
                        }
                    } else if !force {
                        continue;
                    }
                }
                Found::Done(_) if !force => continue,
                Found::Done(_) | Found::Absent(_) => {}
            }
            // Primed or overwritten: the batch it was in flight in does not memoize its own
            // answer for this key.
            let index = state.keys.as_mut().expect("checked above");
            index.set_done(cache_key, value);
        }
    }
}
