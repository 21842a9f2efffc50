//! TLS figure: Dapr HTTP invoke over TLS against the same invoke in plaintext, both in
//! this run, on kept-alive connections (the handshake is paid once per connection), with
//! a certificate from a CA made for the run.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use warren_bench::load;
use warren_bench::procs::{Warren, guest};
use warren_host::protocol::tls::{issue, provider, read_certs};

/// What the figure invokes: `{c}` is one counter per connection.
const INVOKE: &str = "/v1.0/actors/counter/c{c}/method/get";

/// A client trusting only the CA whose certificate is at `ca`.
fn client(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Plaintext, then TLS, at 1 and 32 connections; TLS lines carry the ratio to plaintext.
pub async fn tls(duration: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ca_dir = dir.path().join("ca");
    let ca = issue::init_ca(&ca_dir)?;
    let (cert, key) = issue::issue_host(&ca_dir, "bench", &["127.0.0.1".into()], &ca_dir)?;
    let counter = guest("counter");
    let common = [
        "--deploy",
        counter.to_str().unwrap_or_default(),
        "--durability",
        "relaxed",
    ];
    let plain = Warren::start(&dir.path().join("plain"), &common)?;
    let mut with_tls = common.to_vec();
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    with_tls.extend(["--tls-cert", &cert, "--tls-key", &key]);
    let secure = Warren::start(&dir.path().join("tls"), &with_tls)?;
    let config = client(&ca)?;
    for connections in [1, 32] {
        let baseline = load::run(load::post(
            &format!("Dapr invoke, plaintext, {connections} conns"),
            &plain.addr,
            INVOKE,
            "",
            connections,
            duration,
        ))
        .await?;
        baseline.print(None);
        let over_tls = load::run(load::LoadSpec {
            tls: Some(config.clone()),
            ..load::post(
                &format!("Dapr invoke, TLS 1.3, {connections} conns"),
                &secure.addr,
                INVOKE,
                "",
                connections,
                duration,
            )
        })
        .await?;
        over_tls.print(Some(&baseline));
    }
    Ok(())
}
