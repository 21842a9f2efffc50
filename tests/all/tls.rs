//! TLS on the public listeners, with a CA and certificates each test makes: curl, Dapr's
//! Python SDK and its gRPC stubs call a Wasm actor with the CA and fail cleanly without
//! it; a rotated certificate is served to new connections while an open one keeps
//! working; a broken pair is refused at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::support::{Host, Place, eventually, guest, port_of, python, serve_fails};

/// A certificate authority made for one test.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, written to `ca.pem` in the test's directory.
    path: PathBuf,
}

impl TestCa {
    fn new(dir: &Path) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Warren test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, cert.pem()).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            path,
        }
    }

    /// A certificate for 127.0.0.1 and localhost, with its key, as PEM.
    fn issue(&self) -> (String, String) {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Issue a certificate into `cert.pem` and `key.pem` of `dir`, each replaced whole
    /// (written beside it, then renamed over it).
    fn issue_into(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue();
        let paths = (dir.join("cert.pem"), dir.join("key.pem"));
        for (path, pem) in [(&paths.0, cert), (&paths.1, key)] {
            let next = path.with_extension("next");
            std::fs::write(&next, pem).unwrap();
            std::fs::rename(&next, path).unwrap();
        }
        paths
    }
}

/// A host serving TLS with a certificate of `ca`, and a counter to call.
fn tls_host(dir: &Path, ca: &TestCa) -> Host {
    let (cert, key) = ca.issue_into(dir);
    let counter = guest("counter");
    Host::start(
        &dir.join("data"),
        &[
            "--deploy",
            counter.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
}

fn https(url: &str) -> String {
    url.replace("http://", "https://")
}

/// curl's exit code and output for `args`.
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn https_callers_with_the_test_ca_reach_a_wasm_actor_and_fail_cleanly_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let host = tls_host(dir.path(), &ca);
    let add = format!(
        "{}/v1.0/actors/counter/tls-curl/method/add",
        https(&host.url)
    );
    let ca_path = ca.path.to_str().unwrap();

    let (code, body) = curl(&["--cacert", ca_path, "-X", "POST", "-d", "3", &add]);
    assert_eq!((code, body.as_str()), (0, "3"), "curl with the CA");
    // HTTP/2 is offered by ALPN.
    let (code, version) = curl(&[
        "--cacert",
        ca_path,
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &format!("{}/v1.0/healthz", https(&host.url)),
    ]);
    assert_eq!((code, version.as_str()), (0, "2"), "HTTP/2 over TLS");

    // Without the CA: curl's certificate error (60), nothing else.
    let (code, said) = curl(&["-X", "POST", "-d", "3", &add]);
    assert_eq!(code, 60, "curl without the CA: {said}");
    // Plain HTTP to the TLS port: a clear answer, not a hang.
    let plain = format!("{}/v1.0/healthz", host.url);
    let (code, said) = curl(&["-w", " %{http_code}", &plain]);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("this port speaks TLS") && said.ends_with(" 400"),
        "{said}"
    );
    // The refused attempts lost nothing.
    let (_, body) = curl(&["--cacert", ca_path, "-X", "POST", "-d", "1", &add]);
    assert_eq!(body, "4");
    check_the_cli(&host, ca_path);
    check_the_dapr_sdk_and_grpc_stubs(&host, &ca);
}

/// Warren's own CLI, trusting the CA by `--ca-cert`, and refused without it.
fn check_the_cli(host: &Host, ca_path: &str) {
    let cli = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_warren"))
            .args(["invoke", "counter/tls-curl", "add", "--data", "2"])
            .args(["--url", &https(&host.url)])
            .args(extra)
            .output()
            .expect("warren runs");
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (
            out.status.success(),
            said,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, said, err) = cli(&["--ca-cert", ca_path]);
    assert!(ok && said == "6", "{said} {err}");
    let (ok, _, err) = cli(&[]);
    assert!(!ok && err.contains("certificate"), "{err}");
}

/// Dapr's Python SDK over HTTPS and its gRPC stubs over TLS, with the CA and without.
fn check_the_dapr_sdk_and_grpc_stubs(host: &Host, ca: &TestCa) {
    let grpc_target = format!("127.0.0.1:{}", port_of(&host.grpc_url));
    let sdk = |mode: &str| {
        let mut command = python("tls_client.py");
        command
            .arg(mode)
            .env("DAPR_HTTP_ENDPOINT", https(&host.url))
            .env("DAPR_GRPC_TARGET", &grpc_target)
            .env("DAPR_HEALTH_TIMEOUT", "3")
            .env_remove("SSL_CERT_FILE");
        if mode == "trusted" {
            command
                .env("SSL_CERT_FILE", &ca.path)
                .env("WARREN_TEST_CA", &ca.path);
        }
        let out = command.output().expect("python runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains(&format!("tls client {mode}: ok")),
            "{mode}: {text}\nhost log:\n{}",
            host.log()
        );
    };
    sdk("trusted");
    sdk("untrusted");
}

/// A TLS client trusting only `ca`, speaking HTTP/1.1.
fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let provider = warren_protocol::tls::provider();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A kept-alive HTTP/1.1 connection over TLS to `address`, with the certificate the
/// listener served it.
async fn connect(
    address: SocketAddr,
    ca: &Path,
) -> (
    CertificateDer<'static>,
    hyper::client::conn::http1::SendRequest<String>,
) {
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = ServerName::IpAddress(address.ip().into());
    let session = tokio_rustls::TlsConnector::from(client_config(ca))
        .connect(name, tcp)
        .await
        .unwrap();
    let served = session.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(session))
        .await
        .unwrap();
    tokio::spawn(connection);
    (served, send)
}

/// The status of `GET /v1.0/healthz` on `send`'s connection.
async fn healthz(send: &mut hyper::client::conn::http1::SendRequest<String>) -> u16 {
    let request = hyper::Request::get("/v1.0/healthz")
        .header("host", "127.0.0.1")
        .body(String::new())
        .unwrap();
    send.send_request(request).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_rotated_certificate_is_served_to_new_connections_while_open_ones_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let host = tls_host(dir.path(), &ca);
    let address: SocketAddr = host.url.trim_start_matches("http://").parse().unwrap();
    let (first, mut open) = connect(address, &ca.path).await;
    assert_eq!(healthz(&mut open).await, 204);

    // A broken pair on disk (a new certificate, the old key) is refused, and the
    // certificate served so far stays.
    let (cert, _) = ca.issue();
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    let refused = eventually(Duration::from_secs(15), || async {
        host.log()
            .contains("TLS certificate not reloaded")
            .then_some(())
    })
    .await;
    assert!(refused.is_some(), "no refusal logged:\n{}", host.log());
    assert_eq!(connect(address, &ca.path).await.0, first);

    ca.issue_into(dir.path());
    let rotated = eventually(Duration::from_secs(15), || async {
        let (served, _) = connect(address, &ca.path).await;
        (served != first).then_some(served)
    })
    .await;
    assert!(
        rotated.is_some(),
        "the new certificate was never served:\n{}",
        host.log()
    );
    // The connection opened before the rotation keeps its session.
    assert_eq!(healthz(&mut open).await, 204);
}

/// The certificate `address` serves to a TLS client trusting only `ca`, or why the
/// handshake failed.
async fn served_certificate(address: &str, ca: &Path) -> Result<CertificateDer<'static>, String> {
    let address: SocketAddr = address
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = ServerName::IpAddress(address.ip().into());
    let session = tokio_rustls::TlsConnector::from(client_config(ca))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(session.get_ref().1.peer_certificates().unwrap()[0].clone())
}

#[tokio::test]
async fn sighup_reloads_a_certificate_whose_files_kept_their_modification_times() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let host = tls_host(dir.path(), &ca);
    let first = served_certificate(&host.url, &ca.path).await.unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let times: Vec<_> = [&cert, &key]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    // A new pair whose files look untouched: only SIGHUP can tell the host.
    ca.issue_into(dir.path());
    for (path, time) in [&cert, &key].into_iter().zip(times) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(time).unwrap();
    }
    // Longer than the files' watch period (2 s): the watch saw no change.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        served_certificate(&host.url, &ca.path).await.unwrap(),
        first
    );
    host.signal("HUP");
    let rotated = eventually(Duration::from_secs(10), || async {
        let served = served_certificate(&host.url, &ca.path).await.unwrap();
        (served != first).then_some(())
    })
    .await;
    assert!(rotated.is_some(), "SIGHUP did not reload:\n{}", host.log());
}

#[tokio::test]
async fn a_listener_given_its_own_certificate_serves_it_and_the_others_serve_the_common_one() {
    let dir = tempfile::tempdir().unwrap();
    let (common_dir, grpc_dir) = (dir.path().join("common"), dir.path().join("grpc"));
    std::fs::create_dir_all(&common_dir).unwrap();
    std::fs::create_dir_all(&grpc_dir).unwrap();
    let (common_ca, grpc_ca) = (TestCa::new(&common_dir), TestCa::new(&grpc_dir));
    let (cert, key) = common_ca.issue_into(&common_dir);
    let (grpc_cert, grpc_key) = grpc_ca.issue_into(&grpc_dir);
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    let host = Host::start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            &path(&cert),
            "--tls-key",
            &path(&key),
            "--grpc-tls-cert",
            &path(&grpc_cert),
            "--grpc-tls-key",
            &path(&grpc_key),
        ],
    );
    for url in [&host.url, &host.opaca_url] {
        served_certificate(url, &common_ca.path).await.unwrap();
        let refused = served_certificate(url, &grpc_ca.path).await.unwrap_err();
        assert!(
            refused.contains("invalid peer certificate"),
            "{url}: {refused}"
        );
    }
    served_certificate(&host.grpc_url, &grpc_ca.path)
        .await
        .unwrap();
    let refused = served_certificate(&host.grpc_url, &common_ca.path)
        .await
        .unwrap_err();
    assert!(refused.contains("invalid peer certificate"), "{refused}");
    // The log says which listener speaks TLS.
    let log = host.log();
    assert_eq!(log.matches("tls=true").count(), 3, "{log}");
}

#[test]
fn a_key_that_does_not_fit_its_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (cert, _) = ca.issue();
    let (_, other_key) = ca.issue();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, other_key).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let (status, text) = serve_fails(&["--tls-cert", cert_arg, "--tls-key", key_arg]);
    assert!(!status.success());
    assert!(text.contains("cannot serve TLS"), "{text}");
    assert!(text.contains(key_path.to_str().unwrap()), "{text}");
}

#[test]
fn listeners_beyond_loopback_are_warned_about_unless_they_speak_tls() {
    let dir = tempfile::tempdir().unwrap();
    let everywhere = Place {
        netns: None,
        ip: "0.0.0.0".into(),
    };
    let plain = Host::start_at(
        everywhere.clone(),
        &dir.path().join("plain"),
        &[],
        "info",
        &[],
    );
    let warnings = |host: &Host| {
        host.log()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("without TLS"))
            .map(|l| l.split(" listener=").nth(1).unwrap_or("").to_string())
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        warnings(&plain),
        ["http", "grpc", "opaca"],
        "{}",
        plain.log()
    );
    let loopback = Host::start(&dir.path().join("loopback"), &[]);
    assert!(warnings(&loopback).is_empty(), "{}", loopback.log());

    let ca = TestCa::new(dir.path());
    let (cert, key) = ca.issue_into(dir.path());
    let tls_args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let secure = Host::start_at(everywhere, &dir.path().join("tls"), &tls_args, "info", &[]);
    assert!(warnings(&secure).is_empty(), "{}", secure.log());
}
