//! Pages of a one-to-many relation, one per parent, lined up from one windowed statement.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;

use coalesce_loader::page::{Cursor, Page, PageArgs, Pages, by_args};
use coalesce_loader::{BatchOutput, DataLoader, Loader};
use futures::future::join_all;

#[derive(Clone, Debug, PartialEq)]
struct Friendship {
    user_id: u64,
    friend_id: u64,
}

/// A friendships table and the windowed statement a batch function would send it:
/// `ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY friend_id) <= first + 1`, with
/// `friend_id > after`. Records what each statement was asked and how many rows it returned.
#[derive(Default)]
struct Table {
    rows: Mutex<Vec<Friendship>>,
    statements: Mutex<Vec<(PageArgs, usize)>>,
}

impl Table {
    /// 100 users, user 0 with 10 000 friends and user `u` with `u % 9` (none for 9, 18, ...).
    fn skewed() -> Self {
        let mut rows = Vec::new();
        for user_id in 0..100 {
            let count = if user_id == 0 { 10_000 } else { user_id % 9 };
            // Inserted in descending order: the statement, not the table, orders the rows.
            rows.extend((0..count).rev().map(|f| Friendship {
                user_id,
                friend_id: 1000 + f * 10,
            }));
        }
        Table {
            rows: Mutex::new(rows),
            ..Table::default()
        }
    }

    fn friend_count(&self, user_id: u64) -> usize {
        let rows = self.rows.lock().unwrap();
        rows.iter().filter(|r| r.user_id == user_id).count()
    }

    fn insert(&self, user_id: u64, friend_id: u64) {
        let row = Friendship { user_id, friend_id };
        self.rows.lock().unwrap().push(row);
    }

    fn statement(&self, users: &[&u64], args: &PageArgs) -> Vec<Friendship> {
        let after: Option<u64> = args.after.as_ref().map(|c| c.sort_key().unwrap());
        let mut ranked: Vec<Friendship> = self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| users.contains(&&r.user_id) && after.is_none_or(|a| r.friend_id > a))
            .cloned()
            .collect();
        ranked.sort_by_key(|r| (r.user_id, r.friend_id));
        let mut per_user: HashMap<u64, usize> = HashMap::new();
        ranked.retain(|r| {
            let rn = per_user.entry(r.user_id).or_default();
            *rn += 1;
            *rn <= args.fetch_limit()
        });
        self.statements
            .lock()
            .unwrap()
            .push((args.clone(), ranked.len()));
        ranked
    }

    /// One batch's pages, lined up with its keys, as the loader lines them up.
    fn pages(&self, keys: &[(u64, PageArgs)]) -> Vec<Page<Friendship>> {
        let pages = futures::executor::block_on(self.load_batch(keys)).unwrap();
        BatchOutput::<_, Infallible>::align(pages, keys)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect()
    }
}

/// The batch function: one statement per distinct page arguments.
impl Loader for Table {
    type Key = (u64, PageArgs);
    type Output = Pages<u64, Friendship>;
    type Error = Infallible;

    async fn load_batch(&self, keys: &[(u64, PageArgs)]) -> Result<Self::Output, Infallible> {
        let mut pages = Pages::new();
        for (args, users) in by_args(keys) {
            let rows = self.statement(&users, args);
            let rows = rows.into_iter().map(|r| (r.user_id, r));
            pages.insert_rows(args, rows, |r| r.friend_id);
        }
        Ok(pages)
    }
}

fn friend_ids(page: &Page<Friendship>) -> Vec<u64> {
    page.nodes().map(|r| r.friend_id).collect()
}

#[test]
fn skewed_parents_get_pages_of_at_most_first_rows_with_has_next_page_exactly_when_more_exist() {
    let table = Table::skewed();
    let keys: Vec<(u64, PageArgs)> = (0..100).map(|u| (u, PageArgs::first(5))).collect();
    let pages = table.pages(&keys);

    assert_eq!(pages.len(), 100);
    for ((user_id, _), page) in keys.iter().zip(&pages) {
        let count = table.friend_count(*user_id);
        let expected: Vec<u64> = (0..count.min(5) as u64).map(|f| 1000 + f * 10).collect();
        assert_eq!(friend_ids(page), expected, "user {user_id}");
        assert_eq!(page.has_next_page, count > 5, "user {user_id}");
        assert!(page.nodes().all(|r| r.user_id == *user_id));
        assert!(!page.has_previous_page);
    }
    assert!(pages[9].edges.is_empty() && pages[9].end_cursor().is_none());
    // One statement; the user with 10 000 friends cost 6 rows of it.
    let statements = table.statements.lock().unwrap();
    let rows_for_others: usize = (1..100).map(|u| table.friend_count(u).min(6)).sum();
    assert_eq!(*statements, [(PageArgs::first(5), 6 + rows_for_others)]);
}

#[test]
fn cursors_resume_without_gaps_or_repeats_while_rows_are_inserted_between_pages() {
    let table = Table::skewed();
    let user = 7; // friends 1000, 1010, ..., 1060
    let mut seen = Vec::new();
    let mut args = PageArgs::first(2);
    let mut inserted_after = Vec::new();
    for round in 0.. {
        let page = table.pages(&[(user, args.clone())]).remove(0);
        assert!(page.edges.len() <= 2);
        assert_eq!(page.has_previous_page, round > 0);
        seen.extend(friend_ids(&page));
        let Some(cursor) = page.end_cursor().cloned() else {
            break;
        };
        let last: u64 = cursor.sort_key().unwrap();
        // Before the cursor: an offset would now repeat a row; a keyset never shows it.
        table.insert(user, round);
        // After the cursor: still to come, so the next pages must include it.
        if round < 3 {
            table.insert(user, last + 1);
            inserted_after.push(last + 1);
        }
        if !page.has_next_page {
            break;
        }
        args = PageArgs::first(2).after(cursor);
    }

    assert_eq!(inserted_after.len(), 3);
    let mut expected: Vec<u64> = (0..7).map(|f| 1000 + f * 10).collect();
    expected.extend(&inserted_after);
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn keys_with_different_args_in_one_batch_each_get_their_own_page() {
    let table = Table::skewed();
    let after_1010 = PageArgs::first(2).after(Cursor::new(1010));
    let keys = [
        (8, PageArgs::first(3)),
        (8, after_1010.clone()),
        (4, PageArgs::first(3)),
        (8, PageArgs::first(1)),
    ];
    let pages = table.pages(&keys);

    assert_eq!(friend_ids(&pages[0]), [1000, 1010, 1020]);
    assert!(pages[0].has_next_page);
    assert_eq!(friend_ids(&pages[1]), [1020, 1030]);
    assert!(pages[1].has_next_page && pages[1].has_previous_page);
    assert_eq!(friend_ids(&pages[2]), [1000, 1010, 1020]);
    assert!(pages[2].has_next_page);
    assert_eq!(friend_ids(&pages[3]), [1000]);
    // Users 8 and 4 share a statement for `first: 3`; the other arguments have their own.
    let statements = table.statements.lock().unwrap();
    let args: Vec<&PageArgs> = statements.iter().map(|(args, _)| args).collect();
    assert_eq!(
        args,
        [&PageArgs::first(3), &after_1010, &PageArgs::first(1)]
    );
}

#[test]
fn a_loader_keyed_by_parent_and_args_answers_100_first_pages_with_one_statement_per_args() {
    let loader = DataLoader::new(Table::skewed());
    let keys = (0..100).map(|u| (u, PageArgs::first(if u % 2 == 0 { 5 } else { 2 })));
    let pages = futures::executor::block_on(join_all(keys.map(|key| loader.load(key))));

    for (user_id, page) in pages.iter().enumerate() {
        let page = page.as_ref().unwrap();
        let first = if user_id % 2 == 0 { 5 } else { 2 };
        let count = (if user_id == 0 { 10_000 } else { user_id % 9 }).min(first) as u64;
        let expected: Vec<u64> = (0..count).map(|f| 1000 + f * 10).collect();
        assert_eq!(friend_ids(page), expected, "user {user_id}");
    }
    let stats = loader.stats();
    assert_eq!((stats.batches, stats.keys), (1, 100));
    let statements = loader.loader().statements.lock().unwrap();
    let args: Vec<u32> = statements.iter().map(|(args, _)| args.first).collect();
    assert_eq!(args, [5, 2]);
}
