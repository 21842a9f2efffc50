//! `--otlp-endpoint`: export the host's spans (one per protocol request, one per turn) to
//! an OpenTelemetry collector over OTLP/gRPC.

use std::time::Duration;

use anyhow::Context;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use warren_host::runtime::trace::Tracing;

/// Spans wait at most this long before they are sent: short, so a trace shows up while
/// someone is looking at it, long enough to send spans in batches under load.
const EXPORT_DELAY: Duration = Duration::from_millis(500);

/// The exporting tracer provider; dropping it without [`Exporter::shutdown`] loses the
/// spans not sent yet.
pub struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Export to `endpoint` (`http://HOST:4317`) as service `warren`, instance `instance`.
    /// Must run within the Tokio runtime (the gRPC channel lives there).
    pub fn start(endpoint: &str, instance: &str) -> anyhow::Result<(Self, Tracing)> {
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(5))
            .build()
            .with_context(|| format!("cannot set up OTLP export to {endpoint}"))?;
        let batches = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(EXPORT_DELAY)
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(batches)
            .with_resource(
                Resource::builder()
                    .with_service_name("warren")
                    .with_attribute(KeyValue::new("service.instance.id", instance.to_string()))
                    .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                    .build(),
            )
            .build();
        let tracing = Tracing::recording(provider.tracer("warren"));
        Ok((Exporter(provider), tracing))
    }

    /// Send what is left and stop.
    pub async fn shutdown(self) {
        let provider = self.0;
        // The provider blocks while it flushes; the export itself runs on the runtime.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "spans not exported at shutdown");
        }
    }
}
