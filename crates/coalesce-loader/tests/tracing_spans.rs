//! With the `tracing` feature, each batch runs in a `coalesce.batch` span naming its loader and
//! size, and a failed batch logs a warning.
#![cfg(feature = "tracing")]

mod common;

use std::sync::{Arc, Mutex};

use coalesce_loader::DataLoader;
use common::{Calls, Echo};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the fields of every span and event, as text.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!("event {}", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn each_batch_runs_in_a_span_with_loader_name_and_size() {
    let recorder = Recorder::default();
    let loader = DataLoader::builder(Echo {
        calls: Calls::default(),
    })
    .name("users")
    .build();
    tracing::subscriber::with_default(recorder.clone(), || {
        futures::executor::block_on(loader.load_many([1, 2, 3]));
    });
    assert_eq!(
        *recorder.0.lock().unwrap(),
        ["span coalesce.batch loader=users keys=3"]
    );
}

#[test]
fn a_failed_batch_logs_a_warning() {
    let recorder = Recorder::default();
    let loader = DataLoader::builder(coalesce_loader::from_fn(|_: Vec<u64>| async move {
        Err::<Vec<Result<u64, common::TestError>>, _>(common::TestError("down".into()))
    }))
    .name("users")
    .build();
    tracing::subscriber::with_default(recorder.clone(), || {
        let _ = futures::executor::block_on(loader.load(1));
    });
    let log = recorder.0.lock().unwrap();
    assert!(
        log.iter().any(|l| l.contains("WARN")
            && l.contains("loader=users")
            && l.contains("failure=\"error\"")),
        "{log:?}"
    );
}
