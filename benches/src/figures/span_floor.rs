//! The floor under exporting every span over OTLP: building, encoding and decoding the
//! protobuf of spans shaped like a Warren turn's, with nothing else around it (no SDK, no
//! queue, no network). Whatever exporter records every span pays at least this on the
//! host, and a collector on the same machine pays the decoding.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

/// Spans per export, as the SDK's batch processor sends them.
const BATCH: usize = 512;

/// Nanoseconds per span to build and encode (the host's part) and to decode (the
/// collector's), each the median of `rounds` rounds of `per_round`.
pub struct SpanFloor {
    pub build_and_encode_ns: f64,
    pub decode_ns: f64,
}

/// Measure the floor; `per_round` is how long each round of each part runs.
pub fn measure(rounds: usize, per_round: Duration) -> SpanFloor {
    let mut encode = Vec::new();
    let mut decode = Vec::new();
    for _ in 0..rounds {
        let (mut spans, started) = (0usize, Instant::now());
        let mut bytes = Vec::new();
        while started.elapsed() < per_round {
            bytes = std::hint::black_box(request(spans as u64)).encode_to_vec();
            spans += BATCH;
        }
        encode.push(started.elapsed().as_nanos() as f64 / spans as f64);

        let (mut spans, started) = (0usize, Instant::now());
        while started.elapsed() < per_round {
            let decoded = ExportTraceServiceRequest::decode(bytes.as_slice());
            std::hint::black_box(decoded.is_ok());
            spans += BATCH;
        }
        decode.push(started.elapsed().as_nanos() as f64 / spans as f64);
    }
    SpanFloor {
        build_and_encode_ns: median(encode),
        decode_ns: median(decode),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// One export of [`BATCH`] turn spans, with the resource and attributes Warren sends.
fn request(seed: u64) -> ExportTraceServiceRequest {
    let spans = (0..BATCH as u64)
        .map(|n| turn_span(seed.wrapping_add(n)))
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "warren"),
                    text("service.instance.id", "127.0.0.1:3500"),
                    text("service.version", env!("CARGO_PKG_VERSION")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn turn_span(n: u64) -> Span {
    let start = 1_764_000_000_000_000_000 + n * 4_000;
    Span {
        trace_id: [n.to_be_bytes(), (!n).to_be_bytes()].concat(),
        span_id: (n ^ 0x5555).to_be_bytes().to_vec(),
        parent_span_id: (n ^ 0xaaaa).to_be_bytes().to_vec(),
        name: "turn counter.get".to_string(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 3_500,
        attributes: vec![
            text("warren.tenant", "default"),
            text("warren.actor.type", "counter"),
            text("warren.actor.id", "c"),
            text("warren.action", "get"),
            text("warren.trigger", "call"),
            text("warren.outcome", "ok"),
        ],
        status: Some(Status {
            code: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}
