//! TLS of the public listeners as `warren serve` sets it up: the certificate from the
//! command line, kept fresh (its files watched, SIGHUP), and a warning for a listener
//! that faces the network in plaintext.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use warren_protocol::ListenerTls;
use warren_protocol::tls::{RELOAD_EVERY, ServerTls, TlsFiles};

use super::HTTP_LISTENER;
use super::args::ServeArgs;
use warren_dapr::GRPC_LISTENER;
use warren_opaca::OPACA_LISTENER;

/// TLS for the public listeners: `--tls-cert`/`--tls-key` for all, and a listener's own
/// pair (`--grpc-tls-cert`, ...) for it; each reloaded when its files change or on
/// SIGHUP, until the host stops.
pub fn server_tls(
    args: &ServeArgs,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<ListenerTls> {
    let mut tls = ListenerTls {
        default: loaded("listeners", &args.tls_cert, &args.tls_key, stopped)?,
        own: Vec::new(),
    };
    let own = [
        (HTTP_LISTENER, &args.http_tls_cert, &args.http_tls_key),
        (GRPC_LISTENER, &args.grpc_tls_cert, &args.grpc_tls_key),
        (OPACA_LISTENER, &args.opaca_tls_cert, &args.opaca_tls_key),
    ];
    for (listener, cert, key) in own {
        if let Some(served) = loaded(listener, cert, key, stopped)? {
            tls.own.push((listener, served));
        }
    }
    Ok(tls)
}

/// The pair `cert` and `key`, when both are given, watched (until `stopped`) and
/// reloaded on SIGHUP.
fn loaded(
    what: &str,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<ServerTls>> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let files = TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
    };
    let tls = ServerTls::load(files).with_context(|| format!("cannot serve TLS on the {what}"))?;
    tls.watch(RELOAD_EVERY, super::wait_for(stopped.clone()));
    reload_on_hangup(tls.clone())?;
    tracing::info!(cert = %cert.display(), what, "TLS certificate loaded");
    Ok(Some(tls))
}

/// Reload `tls`'s certificate on every SIGHUP.
fn reload_on_hangup(tls: ServerTls) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if let Err(e) = tls.reload() {
                tracing::error!(error = %e, "TLS certificate not reloaded on SIGHUP; the previous one is still served");
            }
        }
    });
    Ok(())
}

/// Warn about each listener in `listening` (its name, address and whether it speaks
/// TLS) that is reachable from the network and speaks plaintext.
pub fn warn_plaintext(listening: &[(&str, SocketAddr, bool)]) {
    for (name, address, tls) in listening {
        if !tls && !address.ip().is_loopback() {
            tracing::warn!(
                listener = %name,
                %address,
                "listening beyond loopback without TLS: callers' payloads and tokens cross the network in the clear; set --tls-cert and --tls-key"
            );
        }
    }
}
