//! `--otlp-endpoint`: export the host's spans (one per protocol request, one per turn) to
//! an OpenTelemetry collector over OTLP/gRPC, in plaintext (`http://`) or over TLS
//! (`https://`, checked against `--otlp-ca-cert` or the system's roots).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runtime::trace::Tracing;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tonic::transport::{Certificate, ClientTlsConfig};

/// Spans wait at most this long before they are sent: short, so a trace shows up while
/// someone is looking at it, long enough to send spans in batches under load.
const EXPORT_DELAY: Duration = Duration::from_millis(500);

/// The export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// A malformed endpoint, say.
    #[error("cannot set up OTLP export to {endpoint}: {source}")]
    Build {
        /// The endpoint asked for.
        endpoint: String,
        /// Why the exporter refused it.
        #[source]
        source: ExporterBuildError,
    },
    /// The CA certificate's file could not be read.
    #[error("cannot read the OTLP CA certificate {}: {source}", path.display())]
    CaCert {
        /// The file given.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A CA certificate was given for an endpoint that does not speak TLS.
    #[error("--otlp-ca-cert is for an https:// endpoint, not {endpoint}")]
    CaWithoutTls {
        /// The plaintext endpoint.
        endpoint: String,
    },
}

/// The exporting tracer provider; dropping it without [`Exporter::shutdown`] loses the
/// spans not sent yet.
pub struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Export to `endpoint` (`http://HOST:4317`, or `https://` checked against the CA
    /// certificate at `ca_cert`, else the system's roots) as service `warren`, instance
    /// `instance`, recording `sample_ratio` (0 to 1) of the traces that start here; a
    /// trace that arrives keeps its caller's decision (W3C's sampled flag). Must run within
    /// the Tokio runtime (the gRPC channel lives there).
    pub fn start(
        endpoint: &str,
        ca_cert: Option<&Path>,
        instance: &str,
        sample_ratio: f64,
    ) -> Result<(Self, Tracing), OtlpError> {
        let mut builder = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(5));
        if let Some(tls) = client_tls(endpoint, ca_cert)? {
            builder = builder.with_tls_config(tls);
        }
        let exporter = builder.build().map_err(|source| OtlpError::Build {
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

/// The TLS an `https://` endpoint is reached with: the CA at `ca_cert` alone, or the
/// system's roots; `None` for a plaintext endpoint.
fn client_tls(
    endpoint: &str,
    ca_cert: Option<&Path>,
) -> Result<Option<ClientTlsConfig>, OtlpError> {
    let https = endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    match (https, ca_cert) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(OtlpError::CaWithoutTls {
            endpoint: endpoint.to_string(),
        }),
        (true, None) => Ok(Some(ClientTlsConfig::new().with_native_roots())),
        (true, Some(path)) => {
            let pem = std::fs::read(path).map_err(|source| OtlpError::CaCert {
                path: path.to_path_buf(),
                source,
            })?;
            Ok(Some(
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
            ))
        }
    }
}
