//! `renameUser` under concurrent renames of one user: each answers the name it wrote.

mod support;

use coalesce_demo::{App, Database, Mode};
use futures_util::future::join_all;
use support::{Backend, Demo, TempFile, post_query, spawn};

/// Renames sent at once, all of user 1.
const RENAMES: usize = 200;

async fn every_concurrent_rename_answers_its_own_name(app: App) {
    let url = spawn(app).await;
    let client = reqwest::Client::new();
    let renames = (0..RENAMES).map(|writer| {
        let (client, url) = (&client, &url);
        async move {
            let name = format!("Writer {writer}");
            let mutation =
                format!(r#"mutation {{ renameUser(id: 1, name: "{name}") {{ name }} }}"#);
            let reply = post_query(client, url, &mutation, None).await;
            (name, reply.assert_ok().data()["renameUser"]["name"].clone())
        }
    });
    let wrong: Vec<_> = join_all(renames)
        .await
        .into_iter()
        .filter(|(name, answered)| answered != name.as_str())
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {RENAMES} renames answered another writer's name, such as {:?}",
        wrong.len(),
        wrong.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renames_each_answer_their_own_name_on_sqlite() {
    for mode in [Mode::Batched, Mode::Naive] {
        let db = Database::open(None).await.expect("open SQLite");
        every_concurrent_rename_answers_its_own_name(App::new(db, mode)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renames_each_answer_their_own_name_on_a_sqlite_file() {
    let file = TempFile::new("renames.db");
    let db = Database::open(Some(&file.url()))
        .await
        .expect("open SQLite");
    every_concurrent_rename_answers_its_own_name(App::new(db, Mode::Batched)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATABASE_URL (PostgreSQL)"]
async fn concurrent_renames_each_answer_their_own_name_on_postgres() {
    let demo = Demo::start(Backend::Postgres).await;
    every_concurrent_rename_answers_its_own_name(App::new(demo.db.clone(), Mode::Batched)).await;
}
