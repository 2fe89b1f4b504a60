//! Changes to the memo from outside a batch: `clear`, `clear_all` and `prime`.
//!
//! Each runs in one critical section of the loader's lock. A key's `pending` entry (its
//! [`InFlight`](super::InFlight)) goes with its memo entry, so that the batch it points to does
//! not memoize its answer for that key when it completes: a cleared key is fetched afresh by the
//! next load, and a primed key keeps the primed value.

use std::borrow::Borrow;

use super::trace::Sent;
use super::{Entry, Phase, Shared, State, WakeOnDrop, Wakers};
use crate::{CacheKey, Loader};

impl<L: Loader, C: CacheKey> Shared<L, C> {
    /// Runs `f` with the lock held and the memo present, if the loader caches at all.
    fn with_cache(&self, f: impl FnOnce(&mut State<L, C>)) {
        let mut state = self.lock();
        if state.cache.is_some() {
            f(&mut state)
        }
    }

    /// Forgets `keys` in the memo, and queues their deletion from the tier.
    pub(crate) fn clear(&self, keys: impl IntoIterator<Item = impl Borrow<L::Key>>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.cache.is_none() && self.tier.is_none() {
            return;
        }
        let mut owed = Vec::new();
        for key in keys {
            let cache_key = self.key_fn.cache_key(key.borrow());
            if let Some(cache) = state.cache.as_mut() {
                state.pending.remove(&*cache_key);
                cache.delete(&cache_key);
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
        if let Some(cache) = state.cache.as_mut() {
            cache.clear();
            state.pending.clear();
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
        self.with_cache(|state| {
            for (key, value) in entries {
                let cache_key = self.key_fn.cache_key(&key);
                if let Some(p) = state.pending_slot(&cache_key) {
                    let batch = &mut state.batches[p.batch];
                    if matches!(batch.phase, Phase::Collecting | Phase::Sealed) {
                        batch.primed.push((p.slot, value.clone()));
                        if batch.primed.len() == batch.slots as usize {
                            // Nothing is left to fetch: make sure the driver notices.
                            wake.0.push(state.seal(p.batch, Sent::Primed));
                        }
                    } else if !force {
                        continue;
                    }
                    // Primed or overwritten: the batch's own answer for this key is not memoized.
                    state.pending.remove(&*cache_key);
                } else if !force
                    && state
                        .cache
                        .as_mut()
                        .is_some_and(|c| c.get(&cache_key).is_some())
                {
                    continue;
                }
                if let Some(cache) = state.cache.as_mut() {
                    cache.set(cache_key.into_owned(), value);
                }
            }
        });
    }
}
