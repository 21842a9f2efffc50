//! Who may run and talk as a cluster host: bad cluster settings fail at start with a clear
//! error, and host-to-host calls need the cluster secret.

use super::{SECRET, TestCluster, fresh_database, sql};

/// Runs `warren serve` with `args` and expects it to exit by itself; a host that
/// keeps serving for 30 s is killed and fails the test instead of hanging it.
pub(super) fn serve_fails(args: &[&str]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--opaca",
            "127.0.0.1:0",
        ])
        .args(["--cluster-listen", "127.0.0.1:0"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run warren");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut kept_serving = false;
    while child.try_wait().expect("wait for warren").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            kept_serving = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("collect warren's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !kept_serving,
        "the host was expected to refuse to start, but it served:\n{text}"
    );
    (out.status, text)
}

#[tokio::test]
async fn bad_cluster_settings_fail_at_start_with_a_clear_error() {
    // Nothing listens on port 1.
    let (status, out) = serve_fails(&[
        "--cluster",
        "postgres://warren@127.0.0.1:1/nowhere",
        "--cluster-secret",
        SECRET,
    ]);
    assert!(!status.success());
    assert!(out.contains("cannot open the cluster database"), "{out}");
    // A wrong password: PostgreSQL's own reason, and nothing created.
    let url = fresh_database().await;
    let (credentials, server) = url.split_once('@').unwrap();
    let (user, _) = credentials
        .rsplit_once(':')
        .expect("the test server's URL has a password");
    let wrong = format!("{user}:not-the-password@{server}");
    let (status, out) = serve_fails(&["--cluster", &wrong, "--cluster-secret", SECRET]);
    assert!(!status.success());
    assert!(out.contains("cannot open the cluster database"), "{out}");
    assert!(out.contains("password authentication failed"), "{out}");
    assert!(
        !out.contains("not-the-password"),
        "the password was printed: {out}"
    );
    let tables: i64 = sql(&url)
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'warren%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a host that could not log in created tables");

    let (status, out) = serve_fails(&["--cluster", "postgres://warren@127.0.0.1:1/x"]);
    assert!(!status.success());
    assert!(out.contains("--cluster-secret"), "{out}");
    let (status, out) = serve_fails(&["--cluster", "mysql://nope", "--cluster-secret", SECRET]);
    assert!(!status.success());
    assert!(out.contains("not a PostgreSQL URL"), "{out}");

    // A database a newer Warren migrated: refused, and nothing written to it.
    let url = fresh_database().await;
    let db = sql(&url).await;
    db.batch_execute(
        "CREATE TABLE warren_schema (version integer NOT NULL);
         INSERT INTO warren_schema VALUES (99);",
    )
    .await
    .unwrap();
    let (status, out) = serve_fails(&["--cluster", &url, "--cluster-secret", SECRET]);
    assert!(!status.success());
    assert!(out.contains("newer than this Warren knows"), "{out}");
    let tables: i64 = db
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'warren%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "only warren_schema exists");
    let (status, out) = serve_fails(&[
        "--cluster",
        "postgres://warren@127.0.0.1:1/x",
        "--cluster-secret",
        "short",
    ]);
    assert!(!status.success());
    assert!(out.contains("16 characters"), "{out}");
}

#[tokio::test]
async fn host_to_host_calls_need_the_cluster_secret() {
    use warren_host::cluster::wire::pb;
    let cluster = TestCluster::start(1, &[]).await;
    let (db, host) = (&cluster.db, &cluster.hosts[0]);
    let address: String = db
        .query_one("SELECT address FROM warren_hosts", &[])
        .await
        .unwrap()
        .get(0);
    let mut client = pb::cluster_client::ClusterClient::connect(address)
        .await
        .unwrap();
    let forwarded = || pb::ForwardedInvocation {
        target: Some(pb::ActorRef {
            tenant: "default".into(),
            actor_type: "counter".into(),
            id: "secret".into(),
        }),
        action: "add".into(),
        payload: b"1".to_vec(),
        deadline_ms: 5000,
        ..Default::default()
    };
    for secret in [None, Some("not-the-cluster-secret")] {
        let mut request = tonic::Request::new(forwarded());
        if let Some(secret) = secret {
            request
                .metadata_mut()
                .insert(warren_host::cluster::SECRET_HEADER, secret.parse().unwrap());
        }
        let refused = client.invoke(request).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    }
    assert_eq!(
        host.invoke_ok("counter", "secret", "get", "").await,
        "0",
        "nothing ran"
    );
    // With the secret, the owner runs it.
    let mut request = tonic::Request::new(forwarded());
    request
        .metadata_mut()
        .insert(warren_host::cluster::SECRET_HEADER, SECRET.parse().unwrap());
    let reply = client.invoke(request).await.unwrap().into_inner();
    assert!(
        matches!(reply.outcome, Some(pb::forwarded_reply::Outcome::Ok(ref r)) if r.data == b"1"),
        "{reply:?}"
    );
}
