//! TLS to PostgreSQL: a server started with `ssl=on`, a certificate from a CA made here,
//! and no plaintext over TCP. Hosts connect with `sslmode=verify-full`; a wrong root
//! certificate, or no TLS, is a clear error at start; `verify-ca` and `require` check
//! less, as libpq's do.

use std::path::{Path, PathBuf};
use std::process::Command;

use warren_host::protocol::tls::issue;

use super::cluster_host;
use crate::support::serve_fails;

/// A PostgreSQL server of its own serving TLS, stopped when dropped.
struct TlsServer {
    dir: PathBuf,
    url: String,
}

impl TlsServer {
    fn start(dir: &Path, cert: &Path, key: &Path) -> TlsServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let dir = dir.join("postgres");
        let out = Command::new(script)
            .arg("start")
            .arg(&dir)
            .env("WARREN_PG_SSL_CERT", cert)
            .env("WARREN_PG_SSL_KEY", key)
            .output()
            .expect("postgres.sh runs");
        assert!(
            out.status.success(),
            "postgres.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        TlsServer { dir, url }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let _ = Command::new(script).arg("stop").arg(&self.dir).status();
    }
}

#[tokio::test]
async fn hosts_reach_postgresql_over_verified_tls_and_a_wrong_root_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, other) = (dir.path().join("ca"), dir.path().join("other"));
    issue::init_ca(&ca).unwrap();
    issue::init_ca(&other).unwrap();
    let (cert, key) = issue::issue_host(&ca, "db", &["127.0.0.1".into()], &ca).unwrap();
    let server = TlsServer::start(dir.path(), &cert, &key);
    let root = |ca: &Path| ca.join("ca.pem").to_str().unwrap().to_string();
    let verified = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.url,
        root(&ca)
    );

    // Without TLS the server refuses the host, and the host says why.
    let (status, out) = serve_fails(&["--cluster", &server.url, "--cluster-secret", super::SECRET]);
    assert!(!status.success());
    assert!(
        out.contains("cannot open the cluster database") && out.contains("no encryption"),
        "{out}"
    );
    // A root certificate that did not sign the server's: refused before anything is sent.
    let wrong = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.url,
        root(&other)
    );
    let (status, out) = serve_fails(&["--cluster", &wrong, "--cluster-secret", super::SECRET]);
    assert!(!status.success());
    assert!(
        out.contains("cannot open the cluster database") && out.contains("certificate"),
        "{out}"
    );
    // verify-full without a root certificate says what it needs.
    let rootless = format!("{}?sslmode=verify-full", server.url);
    let (status, out) = serve_fails(&["--cluster", &rootless, "--cluster-secret", super::SECRET]);
    assert!(!status.success() && out.contains("sslrootcert"), "{out}");

    // With the right root, a host serves, and its connections are encrypted.
    let host_dir = tempfile::tempdir().unwrap();
    let host = cluster_host(host_dir.path(), &verified, &[]);
    assert_eq!(host.invoke_ok("counter", "over-tls", "add", "4").await, "4");
    // Plaintext over TCP is refused (above), so the host's connections are the TLS ones.
    assert!(host.log().contains("joined the cluster"), "{}", host.log());
    check_the_lesser_modes(&server, &root(&ca)).await;
}

/// Reached as `localhost`, a name the server's certificate does not hold: `verify-full`
/// refuses it, `verify-ca` (the chain alone) and `require` (encryption alone) serve.
async fn check_the_lesser_modes(server: &TlsServer, root: &str) {
    let by_name = server.url.replacen("@127.0.0.1:", "@localhost:", 1);
    assert_ne!(by_name, server.url);
    let full = format!("{by_name}?sslmode=verify-full&sslrootcert={root}");
    let (status, out) = serve_fails(&["--cluster", &full, "--cluster-secret", super::SECRET]);
    assert!(
        !status.success() && out.contains("not valid for name"),
        "{out}"
    );
    let chain_only = format!("{by_name}?sslmode=verify-ca&sslrootcert={root}");
    let encrypted_only = format!("{by_name}?sslmode=require");
    for (i, url) in [chain_only, encrypted_only].iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let host = cluster_host(dir.path(), url, &[]);
        let got = host
            .invoke_ok("counter", &format!("lesser-{i}"), "add", "1")
            .await;
        assert_eq!(got, "1", "{url}");
    }
}
