//! With the `tracing` feature, each batch has a span in the GraphQL OpenTelemetry conventions:
//! linked to the span of every load that joined it, with its size, its de-duplicated and
//! memo-answered loads and why it was sent; a failed batch and a run of single-key batches (an
//! N+1) log warnings.
#![cfg(feature = "tracing")]

mod common;

use std::sync::{Mutex, MutexGuard, PoisonError};

use coalesce_loader::{DataLoader, Schedule};
use coalesce_testkit::{SpanIndex, SpanRecorder};
use common::{Calls, Echo, load_one_by_one};
use tracing::Instrument;

fn users() -> DataLoader<Echo> {
    DataLoader::builder(Echo {
        calls: Calls::default(),
    })
    .name("users")
    .build()
}

/// Holds the tests of this file to one at a time. tracing caches each callsite's interest
/// globally, and a callsite first reached on one thread while another thread installs its
/// scoped subscriber can cache "never" for that subscriber: the test then sees no span at all.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` with a recorder as the thread's subscriber; returns the recorder.
fn recorded(f: impl FnOnce()) -> SpanRecorder {
    let recorder = SpanRecorder::default();
    tracing::subscriber::with_default(recorder.clone(), f);
    recorder
}

fn the_batch(recorder: &SpanRecorder) -> SpanIndex {
    let batches = recorder.named("coalesce.batch");
    assert_eq!(batches.len(), 1, "one batch span");
    batches[0]
}

#[test]
fn a_batch_span_carries_the_graphql_dataloader_attributes() {
    let _serial = one_at_a_time();
    let loader = users();
    let recorder = recorded(|| {
        futures::executor::block_on(loader.load_many([1, 2, 3]));
    });
    let batch = the_batch(&recorder);
    let field = |name| recorder.field(batch, name);
    assert_eq!(
        field("otel.name").as_deref(),
        Some("GraphQL DataLoader Batch users")
    );
    assert_eq!(
        field("graphql.processing.type").as_deref(),
        Some("dataloader_batch")
    );
    assert_eq!(field("graphql.dataloader.name").as_deref(), Some("users"));
    assert_eq!(field("graphql.dataloader.batch.size").as_deref(), Some("3"));
    assert_eq!(field("coalesce.batch.reason").as_deref(), Some("frame"));
}

#[test]
fn a_batch_span_links_the_span_of_each_load_that_joined_it() {
    let _serial = one_at_a_time();
    let loader = users();
    futures::executor::block_on(loader.load(1)).unwrap(); // memoized before the recording
    let recorder = recorded(|| {
        let first = tracing::info_span!("resolver", n = 1);
        let second = tracing::info_span!("resolver", n = 2);
        let third = tracing::info_span!("resolver", n = 3);
        let answers = futures::executor::block_on(async {
            futures::join!(
                async { loader.load(2).await }.instrument(first.clone()),
                // The same key again: de-duplicated, but its resolver is linked too.
                async { loader.load(2).await }.instrument(second),
                async { loader.load(3).await }.instrument(third),
                // A memo hit while the batch collects: answered at once, it joins no batch.
                async { loader.load(1).await }.instrument(first),
            )
        });
        assert_eq!(
            (
                answers.0.unwrap(),
                answers.1.unwrap(),
                answers.2.unwrap(),
                answers.3.unwrap()
            ),
            (20, 20, 30, 10)
        );
    });
    let batch = the_batch(&recorder);
    let resolvers = recorder.named("resolver");
    assert_eq!(recorder.follows(batch), resolvers);
    assert_eq!(
        recorder
            .field(batch, "graphql.dataloader.batch.size")
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        recorder
            .field(batch, "coalesce.batch.deduplicated")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        recorder
            .field(batch, "graphql.dataloader.cache.hit_count")
            .as_deref(),
        Some("1")
    );
}

#[test]
fn loads_made_one_after_the_other_under_one_span_give_one_link() {
    let _serial = one_at_a_time();
    let loader = users();
    let recorder = recorded(|| {
        let resolver = tracing::info_span!("resolver");
        let values = futures::executor::block_on(
            async { futures::join!(loader.load(1), loader.load(2), loader.load(3)) }
                .instrument(resolver),
        );
        assert_eq!(
            (values.0.unwrap(), values.1.unwrap(), values.2.unwrap()),
            (10, 20, 30)
        );
    });
    assert_eq!(
        recorder.follows(the_batch(&recorder)),
        recorder.named("resolver")
    );
}

#[test]
fn a_batch_span_says_why_the_batch_was_sent() {
    let _serial = one_at_a_time();
    let reason = |loader: DataLoader<Echo>, run: &dyn Fn(&DataLoader<Echo>)| {
        let recorder = recorded(|| run(&loader));
        recorder.field(the_batch(&recorder), "coalesce.batch.reason")
    };
    let full = DataLoader::builder(Echo {
        calls: Calls::default(),
    })
    .max_batch_size(2)
    .build();
    assert_eq!(
        reason(full, &|l| drop(futures::executor::block_on(
            l.load_many([1, 2])
        )))
        .as_deref(),
        Some("max_batch_size")
    );
    let manual = DataLoader::builder(Echo {
        calls: Calls::default(),
    })
    .schedule(Schedule::Manual)
    .build();
    let dispatched = reason(manual, &|l| {
        let load = l.load(1);
        l.dispatch();
        futures::executor::block_on(load).unwrap();
    });
    assert_eq!(dispatched.as_deref(), Some("dispatch"));
    let primed = reason(users(), &|l| {
        let load = l.load(1);
        l.prime(1, 10);
        futures::executor::block_on(load).unwrap();
    });
    assert_eq!(primed.as_deref(), Some("primed"));
}

#[test]
fn a_failed_batch_logs_a_warning_and_marks_its_span() {
    let _serial = one_at_a_time();
    let loader = DataLoader::builder(coalesce_loader::from_fn(|_: Vec<u64>| async move {
        Err::<Vec<Result<u64, common::TestError>>, _>(common::TestError("down".into()))
    }))
    .name("users")
    .build();
    let recorder = recorded(|| {
        let _ = futures::executor::block_on(loader.load(1));
    });
    let events = recorder.events();
    assert!(
        events.iter().any(|l| l.starts_with("WARN")
            && l.contains("loader=users")
            && l.contains("failure=error")),
        "{events:?}"
    );
    let batch = the_batch(&recorder);
    assert_eq!(
        recorder.field(batch, "error.type").as_deref(),
        Some("error")
    );
    assert_eq!(
        recorder.field(batch, "otel.status_code").as_deref(),
        Some("error")
    );
}

#[test]
fn loads_awaited_one_by_one_log_one_n_plus_one_warning() {
    let _serial = one_at_a_time();
    let loader = users();
    let recorder = recorded(|| load_one_by_one(&loader, 0..25));
    let warnings: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.starts_with("WARN") && e.contains("N+1"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("loader=users"), "{warnings:?}");
    assert!(warnings[0].contains("batches=10"), "{warnings:?}");
}
