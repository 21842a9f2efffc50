//! The Python SDK's generated stubs and its `ActorGrpcHost`, unchanged, against Warren.

use std::time::Duration;

use crate::support::{App, Host, eventually, guest, port_of, python, run_app_client, run_client};

#[tokio::test]
async fn python_grpc_stubs_call_every_actor_rpc_on_wasm_actors() {
    let dir = tempfile::tempdir().unwrap();
    let (counter, hostile) = (guest("counter"), guest("hostile"));
    let host = Host::start(
        dir.path(),
        &[
            "--api-token",
            "grpc-secret",
            "--deploy",
            counter.to_str().unwrap(),
            "--deploy",
            hostile.to_str().unwrap(),
        ],
    );
    let mut command = python("grpc_stubs.py");
    command
        .env("DAPR_GRPC_ENDPOINT", &host.grpc_url)
        .env("DAPR_API_TOKEN", "grpc-secret");
    run_client(command, &host);
}

#[tokio::test]
async fn python_actor_grpc_host_hosts_a_type_over_subscribe_actor_events() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--idle-timeout", "1m"]);
    let mut app = python("counter_grpc_host.py");
    app.env("DAPR_GRPC_PORT", port_of(&host.grpc_url));
    let app = App::spawn(app, "the Python gRPC host");
    // ActorProxy over HTTP, through Warren, into the app over its stream.
    run_app_client(&host).await;

    // The app goes away: its stream closes and Warren stops hosting the type.
    drop(app);
    let gone = eventually(Duration::from_secs(10), || async {
        let (status, body) = host.invoke("PyCounter", "p1", "Get", "").await;
        (status == 500 && body.contains("not hosted")).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "PyCounter still hosted after its stream closed"
    );
    assert_eq!(
        host.get("/v1.0/actors/PyCounter/p1/state/total")
            .await
            .status(),
        403,
        "an unhosted type's state is not readable"
    );
}
