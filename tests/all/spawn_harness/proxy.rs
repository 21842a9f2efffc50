//! Calling the proxy's routes as an SDK does: registration, spawning and invocation.

use prost::Message;

use super::OK;
use super::builders::code;
use super::messages::*;
use crate::support::Host;

/// POST `body` to `path` with `content_type`; returns the status and the raw response body.
pub async fn post_raw(
    host: &Host,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    post_raw_as(host, path, content_type, None, body).await
}

/// `post_raw` with `authorization: Bearer TOKEN` when given: the Spawn routes take Warren's
/// tokens when it has some configured.
pub async fn post_raw_as(
    host: &Host,
    path: &str,
    content_type: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let mut request = host
        .client
        .post(format!("{}{path}", host.url))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(token) = token {
        request = request.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path} failed: {e}"));
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// POST `body` as protobuf to `path` and decode the reply as `M`, whatever the status (errors
/// carry a protobuf body too).
pub async fn post_proto<M: Message + Default>(
    host: &Host,
    path: &str,
    body: &impl Message,
) -> (u16, M) {
    let (status, bytes) =
        post_raw(host, path, "application/octet-stream", body.encode_to_vec()).await;
    let message = M::decode(bytes.as_slice()).unwrap_or_else(|e| {
        panic!(
            "POST {path}: {status} with a body that is not the expected message ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, message)
}

/// The `ServiceInfo` this harness registers with (an old SDK's protocol version, 1.1).
pub fn service_info() -> ServiceInfo {
    ServiceInfo {
        service_name: "warren-spawn-tests".to_string(),
        service_version: "0.1.0".to_string(),
        service_runtime: "rust".to_string(),
        support_library_name: "spawn_harness".to_string(),
        support_library_version: "0.1.0".to_string(),
        protocol_major_version: 1,
        protocol_minor_version: 1,
    }
}

/// The `RegistrationRequest` an SDK sends at start for `actors` in `system`.
pub fn registration(system: &str, actors: Vec<Actor>) -> RegistrationRequest {
    let actors = actors
        .into_iter()
        .map(|mut actor| {
            let name = {
                let id = actor.id.get_or_insert_with(Default::default);
                id.system = system.to_string();
                id.name.clone()
            };
            (name, actor)
        })
        .collect();
    RegistrationRequest {
        service_info: Some(service_info()),
        actor_system: Some(ActorSystem {
            name: system.to_string(),
            registry: Some(Registry { actors }),
        }),
    }
}

/// Register `actors` in `system`; returns the status and the decoded reply, whatever they are.
pub async fn try_register(
    host: &Host,
    system: &str,
    actors: Vec<Actor>,
) -> (u16, RegistrationResponse) {
    post_proto(host, "/api/v1/system", &registration(system, actors)).await
}

/// Register `actors` in `system` as an SDK does at start; asserts 200 and OK.
pub async fn register(host: &Host, system: &str, actors: Vec<Actor>) -> RegistrationResponse {
    let (status, response) = try_register(host, system, actors).await;
    assert!(
        status == 200 && code(&response.status) == OK,
        "registering {system}: {status} {:?}",
        response.status
    );
    response
}

/// `POST .../actors/spawn[?revision=N]` for `actors`; asserts 200 and OK.
pub async fn spawn_actors(host: &Host, system: &str, actors: Vec<ActorId>, revision: Option<i64>) {
    let query = revision.map_or(String::new(), |r| format!("?revision={r}"));
    let path = format!("/api/v1/system/{system}/actors/spawn{query}");
    let (status, response) =
        post_proto::<SpawnResponse>(host, &path, &SpawnRequest { actors }).await;
    assert!(
        status == 200 && code(&response.status) == OK,
        "POST {path}: {status} {:?}",
        response.status
    );
}

/// Send `request` to its actor's invoke route; returns the status and the decoded reply.
pub async fn invoke(host: &Host, request: &InvocationRequest) -> (u16, InvocationResponse) {
    let (system, actor) = request.target();
    let path = format!("/api/v1/system/{system}/actors/{actor}/invoke");
    post_proto(host, &path, request).await
}

/// Invoke and expect 200 with status OK; returns the reply.
pub async fn invoke_ok(host: &Host, request: &InvocationRequest) -> InvocationResponse {
    let (status, response) = invoke(host, request).await;
    let (system, actor) = request.target();
    assert!(
        status == 200 && code(&response.status) == OK,
        "{system}/{actor}.{} failed: {status} {:?}",
        request.action_name,
        response.status
    );
    response
}

impl InvocationRequest {
    /// The system and actor the request is for: they name its invoke route.
    fn target(&self) -> (&str, &str) {
        let system = self.system.as_ref().map_or("", |s| s.name.as_str());
        let actor = self
            .actor
            .as_ref()
            .and_then(|a| a.id.as_ref())
            .map_or("", |id| id.name.as_str());
        (system, actor)
    }
}
