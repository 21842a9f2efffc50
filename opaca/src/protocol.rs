//! The OPACA platform as one of the host's protocols: its flags, its own listener, and
//! the process containers it ends when the host stops.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use sha2::Digest;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warren_protocol::{
    Host, Listening, Protocol, ProtocolError, base_url, bind, listener, observed,
};

use crate::agent_calls::AgentCalls;
use crate::platform::{OpacaConfig, Platform};

/// The OPACA listener's name, in the log and for its own TLS certificate.
pub const OPACA_LISTENER: &str = "opaca";

/// The flags of the OPACA platform.
#[derive(Clone, Debug, clap::Args)]
pub struct OpacaFlags {
    /// Address of the OPACA runtime-platform API.
    #[arg(long, env = "WARREN_OPACA", default_value = crate::DEFAULT_ADDR)]
    pub opaca: SocketAddr,
    /// The OPACA platform's public base URL (OPACA's `PUBLIC_URL`); by default its
    /// listener's address.
    #[arg(long, env = "WARREN_OPACA_PUBLIC_URL")]
    pub opaca_public_url: Option<String>,
    /// Require a token on every OPACA route but `/login` (OPACA's `REQUIRE_AUTH`).
    #[arg(long)]
    pub opaca_require_auth: bool,
    /// Answer CORS requests (preflights included) on the OPACA API from this origin, e.g.
    /// `https://ui.example`; repeatable. Without one, no origin is granted.
    #[arg(long = "opaca-cors-origin", value_name = "ORIGIN")]
    pub opaca_cors_origins: Vec<String>,
    /// The OPACA platform admin's username.
    #[arg(long, default_value = "admin")]
    pub opaca_admin_user: String,
    /// The OPACA platform admin's password.
    #[arg(
        long,
        env = "WARREN_OPACA_ADMIN_PASSWORD",
        default_value = "admin",
        hide_env_values = true
    )]
    pub opaca_admin_password: String,
    /// Secret that signs OPACA tokens; random per start when absent (tokens then die
    /// with the process). In a cluster, derived from the cluster secret when absent.
    #[arg(long, env = "WARREN_OPACA_SECRET", hide_env_values = true)]
    pub opaca_secret: Option<String>,
    /// An OPACA image run as a process: `NAME=COMMAND` (the command runs with `sh -c`).
    /// Repeatable.
    #[arg(long = "opaca-image", value_parser = parse_image)]
    pub opaca_images: Vec<(String, String)>,
    /// OPACA process containers that may run at once, across tenants.
    #[arg(long, default_value_t = 16)]
    pub opaca_max_processes: usize,
}

fn parse_image(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, command)) if !name.trim().is_empty() && !command.trim().is_empty() => {
            Ok((name.trim().to_string(), command.trim().to_string()))
        }
        _ => Err(format!("{text:?} is not NAME=COMMAND")),
    }
}

/// The OPACA platform, as the host runs it.
pub struct Opaca {
    flags: OpacaFlags,
    listener: Option<TcpListener>,
    address: Option<SocketAddr>,
    platform: Option<Platform>,
    serving: Option<JoinHandle<()>>,
}

impl Opaca {
    /// The platform with these flags, not yet listening.
    pub fn new(flags: OpacaFlags) -> Self {
        Opaca {
            flags,
            listener: None,
            address: None,
            platform: None,
            serving: None,
        }
    }

    /// The token secret: the one given, or in a cluster one derived from the cluster
    /// secret (so a token from one host is good on every host); none otherwise (random
    /// per start).
    fn secret(&self, host: &Host) -> Option<String> {
        match (&self.flags.opaca_secret, &host.cluster_secret) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(cluster)) => Some(hex::encode(sha2::Sha256::digest(
                format!("warren opaca tokens:{cluster}").as_bytes(),
            ))),
            (None, None) => {
                if host.clustered && self.flags.opaca_require_auth {
                    tracing::warn!(
                        "OPACA tokens signed here are good on this host only: the cluster has no secret to derive their key from; set the same --opaca-secret on every host"
                    );
                }
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl Protocol for Opaca {
    fn name(&self) -> &'static str {
        "opaca"
    }

    async fn prepare(&mut self, host: &Host) -> Result<Option<Router>, ProtocolError> {
        let listener = bind("OPACA", self.flags.opaca).await?;
        let address = listener
            .local_addr()
            .map_err(|e| ProtocolError::Config(format!("the OPACA listener: {e}")))?;
        let flags = &self.flags;
        let platform = Platform::new(
            host.runtime.clone(),
            OpacaConfig {
                public_url: flags.opaca_public_url.clone(),
                require_auth: flags.opaca_require_auth,
                admin_user: flags.opaca_admin_user.clone(),
                admin_password: flags.opaca_admin_password.clone(),
                secret: self.secret(host),
                images: flags.opaca_images.iter().cloned().collect(),
                max_processes: flags.opaca_max_processes,
                cors_origins: flags.opaca_cors_origins.clone(),
                shared: host.clustered,
            },
            base_url(address, host.tls.of(OPACA_LISTENER).is_some()),
        );
        // Wasm agents call the platform through the runtime (`warren:actor/platform`).
        host.runtime
            .set_agent_platform(std::sync::Arc::new(AgentCalls::new(&platform)));
        if flags.opaca_require_auth && flags.opaca_admin_password == "admin" {
            tracing::warn!(
                "OPACA requires login, but its admin password is the default; set --opaca-admin-password"
            );
        }
        self.address = Some(address);
        self.listener = Some(listener);
        self.platform = Some(platform);
        Ok(None)
    }

    async fn start(&mut self, host: &Host) -> Result<(), ProtocolError> {
        let (Some(listener), Some(platform)) = (self.listener.take(), &self.platform) else {
            return Ok(());
        };
        let routes = observed(crate::router(platform.clone()), &host.runtime, "opaca");
        self.serving = Some(tokio::spawn(listener::serve(
            listener,
            listener::closing_connections(routes, host.closing.clone()),
            host.limits.clone(),
            host.tls.of(OPACA_LISTENER),
            host.shutdown(),
        )));
        Ok(())
    }

    fn listening(&self) -> Vec<Listening> {
        Listening::bound(OPACA_LISTENER, self.address)
    }

    async fn stop(&mut self) {
        if let Some(serving) = self.serving.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), serving).await;
        }
        if let Some(platform) = &self.platform {
            platform.stop_all().await;
        }
    }
}
