//! `friendsConnection` over HTTP, on SQLite and (with `DATABASE_URL`) on PostgreSQL: one
//! statement per page arguments for every user of a level, at most `first + 1` rows per user
//! whatever their friend count, and keyset cursors that neither repeat nor skip a friend while
//! friendships are added between pages.

mod support;

use std::collections::{BTreeSet, HashMap};

use coalesce_demo::model::Id;
use coalesce_demo::seed;
use coalesce_loader::page::Cursor;

/// Each seeded user's friends' ids, in id order.
fn seeded_friends() -> HashMap<Id, Vec<Id>> {
    let mut friends: HashMap<Id, Vec<Id>> = HashMap::new();
    for (user, friend) in seed::friendships() {
        friends.entry(user).or_default().push(friend);
    }
    friends.values_mut().for_each(|ids| ids.sort());
    friends
}

/// A seeded user's name.
fn name(id: Id) -> String {
    seed::users()[id as usize - 1].name.clone()
}

/// The same tests for each database.
macro_rules! friend_pages {
    ($backend:expr $(, #[$ignore:meta])?) => {
        use coalesce_demo::Mode;
        use coalesce_demo::model::Id;
        use serde_json::{Value, json};

        use super::{Cursor, BTreeSet, name, seeded_friends};
        use crate::support::{Backend, Demo, Reply};

        /// User `user`'s page of `first` friends after `after`: its friends' ids, and the reply.
        async fn page(demo: &Demo, user: Id, first: u32, after: Option<&str>) -> (Vec<Id>, Reply) {
            let after = after.map_or_else(String::new, |cursor| format!(", after: \"{cursor}\""));
            let query = format!(
                "{{ user(id: {user}) {{ friendsConnection(first: {first}{after}) {{ \
                 edges {{ cursor node {{ id }} }} \
                 pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }} }}"
            );
            let reply = demo.query(Mode::Batched, &query, None).await;
            reply.assert_ok();
            let edges = reply.data()["user"]["friendsConnection"]["edges"].as_array().unwrap();
            let ids = edges.iter().map(|edge| edge["node"]["id"].as_str().unwrap().parse().unwrap());
            (ids.collect(), reply)
        }

        fn connection(reply: &Reply) -> &Value {
            &reply.data()["user"]["friendsConnection"]
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn a_first_page_of_every_users_friends_is_two_statements_of_at_most_six_rows_per_user() {
            let demo = Demo::start($backend).await;
            let query = "{ users { friendsConnection(first: 5) { edges { node { name } } \
                         pageInfo { hasNextPage endCursor } } } }";
            let (batched, naive) = demo.both(query, None).await;

            let friends = seeded_friends();
            let users = batched.assert_ok().data()["users"].as_array().unwrap();
            assert_eq!(users.len(), 100);
            for (user, got) in (1..).zip(users) {
                let all = &friends[&user];
                let page = &all[..all.len().min(5)];
                let names: Vec<Value> = page.iter().map(|&id| json!({ "node": { "name": name(id) } })).collect();
                let expected = json!({
                    "edges": names,
                    "pageInfo": {
                        "hasNextPage": all.len() > 5,
                        "endCursor": Cursor::new(page[page.len() - 1]).to_string(),
                    },
                });
                assert_eq!(got["friendsConnection"], expected, "user {user}");
            }
            // The users, then one windowed statement for all 100 pages: each user's first 6
            // friends at most (the sixth only tells `hasNextPage`), of their 4 to 7.
            assert_eq!(batched.sql_queries(), 2, "{}", batched.body);
            let page_rows: u64 = friends.values().map(|ids| ids.len().min(6) as u64).sum();
            assert_eq!(page_rows, 525);
            assert_eq!(batched.sql_rows(), 100 + page_rows);
            let stats = &batched.body["extensions"]["dataloader"]["friendPages"];
            assert_eq!((&stats["batches"], &stats["keys"]), (&json!(1), &json!(100)));
            // Naively, one statement per user, for the same answer.
            assert_eq!(naive.assert_ok().sql_queries(), 101);
            assert_eq!(naive.sql_rows(), 100 + page_rows);
            assert_eq!(batched.data(), naive.data());
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn a_user_with_10000_friends_costs_six_rows_for_a_page_of_five() {
            let demo = Demo::start($backend).await;
            demo.execute(
                "WITH RECURSIVE n (i) AS (SELECT 1001 UNION ALL SELECT i + 1 FROM n WHERE i < 11000) \
                 INSERT INTO users (id, name) SELECT i, 'Friend ' || i FROM n",
            )
            .await;
            demo.execute("INSERT INTO friendships (user_id, friend_id) SELECT 1, id FROM users WHERE id > 1000")
                .await;

            let (ids, reply) = page(&demo, 1, 5, None).await;
            assert_eq!(ids, [14, 27, 40, 53, 66]);
            assert_eq!(connection(&reply)["pageInfo"]["hasNextPage"], true);
            // The user, then 6 of their 10 005 friends.
            assert_eq!((reply.sql_queries(), reply.sql_rows()), (2, 1 + 6), "{}", reply.body);

            let last = connection(&reply)["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
            let (ids, reply) = page(&demo, 1, 5, Some(&last)).await;
            assert_eq!(ids, [1001, 1002, 1003, 1004, 1005]);
            assert_eq!((reply.sql_queries(), reply.sql_rows()), (2, 1 + 6), "{}", reply.body);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn paging_with_after_sees_every_friend_once_while_friendships_are_inserted() {
            let demo = Demo::start($backend).await;
            let user: Id = 1;
            let mut friends: BTreeSet<Id> = seeded_friends()[&user].iter().copied().collect();
            let mut expected = friends.clone();
            let mut seen: Vec<Id> = Vec::new();
            let mut after: Option<String> = None;
            for round in 0.. {
                let (ids, reply) = page(&demo, user, 2, after.as_deref()).await;
                let info = &connection(&reply)["pageInfo"];
                assert!(ids.len() <= 2, "round {round}: {ids:?}");
                assert_eq!(info["hasPreviousPage"], round > 0);
                assert_eq!(reply.sql_queries(), 2);
                assert!(reply.sql_rows() <= 1 + 3, "{}", reply.body);
                seen.extend(&ids);
                if info["hasNextPage"] == false {
                    break;
                }
                let last = *ids.last().unwrap();
                // Just before the cursor: an offset would now show the cursor's friend again;
                // a keyset never shows the new one.
                let before = (1..last).rev().find(|id| *id != user && !friends.contains(id)).unwrap();
                // Just after it: still to come, so a later page must show it.
                let later = (last + 1..).find(|id| !friends.contains(id)).unwrap();
                for friend in [before, later] {
                    demo.execute(&format!(
                        "INSERT INTO friendships (user_id, friend_id) VALUES ({user}, {friend})"
                    ))
                    .await;
                    friends.insert(friend);
                }
                expected.insert(later);
                after = Some(info["endCursor"].as_str().unwrap().to_owned());
            }
            assert!(seen.len() >= 8, "{seen:?}");
            assert_eq!(seen, expected.into_iter().collect::<Vec<_>>());
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn friends_and_friends_connection_share_one_page_of_the_same_loader() {
            let demo = Demo::start($backend).await;
            let query = "{ user(id: 1) { friends(first: 2) { name } \
                         friendsConnection(first: 2) { edges { node { name } } } } }";
            let reply = demo.query(Mode::Batched, query, None).await;
            let user = &reply.assert_ok().data()["user"];
            let names = json!([{ "name": name(14) }, { "name": name(27) }]);
            assert_eq!(user["friends"], names);
            let nodes: Vec<&Value> = user["friendsConnection"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
            assert_eq!(json!(nodes), names);
            assert_eq!(reply.sql_queries(), 2);
            let stats = &reply.body["extensions"]["dataloader"]["friendPages"];
            // Two loads of one key in one frame: one key sent, once.
            assert_eq!((&stats["loads"], &stats["batches"], &stats["keys"]), (&json!(2), &json!(1), &json!(1)));
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn pages_of_different_sizes_in_one_level_are_one_batch_of_one_statement_each() {
            let demo = Demo::start($backend).await;
            let query = "{ a: user(id: 1) { friendsConnection(first: 2) { edges { node { id } } } } \
                         b: user(id: 2) { friendsConnection(first: 3) { edges { node { id } } } } \
                         c: user(id: 3) { friendsConnection(first: 2) { edges { node { id } } } } }";
            let reply = demo.query(Mode::Batched, query, None).await;
            let count = |alias: &str| reply.data()[alias]["friendsConnection"]["edges"].as_array().unwrap().len();
            assert_eq!((count("a"), count("b"), count("c")), (2, 3, 2), "{}", reply.body);
            // The users, then one statement for `first: 2` (users 1 and 3) and one for `first: 3`.
            assert_eq!(reply.assert_ok().sql_queries(), 3);
            assert_eq!(reply.body["extensions"]["dataloader"]["friendPages"]["batches"], 1);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn bad_page_arguments_are_errors_that_say_why_and_fetch_no_page() {
            let demo = Demo::start($backend).await;
            let not_a_number = Cursor::new("ada").to_string();
            for (arguments, says) in [
                ("first: -1".to_owned(), "`first` cannot be negative, got -1"),
                ("first: 101".to_owned(), "`first` can be at most 100, got 101"),
                ("first: 2, after: \"zz\"".to_owned(), "`after` is not a cursor of friendsConnection: \"zz\""),
                (format!("after: \"{not_a_number}\""), "`after` is not a cursor of friendsConnection"),
            ] {
                let query = format!("{{ user(id: 1) {{ friendsConnection({arguments}) {{ edges {{ cursor }} }} }} }}");
                let reply = demo.query(Mode::Batched, &query, None).await;
                assert!(reply.errors().iter().any(|e| e.contains(says)), "{arguments}: {}", reply.body);
                assert_eq!(reply.data()["user"], Value::Null, "{arguments}");
                assert_eq!(reply.sql_queries(), 1, "{arguments}: only the user");
            }
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn a_page_per_user_costs_its_size_in_complexity() {
            let demo = Demo::start($backend).await;
            // 100 users × 100 friends: refused before it runs, as `friends` would be.
            let query = "{ users { friendsConnection(first: 100) { edges { node { name } } } } }";
            demo.query(Mode::Batched, query, None).await.assert_refused(400, "too complex");
            // 100 users × 10 friends × (name, hasNextPage): 2000, within the limit.
            let query = "{ users { friendsConnection { edges { node { name } } pageInfo { hasNextPage } } } }";
            let reply = demo.query(Mode::Batched, query, None).await;
            assert_eq!(reply.assert_ok().sql_queries(), 2);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn a_batch_larger_than_sqlite_can_bind_is_split_into_statements() {
            let demo = Demo::start($backend).await;
            let queries = demo.db.request_store();
            let users: Vec<Id> = (1..=40_000).collect();
            let args = coalesce_loader::page::PageArgs::first(1);
            let rows = queries.friend_pages(&users, &args).await.unwrap();
            // At most 2 friends of each of the 100 users that exist, the first 2 in id order.
            let friends = seeded_friends();
            let expected: Vec<(Id, Id)> = (1..=100).flat_map(|u| friends[&u][..2].iter().map(move |&f| (u, f))).collect();
            let got: Vec<(Id, Id)> = rows.iter().map(|(user, friend)| (*user, friend.id)).collect();
            assert_eq!(got, expected);
            // SQLite binds 32 766 parameters at most; PostgreSQL binds the ids as one array.
            let statements = if matches!($backend, Backend::Sqlite) { 2 } else { 1 };
            assert_eq!(queries.count(), statements);
            assert_eq!(queries.rows(), 200);
        }
    };
}

mod sqlite {
    friend_pages!(crate::support::Backend::Sqlite);
}

mod postgres {
    friend_pages!(
        crate::support::Backend::Postgres,
        #[ignore = "needs DATABASE_URL (PostgreSQL)"]
    );
}
