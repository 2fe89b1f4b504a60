//! `User.friendsConnection(first:, after:)`: a user's friends as a Relay connection, one page per
//! user from the friend pages loader ([`friend_pages`](crate::friend_pages)).
//!
//! ```graphql
//! { user(id: 1) { friendsConnection(first: 2) {
//!     edges { cursor node { name } }
//!     pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }
//! ```
//!
//! The next page is `friendsConnection(first: 2, after: <endCursor>)`. A cursor holds the last
//! friend's id, not an offset, so friendships added or removed between two pages neither repeat
//! nor skip a friend.

use async_graphql::{Object, Result};
use coalesce_loader::page::{Cursor, Edge, Page, PageArgs};

use crate::model::{Id, User};

/// The page size when a query gives no `first`.
pub const DEFAULT_PAGE_SIZE: u32 = 10;

/// The most friends one page may hold: a larger `first` is an error, not a bigger statement.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The page arguments of `first` and `after` as a query gave them, or why they are not any.
///
/// ```
/// use coalesce_demo::friends_connection::page_args;
///
/// assert_eq!(page_args(None, None).unwrap().first, 10);
/// assert!(page_args(Some(-1), None).unwrap_err().contains("cannot be negative"));
/// assert!(page_args(Some(5), Some("not a cursor")).unwrap_err().contains("not a cursor"));
/// ```
pub fn page_args(first: Option<i32>, after: Option<&str>) -> Result<PageArgs, String> {
    let first = match first {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if n < 0 => return Err(format!("`first` cannot be negative, got {n}")),
        Some(n) if n as u32 > MAX_PAGE_SIZE => {
            return Err(format!("`first` can be at most {MAX_PAGE_SIZE}, got {n}"));
        }
        Some(n) => n as u32,
    };
    let args = PageArgs::first(first);
    let Some(after) = after else {
        return Ok(args);
    };
    let not_a_cursor = || format!("`after` is not a cursor of friendsConnection: {after:?}");
    let cursor: Cursor = after.parse().map_err(|_| not_a_cursor())?;
    cursor.sort_key::<Id>().map_err(|_| not_a_cursor())?;
    Ok(args.after(cursor))
}

/// How many friends a `friendsConnection` may return, for its query complexity: its `first`,
/// or the default, within `1..=`[`MAX_PAGE_SIZE`]. At least 1, so that an empty page's
/// `pageInfo` still costs something; at most the largest page, so that a larger `first` is
/// refused by the resolver, saying why, rather than as too complex.
pub fn page_size_estimate(first: Option<i32>) -> usize {
    let first = first.map_or(DEFAULT_PAGE_SIZE as i32, |n| {
        n.clamp(1, MAX_PAGE_SIZE as i32)
    });
    first as usize
}

/// A page of a user's friends.
///
/// Its `edges`, `node` and `pageInfo` cost nothing of their own in the query's complexity (they
/// hold what the page already has), so a connection costs what `friends(first:)` costs: its
/// fields once per friend it may return, `pageInfo`'s included.
pub struct FriendsConnection(Page<User>);

impl From<Page<User>> for FriendsConnection {
    fn from(page: Page<User>) -> Self {
        FriendsConnection(page)
    }
}

#[Object]
impl FriendsConnection {
    /// The page's friends, in id order, each with its cursor.
    #[graphql(complexity = "child_complexity")]
    async fn edges(&self) -> Vec<FriendEdge> {
        self.0.edges.iter().cloned().map(FriendEdge).collect()
    }

    /// Whether more friends follow, and the cursors to page with.
    #[graphql(complexity = "child_complexity")]
    async fn page_info(&self) -> PageInfo<'_> {
        PageInfo(&self.0)
    }
}

/// A friend, with the cursor to resume after it.
pub struct FriendEdge(Edge<User>);

#[Object]
impl FriendEdge {
    /// Pass it as `after` for the friends that follow this one.
    async fn cursor(&self) -> String {
        self.0.cursor.to_string()
    }

    /// The friend.
    #[graphql(complexity = "child_complexity")]
    async fn node(&self) -> &User {
        &self.0.node
    }
}

/// A Relay connection's `PageInfo`.
pub struct PageInfo<'a>(&'a Page<User>);

#[Object]
impl PageInfo<'_> {
    /// Whether friends follow the last one of this page.
    async fn has_next_page(&self) -> bool {
        self.0.has_next_page
    }

    /// Whether this page was asked for after a cursor (so the cursor's friend precedes it).
    async fn has_previous_page(&self) -> bool {
        self.0.has_previous_page
    }

    /// The first friend's cursor; null on an empty page.
    async fn start_cursor(&self) -> Option<String> {
        self.0.start_cursor().map(Cursor::to_string)
    }

    /// The last friend's cursor, to pass as `after` for the next page; null on an empty page.
    async fn end_cursor(&self) -> Option<String> {
        self.0.end_cursor().map(Cursor::to_string)
    }
}
