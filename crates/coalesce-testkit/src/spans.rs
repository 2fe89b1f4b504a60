//! [`SpanRecorder`]: which `tracing` spans a test opened, under which parent, with which fields
//! and links, and which events it logged.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

/// A `tracing` subscriber that records each span's name, parent, fields and `follows_from`
/// links, and each event, for tests that check what a loader tells `tracing`. Install it on the
/// test's thread with `tracing::subscriber::set_default`, on a current-thread runtime, so that
/// every span of the test reaches it.
#[derive(Clone, Default)]
pub struct SpanRecorder(Arc<Mutex<Spans>>);

#[derive(Default)]
struct Spans {
    /// Span `i + 1`.
    all: Vec<Recorded>,
    /// The spans entered on this thread, innermost last: the parent of a contextual span.
    entered: Vec<usize>,
    /// Each event, as `LEVEL field=value ...`.
    events: Vec<String>,
}

struct Recorded {
    name: &'static str,
    metadata: &'static Metadata<'static>,
    parent: Option<usize>,
    /// Each field recorded, as `name=value`, in the order recorded.
    fields: Vec<(&'static str, String)>,
    follows: Vec<usize>,
}

/// A recorded span: its place in the order spans were opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanIndex(usize);

impl SpanRecorder {
    /// The spans named `name`, in the order they were opened.
    pub fn named(&self, name: &str) -> Vec<SpanIndex> {
        let spans = self.0.lock().unwrap();
        (0..spans.all.len())
            .filter(|&i| spans.all[i].name == name)
            .map(SpanIndex)
            .collect()
    }

    /// The name of `span`.
    pub fn name(&self, span: SpanIndex) -> &'static str {
        self.0.lock().unwrap().all[span.0].name
    }

    /// The parent of `span`, if it has one.
    pub fn parent(&self, span: SpanIndex) -> Option<SpanIndex> {
        self.0.lock().unwrap().all[span.0].parent.map(SpanIndex)
    }

    /// The last value recorded for field `field` of `span`, as its `Debug` text (strings
    /// without quotes).
    pub fn field(&self, span: SpanIndex, field: &str) -> Option<String> {
        let spans = self.0.lock().unwrap();
        let fields = &spans.all[span.0].fields;
        fields
            .iter()
            .rev()
            .find(|(name, _)| *name == field)
            .map(|(_, value)| value.clone())
    }

    /// The spans `span` follows from (its links), in the order they were added.
    pub fn follows(&self, span: SpanIndex) -> Vec<SpanIndex> {
        let spans = self.0.lock().unwrap();
        spans.all[span.0]
            .follows
            .iter()
            .copied()
            .map(SpanIndex)
            .collect()
    }

    /// Every event so far, as `LEVEL field=value ...` (the message is the `message` field).
    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().events.clone()
    }
}

/// Collects fields as `(name, value)`.
struct Fields<'a>(&'a mut Vec<(&'static str, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name(), format!("{value:?}")));
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
        let mut fields = Vec::new();
        span.record(&mut Fields(&mut fields));
        spans.all.push(Recorded {
            name: span.metadata().name(),
            metadata: span.metadata(),
            parent,
            fields,
            follows: Vec::new(),
        });
        Id::from_u64(spans.all.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.lock().unwrap();
        let fields = &mut spans.all[span.into_u64() as usize - 1].fields;
        values.record(&mut Fields(fields));
    }
    fn record_follows_from(&self, span: &Id, follows: &Id) {
        let mut spans = self.0.lock().unwrap();
        let follows = follows.into_u64() as usize - 1;
        spans.all[span.into_u64() as usize - 1]
            .follows
            .push(follows);
    }
    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        let mut line = event.metadata().level().to_string();
        for (name, value) in fields {
            line.push_str(&format!(" {name}={value}"));
        }
        self.0.lock().unwrap().events.push(line);
    }
    fn enter(&self, span: &Id) {
        let mut spans = self.0.lock().unwrap();
        spans.entered.push(span.into_u64() as usize - 1);
    }
    fn exit(&self, _: &Id) {
        self.0.lock().unwrap().entered.pop();
    }
    fn current_span(&self) -> Current {
        let spans = self.0.lock().unwrap();
        match spans.entered.last() {
            Some(&i) => Current::new(Id::from_u64(i as u64 + 1), spans.all[i].metadata),
            None => Current::none(),
        }
    }
}
