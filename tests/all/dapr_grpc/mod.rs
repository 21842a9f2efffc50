//! Dapr's gRPC API on Warren: the Python SDK's stubs and `ActorGrpcHost`, and a Rust
//! client of the `Actors/Stream` of Dapr's proposal.

mod actors_stream;
mod python;
mod subscribe_events;
mod tokens;

use std::time::Duration;

use crate::support::{Host, eventually};

/// Invoke over Dapr HTTP in the background; the handle yields status and body.
fn invoke_later(
    host: &Host,
    actor: &str,
    method: &str,
    body: &str,
) -> tokio::task::JoinHandle<(u16, String)> {
    let url = format!("{}/v1.0/actors/{actor}/method/{method}", host.url);
    let (client, body) = (host.client.clone(), body.to_string());
    tokio::spawn(async move {
        let response = client.post(url).body(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

/// Wait up to `timeout` for GET `path` to answer 404: a cancelled reminder goes away a
/// little after the answer that cancels it. Whether it went.
async fn becomes_not_found(host: &Host, path: &str, timeout: Duration) -> bool {
    eventually(timeout, || async {
        (host.get(path).await.status() == 404).then_some(())
    })
    .await
    .is_some()
}
