//! The seeds' queries over HTTP, batched and naive, on SQLite and (with `DATABASE_URL`) on
//! PostgreSQL: the data each returns, and the SQL statements each costs.

mod support;

/// The same tests for each database.
macro_rules! seed_queries {
    ($backend:expr $(, #[$ignore:meta])?) => {
        use coalesce_demo::Mode;
        use serde_json::json;

        use crate::support::Demo;

        const MESSAGES: &str = "{ messages { id message poster { id name } } }";

        #[tokio::test]
        $(#[$ignore])?
        async fn messages_query_costs_two_sql_queries_and_21_naive() {
            let demo = Demo::start($backend).await;
            let (batched, naive) = demo.both(MESSAGES, None).await;
            assert_eq!(batched.assert_ok().sql_queries(), 2);
            assert_eq!(naive.assert_ok().sql_queries(), 21);
            assert_eq!(batched.data(), naive.data());
            let messages = batched.data()["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 20);
            assert_eq!(
                messages[1],
                json!({
                    "id": "2",
                    "message": "Has anyone seen my keys? (#2)",
                    "poster": { "id": "8", "name": "John Lovelace" },
                })
            );
            assert!(messages.iter().all(|m| m["poster"]["name"].is_string()));
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn each_request_starts_with_fresh_loaders() {
            let demo = Demo::start($backend).await;
            demo.query(Mode::Batched, MESSAGES, None).await.assert_ok();
            let again = demo.query(Mode::Batched, MESSAGES, None).await;
            assert_eq!(again.assert_ok().sql_queries(), 2);
            assert_eq!(again.body["extensions"]["dataloader"]["users"]["cacheHits"], 0);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn bands_query_costs_two_sql_queries_and_101_naive() {
            let demo = Demo::start($backend).await;
            let (batched, naive) = demo.both("{ bands { name albums { title } } }", None).await;
            assert_eq!(batched.assert_ok().sql_queries(), 2);
            assert_eq!(naive.assert_ok().sql_queries(), 101);
            assert_eq!(batched.data(), naive.data());
            let bands = batched.data()["bands"].as_array().unwrap();
            assert_eq!(bands.len(), 100);
            assert_eq!(
                bands[0],
                json!({
                    "name": "The Quiet Foxes",
                    "albums": [{ "title": "Static I" }, { "title": "Harbor II" }],
                })
            );
            assert!(bands.iter().all(|b| (1..=3).contains(&b["albums"].as_array().unwrap().len())));
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn two_aliased_users_cost_one_sql_query() {
            let demo = Demo::start($backend).await;
            let query = "{ first: user(id: 1) { id } second: user(id: 2) { id } }";
            let (batched, naive) = demo.both(query, None).await;
            assert_eq!(batched.assert_ok().sql_queries(), 1);
            assert_eq!(naive.assert_ok().sql_queries(), 2);
            assert_eq!(
                *batched.data(),
                json!({ "first": { "id": "1" }, "second": { "id": "2" } })
            );
            assert_eq!(batched.data(), naive.data());
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn me_with_friends_costs_at_most_four_sql_queries_and_13_naive() {
            let demo = Demo::start($backend).await;
            let query = "{ me { bestFriend { name } friends(first: 5) { bestFriend { name } } } }";
            let (batched, naive) = demo.both(query, Some("1")).await;
            assert!(batched.assert_ok().sql_queries() <= 4, "{}", batched.body);
            assert_eq!(naive.assert_ok().sql_queries(), 13);
            assert_eq!(batched.data(), naive.data());
            assert_eq!(batched.data()["me"]["bestFriend"]["name"], "John Dijkstra");
            assert_eq!(batched.data()["me"]["friends"].as_array().unwrap().len(), 5);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn me_is_whoever_the_header_names_and_null_without_it() {
            let demo = Demo::start($backend).await;
            let named = demo.query(Mode::Batched, "{ me { id name } }", Some("2")).await;
            assert_eq!(
                *named.assert_ok().data(),
                json!({ "me": { "id": "2", "name": "Grace Lovelace" } })
            );
            let anonymous = demo.query(Mode::Batched, "{ me { id } }", None).await;
            assert_eq!(*anonymous.assert_ok().data(), json!({ "me": null }));
            assert_eq!(anonymous.sql_queries(), 0);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn users_list_primes_the_user_loader_so_best_friends_cost_nothing() {
            let demo = Demo::start($backend).await;
            let (batched, naive) = demo.both("{ users { id bestFriend { name } } }", None).await;
            assert_eq!(batched.assert_ok().sql_queries(), 1);
            assert_eq!(naive.assert_ok().sql_queries(), 101);
            assert_eq!(batched.data(), naive.data());
            assert_eq!(batched.body["extensions"]["dataloader"]["users"]["batches"], 0);
            assert_eq!(batched.body["extensions"]["dataloader"]["users"]["cacheHits"], 100);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn friends_of_all_users_cost_the_list_and_one_friendship_lookup() {
            let demo = Demo::start($backend).await;
            let (batched, naive) = demo.both("{ users { friends { name } } }", None).await;
            assert_eq!(batched.assert_ok().sql_queries(), 2);
            assert!(naive.assert_ok().sql_queries() > 100);
            assert_eq!(batched.data(), naive.data());
            let friends = &batched.data()["users"][0]["friends"];
            assert_eq!(friends.as_array().unwrap().len(), 5);
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn albums_band_comes_from_the_primed_band_loader() {
            let demo = Demo::start($backend).await;
            let query = "{ bands { id albums { band { id } } } }";
            let (batched, naive) = demo.both(query, None).await;
            assert_eq!(batched.assert_ok().sql_queries(), 2);
            assert_eq!(batched.data(), naive.data());
            let band = &batched.data()["bands"][41];
            assert!(band["albums"].as_array().unwrap().iter().all(|a| a["band"]["id"] == band["id"]));
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn a_users_messages_cost_one_batched_query_for_all_users() {
            let demo = Demo::start($backend).await;
            let (batched, naive) = demo.both("{ users { messages { id } } }", None).await;
            assert_eq!(batched.assert_ok().sql_queries(), 2);
            assert_eq!(naive.assert_ok().sql_queries(), 101);
            assert_eq!(batched.data(), naive.data());
            assert_eq!(batched.data()["users"][0]["messages"], json!([{ "id": "1" }, { "id": "13" }]));
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn rename_clears_the_user_so_a_later_load_in_the_request_sees_the_new_name() {
            let demo = Demo::start($backend).await;
            // The first rename memoizes user 3 as "Grace"; the second must replace it.
            let mutation = r#"mutation {
                first: renameUser(id: 3, name: "Grace") { name }
                second: renameUser(id: 3, name: "Edsger") { name }
            }"#;
            for mode in [Mode::Batched, Mode::Naive] {
                let renamed = demo.query(mode, mutation, None).await;
                assert_eq!(
                    *renamed.assert_ok().data(),
                    json!({ "first": { "name": "Grace" }, "second": { "name": "Edsger" } })
                );
                // One `UPDATE … RETURNING` per rename: the answer is the row it wrote.
                assert_eq!(renamed.sql_queries(), 2);
            }
            let later = demo.query(Mode::Batched, "{ user(id: 3) { name } }", None).await;
            assert_eq!(later.assert_ok().data()["user"]["name"], "Edsger");
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn rename_reaches_friend_lists_loaded_earlier_in_the_request() {
            let demo = Demo::start($backend).await;
            // User 14 is user 1's first friend.
            let mutation = r#"mutation {
                before: renameUser(id: 1, name: "Ada") { friends(first: 1) { name } }
                rename: renameUser(id: 14, name: "Renamed") { id }
                after: renameUser(id: 1, name: "Ada") { friends(first: 1) { name } }
            }"#;
            let renamed = demo.query(Mode::Batched, mutation, None).await;
            assert_eq!(renamed.assert_ok().data()["before"]["friends"][0]["name"], "Edsger Hopper");
            assert_eq!(renamed.data()["after"]["friends"][0]["name"], "Renamed");
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn message_without_poster_resolves_to_null_with_no_query() {
            let demo = Demo::start($backend).await;
            demo.execute("INSERT INTO messages (id, message, poster_id) VALUES (21, 'anonymous', NULL)")
                .await;
            let (batched, naive) = demo.both(MESSAGES, None).await;
            // Still 2 and 21: the anonymous message's poster costs nothing.
            assert_eq!(batched.assert_ok().sql_queries(), 2);
            assert_eq!(naive.assert_ok().sql_queries(), 21);
            assert_eq!(
                batched.data()["messages"][20],
                json!({ "id": "21", "message": "anonymous", "poster": null })
            );
            assert_eq!(batched.data(), naive.data());
        }

        #[tokio::test]
        $(#[$ignore])?
        async fn missing_user_is_null() {
            let demo = Demo::start($backend).await;
            let (batched, naive) = demo.both("{ user(id: 1000) { id } }", None).await;
            assert_eq!(*batched.assert_ok().data(), json!({ "user": null }));
            assert_eq!(*naive.assert_ok().data(), json!({ "user": null }));
        }
    };
}

mod sqlite {
    seed_queries!(crate::support::Backend::Sqlite);
}

mod postgres {
    seed_queries!(
        crate::support::Backend::Postgres,
        #[ignore = "needs DATABASE_URL (PostgreSQL)"]
    );
}
