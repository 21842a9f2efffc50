//! TLS of the public listeners as `warren serve` sets it up: the certificate from the
//! command line, kept fresh (its files watched, SIGHUP), and a warning for a listener
//! that faces the network in plaintext.

use std::net::SocketAddr;

use anyhow::Context;
use warren_protocol::tls::{RELOAD_EVERY, ServerTls, TlsFiles};

use super::args::ServeArgs;

/// TLS for the public listeners, when `--tls-cert` and `--tls-key` are given; reloaded
/// when its files change or on SIGHUP, until `stopped` resolves.
pub fn server_tls(
    args: &ServeArgs,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<ServerTls>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let files = TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
    };
    let tls = ServerTls::load(files).context("cannot serve TLS")?;
    tls.watch(RELOAD_EVERY, stopped);
    reload_on_hangup(tls.clone())?;
    tracing::info!(cert = %cert.display(), "listeners speak TLS");
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

/// Warn about each listener in `listening` that is reachable from the network and
/// speaks plaintext.
pub fn warn_plaintext(listening: &[(&str, SocketAddr)], tls: bool) {
    if tls {
        return;
    }
    for (name, address) in listening {
        if !address.ip().is_loopback() {
            tracing::warn!(
                listener = %name,
                %address,
                "listening beyond loopback without TLS: callers' payloads and tokens cross the network in the clear; set --tls-cert and --tls-key"
            );
        }
    }
}
