//! Callers that go away: a message that reached the host runs as one whole turn, once,
//! whatever its caller does after sending it.

use std::time::Duration;

use crate::sandbox::hostile_host;
use crate::support::eventually;

#[tokio::test]
async fn a_client_that_hangs_up_mid_turn_does_not_cut_the_turn_off() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &[]);
    // Ten slow turns on one actor; every client gives up long before its turn ends (the
    // first is mid-turn, the others wait for the actor).
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(40))
        .build()
        .unwrap();
    let url = format!("{}/v1.0/actors/sleeper/gone/method/slow-count", host.url);
    let sends = (0..10).map(|_| impatient.post(&url).body("100").send());
    for sent in futures::future::join_all(sends).await {
        assert!(sent.is_err_and(|e| e.is_timeout()), "the client gave up");
    }
    // Each turn still ran to its end once: its count committed, its cast sent after it.
    let read = |path: &'static str| {
        let host = &host;
        async move {
            let response = host.get(path).await;
            (response.status() == 200)
                .then_some(())
                .map(|()| response)?
                .text()
                .await
                .ok()
        }
    };
    // Until the sleeper's count and the counter's total (its casts) both reach `n`.
    let reach = |n: &'static str| {
        let read = &read;
        async move {
            let counted = eventually(Duration::from_secs(10), || async {
                let count = read("/v1.0/actors/sleeper/gone/state/count").await?;
                let total = read("/v1.0/actors/counter/gone/state/total").await?;
                (count == n && total == n).then_some(())
            })
            .await;
            assert!(
                counted.is_some(),
                "count {:?}, casts delivered {:?}, expected {n}",
                read("/v1.0/actors/sleeper/gone/state/count").await,
                read("/v1.0/actors/counter/gone/state/total").await
            );
        }
    };
    reach("10").await;

    // The same over gRPC, where the call's own deadline (grpc-timeout) passes mid-turn.
    use warren_host::wire::dapr_proto::runtime as rt;
    let mut client = rt::dapr_client::DaprClient::connect(host.grpc_url.clone())
        .await
        .unwrap();
    for _ in 0..3 {
        let mut request = tonic::Request::new(rt::InvokeActorRequest {
            actor_type: "sleeper".into(),
            actor_id: "gone".into(),
            method: "slow-count".into(),
            data: b"100".to_vec(),
            metadata: Default::default(),
        });
        request.set_timeout(Duration::from_millis(40));
        let refused = client.invoke_actor(request).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Cancelled, "{refused:?}");
    }
    reach("13").await;
    // And the actor serves on, from the state its turns left.
    assert_eq!(
        host.invoke_ok("sleeper", "gone", "slow-count", "0").await,
        "14"
    );
}
