//! TLS figure: Dapr HTTP invoke over TLS against the same invoke in plaintext, on
//! kept-alive connections (the handshake is paid once per connection), with a certificate
//! from a CA made for the run; then a forwarded invoke between two cluster hosts on
//! PostgreSQL with mutual TLS against the same forward in plaintext with the secret.
//!
//! Every host runs for the whole figure; each comparison is measured in rounds that
//! alternate which side goes first, and the figure is the median of the rounds' ratios,
//! since this machine's speed drifts by more than the costs measured.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use warren_bench::load::{self, LoadSpec};
use warren_bench::procs::{Warren, guest};
use warren_host::protocol::tls::{issue, provider, read_certs};

use super::cluster::{SECRET, Server, ids_of, pair_with};

/// What the figure invokes: `{c}` is an actor of the spec's list, or one per connection.
const INVOKE: &str = "/v1.0/actors/counter/{c}/method/get";

/// Rounds per comparison.
const ROUNDS: usize = 5;

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

/// `base` and `secure` in [`ROUNDS`] rounds, alternating which goes first; prints every
/// run and then the median (and range) of the rounds' ratios of `secure` to `base`.
async fn compare(base: LoadSpec, secure: LoadSpec) -> anyhow::Result<()> {
    let mut ratios = Vec::new();
    for round in 0..ROUNDS {
        let (first, second) = match round % 2 {
            0 => (&base, &secure),
            _ => (&secure, &base),
        };
        let a = load::run(first.clone()).await?;
        let b = load::run(second.clone()).await?;
        let (base_run, secure_run) = if round % 2 == 0 { (a, b) } else { (b, a) };
        base_run.print(None);
        secure_run.print(Some(&base_run));
        ratios.push(secure_run.ratios(&base_run));
    }
    let median = |pick: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = ratios.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let ((t, t_lo, t_hi), (m, m_lo, m_hi)) = (median(|r| r.0), median(|r| r.1));
    println!(
        "median of {ROUNDS} rounds, {} vs {}: throughput x{t:.2} (x{t_lo:.2}-x{t_hi:.2}), median latency x{m:.2} (x{m_lo:.2}-x{m_hi:.2})",
        secure.name, base.name
    );
    Ok(())
}

/// The public listener at 1 and 32 connections, then the forwarded invoke at 1 and 16.
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
        let spec = |name: &str, addr: &str| {
            load::post(
                &format!("Dapr invoke, {name}, {connections} conns"),
                addr,
                INVOKE,
                "",
                connections,
                duration,
            )
        };
        let over_tls = LoadSpec {
            tls: Some(config.clone()),
            ..spec("TLS 1.3", &secure.addr)
        };
        compare(spec("plaintext", &plain.addr), over_tls).await?;
    }
    drop((plain, secure));
    forwarded(&ca_dir, duration).await
}

/// Host A asks host B for actors B owns: one pair of hosts with the secret in plaintext,
/// one over mutual TLS without a secret.
async fn forwarded(ca_dir: &Path, duration: Duration) -> anyhow::Result<()> {
    let server = Server::start()?;
    let mut files = Vec::new();
    for name in ["bench-a", "bench-b"] {
        let (cert, key) = issue::issue_host(ca_dir, name, &["127.0.0.1".into()], ca_dir)?;
        files.push((
            cert.to_string_lossy().into_owned(),
            key.to_string_lossy().into_owned(),
        ));
    }
    let ca = ca_dir.join("ca.pem").to_string_lossy().into_owned();
    let mutual = |i: usize| {
        vec![
            "--cluster-ca",
            &ca,
            "--cluster-cert",
            &files[i].0,
            "--cluster-key",
            &files[i].1,
        ]
    };
    let secret = vec!["--cluster-secret", SECRET];
    let dirs = (0..4)
        .map(|_| tempfile::tempdir())
        .collect::<Result<Vec<_>, _>>()?;
    let mut pairs = Vec::new();
    for (i, access) in [[secret.clone(), secret], [mutual(0), mutual(1)]]
        .iter()
        .enumerate()
    {
        let (url, db) = server.fresh().await?;
        let dirs = [dirs[2 * i].path(), dirs[2 * i + 1].path()];
        let access = [access[0].as_slice(), access[1].as_slice()];
        let (a, b, owners, b_id) = pair_with(dirs, &url, &db, access).await?;
        pairs.push((a, b, ids_of(&owners, &b_id, 16)));
    }
    for connections in [1, 16] {
        let spec = |mode: &str, (a, _, remote): &(Warren, Warren, Vec<String>)| LoadSpec {
            actors: remote.clone(),
            ..load::post(
                &format!("invoke forwarded, {mode}, {connections} conns"),
                &a.addr,
                INVOKE,
                "",
                connections,
                duration,
            )
        };
        compare(
            spec("plaintext + secret", &pairs[0]),
            spec("mutual TLS", &pairs[1]),
        )
        .await?;
    }
    Ok(())
}
