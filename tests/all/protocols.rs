//! `--protocols`: a host speaks the protocols it enables and no other; the host's own API
//! (admin, inspection, console) is there either way.

use crate::support::*;

/// The status of a GET of `path` on the host's main listener.
async fn get(host: &Host, path: &str) -> u16 {
    host.get(path).await.status().as_u16()
}

#[tokio::test]
async fn a_host_speaks_only_the_protocols_it_enables() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--protocols", "dapr"]);
    // Dapr: its HTTP API on the main listener, and its gRPC listener.
    assert_eq!(get(&host, "/v1.0/metadata").await, 200);
    assert!(listening(port_of(&host.grpc_url).parse().unwrap()).await);
    // Spawn's routes are not served, and OPACA opened no listener.
    assert_eq!(get(&host, "/health/liveness").await, 404);
    assert_eq!(host.opaca_url, "http://", "OPACA has a listener");
    assert!(!host.log().contains("listener=opaca"), "{}", host.log());
    assert_eq!(get(&host, "/admin/v1/components").await, 200);
    drop(host);

    let host = Host::start(dir.path(), &["--protocols", "spawn,opaca"]);
    assert_eq!(get(&host, "/health/liveness").await, 200);
    let info = host.client.get(format!("{}/info", host.opaca_url)).send();
    assert_eq!(info.await.expect("OPACA answers").status(), 200);
    // No Dapr: neither its HTTP routes nor a gRPC listener.
    assert_eq!(get(&host, "/v1.0/metadata").await, 404);
    assert_eq!(host.grpc_url, "http://", "Dapr's gRPC has a listener");
    assert_eq!(get(&host, "/admin/v1/components").await, 200);
}

#[test]
fn an_unknown_protocol_is_refused_at_start() {
    let (status, text) = serve_fails(&["--protocols", "dapr,nats"]);
    assert!(!status.success());
    assert!(text.contains("invalid value 'nats'"), "{text}");
    assert!(text.contains("dapr, spawn, opaca"), "{text}");
}
