//! [`SpanRecorder`]: which `tracing` spans a test opened, and under which parent.

use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A `tracing` subscriber that records each span's name and parent, for tests that check how
/// spans nest. Install it on the test's thread with `tracing::subscriber::set_default`, on a
/// current-thread runtime, so that every span of the test reaches it.
#[derive(Clone, Default)]
pub struct SpanRecorder(Arc<Mutex<Spans>>);

#[derive(Default)]
struct Spans {
    /// Name and parent (an index into `all`) of span `i + 1`.
    all: Vec<(&'static str, Option<usize>)>,
    /// The spans entered on this thread, innermost last: the parent of a contextual span.
    entered: Vec<usize>,
}

/// A recorded span: its place in the order spans were opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanIndex(usize);

impl SpanRecorder {
    /// The spans named `name`, in the order they were opened.
    pub fn named(&self, name: &str) -> Vec<SpanIndex> {
        let spans = self.0.lock().unwrap();
        (0..spans.all.len())
            .filter(|&i| spans.all[i].0 == name)
            .map(SpanIndex)
            .collect()
    }

    /// The parent of `span`, if it has one.
    pub fn parent(&self, span: SpanIndex) -> Option<SpanIndex> {
        self.0.lock().unwrap().all[span.0].1.map(SpanIndex)
    }
}

impl Subscriber for SpanRecorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut spans = self.0.lock().unwrap();
        let parent = match span.parent() {
            Some(parent) => Some(parent.into_u64() as usize - 1),
            None if span.is_contextual() => spans.entered.last().copied(),
            None => None,
        };
        spans.all.push((span.metadata().name(), parent));
        Id::from_u64(spans.all.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        let mut spans = self.0.lock().unwrap();
        spans.entered.push(span.into_u64() as usize - 1);
    }
    fn exit(&self, _: &Id) {
        self.0.lock().unwrap().entered.pop();
    }
}
