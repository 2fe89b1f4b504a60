//! The shapes a batch function may return, and how each is lined up with the keys.
//!
//! The classic DataLoader contract is positional: a list as long as the keys, entry *i* belonging
//! to key *i*. Getting that wrong is one of the most common sources of DataLoader bugs: a `WHERE id
//! IN (...)` query returns rows in its own order and skips ids it does not find, so the rows must
//! be re-ordered and the gaps filled.
//!
//! coalesce accepts three shapes, all through [`BatchOutput`]:
//!
//! | the batch function returns | the loader's value type | a key with no entry |
//! |---|---|---|
//! | `Vec<Result<V, E>>`, one per key, in key order | `V` | a [`WrongLength`](crate::LoadError::WrongLength) error for the whole batch |
//! | `HashMap<K, V>` (e.g. from [`by_key`]) | `Option<V>` | `None`: not found |
//! | [`Grouped<K, V>`] (from [`group_by`]) | `Vec<V>` | an empty `Vec` |
//!
//! With the two keyed shapes the *loader* does the lining up, against the keys it sent, so the
//! alignment bug cannot be written: [`by_key`] builds a primary-key loader's answer (users by
//! id) and [`group_by`] a foreign-key loader's (bands → albums).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// A batch function's result that can be lined up with the keys it was given.
///
/// `E` is the loader's error type: the positional shape carries per-key errors of that type.
pub trait BatchOutput<K, E> {
    /// What one key loads to.
    type Value;

    /// One entry per key of `keys`, in the same order, or the number of entries found when the
    /// shape cannot be lined up (a positional list of the wrong length).
    fn align(self, keys: &[K]) -> Result<Vec<Result<Self::Value, E>>, usize>;
}

/// Positional: entry *i* is key *i*'s value, or key *i*'s own error.
impl<K, V, E> BatchOutput<K, E> for Vec<Result<V, E>> {
    type Value = V;

    fn align(self, keys: &[K]) -> Result<Vec<Result<V, E>>, usize> {
        if self.len() == keys.len() {
            Ok(self)
        } else {
            Err(self.len())
        }
    }
}

/// Mapped: the value of each key that was found; keys that are absent load as `None`.
impl<K, V, E, S> BatchOutput<K, E> for HashMap<K, V, S>
where
    K: Hash + Eq,
    V: Clone,
    S: BuildHasher,
{
    type Value = Option<V>;

    fn align(self, keys: &[K]) -> Result<Vec<Result<Option<V>, E>>, usize> {
        Ok(take_aligned(self, keys).into_iter().map(Ok).collect())
    }
}

/// Rows grouped by a foreign key, one `Vec` per key; see [`group_by`].
#[derive(Debug, Clone)]
pub struct Grouped<K, V, S = std::hash::RandomState>(pub HashMap<K, Vec<V>, S>);

/// Grouped: each key's rows; a key with no rows loads as an empty `Vec`, never as a neighbour's.
impl<K, V, E, S> BatchOutput<K, E> for Grouped<K, V, S>
where
    K: Hash + Eq,
    V: Clone,
    S: BuildHasher,
{
    type Value = Vec<V>;

    fn align(self, keys: &[K]) -> Result<Vec<Result<Vec<V>, E>>, usize> {
        Ok(take_aligned(self.0, keys)
            .into_iter()
            .map(|rows| Ok(rows.unwrap_or_default()))
            .collect())
    }
}

/// Moves each key's entry out of `map`, in key order.
///
/// Keys are unique unless the loader's cache is off, when the batch function receives every load,
/// duplicates included. The second occurrence of a key then finds its entry already moved out and
/// clones it from the first; a key that was never in the map stays `None`. The index of first
/// occurrences is only built on the first such miss, so the common case costs one `remove` per key.
fn take_aligned<K, V, S>(mut map: HashMap<K, V, S>, keys: &[K]) -> Vec<Option<V>>
where
    K: Hash + Eq,
    V: Clone,
    S: BuildHasher,
{
    let mut out: Vec<Option<V>> = Vec::with_capacity(keys.len());
    let mut first_seen: Option<HashMap<&K, usize>> = None;
    for (i, key) in keys.iter().enumerate() {
        let entry = match map.remove(key) {
            Some(value) => Some(value),
            None => {
                let seen = first_seen.get_or_insert_with(|| {
                    let mut seen = HashMap::with_capacity(i);
                    for (j, k) in keys[..i].iter().enumerate() {
                        seen.entry(k).or_insert(j);
                    }
                    seen
                });
                seen.get(key).and_then(|&j| out[j].clone())
            }
        };
        if let Some(seen) = first_seen.as_mut() {
            seen.entry(key).or_insert(i);
        }
        out.push(entry);
    }
    out
}

/// Indexes rows by their primary key: the mapped shape, for a loader whose value is `Option<Row>`.
///
/// ```
/// # #[derive(Clone, Debug, PartialEq)] struct User { id: u64, name: &'static str }
/// use coalesce_loader::{by_key, BatchOutput};
///
/// // A `WHERE id IN (2, 9, 6)` query answered in its own order, without 6:
/// let rows = vec![User { id: 9, name: "Chicago" }, User { id: 2, name: "San Francisco" }];
/// let aligned = BatchOutput::<u64, ()>::align(by_key(rows, |u| u.id), &[2, 9, 6]).unwrap();
/// assert_eq!(aligned[0].as_ref().unwrap().as_ref().unwrap().name, "San Francisco");
/// assert_eq!(aligned[1].as_ref().unwrap().as_ref().unwrap().name, "Chicago");
/// assert_eq!(aligned[2], Ok(None));
/// ```
pub fn by_key<K, V>(rows: impl IntoIterator<Item = V>, key: impl Fn(&V) -> K) -> HashMap<K, V>
where
    K: Hash + Eq,
{
    rows.into_iter().map(|row| (key(&row), row)).collect()
}

/// Groups rows by a foreign key: the shape of a one-to-many loader, whose value is `Vec<Row>`.
///
/// ```
/// # #[derive(Clone, Debug, PartialEq)] struct Album { band_id: u64, title: &'static str }
/// use coalesce_loader::{group_by, BatchOutput};
///
/// let rows = vec![
///     Album { band_id: 10, title: "OK Computer" },
///     Album { band_id: 20, title: "Nevermind" },
///     Album { band_id: 10, title: "Kid A" },
/// ];
/// let aligned = BatchOutput::<u64, ()>::align(group_by(rows, |a| a.band_id), &[20, 30, 10]).unwrap();
/// let titles = |i: usize| aligned[i].as_ref().unwrap().iter().map(|a| a.title).collect::<Vec<_>>();
/// assert_eq!(titles(0), ["Nevermind"]);
/// assert!(titles(1).is_empty()); // band 30 has no albums: an empty list, not band 10's
/// assert_eq!(titles(2), ["OK Computer", "Kid A"]);
/// ```
pub fn group_by<K, V>(rows: impl IntoIterator<Item = V>, key: impl Fn(&V) -> K) -> Grouped<K, V>
where
    K: Hash + Eq,
{
    rows.into_iter().map(|row| (key(&row), row)).collect()
}

/// Groups `(key, row)` pairs: for rows that do not carry their key as a field, such as the
/// `(user_id, friend)` pairs of a join, or rows whose key is optional.
///
/// ```
/// use coalesce_loader::Grouped;
///
/// let friends: Grouped<u64, &str> = [(1, "ada"), (2, "grace"), (1, "alan")].into_iter().collect();
/// assert_eq!(friends.0[&1], ["ada", "alan"]);
/// ```
impl<K: Hash + Eq, V> FromIterator<(K, V)> for Grouped<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut groups: HashMap<K, Vec<V>> = HashMap::new();
        for (key, row) in pairs {
            groups.entry(key).or_default().push(row);
        }
        Grouped(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn align<O: BatchOutput<u32, ()>>(out: O, keys: &[u32]) -> Vec<O::Value> {
        out.align(keys)
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn positional_result_of_wrong_length_reports_its_length() {
        let out: Vec<Result<u32, ()>> = vec![Ok(1)];
        assert_eq!(out.align(&[1, 2, 3]).unwrap_err(), 1);
    }

    #[test]
    fn mapped_result_gives_duplicate_keys_the_same_value() {
        let map = HashMap::from([(1, "a"), (2, "b")]);
        assert_eq!(
            align(map, &[1, 3, 1, 2, 1]),
            [Some("a"), None, Some("a"), Some("b"), Some("a")]
        );
    }

    #[test]
    fn grouped_result_gives_missing_keys_an_empty_list() {
        let grouped = group_by([(1, 'x'), (1, 'y'), (2, 'z')], |r| r.0);
        assert_eq!(
            align(grouped, &[2, 5, 1, 2]),
            [
                vec![(2, 'z')],
                vec![],
                vec![(1, 'x'), (1, 'y')],
                vec![(2, 'z')]
            ]
        );
    }
}
