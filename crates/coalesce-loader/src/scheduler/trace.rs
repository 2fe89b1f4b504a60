//! What a batch tells `tracing` (feature `tracing`): one span per batch, opened with the batch,
//! linked (`follows_from`) to the span of every load that joins it, and given its size, its
//! de-duplicated and memo-answered loads and why it was sent. The names are in the crate root's
//! "Features" section.
//!
//! A load's span is the one current when `load` (or `load_many`) is *called*, not when its future
//! is first polled: the key joins the batch at the call, and a batch can be sent before any of
//! its loads is polled (`dispatch()`, a full batch), so only the call is sure to see every load.
//!
//! Cost: without the feature, [`BatchTrace`] is an empty type whose methods do nothing. With it
//! but no subscriber interested in the span, the span is disabled when the batch opens (one
//! check of the callsite's cached interest) and every other step returns at `is_disabled`; the
//! two counters are plain integers under the lock the loader holds anyway. The loader's name,
//! which costs a search through its type's path and an allocation the first time it is asked for,
//! and the span's `otel.name` are formatted only when something records them: with `tracing`'s
//! `log` feature on (other crates in a build often turn it on) and no subscriber set, `tracing`
//! evaluates a disabled span's fields for the `log` crate, and an eager `format!` there made a
//! loader built per request, with three batches of one key, 15% more costly.

/// Why a batch stopped collecting.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(super) enum Sent {
    /// The schedule decided so at its driver's poll (the frame rule, a yield count, a window).
    Schedule(crate::Schedule),
    /// It reached `max_batch_size`.
    Full,
    /// `dispatch()` was called.
    Dispatch,
    /// Every key was answered by `prime` while it collected.
    Primed,
}

#[cfg(feature = "tracing")]
pub(super) use on::BatchTrace;

#[cfg(not(feature = "tracing"))]
pub(super) use off::BatchTrace;

#[cfg(feature = "tracing")]
mod on {
    use std::fmt;
    use std::future::Future;

    use tracing::field::Empty;
    use tracing::{Instrument, Span};

    use super::Sent;
    use crate::Schedule;

    /// A batch's span and what it counts for it.
    pub(in crate::scheduler) struct BatchTrace {
        span: Span,
        /// The span last linked, so that loads made one after the other under one span (every
        /// key of a resolver, or a request without resolver spans) give it one link, not many.
        last_linked: Option<tracing::Id>,
        deduplicated: u32,
        memo_hits: u32,
    }

    impl Sent {
        fn as_str(self) -> &'static str {
            match self {
                Sent::Schedule(Schedule::Frame) => "frame",
                Sent::Schedule(Schedule::Yields(_)) => "yields",
                #[cfg(feature = "tokio")]
                Sent::Schedule(Schedule::TokioRounds(_)) => "tokio_rounds",
                #[cfg(feature = "tokio")]
                Sent::Schedule(Schedule::Window(_)) => "window",
                // `Manual` never sends by itself: only a full batch or `dispatch()` does.
                Sent::Schedule(Schedule::Manual) | Sent::Dispatch => "dispatch",
                Sent::Full => "max_batch_size",
                Sent::Primed => "primed",
            }
        }
    }

    /// A name after a prefix, asked for and written only when a field is recorded.
    struct Named<F>(&'static str, F);

    impl<'n, F: Fn() -> &'n str> fmt::Display for Named<F> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)?;
            f.write_str((self.1)())
        }
    }

    impl BatchTrace {
        /// The span of a batch of loader `name` opening now, under the current span.
        pub(in crate::scheduler) fn open<'n>(name: impl Fn() -> &'n str + Copy) -> Self {
            let span = tracing::debug_span!(
                "coalesce.batch",
                otel.name = %Named("GraphQL DataLoader Batch ", name),
                graphql.processing.r#type = "dataloader_batch",
                graphql.dataloader.name = %Named("", name),
                graphql.dataloader.batch.size = Empty,
                graphql.dataloader.cache.hit_count = Empty,
                coalesce.batch.deduplicated = Empty,
                coalesce.batch.reason = Empty,
                error.r#type = Empty,
                otel.status_code = Empty,
            );
            // A span no subscriber wants would still be forwarded to the `log` crate at every
            // poll of the batch future (entered, exited) when `tracing`'s `log` feature is on: a
            // batch is not worth those log lines, and they cost more than the rest of this
            // module does.
            let span = if span.is_disabled() {
                Span::none()
            } else {
                span
            };
            BatchTrace {
                span,
                last_linked: None,
                deduplicated: 0,
                memo_hits: 0,
            }
        }

        /// A load joined the batch: links the span current now, if it is not the one linked
        /// last. Inlined: every load that joins a batch calls it, and with no subscriber all it
        /// does is the check.
        #[inline]
        pub(in crate::scheduler) fn joined(&mut self) {
            if self.span.is_disabled() {
                return;
            }
            self.link_current();
        }

        fn link_current(&mut self) {
            // The current span as the batch span's own subscriber sees it: the ids of another
            // subscriber would mean nothing to it.
            let last = &mut self.last_linked;
            self.span.with_subscriber(|(batch, dispatch)| {
                let current = dispatch.current_span();
                if let Some(load) = current.id().filter(|&id| last.as_ref() != Some(id)) {
                    dispatch.record_follows_from(batch, load);
                    *last = Some(load.clone());
                }
            });
        }

        /// A load joined a key already queued or in flight in this batch.
        pub(in crate::scheduler) fn deduplicated(&mut self) {
            self.deduplicated += 1;
        }

        /// A load was answered from the memo while this batch collected.
        pub(in crate::scheduler) fn memo_hit(&mut self) {
            self.memo_hits += 1;
        }

        /// The batch stopped collecting, for this reason.
        pub(in crate::scheduler) fn sent(&self, why: Sent) {
            if !self.span.is_disabled() {
                self.span.record("coalesce.batch.reason", why.as_str());
            }
        }

        /// The batch starts with `keys` keys: `fut`, its future, runs in its span.
        pub(in crate::scheduler) fn start<F: Future>(
            &self,
            keys: usize,
            fut: F,
        ) -> tracing::instrument::Instrumented<F> {
            if !self.span.is_disabled() {
                self.span.record("graphql.dataloader.batch.size", keys);
            }
            fut.instrument(self.span.clone())
        }

        /// The batch completed, `primed` of its keys answered by `prime`; or failed as a whole,
        /// `failure` saying how.
        pub(in crate::scheduler) fn complete(&self, primed: usize, failure: Option<&'static str>) {
            if self.span.is_disabled() {
                return;
            }
            let hits = self.memo_hits as usize + primed;
            self.span.record("graphql.dataloader.cache.hit_count", hits);
            self.span
                .record("coalesce.batch.deduplicated", self.deduplicated);
            if let Some(kind) = failure {
                self.span.record("error.type", kind);
                self.span.record("otel.status_code", "error");
            }
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod off {
    use super::Sent;

    /// Nothing: without the `tracing` feature a batch tells nobody anything.
    pub(in crate::scheduler) struct BatchTrace;

    impl BatchTrace {
        #[inline(always)]
        pub(in crate::scheduler) fn open<'n>(_name: impl Fn() -> &'n str + Copy) -> Self {
            BatchTrace
        }
        #[inline(always)]
        pub(in crate::scheduler) fn joined(&mut self) {}
        #[inline(always)]
        pub(in crate::scheduler) fn sent(&self, _why: Sent) {}
        #[inline(always)]
        pub(in crate::scheduler) fn start<F>(&self, _keys: usize, fut: F) -> F {
            fut
        }
        #[inline(always)]
        pub(in crate::scheduler) fn complete(
            &self,
            _primed: usize,
            _failure: Option<&'static str>,
        ) {
        }
    }
}
