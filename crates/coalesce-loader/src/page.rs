//! One page per parent in one statement: batched, keyset-paginated one-to-many loads.
//!
//! A resolver such as `friends(first: 5, after: ...)` asks for a *page* of a parent's rows. A
//! loader that fetches every row and truncates to 5 costs a user with 10 000 friends 10 000
//! rows; one `LIMIT 5` query per parent is the N+1 problem again. This module lets one
//! statement answer a page for every parent of a batch:
//!
//! - a loader keyed by `(Parent, `[`PageArgs`]`)`, so loads of the same page arguments batch
//!   together; [`by_args`] splits a batch's keys by their arguments, one statement per distinct
//!   arguments;
//! - each statement fetches at most `first + 1` rows per parent, after the [`Cursor`] if one is
//!   given, with a window function:
//!
//!   ```sql
//!   SELECT user_id, friend_id, name FROM (
//!       SELECT f.user_id, f.friend_id, u.name,
//!              ROW_NUMBER() OVER (PARTITION BY f.user_id ORDER BY f.friend_id) AS rn
//!       FROM friendships f JOIN users u ON u.id = f.friend_id
//!       WHERE f.user_id IN (?, ?, ...)   -- the parents of one `by_args` group
//!         AND f.friend_id > ?            -- only when `after` is given: its sort key
//!   ) AS ranked
//!   WHERE rn <= ?                         -- `first + 1`: PageArgs::fetch_limit
//!   ORDER BY user_id, rn
//!   ```
//!
//!   (The repository's demo server runs this statement on SQLite and PostgreSQL, behind a
//!   Relay `friendsConnection`: `crates/coalesce-demo/src/friend_pages.rs`.) The extra row is
//!   never shown: it only says whether a next page exists. The cursor is the sort key of a row
//!   (here `friend_id`), not an offset, so rows inserted or deleted between two requests
//!   neither repeat nor skip a row of the next page. The sort key must be unique within
//!   a parent; for a non-unique column, sort by `(column, id)` and make that pair the sort key;
//! - [`Pages`] lines the rows up into one [`Page`] per key, in key order; a parent without rows
//!   gets an empty page. It is a [`BatchOutput`], so a loader can return it as is, and a load
//!   gives a `Page<Row>`.
//!
//! ```
//! use coalesce_loader::page::{by_args, Cursor, PageArgs, Pages};
//! use coalesce_loader::{DataLoader, Loader};
//! use std::convert::Infallible;
//!
//! #[derive(Clone, Debug)]
//! struct Friend { user_id: u64, friend_id: u64 }
//!
//! /// An in-memory table standing in for the database.
//! struct FriendPages { friendships: Vec<Friend> }
//!
//! impl FriendPages {
//!     /// What the statement above returns: at most `first + 1` rows per parent, after the
//!     /// cursor, in sort-key order.
//!     fn statement(&self, parents: &[&u64], args: &PageArgs) -> Vec<Friend> {
//!         let after: Option<u64> = args.after.as_ref().map(|c| c.sort_key().unwrap());
//!         let mut rows = Vec::new();
//!         for &&parent in parents {
//!             let mut of_parent: Vec<&Friend> = self.friendships.iter()
//!                 .filter(|f| f.user_id == parent && after.is_none_or(|a| f.friend_id > a))
//!                 .collect();
//!             of_parent.sort_by_key(|f| f.friend_id);
//!             rows.extend(of_parent.into_iter().take(args.fetch_limit()).cloned());
//!         }
//!         rows
//!     }
//! }
//!
//! impl Loader for FriendPages {
//!     type Key = (u64, PageArgs);
//!     type Output = Pages<u64, Friend>; // a load gives a Page<Friend>
//!     type Error = Infallible;
//!
//!     async fn load_batch(&self, keys: &[(u64, PageArgs)]) -> Result<Self::Output, Infallible> {
//!         let mut pages = Pages::new();
//!         for (args, parents) in by_args(keys) {
//!             let rows = self.statement(&parents, args);
//!             pages.insert_rows(args, rows.into_iter().map(|f| (f.user_id, f)), |f| f.friend_id);
//!         }
//!         Ok(pages)
//!     }
//! }
//!
//! // User 1 has friends 10, 20, 30; user 2 has none.
//! let friendships = [10, 20, 30].map(|friend_id| Friend { user_id: 1, friend_id }).to_vec();
//! let loader = DataLoader::new(FriendPages { friendships });
//! # futures::executor::block_on(async {
//! let (one, two) = futures::join!(
//!     loader.load((1, PageArgs::first(2))),
//!     loader.load((2, PageArgs::first(2))),
//! );
//! let (one, two) = (one.unwrap(), two.unwrap());
//! assert_eq!(one.nodes().map(|f| f.friend_id).collect::<Vec<_>>(), [10, 20]);
//! assert!(one.has_next_page);
//! assert!(two.edges.is_empty() && !two.has_next_page);
//! assert_eq!(loader.stats().batches, 1);
//!
//! // The next page resumes after the last row's cursor, as a client sends it back.
//! let cursor: Cursor = one.end_cursor().unwrap().to_string().parse().unwrap();
//! let next = loader.load((1, PageArgs::first(2).after(cursor))).await.unwrap();
//! assert_eq!(next.nodes().map(|f| f.friend_id).collect::<Vec<_>>(), [30]);
//! assert!(!next.has_next_page && next.has_previous_page);
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

use crate::BatchOutput;

/// An opaque position in a parent's rows: the sort key of the row it was taken from.
///
/// A cursor is built from a row's sort key with [`Cursor::new`], sent to clients as a string
/// (its `Display`), read back from one with [`str::parse`], and turned into the sort key to
/// resume after with [`Cursor::sort_key`]. It never holds an offset. The string is the sort
/// key's text in hexadecimal, so that clients treat it as opaque rather than build their own.
///
/// ```
/// use coalesce_loader::page::Cursor;
///
/// let cursor = Cursor::new(42_u64);
/// let from_client: Cursor = cursor.to_string().parse().unwrap();
/// assert_eq!(from_client.sort_key::<u64>().unwrap(), 42);
/// assert!("not a cursor".parse::<Cursor>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor of a row whose sort key is `sort_key`, which [`sort_key`](Cursor::sort_key)
    /// parses back from the key's `Display` text.
    pub fn new(sort_key: impl fmt::Display) -> Self {
        use fmt::Write;
        let text = sort_key.to_string();
        let mut hex = String::with_capacity(text.len() * 2);
        for byte in text.bytes() {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        Cursor(hex)
    }

    /// The sort key this cursor was built from, to bind as the statement's `sort_key > ?`.
    ///
    /// Fails when the key does not parse as an `S`, such as a cursor of another connection.
    pub fn sort_key<S: FromStr>(&self) -> Result<S, InvalidCursor> {
        decode_hex(&self.0)
            .and_then(|text| text.parse().ok())
            .ok_or(InvalidCursor)
    }
}

/// Writes the cursor as clients see it.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a cursor a client sent back; fails on a string no [`Cursor::new`] could have written.
impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(text: &str) -> Result<Self, InvalidCursor> {
        match decode_hex(text) {
            Some(_) => Ok(Cursor(text.to_owned())),
            None => Err(InvalidCursor),
        }
    }
}

/// The text of a cursor's hexadecimal string, when it is one (lowercase, UTF-8 text).
fn decode_hex(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// A cursor that no [`Cursor::new`] wrote, or whose sort key is not of the expected type.
///
/// ```
/// use coalesce_loader::page::Cursor;
///
/// let err = Cursor::new("ada").sort_key::<u64>().unwrap_err();
/// assert_eq!(err.to_string(), "invalid cursor");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidCursor;

impl fmt::Display for InvalidCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid cursor")
    }
}

impl std::error::Error for InvalidCursor {}

/// Which page of a parent's rows to load: the first `first` rows after the cursor `after`, or
/// from the start without one.
///
/// Part of the loader's key, `(Parent, PageArgs)`: loads with equal arguments go to the same
/// statement (see [`by_args`]), and a page is memoized per parent and arguments.
///
/// ```
/// use coalesce_loader::page::{Cursor, PageArgs};
///
/// let args = PageArgs::first(5).after(Cursor::new(17));
/// assert_eq!((args.first, args.fetch_limit()), (5, 6));
/// assert_eq!(args.after.unwrap().sort_key::<u32>().unwrap(), 17);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageArgs {
    /// The most rows the page shows.
    pub first: u32,
    /// Start after the row this cursor was taken from; `None` starts with the first row.
    pub after: Option<Cursor>,
}

impl PageArgs {
    /// The first `first` rows of each parent.
    pub fn first(first: u32) -> Self {
        PageArgs { first, after: None }
    }

    /// The same page size, starting after `cursor`.
    pub fn after(self, cursor: Cursor) -> Self {
        PageArgs {
            after: Some(cursor),
            ..self
        }
    }

    /// The most rows per parent the statement should fetch: `first + 1`, the extra row telling
    /// whether a next page exists.
    pub fn fetch_limit(&self) -> usize {
        self.first as usize + 1
    }
}

/// Splits a batch's keys by their page arguments, in the order the arguments first appear:
/// one statement per group, for the group's parents.
///
/// ```
/// use coalesce_loader::page::{by_args, PageArgs};
///
/// let keys = [(1, PageArgs::first(5)), (2, PageArgs::first(2)), (3, PageArgs::first(5))];
/// let groups: Vec<(&PageArgs, Vec<&u64>)> = by_args(&keys).collect();
/// assert_eq!(groups, [(&PageArgs::first(5), vec![&1, &3]), (&PageArgs::first(2), vec![&2])]);
/// ```
pub fn by_args<P>(keys: &[(P, PageArgs)]) -> impl Iterator<Item = (&PageArgs, Vec<&P>)> {
    let mut index: HashMap<&PageArgs, usize> = HashMap::new();
    let mut groups: Vec<(&PageArgs, Vec<&P>)> = Vec::new();
    for (parent, args) in keys {
        let i = *index.entry(args).or_insert_with(|| {
            groups.push((args, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(parent);
    }
    groups.into_iter()
}

/// One row of a page, with the cursor to resume after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge<T> {
    /// The cursor of this row: pass it as `after` for the rows that follow it.
    pub cursor: Cursor,
    /// The row.
    pub node: T,
}

/// One parent's page of rows, in sort-key order, as a Relay connection shows it.
///
/// ```
/// use coalesce_loader::page::{PageArgs, Pages};
/// use coalesce_loader::BatchOutput;
///
/// // (parent, row) pairs of a statement with `first: 2`, so at most 3 rows per parent; each
/// // row is its own sort key.
/// let mut pages = Pages::new();
/// pages.insert_rows(&PageArgs::first(2), [(7, 'a'), (7, 'b'), (7, 'c')], |row| *row);
/// let page = BatchOutput::<_, ()>::align(pages, &[(7, PageArgs::first(2))]).unwrap().remove(0).unwrap();
/// assert_eq!(page.nodes().collect::<String>(), "ab");
/// assert!(page.has_next_page && !page.has_previous_page);
/// assert_eq!(page.end_cursor(), Some(&page.edges[1].cursor));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// At most `first` rows, each with its cursor.
    pub edges: Vec<Edge<T>>,
    /// Whether rows follow the last one: the statement returned the extra row.
    pub has_next_page: bool,
    /// Whether the page was asked for after a cursor, so that the row the cursor was taken from
    /// comes before it. (Relay allows this shortcut for forward paging: finding out whether that
    /// row still exists would cost another query.)
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    /// One parent's page from the rows of a statement for that parent alone, such as a `LIMIT`
    /// query: the rows in sort-key order, at most `first + 1` of them, the extra one only
    /// setting `has_next_page`. `sort_key` reads a row's sort key, which its cursor holds.
    ///
    /// ```
    /// use coalesce_loader::page::{Page, PageArgs};
    ///
    /// let page = Page::from_rows(&PageArgs::first(2), [10, 20, 30], |id| *id);
    /// assert_eq!(page.nodes().copied().collect::<Vec<_>>(), [10, 20]);
    /// assert!(page.has_next_page);
    /// ```
    pub fn from_rows<S: fmt::Display>(
        args: &PageArgs,
        rows: impl IntoIterator<Item = T>,
        sort_key: impl Fn(&T) -> S,
    ) -> Self {
        let mut page = Page::empty(args);
        for row in rows {
            page.push(args, row, &sort_key);
        }
        page
    }

    /// Adds the next row in sort-key order: an edge while the page holds fewer than `first`,
    /// else the sign that a next page exists.
    fn push<S: fmt::Display>(&mut self, args: &PageArgs, row: T, sort_key: impl Fn(&T) -> S) {
        if self.edges.len() < args.first as usize {
            let cursor = Cursor::new(sort_key(&row));
            self.edges.push(Edge { cursor, node: row });
        } else {
            self.has_next_page = true;
        }
    }

    /// The rows, without their cursors.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &T> {
        self.edges.iter().map(|edge| &edge.node)
    }

    /// The first row's cursor, `None` for an empty page.
    pub fn start_cursor(&self) -> Option<&Cursor> {
        self.edges.first().map(|edge| &edge.cursor)
    }

    /// The last row's cursor, `None` for an empty page: pass it as `after` for the next page.
    pub fn end_cursor(&self) -> Option<&Cursor> {
        self.edges.last().map(|edge| &edge.cursor)
    }

    fn empty(args: &PageArgs) -> Self {
        Page {
            edges: Vec::new(),
            has_next_page: false,
            has_previous_page: args.after.is_some(),
        }
    }
}

/// A batch's pages, by `(parent, arguments)`: the [`BatchOutput`] of a paginating loader, whose
/// loads give a [`Page<T>`]; a key with no rows loads as an empty page.
///
/// Fill it with [`insert_rows`](Pages::insert_rows), once per statement; see the
/// [module documentation](self) for a whole loader.
#[derive(Clone, Debug)]
pub struct Pages<P, T>(HashMap<(P, PageArgs), Page<T>>);

impl<P, T> Default for Pages<P, T> {
    fn default() -> Self {
        Pages(HashMap::new())
    }
}

impl<P: Hash + Eq + Clone, T> Pages<P, T> {
    /// No pages yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lines up the rows of the statement for `args` into one page per parent.
    ///
    /// `rows` are what the statement returned, as `(parent, row)` pairs (the parent column
    /// taken out of the row, as for [`Grouped`](crate::Grouped)), each parent's in sort-key
    /// order (the statement's `ORDER BY`); `sort_key` reads a row's sort key, which its cursor
    /// holds. Of each parent's rows, the first `first` make the page, and any further one only
    /// sets `has_next_page`.
    pub fn insert_rows<S: fmt::Display>(
        &mut self,
        args: &PageArgs,
        rows: impl IntoIterator<Item = (P, T)>,
        sort_key: impl Fn(&T) -> S,
    ) {
        let mut by_parent: HashMap<P, Page<T>> = HashMap::new();
        for (parent, row) in rows {
            by_parent
                .entry(parent)
                .or_insert_with(|| Page::empty(args))
                .push(args, row, &sort_key);
        }
        self.0.extend(
            by_parent
                .into_iter()
                .map(|(parent, page)| ((parent, args.clone()), page)),
        );
    }
}

/// One page per key, in key order; a key without rows gets an empty page, never a neighbour's.
impl<P, T, E> BatchOutput<(P, PageArgs), E> for Pages<P, T>
where
    P: Hash + Eq,
    T: Clone,
{
    type Value = Page<T>;

    fn align(mut self, keys: &[(P, PageArgs)]) -> Result<Vec<Result<Page<T>, E>>, usize> {
        // A key appears twice only when the loader's cache is off; its second occurrence finds
        // the page moved out and clones the first one's.
        let mut first_seen: HashMap<&(P, PageArgs), usize> = HashMap::new();
        let mut out: Vec<Page<T>> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let page = match (self.0.remove(key), first_seen.get(key)) {
                (Some(page), _) => page,
                (None, Some(&j)) => out[j].clone(),
                (None, None) => Page::empty(&key.1),
            };
            first_seen.entry(key).or_insert(i);
            out.push(page);
        }
        Ok(out.into_iter().map(Ok).collect())
    }
}
