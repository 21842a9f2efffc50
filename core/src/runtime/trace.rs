//! Distributed tracing after W3C Trace Context. A message's `traceparent` and `tracestate`
//! metadata name the span it belongs to; a turn runs as a span under it, and passes its
//! own context on to every message it sends, to app callbacks and to stream backends.
//!
//! With a tracer (the binary sets one up to export over OTLP) spans are recorded. Without
//! one, a context that arrives is still carried on under fresh span ids, so a caller's
//! trace stays whole through the host; a message that arrives without one costs nothing.

use std::borrow::Cow;
use std::sync::LazyLock;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _,
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
    /// Roots (no parent) whose random draw is at or below this are recorded: the sampling
    /// ratio, decided here so that an unsampled root costs no SDK span.
    sample_below: u64,
}

static IDS: LazyLock<RandomIdGenerator> = LazyLock::new(RandomIdGenerator::default);

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

impl Tracing {
    /// Record spans with `tracer`: every span under a sampled parent, none under an
    /// unsampled one, and `sample_ratio` (0 to 1) of the traces that start here. The
    /// tracer's own sampler should record whatever it is given (parent-based, always on).
    pub fn recording(tracer: SdkTracer, sample_ratio: f64) -> Self {
        Tracing {
            tracer: Some(tracer),
            sample_below: (sample_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
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
                let from = parent.span().span_context().clone();
                Some(OpenSpan::unrecorded(
                    from.trace_id(),
                    from.trace_flags(),
                    from.trace_state().clone(),
                ))
            }
            (Some(tracer), None) => {
                let draw = u64::from_be_bytes(IDS.new_span_id().to_bytes());
                if draw > self.sample_below {
                    // Carried on as not sampled, so what it starts is not recorded either.
                    return Some(OpenSpan::unrecorded(
                        IDS.new_trace_id(),
                        TraceFlags::default(),
                        TraceState::default(),
                    ));
                }
                let span = tracer
                    .span_builder(name())
                    .with_kind(kind)
                    .start_with_context(tracer, &Context::new());
                Some(OpenSpan::recorded(span))
            }
            (Some(tracer), Some(parent)) => {
                let span = tracer
                    .span_builder(name())
                    .with_kind(kind)
                    .start_with_context(tracer, &parent);
                Some(OpenSpan::recorded(span))
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
    /// A span not recorded, in trace `trace_id`, with a span id of its own.
    fn unrecorded(trace_id: TraceId, flags: TraceFlags, state: TraceState) -> Self {
        OpenSpan {
            context: SpanContext::new(trace_id, IDS.new_span_id(), flags, false, state),
            recorded: None,
        }
    }

    fn recorded(span: opentelemetry_sdk::trace::Span) -> Self {
        OpenSpan {
            context: span.span_context().clone(),
            recorded: Some(span),
        }
    }

    /// The span's own trace headers (`traceparent`, and `tracestate` when there is one),
    /// in W3C Trace Context's version 00, written directly: every turn passes them on.
    pub fn headers(&self) -> Vec<(String, String)> {
        let context = &self.context;
        let mut headers = Vec::with_capacity(2);
        headers.push((TRACEPARENT.to_string(), traceparent(context)));
        let state = context.trace_state().header();
        if !state.is_empty() {
            headers.push((TRACESTATE.to_string(), state));
        }
        headers
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

    /// Whether this span is recorded (spans are, and the sampler chose this one), so
    /// attributes are worth building.
    pub fn is_recording(&self) -> bool {
        self.recorded
            .as_ref()
            .is_some_and(|span| span.is_recording())
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

/// `00-{trace id}-{span id}-{flags}`, hex-encoded into one allocation: every turn under a
/// trace writes one, and `format!` through the ids' `Display` cost several times more.
fn traceparent(context: &SpanContext) -> String {
    let mut header = String::with_capacity(55);
    header.push_str("00-");
    push_hex(&mut header, &context.trace_id().to_bytes());
    header.push('-');
    push_hex(&mut header, &context.span_id().to_bytes());
    header.push('-');
    push_hex(&mut header, &[context.trace_flags().to_u8()]);
    header
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_is_written_as_w3c_version_00() {
        let context = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
            opentelemetry::trace::SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        assert_eq!(
            traceparent(&context),
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
        );
    }

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

    /// With a ratio of 0 a root is carried on as not sampled (and so is what it starts),
    /// while a caller's sampled trace is still recorded; with 1 every root is recorded.
    #[test]
    fn roots_are_sampled_by_the_ratio_and_callers_keep_their_decision() {
        use opentelemetry::trace::TracerProvider as _;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOn,
            )))
            .build();
        let none = Tracing::recording(provider.tracer("t"), 0.0);
        let root = none
            .start(|| "t".into(), SpanKind::Internal, None, None)
            .expect("a root is carried on");
        assert!(!root.is_recording());
        let mut metadata = Vec::new();
        root.pass_on(&mut metadata);
        let flags = find(&metadata, TRACEPARENT).and_then(|p| p.rsplit('-').next());
        assert_eq!(flags, Some("00"));
        let child = none
            .start_in(|| "t".into(), SpanKind::Internal, &metadata)
            .expect("carried");
        assert!(!child.is_recording());
        let called = none
            .start(|| "t".into(), SpanKind::Internal, Some(PARENT), None)
            .expect("carried");
        assert!(called.is_recording());
        let all = Tracing::recording(provider.tracer("t"), 1.0);
        for _ in 0..100 {
            let root = all.start(|| "t".into(), SpanKind::Internal, None, None);
            assert!(root.is_some_and(|span| span.is_recording()));
        }
    }
}
