//! The per-request registry of loaders.

mod common;

use coalesce_loader::{DataLoader, Loaders};
use common::{Calls, Echo};

struct Names;
impl coalesce_loader::Loader for Names {
    type Key = u64;
    type Output = Vec<Result<String, std::convert::Infallible>>;
    type Error = std::convert::Infallible;
    async fn load_batch(&self, keys: &[u64]) -> Result<Self::Output, Self::Error> {
        Ok(keys.iter().map(|k| Ok(format!("name {k}"))).collect())
    }
}

#[test]
fn loaders_are_found_by_their_batch_function_type() {
    let loaders = Loaders::new()
        .with(DataLoader::new(Echo {
            calls: Calls::default(),
        }))
        .with(DataLoader::new(Names));
    futures::executor::block_on(async {
        assert_eq!(loaders.get::<Echo>().unwrap().load(4).await.unwrap(), 40);
        assert_eq!(
            loaders.get::<Names>().unwrap().load(4).await.unwrap(),
            "name 4"
        );
    });
}

#[test]
fn a_missing_loader_is_an_error_that_names_it() {
    let loaders = Loaders::new().with(DataLoader::new(Names));
    let err = loaders.get::<Echo>().unwrap_err();
    assert!(err.to_string().contains("common::Echo"), "{err}");
}

#[test]
fn inserting_a_loader_of_the_same_type_replaces_and_returns_the_old_one() {
    let mut loaders = Loaders::new();
    assert!(
        loaders
            .insert(DataLoader::builder(Names).name("first").build())
            .is_none()
    );
    let old = loaders
        .insert(DataLoader::builder(Names).name("second").build())
        .unwrap();
    assert_eq!(old.name(), "first");
    assert_eq!(loaders.get::<Names>().unwrap().name(), "second");
}

#[test]
fn registry_stats_name_every_loader() {
    let loaders = Loaders::new()
        .with(
            DataLoader::builder(Echo {
                calls: Calls::default(),
            })
            .name("echo")
            .build(),
        )
        .with(DataLoader::builder(Names).name("names").build());
    futures::executor::block_on(loaders.get::<Echo>().unwrap().load_many([1, 2, 3]));
    let stats = loaders.stats();
    assert_eq!(
        stats.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        ["echo", "names"]
    );
    assert_eq!((stats[0].1.batches, stats[0].1.keys), (1, 3));
    assert_eq!(stats[1].1.loads, 0);
}
