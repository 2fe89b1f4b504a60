//! Scenario 6: async-graphql executing the seeds' queries over an in-memory source, its fields
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

    /// The `data` of a correct answer, built from the seeds without a loader.
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

            // One untimed request, checked in full: the timed ones only check for errors.
            let first = execute().await;
            assert!(first.errors.is_empty(), "{:?}", first.errors);
            assert_eq!(first.data.into_json().ok(), Some(query.expected()));
            let checked = users.calls() + albums.calls();

            let mut meter = Meter::default();
            for _ in 0..rounds {
                let start = Meter::start();
                let response = execute().await;
                meter.stop(start);
                assert!(response.errors.is_empty(), "{:?}", response.errors);
            }
            meter.finish(rounds, 1, users.calls() + albums.calls() - checked)
        })
    }
}
