//! Scenario 6: async-graphql executing the demo's queries over an in-memory source, its fields
//! following keys through each library's loaders in turn.
//!
//! What a request costs end to end in the executor: parsing, validation, resolving and
//! serializing are the same for every library, so the differences are the loaders' (and
//! async-graphql's delay, when its own loader waits for one).

mod data;
mod schema;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Request;
use coalesce_demo::model::{self, Id};
use coalesce_demo::seed;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use self::data::{AlbumsByBand, Lists, Users};
use self::schema::{Fetch, RequestFetch};
use crate::dataset::BatchFn;
use crate::library::Library;
use crate::scenario::{Meter, Run, Scenario, on_worker};
use crate::verify::{Verdicts, excerpt};

/// The seeds' list queries: one level of list, one key followed per item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedQuery {
    /// 20 messages with their posters: 12 distinct users, 1 batch.
    Messages,
    /// 100 bands with their albums: 100 keys, 1 batch.
    Bands,
}

impl SeedQuery {
    /// Both queries.
    pub const ALL: [SeedQuery; 2] = [SeedQuery::Messages, SeedQuery::Bands];

    /// The GraphQL document.
    pub fn document(self) -> &'static str {
        match self {
            SeedQuery::Messages => "{ messages { id message poster { id name } } }",
            SeedQuery::Bands => "{ bands { name albums { title } } }",
        }
    }

    /// Its short name, for the table.
    pub fn name(self) -> &'static str {
        match self {
            SeedQuery::Messages => "messages",
            SeedQuery::Bands => "bands",
        }
    }

    /// The `data` of a correct answer, built from the data without a loader.
    pub fn expected(self) -> Value {
        match self {
            SeedQuery::Messages => {
                let users: HashMap<Id, model::User> =
                    seed::users().into_iter().map(|u| (u.id, u)).collect();
                let messages: Vec<Value> = seed::messages()
                    .into_iter()
                    .map(|m| {
                        let poster = m
                            .poster_id
                            .map(|id| json!({ "id": id.to_string(), "name": users[&id].name }));
                        json!({ "id": m.id.to_string(), "message": m.message, "poster": poster })
                    })
                    .collect();
                json!({ "messages": messages })
            }
            SeedQuery::Bands => {
                let albums = seed::albums();
                let bands: Vec<Value> = seed::bands()
                    .into_iter()
                    .map(|b| {
                        let titles: Vec<Value> = albums
                            .iter()
                            .filter(|a| a.band_id == b.id)
                            .map(|a| json!({ "title": a.title }))
                            .collect();
                        json!({ "name": b.name, "albums": titles })
                    })
                    .collect();
                json!({ "bands": bands })
            }
        }
    }
}

/// Requests of one [`SeedQuery`], one after the other (concurrency 1), each with fresh loaders.
#[derive(Clone, Copy, Debug)]
pub struct GraphqlQuery {
    /// The query every request runs.
    pub query: SeedQuery,
}

/// One request's loaders of library `L`.
struct Loaders<L: Library> {
    users: L::Handle<Users>,
    albums: L::Handle<AlbumsByBand>,
}

impl<L: Library> Fetch for Loaders<L> {
    fn user(&self, id: Id) -> BoxFuture<'_, Option<model::User>> {
        Box::pin(L::load(&self.users, id))
    }

    fn albums(&self, band: Id) -> BoxFuture<'_, Vec<model::Album>> {
        let load = L::load(&self.albums, band);
        Box::pin(async move { load.await.unwrap_or_default() })
    }
}

impl Scenario for GraphqlQuery {
    fn run<L: Library>(&self, library: L, rt: &Runtime, rounds: u64) -> Run {
        let query = self.query;
        on_worker(rt, async move {
            let users = BatchFn::new(Users::seeded());
            let albums = BatchFn::new(AlbumsByBand::seeded());
            let schema = schema::build(Lists::seeded());
            let execute = || {
                let fetch: RequestFetch = Arc::new(Loaders::<L> {
                    users: library.build(users.clone()),
                    albums: library.build(albums.clone()),
                });
                schema.execute(Request::new(query.document()).data(fetch))
            };

            // Checked as the seeds' JSON would be: async-graphql compares the values, not
            // their text.
            let expected = async_graphql::Value::from_json(query.expected())
                .expect("the expected data is a GraphQL value");
            let mut verdicts =
                Verdicts::new(format!("GraphQL `{}` with {library:?}", query.name()));
            // One untimed request on the fresh schema, checked like the others.
            verdicts.record(judge(execute().await, &expected));
            let untimed = users.calls() + albums.calls();

            let mut meter = Meter::default();
            for _ in 0..rounds {
                let start = Meter::start();
                let response = execute().await;
                meter.stop(start);
                verdicts.record(judge(response, &expected));
            }
            verdicts.assert_all_right();
            meter.finish(rounds, 1, users.calls() + albums.calls() - untimed)
        })
    }
}

/// `None` if `response` has no errors and `expected` as its data; else what is wrong with it.
fn judge(response: async_graphql::Response, expected: &async_graphql::Value) -> Option<String> {
    if !response.errors.is_empty() {
        let messages: Vec<&str> = response.errors.iter().map(|e| e.message.as_str()).collect();
        Some(format!("errors: {messages:?}"))
    } else if &response.data != expected {
        Some(format!(
            "other data: {}",
            excerpt(&response.data.to_string(), 300)
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::FutureExt;

    use super::*;
    use crate::dataset::Dataset;
    use crate::library::Coalesce;
    use crate::scenario;

    /// coalesce, except that loaders built after the first request's two find nothing: a
    /// library that answers the first request right and every later one wrong, without an
    /// error.
    #[derive(Clone, Copy, Debug)]
    struct ForgetsAfterTheFirstRequest(&'static AtomicUsize);

    impl Library for ForgetsAfterTheFirstRequest {
        type Handle<D: Dataset> = (bool, <Coalesce as Library>::Handle<D>);

        fn build<D: Dataset>(self, batch_fn: BatchFn<D>) -> Self::Handle<D> {
            let forgets = self.0.fetch_add(1, Ordering::Relaxed) >= 2;
            (forgets, Coalesce::default().build(batch_fn))
        }

        fn load<D: Dataset>(
            (forgets, handle): &Self::Handle<D>,
            key: D::Key,
        ) -> impl Future<Output = Option<D::Value>> + Send {
            let forgets = *forgets;
            Coalesce::load(handle, key).map(move |value| value.filter(|_| !forgets))
        }

        fn load_many<D: Dataset>(
            (_, handle): &Self::Handle<D>,
            keys: Vec<D::Key>,
        ) -> impl Future<Output = usize> + Send {
            Coalesce::load_many(handle, keys)
        }
    }

    #[test]
    fn a_wrong_answer_after_a_right_first_one_stops_the_graphql_scenario() {
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        let rt = scenario::runtime();
        let scenario = GraphqlQuery {
            query: SeedQuery::Messages,
        };
        let run = catch_unwind(AssertUnwindSafe(|| {
            scenario.run(ForgetsAfterTheFirstRequest(&BUILT), &rt, 5)
        }));
        let panic = run.expect_err("the run measured wrong answers");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.starts_with("GraphQL `messages` with ForgetsAfterTheFirstRequest")
                && message.contains(": 5 of 6 answers were wrong")
                && message.contains("other data: "),
            "{message}"
        );
    }
}
