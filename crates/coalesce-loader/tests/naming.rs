//! Every loader has a type a user can write down: as a struct field, a `Loaders` entry and a
//! function's return type, whatever built it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coalesce_loader::{Builder, DataLoader, FnLoader, Loader, Loaders};
use futures::executor::block_on;

#[derive(Clone, Debug, PartialEq)]
struct User {
    id: u64,
}

struct UserLoader;

impl Loader for UserLoader {
    type Key = u64;
    type Output = Vec<Result<User, Infallible>>;
    type Error = Infallible;
    async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Infallible> {
        Ok(ids.iter().map(|&id| Ok(User { id })).collect())
    }
}

/// A closure loader, by its key, batch shape and error.
type Doubles = FnLoader<u64, Vec<Result<u64, Infallible>>, Infallible>;

/// A closure loader of names, memoized by their lowercase form.
type NameLengths = FnLoader<String, Vec<Result<usize, Infallible>>, Infallible>;

/// A request's loaders as fields: a struct loader, a closure loader, one with a cache key.
struct RequestLoaders {
    users: DataLoader<UserLoader>,
    doubles: DataLoader<Doubles>,
    users_by_name: DataLoader<NameLengths, Box<str>>,
}

fn doubles() -> DataLoader<Doubles> {
    DataLoader::new(coalesce_loader::from_fn(|keys: Vec<u64>| async move {
        Ok(keys.iter().map(|k| Ok(k * 2)).collect())
    }))
}

fn request_loaders() -> RequestLoaders {
    RequestLoaders {
        users: DataLoader::new(UserLoader),
        doubles: doubles(),
        users_by_name: Builder::with_cache_key(
            coalesce_loader::from_fn(|names: Vec<String>| async move {
                Ok(names.iter().map(|n| Ok(n.len())).collect())
            }),
            |name: &String| name.to_lowercase().into_boxed_str(),
        )
        .build(),
    }
}

#[test]
fn loaders_of_every_kind_are_struct_fields() {
    let loaders = request_loaders();
    block_on(async {
        assert_eq!(loaders.users.load(1).await.unwrap(), User { id: 1 });
        assert_eq!(loaders.doubles.load(2).await.unwrap(), 4);
        let (a, b) = futures::join!(
            loaders.users_by_name.load("Ada".into()),
            loaders.users_by_name.load("ADA".into())
        );
        assert_eq!((a.unwrap(), b.unwrap()), (3, 3));
    });
    assert_eq!(loaders.users_by_name.stats().keys, 1, "one cache key");
}

#[test]
fn loaders_finds_every_loader_it_was_given_and_its_clones_share_them() {
    let RequestLoaders {
        users,
        doubles,
        users_by_name,
    } = request_loaders();
    let loaders = Loaders::new().with(users).with(doubles).with(users_by_name);
    let context = loaders.clone();
    block_on(async {
        context.get::<UserLoader>().unwrap().load(1).await.unwrap();
        context.get::<Doubles>().unwrap().load(1).await.unwrap();
        context
            .get_keyed::<NameLengths, Box<str>>()
            .unwrap()
            .load("x".into())
            .await
            .unwrap();
    });
    let stats = loaders.stats();
    assert_eq!(stats.len(), 3);
    assert!(stats.iter().all(|(_, s)| s.batches == 1), "{stats:?}");
}

#[test]
fn unnamed_loaders_read_well_in_messages() {
    assert_eq!(DataLoader::new(UserLoader).name(), "UserLoader");
    async fn load_users(ids: Vec<u64>) -> Result<Vec<Result<u64, Infallible>>, Infallible> {
        Ok(ids.into_iter().map(Ok).collect())
    }
    assert_eq!(
        DataLoader::new(coalesce_loader::from_fn(load_users)).name(),
        "load_users"
    );
    assert_eq!(doubles().name(), "doubles::{{closure}}");
}

/// A loader that counts how often it is asked for its name.
struct AskedForItsName(Arc<AtomicUsize>);

impl Loader for AskedForItsName {
    type Key = u64;
    type Output = Vec<Result<u64, Infallible>>;
    type Error = Infallible;
    async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, Infallible> {
        Ok(keys.iter().map(|&k| Ok(k + 1)).collect())
    }
    fn name(&self) -> &str {
        self.0.fetch_add(1, Ordering::Relaxed);
        "asked"
    }
}

/// Working a loader's name out costs a search through its type's path and an allocation, and
/// most loaders are built per request and never need it: not for batches nobody traces (with the
/// `tracing` feature and no subscriber, as here), not for a success. Asked for, it is worked out
/// once.
#[test]
fn a_loader_nobody_traces_or_names_never_works_its_name_out() {
    let asked = Arc::new(AtomicUsize::new(0));
    let loader = DataLoader::new(AskedForItsName(Arc::clone(&asked)));
    block_on(async {
        let (a, b) = futures::join!(loader.load(1), loader.load(2));
        let c = loader.load(a.unwrap() + b.unwrap()).await;
        assert_eq!(c.unwrap(), 6);
    });
    assert_eq!(loader.stats().batches, 2);
    assert_eq!(asked.load(Ordering::Relaxed), 0);
    assert_eq!((loader.name(), loader.name()), ("asked", "asked"));
    assert_eq!(asked.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_loader_can_be_moved_into_a_spawned_task() {
    let loader = doubles();
    let task = tokio::spawn(async move { loader.load(21).await });
    assert_eq!(task.await.unwrap().unwrap(), 42);
}

#[test]
#[should_panic(expected = "max_batch_size(0)")]
fn a_batch_size_of_zero_is_refused_where_the_loader_is_built() {
    let _ = DataLoader::builder(UserLoader).max_batch_size(0);
}
