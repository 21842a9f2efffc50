//! The protocol seam: what every protocol crate (`warren-dapr`, `warren-spawn`,
//! `warren-opaca`) implements, [`Protocol`], and what they share: caller resolution
//! ([`auth`]), request observation ([`observe`]), the listeners' connection limits
//! ([`listener`], [`grpc_incoming`]) and reading an outside app's answer within a cap
//! ([`answer`]).
//!
//! A protocol translates and nothing more: every actor rule lives in the runtime core
//! (`warren-core`), which each protocol calls.

#![warn(missing_docs)]

pub mod answer;
pub mod auth;
pub mod grpc_incoming;
pub mod listener;
pub mod observe;
/// TLS of the listeners (the `warren-tls` crate).
pub use warren_tls as tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::runtime::{DEFAULT_TENANT, Runtime};

pub use auth::{Access, AuthConfig, Caller};

// The paths the modules name the core and the shared types by.
pub use listener::ConnectionLimits;
use warren_core::runtime;
use warren_wire::types;

/// The tenant a protocol request acts for, resolved from its token (see [`auth`]);
/// handlers take it as an extractor.
#[derive(Clone, Debug)]
pub struct Tenant(pub String);

impl Tenant {
    /// The tenant of an unauthenticated caller.
    pub fn default_tenant() -> Self {
        Tenant(DEFAULT_TENANT.to_string())
    }
}

/// What the host gives every protocol: the runtime core and the settings its listeners
/// share.
#[derive(Clone)]
pub struct Host {
    /// The runtime core every protocol calls.
    pub runtime: Runtime,
    /// Who may call: the admin and API tokens, and the tenants' tokens in the runtime.
    pub auth: AuthConfig,
    /// Connection limits of every listener.
    pub limits: ConnectionLimits,
    /// Set while a cluster host hands its partitions over: HTTP/1 answers then ask the
    /// client to close the connection (see [`listener::closing_connections`]).
    pub closing: Arc<AtomicBool>,
    /// Turns true when the host stops listening.
    pub stopped: watch::Receiver<bool>,
    /// Whether this host is one of a cluster's, sharing its store with the others (a
    /// protocol keeps there what every host must see).
    pub clustered: bool,
    /// In a cluster, the secret every host shares (a protocol that signs tokens derives
    /// its key from it, so a token from one host is good on every host); `None` on a
    /// single host, and in a cluster that authenticates its hosts by mutual TLS alone.
    pub cluster_secret: Option<String>,
    /// TLS of the public listeners, by listener.
    pub tls: ListenerTls,
}

/// TLS of the public listeners: a certificate for all of them, and any listener's own,
/// by the listener's name (`http`, `grpc`, `opaca`).
#[derive(Clone, Default)]
pub struct ListenerTls {
    /// Served by every listener without a certificate of its own; `None`: plaintext.
    pub default: Option<tls::ServerTls>,
    /// A listener's own certificate, by the listener's name.
    pub own: Vec<(&'static str, tls::ServerTls)>,
}

impl ListenerTls {
    /// The TLS the listener `name` serves; `None`: plaintext.
    pub fn of(&self, name: &str) -> Option<tls::ServerTls> {
        self.own
            .iter()
            .find(|(listener, _)| *listener == name)
            .map(|(_, tls)| tls.clone())
            .or_else(|| self.default.clone())
    }
}

impl Host {
    /// Resolves once the host stops listening: the shutdown signal of a protocol's own
    /// listeners.
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }
}

/// One of the listeners a protocol opened.
#[derive(Clone, Debug)]
pub struct Listening {
    /// Its name in the log and on the command line (`grpc`, `opaca`).
    pub name: &'static str,
    /// The address it is bound to.
    pub address: SocketAddr,
}

impl Listening {
    /// The listener `name`, once it is bound (`address`): none before.
    pub fn bound(name: &'static str, address: Option<SocketAddr>) -> Vec<Listening> {
        address
            .map(|address| Listening { name, address })
            .into_iter()
            .collect()
    }
}

/// Why a protocol could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// One of its listeners could not bind its address.
    #[error("cannot listen on {address} for {what}: {source}")]
    Bind {
        /// What the listener serves.
        what: &'static str,
        /// The address it was given.
        address: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// Its settings are wrong.
    #[error("{0}")]
    Config(String),
}

/// The URL a listener bound to `address` is reached at (`https` when `tls`): a
/// wildcard address means this host, on loopback.
pub fn base_url(mut address: SocketAddr, tls: bool) -> String {
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{address}")
}

/// Bind `address` for `what`, with the error saying which listener it was.
pub async fn bind(what: &'static str, address: SocketAddr) -> Result<TcpListener, ProtocolError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ProtocolError::Bind {
            what,
            address,
            source,
        })
}

/// A protocol Warren speaks to callers outside: its routes on the main HTTP listener,
/// its own listeners, and the backends of actors it hosts outside the runtime. The
/// binary calls each enabled protocol in this order: [`prepare`](Protocol::prepare)
/// before the host reads its stored registrations, [`start`](Protocol::start) once it
/// serves, [`stop`](Protocol::stop) when it stops listening, and
/// [`finish`](Protocol::finish) after the runtime shut down.
#[async_trait::async_trait]
pub trait Protocol: Send {
    /// Its name, as `--protocols` takes it.
    fn name(&self) -> &'static str;

    /// Bind its own listeners and install what the runtime calls back (record
    /// followers, an agent platform); returns its routes on the main HTTP listener, if
    /// it has any. Runs before the host reads the records it follows.
    async fn prepare(&mut self, host: &Host) -> Result<Option<Router>, ProtocolError>;

    /// Start serving its own listeners and reaching its apps.
    async fn start(&mut self, host: &Host) -> Result<(), ProtocolError>;

    /// The listeners it opened (after [`prepare`](Protocol::prepare)).
    fn listening(&self) -> Vec<Listening> {
        Vec::new()
    }

    /// The host stopped listening, and its runtime is about to shut down: end what runs
    /// outside the runtime (processes), and let its own HTTP listeners finish.
    async fn stop(&mut self) {}

    /// The runtime shut down: let the rest of its listeners close (for a bounded time).
    async fn finish(&mut self) {}
}

/// `router` with its requests observed as `protocol`: traced, and counted in the metrics
/// by status.
pub fn observed(router: Router, runtime: &Runtime, protocol: &'static str) -> Router {
    router.route_layer(observe::Observe::new(runtime.clone(), protocol))
}

/// Request headers as invocation metadata: lower-case names, UTF-8 values only.
pub fn header_metadata(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_string(), value.to_string()))
        })
        .collect()
}
