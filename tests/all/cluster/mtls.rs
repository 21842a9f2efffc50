//! Mutual TLS between cluster hosts, with a CA and certificates made by `warren cluster`:
//! three hosts forward calls to each other with no shared secret, and a process with a
//! certificate from another CA, or with none, is refused at the handshake, logged, and
//! runs nothing.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use warren_host::cluster::wire::pb;
use warren_host::protocol::tls::{MutualTls, MutualTlsFiles, provider, read_certs};
use warren_host::store::partition_of;
use warren_host::types::ActorId;

use super::{fresh_database, sql, wait_balanced};
use crate::opaca::client::Rp;
use crate::opaca::{calculator_container, deploy_calculator};
use crate::support::{Host, eventually, guest};

/// Run `warren cluster ARGS`; panics with its output unless it succeeds.
fn warren_cluster(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("cluster")
        .args(args)
        .output()
        .expect("run warren cluster");
    assert!(
        out.status.success(),
        "warren cluster {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA in `dir` with a certificate for each of `hosts`.
fn cluster_ca(dir: &Path, hosts: &[&str]) {
    let dir_arg = dir.to_str().unwrap();
    warren_cluster(&["ca", "init", "--dir", dir_arg]);
    for host in hosts {
        warren_cluster(&["cert", host, "--ca-dir", dir_arg, "--address", "127.0.0.1"]);
    }
}

/// A host of the cluster on `url` speaking mutual TLS as `name`, with no secret.
fn mtls_host(dir: &Path, url: &str, ca: &Path, name: &str) -> Host {
    let counter = guest("counter");
    let file = |f: String| ca.join(f).to_str().unwrap().to_string();
    let (ca_pem, cert, key) = (
        file("ca.pem".into()),
        file(format!("{name}.pem")),
        file(format!("{name}-key.pem")),
    );
    let args = [
        "--cluster",
        url,
        "--cluster-listen",
        "127.0.0.1:0",
        "--cluster-ca",
        &ca_pem,
        "--cluster-cert",
        &cert,
        "--cluster-key",
        &key,
        "--deploy",
        counter.to_str().unwrap(),
    ];
    Host::start(dir, &args)
}

/// One forwarded `add 1` to `counter/id`, sent as a host would.
fn forwarded(id: &str) -> pb::ForwardedInvocation {
    pb::ForwardedInvocation {
        target: Some(pb::ActorRef {
            tenant: "default".into(),
            actor_type: "counter".into(),
            id: id.into(),
        }),
        action: "add".into(),
        payload: b"1".to_vec(),
        deadline_ms: 5000,
        ..Default::default()
    }
}

/// A client of the host-to-host service at `address` over a TLS connection made by
/// `dial`.
async fn invoke_with<F, Fut>(address: &str, id: &str, dial: F) -> Result<pb::ForwardedReply, String>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>
        + Send,
{
    let authority = address.trim_start_matches("https://").to_string();
    // The connector makes the TLS session; tonic itself is to dial plain `http://`.
    let uri = format!("http://{authority}");
    let connector = tower::service_fn(move |_: tonic::codegen::http::Uri| {
        let (dial, authority) = (dial.clone(), authority.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(authority).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(dial(tcp).await?))
        }
    });
    let channel = tonic::transport::Endpoint::from_shared(uri)
        .unwrap()
        .connect_with_connector(connector)
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let mut client = pb::cluster_client::ClusterClient::new(channel);
    client
        .invoke(tonic::Request::new(forwarded(id)))
        .await
        .map(|r| r.into_inner())
        .map_err(|status| format!("{status:?}"))
}

#[tokio::test]
async fn hosts_speak_mutual_tls_and_refuse_peers_of_another_ca_or_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, other_ca) = (dir.path().join("ca"), dir.path().join("other-ca"));
    cluster_ca(&ca, &["h1", "h2", "h3"]);
    cluster_ca(&other_ca, &["h4"]);
    let url = fresh_database().await;
    let db = sql(&url).await;
    let hosts: Vec<Host> = ["h1", "h2", "h3"]
        .iter()
        .map(|name| mtls_host(&dir.path().join(name), &url, &ca, name))
        .collect();
    let ids = wait_balanced(&db, 3).await;
    assert!(
        ids.iter()
            .all(|id| ["h1-", "h2-", "h3-"].iter().any(|p| id.starts_with(p))),
        "{ids:?}"
    );
    check_every_host_answers_for_every_actor(&hosts).await;
    check_opaca_containers_are_shared(&hosts).await;

    let address: String = db
        .query_one("SELECT address FROM warren_hosts WHERE id LIKE 'h2-%'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(address.starts_with("https://"), "{address}");
    let id = owned_by(&db, "h2-").await;
    check_strangers_are_refused(&address, &id, &ca, &other_ca).await;

    let h2 = hosts
        .iter()
        .find(|h| h.log().contains("host=h2"))
        .expect("host h2");
    let logged = eventually(std::time::Duration::from_secs(5), || async {
        let refusals = h2
            .log()
            .lines()
            .filter(|l| l.contains("cluster peer refused at the TLS handshake"))
            .count();
        (refusals >= 2).then_some(())
    })
    .await;
    assert!(logged.is_some(), "refusals not logged:\n{}", h2.log());
    // Neither stranger ran anything; the member's call did.
    assert_eq!(hosts[0].invoke_ok("counter", &id, "get", "").await, "1");
}

/// Every host answers for every actor: most calls are forwarded, over mutual TLS.
async fn check_every_host_answers_for_every_actor(hosts: &[Host]) {
    for (n, host) in hosts.iter().enumerate() {
        for i in 0..12 {
            let got = host
                .invoke_ok("counter", &format!("m{i}"), "add", "1")
                .await;
            assert_eq!(got, (n + 1).to_string(), "counter m{i} through host {n}");
        }
    }
}

/// Without a secret the hosts are still one OPACA platform: a Wasm container started
/// through one host is listed and invoked through another.
async fn check_opaca_containers_are_shared(hosts: &[Host]) {
    deploy_calculator(&hosts[0]).await;
    let container = Rp::of(&hosts[0]).start(calculator_container()).await;
    let other = Rp::of(&hosts[1]);
    let listed = eventually(std::time::Duration::from_secs(10), || async {
        let containers = other.get("/containers").await.ok();
        containers
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["containerId"] == container.as_str()))
            .then_some(())
    })
    .await;
    assert!(listed.is_some(), "host 1 never listed {container}");
    // The other host compiles the component from the store on its own time: the
    // container may be listed there a moment before its agent is.
    let path = format!("/invoke/Add/calculator?containerId={container}");
    let sum = eventually(std::time::Duration::from_secs(30), || async {
        let reply = other
            .post(&path, serde_json::json!({"x": 20, "y": 22}))
            .await;
        (reply.status == 200).then(|| reply.json())
    })
    .await;
    assert_eq!(
        sum,
        Some(serde_json::json!(42)),
        "host 1 never ran the agent"
    );
}

/// At the host-to-host service at `address`: a client with a certificate of another CA
/// and one with none are refused; one with a certificate of the cluster's CA gets in
/// (so the refusals are the handshake's, not the test client's). Each sends `add 1` to
/// counter `id`, which the host at `address` owns.
async fn check_strangers_are_refused(address: &str, id: &str, ca: &Path, other_ca: &Path) {
    let as_host = |files: MutualTlsFiles| {
        let tls = MutualTls::load(&files).unwrap();
        move |tcp| {
            let tls = tls.clone();
            async move { tls.connect(tcp, "h2").await }
        }
    };
    let stranger = as_host(MutualTlsFiles {
        ca: ca.join("ca.pem"),
        cert: other_ca.join("h4.pem"),
        key: other_ca.join("h4-key.pem"),
    });
    let refused = invoke_with(address, id, stranger).await;
    assert!(
        refused.is_err(),
        "another CA's certificate was let in: {refused:?}"
    );
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(&ca.join("ca.pem")).unwrap() {
        roots.add(cert).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let anonymous = tokio_rustls::TlsConnector::from(Arc::new(config));
    let refused = invoke_with(address, id, move |tcp| {
        let anonymous = anonymous.clone();
        async move {
            let name = rustls_pki_types::ServerName::try_from("h2").unwrap();
            anonymous.connect(name, tcp).await
        }
    })
    .await;
    assert!(
        refused.is_err(),
        "a client without a certificate was let in: {refused:?}"
    );
    let member = as_host(MutualTlsFiles {
        ca: ca.join("ca.pem"),
        cert: ca.join("h1.pem"),
        key: ca.join("h1-key.pem"),
    });
    let reply = invoke_with(address, id, member)
        .await
        .expect("a cluster certificate was refused");
    assert!(
        matches!(reply.outcome, Some(pb::forwarded_reply::Outcome::Ok(ref r)) if r.data == b"1"),
        "the owner did not run a member's call: {reply:?}"
    );
}

/// A counter id whose partition the host with id prefix `host` owns.
async fn owned_by(db: &tokio_postgres::Client, host: &str) -> String {
    let owned: Vec<i32> = db
        .query(
            "SELECT partition FROM warren_partitions WHERE owner LIKE $1 || '%'",
            &[&host],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    (0..)
        .map(|i| format!("stranger{i}"))
        .find(|id| {
            let actor = ActorId::new("default", "counter", id);
            owned.contains(&(partition_of(&actor) as i32))
        })
        .unwrap()
}
