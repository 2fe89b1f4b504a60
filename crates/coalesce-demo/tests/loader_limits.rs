//! Batches larger than a statement can take.

use coalesce_demo::loaders::{self, UserLoader};
use coalesce_demo::{Database, database::SQLITE_MAX_PARAMETERS};

#[tokio::test]
async fn load_many_beyond_sqlites_parameter_limit_is_split_and_answered() {
    let store = Database::open(None).await.unwrap().request_store();
    let loaders = loaders::per_request(&store, None);
    let users = loaders.get::<UserLoader>().unwrap();
    let ids = 1..=(SQLITE_MAX_PARAMETERS as i64 + 1);

    let loaded = users.load_many(ids.clone()).await;

    assert_eq!(loaded.len(), ids.clone().count());
    for (id, user) in ids.zip(loaded) {
        let user = user.unwrap_or_else(|e| panic!("user {id}: {e}"));
        assert_eq!(user.map(|u| u.id), (id <= 100).then_some(id));
    }
    assert_eq!(users.stats().batches, 2);
    assert_eq!(users.stats().largest_batch, SQLITE_MAX_PARAMETERS as u64);
    assert_eq!(store.count(), 2);
}
