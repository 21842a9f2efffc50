//! Distributed tracing after W3C Trace Context. A message's `traceparent` and `tracestate`
//! metadata name the span it belongs to; a turn runs as a span under it, and passes its
//! own context on to every message it sends, to app callbacks and to stream backends.
//!
//! With a tracer (the binary sets one up to export over OTLP) spans are recorded. Without
//! one, a context that arrives is still carried on under fresh span ids, so a caller's
//! trace stays whole through the host; a message that arrives without one costs nothing.

use std::borrow::Cow;
use std::sync::LazyLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer};

/// The metadata key (lower-case header name) of the parent span.
pub const TRACEPARENT: &str = "traceparent";
/// The metadata key of vendor trace state.
pub const TRACESTATE: &str = "tracestate";

static PROPAGATOR: LazyLock<TraceContextPropagator> = LazyLock::new(TraceContextPropagator::new);

/// Whether spans are recorded, and by which tracer. The default records nothing.
#[derive(Clone, Debug, Default)]
pub struct Tracing {
    tracer: Option<SdkTracer>,
}

/// The two trace headers, read by the propagator.
struct Headers<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.traceparent,
            TRACESTATE => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// Trace headers as the propagator writes them, empty values left out.
#[derive(Default)]
struct Written(Vec<(String, String)>);

impl Injector for Written {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.push((key.to_string(), value));
        }
    }
}

impl Tracing {
    /// Record spans with `tracer`.
    pub fn recording(tracer: SdkTracer) -> Self {
        Tracing {
            tracer: Some(tracer),
        }
    }

    /// Whether spans are recorded.
    pub fn is_recording(&self) -> bool {
        self.tracer.is_some()
    }

    /// Open a span under the parent named by `traceparent` (and `tracestate`), or a root
    /// span when there is none and spans are recorded. `None` when neither: nothing to
    /// record and nothing to carry on. A malformed `traceparent` counts as none.
    pub fn start(
        &self,
        name: impl FnOnce() -> Cow<'static, str>,
        kind: SpanKind,
        traceparent: Option<&str>,
        tracestate: Option<&str>,
    ) -> Option<OpenSpan> {
        let parent = traceparent
            .map(|traceparent| {
                PROPAGATOR.extract(&Headers {
                    traceparent: Some(traceparent),
                    tracestate,
                })
            })
            .filter(|cx| cx.span().span_context().is_valid());
        match (&self.tracer, parent) {
            (None, None) => None,
            (None, Some(parent)) => {
                static IDS: LazyLock<RandomIdGenerator> = LazyLock::new(RandomIdGenerator::default);
                let from = parent.span().span_context().clone();
                Some(OpenSpan {
                    context: SpanContext::new(
                        from.trace_id(),
                        IDS.new_span_id(),
                        from.trace_flags(),
                        false,
                        from.trace_state().clone(),
                    ),
                    recorded: None,
                })
            }
            (Some(tracer), parent) => {
                let parent = parent.unwrap_or_else(Context::new);
                let span = tracer
                    .span_builder(name())
                    .with_kind(kind)
                    .start_with_context(tracer, &parent);
                Some(OpenSpan {
                    context: span.span_context().clone(),
                    recorded: Some(span),
                })
            }
        }
    }

    /// [`Tracing::start`] under the parent named in `metadata`.
    pub fn start_in(
        &self,
        name: impl FnOnce() -> Cow<'static, str>,
        kind: SpanKind,
        metadata: &[(String, String)],
    ) -> Option<OpenSpan> {
        self.start(
            name,
            kind,
            find(metadata, TRACEPARENT),
            find(metadata, TRACESTATE),
        )
    }
}

tokio::task_local! {
    /// The trace headers of the span of the protocol request this task serves.
    static REQUEST: Vec<(String, String)>;
}

/// Run `serve`, the handling of a protocol request whose span `headers` name: a message it
/// sends without trace metadata of its own belongs to that span (the adapters need not
/// carry headers through their own layers).
pub async fn within_request<F: std::future::Future>(
    headers: Vec<(String, String)>,
    serve: F,
) -> F::Output {
    REQUEST.scope(headers, serve).await
}

/// Give `metadata` the current request's trace headers when it names no parent itself.
pub(super) fn inherit_request(metadata: &mut Vec<(String, String)>) {
    let _ = REQUEST.try_with(|headers| {
        if !metadata.iter().any(|(k, _)| k == TRACEPARENT) {
            metadata.extend(headers.iter().cloned());
        }
    });
}

fn find<'a>(metadata: &'a [(String, String)], key: &str) -> Option<&'a str> {
    metadata
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether a metadata key is one of the trace headers.
pub fn is_trace_header(key: &str) -> bool {
    key == TRACEPARENT || key == TRACESTATE
}

/// The trace headers among `metadata`, to pass on with a message.
pub fn trace_headers(metadata: &[(String, String)]) -> Vec<(String, String)> {
    metadata
        .iter()
        .filter(|(k, _)| is_trace_header(k))
        .cloned()
        .collect()
}

/// The trace id (32 hex digits) named by the `traceparent` in `metadata`, if any.
pub fn trace_id_in(metadata: &[(String, String)]) -> Option<&str> {
    find(metadata, TRACEPARENT)?
        .split('-')
        .nth(1)
        .filter(|id| id.len() == 32)
}

/// A span in progress: recorded when it ends (if spans are recorded), and the context a
/// message sent within it carries.
pub struct OpenSpan {
    context: SpanContext,
    recorded: Option<opentelemetry_sdk::trace::Span>,
}

impl OpenSpan {
    /// The span's own trace headers (`traceparent`, and `tracestate` when there is one).
    pub fn headers(&self) -> Vec<(String, String)> {
        let cx = Context::new().with_remote_span_context(self.context.clone());
        let mut written = Written::default();
        PROPAGATOR.inject_context(&cx, &mut written);
        written.0
    }

    /// Make this span the parent that `metadata` names.
    pub fn pass_on(&self, metadata: &mut Vec<(String, String)>) {
        metadata.retain(|(k, _)| !is_trace_header(k));
        metadata.extend(self.headers());
    }

    /// The trace id, as 32 hex digits.
    pub fn trace_id(&self) -> String {
        self.context.trace_id().to_string()
    }

    /// Add attributes (a no-op when spans are not recorded).
    pub fn set_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        if let Some(span) = &mut self.recorded {
            span.set_attributes(attributes);
        }
    }

    /// End the span now, as failed with `error` when there is one.
    pub fn end(mut self, error: Option<String>) {
        if let Some(span) = &mut self.recorded {
            span.set_status(match error {
                Some(message) => Status::error(message),
                None => Status::Ok,
            });
            span.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn an_untraced_message_opens_no_span_when_nothing_is_recorded() {
        let tracing = Tracing::default();
        assert!(
            tracing
                .start(|| "t".into(), SpanKind::Internal, None, None)
                .is_none()
        );
        assert!(
            tracing
                .start(
                    || "t".into(),
                    SpanKind::Internal,
                    Some("not-a-parent"),
                    None
                )
                .is_none()
        );
    }

    #[test]
    fn a_carried_span_keeps_the_trace_and_state_under_a_new_span_id() {
        let span = Tracing::default()
            .start(
                || "t".into(),
                SpanKind::Internal,
                Some(PARENT),
                Some("vendor=x"),
            )
            .expect("a parent is carried on");
        let mut metadata = vec![
            ("traceparent".to_string(), PARENT.to_string()),
            ("other".to_string(), "kept".to_string()),
        ];
        span.pass_on(&mut metadata);
        let parent = find(&metadata, TRACEPARENT).expect("traceparent");
        let parts: Vec<&str> = parent.split('-').collect();
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], "0af7651916cd43dd8448eb211c80319c");
        assert_ne!(parts[2], "b7ad6b7169203331");
        assert_eq!(parts[3], "01");
        assert_eq!(find(&metadata, TRACESTATE), Some("vendor=x"));
        assert_eq!(find(&metadata, "other"), Some("kept"));
        assert_eq!(
            trace_id_in(&metadata),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(span.trace_id(), "0af7651916cd43dd8448eb211c80319c");
    }
}
