//! Who may run and talk as a cluster host: bad cluster settings fail at start with a clear
//! error, and host-to-host calls need the cluster secret.

use super::{SECRET, TestCluster, fresh_database, sql};
use crate::support::serve_fails;

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
