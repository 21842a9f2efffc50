//! Warren's tenant tokens on the Dapr gRPC API.

use tonic::Code;
use warren_host::wire::dapr_proto::runtime as rt;

use crate::support::{Host, guest};

#[tokio::test]
async fn grpc_token_names_the_tenant() {
    use crate::tenancy::ADMIN;
    let dir = tempfile::tempdir().unwrap();
    let counter = guest("counter");
    let host = Host::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN,
            "--deploy",
            counter.to_str().unwrap(),
        ],
    );
    let blue = host.tenant("blue", serde_json::json!({})).await;
    let mut client = rt::dapr_client::DaprClient::connect(host.grpc_url.clone())
        .await
        .unwrap();
    let add = |token: &str, n: &str| {
        let mut request = tonic::Request::new(rt::InvokeActorRequest {
            actor_type: "counter".into(),
            actor_id: "shared-id".into(),
            method: "add".into(),
            data: n.as_bytes().to_vec(),
            metadata: Default::default(),
        });
        request
            .metadata_mut()
            .insert("dapr-api-token", token.parse().unwrap());
        request
    };
    // Blue has not deployed the counter: the default tenant's is out of its reach.
    let refused = client.invoke_actor(add(&blue, "1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert!(
        refused.message().contains("\"blue\""),
        "{}",
        refused.message()
    );
    // Once blue deploys its own, the same actor id is blue's own actor.
    host.deploy_as(&blue, "counter").await;
    let reply = client.invoke_actor(add(&blue, "3")).await.unwrap();
    assert_eq!(reply.into_inner().data, b"3");
    assert_eq!(host.invoke_ok("counter", "shared-id", "get", "").await, "0");
    // Bearer works as on HTTP; a revoked or forged token does not.
    let mut request = add("", "4");
    request.metadata_mut().remove("dapr-api-token");
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {blue}").parse().unwrap());
    assert_eq!(
        client
            .invoke_actor(request)
            .await
            .unwrap()
            .into_inner()
            .data,
        b"7"
    );
    let forged = client
        .invoke_actor(add("not-a-token", "1"))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
}
