//! `--otlp-endpoint`: export the host's spans (one per protocol request, one per turn) to
//! an OpenTelemetry collector over OTLP/gRPC.

use std::time::Duration;

use crate::runtime::trace::Tracing;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

/// Spans wait at most this long before they are sent: short, so a trace shows up while
/// someone is looking at it, long enough to send spans in batches under load.
const EXPORT_DELAY: Duration = Duration::from_millis(500);

/// The export could not be set up (a malformed endpoint, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up OTLP export to {endpoint}: {source}")]
pub struct OtlpError {
    endpoint: String,
    #[source]
    source: ExporterBuildError,
}

/// The exporting tracer provider; dropping it without [`Exporter::shutdown`] loses the
/// spans not sent yet.
pub struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Export to `endpoint` (`http://HOST:4317`) as service `warren`, instance `instance`,
    /// recording `sample_ratio` (0 to 1) of the traces that start here; a trace that
    /// arrives keeps its caller's decision (W3C's sampled flag). Must run within the Tokio
    /// runtime (the gRPC channel lives there).
    pub fn start(
        endpoint: &str,
        instance: &str,
        sample_ratio: f64,
    ) -> Result<(Self, Tracing), OtlpError> {
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| OtlpError {
                endpoint: endpoint.to_string(),
                source,
            })?;
        let batches = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(EXPORT_DELAY)
                    .build(),
            )
            .build();
        // Roots are sampled by `Tracing` itself (an unsampled root then costs no span).
        let sampler = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_span_processor(batches)
            .with_resource(
                Resource::builder()
                    .with_service_name("warren")
                    .with_attribute(KeyValue::new("service.instance.id", instance.to_string()))
                    .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                    .build(),
            )
            .build();
        let tracing = Tracing::recording(provider.tracer("warren"), sample_ratio);
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
