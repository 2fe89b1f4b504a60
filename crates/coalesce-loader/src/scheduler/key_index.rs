//! The key index: for every cache key the loader knows, its memoized answer, or the batch slot
//! where its answer will be (queued or in flight: de-duplication).
//!
//! # Two representations
//!
//! With the built-in memo, both kinds of entry live in one hash table, keyed once. A new key
//! costs one hash and one probe (the lookup finds it absent and keeps the hash for the insert),
//! and when its batch completes its answer replaces its in-flight entry where it is: no second
//! table to remove it from, none to insert it into, and one table that grows instead of two.
//!
//! A memo of the user's own ([`CacheMap`]) only ever sees finished loads, so that an LRU cannot
//! evict a load in flight and `NoCache` still de-duplicates: in-flight entries then sit in a table
//! of their own, beside it.
//!
//! The rejected alternative, one table of in-flight entries beside any memo (the built-in one
//! included), costs the built-in memo three hashes and probes per new key (memo, in-flight
//! lookup, in-flight insert) and two more per answer (in-flight remove, memo insert): measured, a
//! thousand-key batch took about 8% longer that way, and a hundred-key one a fifth longer.
//!
//! # Stale in-flight entries
//!
//! An in-flight entry is trusted only while its batch exists with the id it names (the
//! scheduler's *stale in-flight* invariant): a panic in a batch's completion can leave entries
//! behind. Every lookup here takes the caller's test of that, and drops an entry that fails it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::OccupiedEntry;

use crate::CacheKey;
use crate::cache::Hasher;

/// Where a key queued or in flight will be answered: its batch (by slab index, and by id to
/// tell a reused index apart) and its slot in that batch. Sixteen bytes: the unified table holds
/// one per key, and a thousand-key batch's table is moved whole each time it grows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct InFlight {
    batch: u32,
    pub(super) slot: u32,
    pub(super) id: u64,
}

impl InFlight {
    pub(super) fn new(batch: usize, id: u64, slot: u32) -> Self {
        // A slab index: each batch holds memory of its own, so there are never 2^32 at once.
        let batch = u32::try_from(batch).expect("fewer than 2^32 batches at once");
        InFlight { batch, slot, id }
    }

    /// The batch's index in the loader's slab.
    pub(super) fn batch(self) -> usize {
        self.batch as usize
    }
}

/// A memo of the user's own, holding entries `E` by cache key `C`.
pub(crate) type CustomMemo<C, E> = Box<dyn crate::CacheMap<C, E>>;

/// The key index of one loader that caches (`cache(false)` has none).
pub(crate) struct KeyIndex<C, E>(Repr<C, E>);

enum Repr<C, E> {
    /// The built-in memo: answers and in-flight slots in one table.
    Unified(Unified<C, E>),
    /// A memo of the user's own, and the in-flight slots beside it.
    Split {
        pending: HashMap<C, InFlight, Hasher>,
        memo: CustomMemo<C, E>,
    },
}

/// What the unified table knows of a key.
enum Known<E> {
    Done(E),
    InFlight(InFlight),
}

/// The one table of the built-in memo, and the hasher every probe and insert of it uses.
struct Unified<C, E> {
    table: HashTable<(C, Known<E>)>,
    hasher: Hasher,
}

impl<C: CacheKey, E> Unified<C, E> {
    fn hash(&self, key: &C) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entry of `key`, whose hash is `hash`, if there is one.
    fn entry(&mut self, hash: u64, key: &C) -> Option<OccupiedEntry<'_, (C, Known<E>)>> {
        self.table.find_entry(hash, |(k, _)| k == key).ok()
    }

    /// Inserts `key`, whose hash is `hash`, known to be absent: no lookup.
    fn insert_absent(&mut self, hash: u64, key: C, known: Known<E>) {
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, (key, known), |(k, _)| hasher.hash_one(k));
    }
}

/// What [`KeyIndex::find`] found for a key.
pub(super) enum Found<E> {
    /// Memoized: a copy of its entry.
    Done(E),
    /// Queued or in flight, in a batch that still exists.
    InFlight(InFlight),
    /// Unknown: [`KeyIndex::insert_in_flight`] places it, with no second lookup.
    Absent(Absent),
}

/// A key found absent, and its hash: valid until the index is next changed.
pub(super) struct Absent(u64);

impl<C: CacheKey, E: Clone + 'static> KeyIndex<C, E> {
    /// An empty index over the built-in memo, or over `memo`.
    pub(crate) fn new(memo: Option<CustomMemo<C, E>>) -> Self {
        KeyIndex(match memo {
            None => Repr::Unified(Unified {
                table: HashTable::new(),
                hasher: Hasher::default(),
            }),
            Some(memo) => Repr::Split {
                pending: HashMap::default(),
                memo,
            },
        })
    }

    /// What is known of `key`. `live` tells whether an in-flight entry's batch still exists;
    /// stale in-flight: an entry whose batch is gone is dropped here, and the key is absent.
    /// Inlined: every load calls it, and its answer is an enum as large as an entry, better not
    /// returned through memory.
    #[inline]
    pub(super) fn find(&mut self, key: &C, live: impl Fn(&InFlight) -> bool) -> Found<E> {
        match &mut self.0 {
            Repr::Unified(unified) => {
                let hash = unified.hash(key);
                // A read-only probe: the memo hit, the path every repeated load takes, is the
                // one that must stay short.
                let known = unified.table.find(hash, |(k, _)| k == key);
                match known.map(|(_, known)| known) {
                    None => Found::Absent(Absent(hash)),
                    Some(Known::Done(e)) => Found::Done(e.clone()),
                    Some(Known::InFlight(p)) if live(p) => Found::InFlight(*p),
                    Some(Known::InFlight(_)) => {
                        // Stale, which takes a panic in a completion: a second probe is fine.
                        if let Some(stale) = unified.entry(hash, key) {
                            stale.remove();
                        }
                        Found::Absent(Absent(hash))
                    }
                }
            }
            Repr::Split { pending, memo } => {
                if let Some(e) = memo.get(key) {
                    return Found::Done(e);
                }
                match pending.get(key) {
                    Some(&p) if live(&p) => Found::InFlight(p),
                    Some(_) => {
                        pending.remove(key);
                        Found::Absent(Absent(0))
                    }
                    None => Found::Absent(Absent(0)),
                }
            }
        }
    }

    /// Records that `key`, found `absent`, will be answered at `at`.
    pub(super) fn insert_in_flight(&mut self, absent: Absent, key: C, at: InFlight) {
        match &mut self.0 {
            // Found absent, and nothing inserted since.
            Repr::Unified(unified) => unified.insert_absent(absent.0, key, Known::InFlight(at)),
            Repr::Split { pending, .. } => {
                pending.insert(key, at);
            }
        }
    }

    /// Makes room for `additional` more keys, so that a `load_many` grows the index once.
    pub(super) fn reserve(&mut self, additional: usize) {
        match &mut self.0 {
            Repr::Unified(Unified { table, hasher }) => {
                table.reserve(additional, |(k, _)| hasher.hash_one(k));
            }
            Repr::Split { pending, .. } => pending.reserve(additional),
        }
    }

    /// The answer of slot `at` for `key` has come: memoizes what `entry` makes of it (`None`: not
    /// memoized, as a failed batch's answer) if `key` still waits on that very slot, and forgets
    /// the in-flight entry. A key cleared, primed or queued again elsewhere since is left as it
    /// is: its answer then goes to this batch's waiters only.
    pub(super) fn settle(&mut self, key: &C, at: InFlight, entry: impl FnOnce() -> Option<E>) {
        match &mut self.0 {
            Repr::Unified(unified) => {
                let Some(mut found) = unified.entry(unified.hash(key), key) else {
                    return;
                };
                if !matches!(found.get().1, Known::InFlight(p) if p == at) {
                    return;
                }
                match entry() {
                    // Replaced where it is: the one lookup of the answer.
                    Some(e) => found.get_mut().1 = Known::Done(e),
                    None => drop(found.remove()),
                }
            }
            Repr::Split { pending, memo } => {
                if pending.get(key).copied() != Some(at) {
                    return;
                }
                pending.remove(key);
                if let Some(e) = entry() {
                    memo.set(key.clone(), e);
                }
            }
        }
    }

    /// Forgets the in-flight entry of `key` if it is in batch `id`: the batch was abandoned.
    pub(super) fn forget_in_flight(&mut self, key: &C, id: u64) {
        match &mut self.0 {
            Repr::Unified(unified) => {
                if let Some(found) = unified.entry(unified.hash(key), key)
                    && matches!(found.get().1, Known::InFlight(p) if p.id == id)
                {
                    found.remove();
                }
            }
            Repr::Split { pending, .. } => {
                if pending.get(key).is_some_and(|p| p.id == id) {
                    pending.remove(key);
                }
            }
        }
    }

    /// Memoizes `entry` for `key`, replacing what was known of it, in flight or memoized: the
    /// batch it was in flight in, if any, then does not memoize its own answer.
    pub(super) fn set_done(&mut self, key: Cow<'_, C>, entry: E) {
        match &mut self.0 {
            Repr::Unified(unified) => {
                let hash = unified.hash(&key);
                match unified.entry(hash, &key) {
                    Some(mut found) => found.get_mut().1 = Known::Done(entry),
                    None => unified.insert_absent(hash, key.into_owned(), Known::Done(entry)),
                }
            }
            Repr::Split { pending, memo } => {
                pending.remove(&*key);
                memo.set(key.into_owned(), entry);
            }
        }
    }

    /// Forgets `key`: its memoized answer, or its in-flight entry (its batch then answers its
    /// waiters, and memoizes nothing for it).
    pub(super) fn remove(&mut self, key: &C) {
        match &mut self.0 {
            Repr::Unified(unified) => {
                if let Some(found) = unified.entry(unified.hash(key), key) {
                    found.remove();
                }
            }
            Repr::Split { pending, memo } => {
                pending.remove(key);
                memo.delete(key);
            }
        }
    }

    /// Forgets every key, as [`remove`](Self::remove) does one.
    pub(super) fn clear(&mut self) {
        match &mut self.0 {
            Repr::Unified(unified) => unified.table.clear(),
            Repr::Split { pending, memo } => {
                pending.clear();
                memo.clear();
            }
        }
    }
}
