//! Dapr's actor protocol: the actor HTTP API ([`http`], on the host's main listener), the
//! gRPC API with its actor streams ([`grpc`], on a listener of its own), and the actor
//! types of a Dapr app that Warren calls back over HTTP ([`app`]) or over a stream the app
//! opened ([`stream`]). Translation only: every actor rule is the runtime core's.

#![warn(missing_docs)]

pub mod app;
pub mod grpc;
pub mod http;
pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warren_protocol::{Host, Listening, Protocol, ProtocolError, bind, observed};

use crate::app::AppChannel;
use crate::runtime::{DEFAULT_TENANT, Runtime};

// The paths the modules name the core and the wire formats by.
use warren_core::runtime;
use warren_wire::{self as wire, types};

/// The gRPC listener's name, in the log and for its own TLS certificate.
pub const GRPC_LISTENER: &str = "grpc";

/// The flags of Dapr's protocol.
#[derive(Clone, Debug, clap::Args)]
pub struct DaprFlags {
    /// Address of the gRPC listener (Dapr's `dapr.proto.runtime.v1.Dapr` actor RPCs and the
    /// actor streams).
    #[arg(long, default_value = grpc::DEFAULT_ADDR, env = "WARREN_GRPC")]
    pub grpc: SocketAddr,
    /// The app id reported to Dapr clients, and sent to an app-hosted actor app.
    #[arg(long, default_value = "warren")]
    pub app_id: String,
    /// Host the actor types of the Dapr app listening on this port (app-callback mode).
    #[arg(long)]
    pub app_port: Option<u16>,
    /// Address of that app.
    #[arg(long, default_value = "127.0.0.1")]
    pub app_address: String,
    /// Token sent to the app as `dapr-api-token` on every callback.
    #[arg(long, env = "APP_API_TOKEN", hide_env_values = true)]
    pub app_api_token: Option<String>,
}

/// Dapr's protocol, as the host runs it.
pub struct Dapr {
    flags: DaprFlags,
    listener: Option<TcpListener>,
    address: Option<SocketAddr>,
    serving: Option<JoinHandle<()>>,
}

impl Dapr {
    /// The protocol with these flags, not yet listening.
    pub fn new(flags: DaprFlags) -> Self {
        Dapr {
            flags,
            listener: None,
            address: None,
            serving: None,
        }
    }
}

#[async_trait::async_trait]
impl Protocol for Dapr {
    fn name(&self) -> &'static str {
        "dapr"
    }

    async fn prepare(&mut self, host: &Host) -> Result<Option<Router>, ProtocolError> {
        let listener = bind("gRPC", self.flags.grpc).await?;
        self.address = listener.local_addr().ok();
        self.listener = Some(listener);
        let routes = http::router(host.runtime.clone(), self.flags.app_id.clone());
        Ok(Some(observed(routes, &host.runtime, "dapr-http")))
    }

    async fn start(&mut self, host: &Host) -> Result<(), ProtocolError> {
        if let Some(listener) = self.listener.take() {
            let serving = grpc::serve(
                host.runtime.clone(),
                host.auth.clone(),
                listener,
                host.limits.clone(),
                host.tls.of(GRPC_LISTENER),
                host.shutdown(),
            );
            self.serving = Some(tokio::spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(error = %e, "the gRPC listener failed");
                }
            }));
        }
        if let Some(port) = self.flags.app_port {
            let url = format!("http://{}:{port}", self.flags.app_address);
            let app = AppChannel::new(&url, &self.flags.app_id, self.flags.app_api_token.clone())
                .map_err(|e| ProtocolError::Config(e.to_string()))?;
            tokio::spawn(connect_app(host.runtime.clone(), Arc::new(app)));
        }
        Ok(())
    }

    fn listening(&self) -> Vec<Listening> {
        Listening::bound(GRPC_LISTENER, self.address)
    }

    async fn finish(&mut self) {
        // Open actor streams end with the process; the gRPC server does not wait for them.
        if let Some(serving) = self.serving.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), serving).await;
        }
    }
}

/// Read the app's `/dapr/config` (retrying until the app is up) and host its actor types.
async fn connect_app(runtime: Runtime, app: Arc<AppChannel>) {
    let mut warned = false;
    loop {
        match app.manifest().await {
            Ok(manifest) => {
                match runtime.register_external(DEFAULT_TENANT, manifest, app.clone()) {
                    Ok(info) => {
                        tracing::info!(types = ?info.actor_types, "hosting the app's actor types")
                    }
                    Err(e) => tracing::error!(error = %e, "cannot host the app's actor types"),
                }
                return;
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "app not ready; retrying");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
