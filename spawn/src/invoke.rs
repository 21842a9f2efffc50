//! `POST .../actors/spawn` and `POST .../actors/{actor}/invoke`. Spawn routes on the body:
//! the path's system and actor only fill in what the body leaves empty.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prost::Message;
use prost_types::Any;

use super::{SpawnState, proto, status, tenant};
use crate::runtime::{ActorId, CallMode, Invocation, InvokeError, Trigger};
use crate::types::workflow::Address;
use crate::wire::spawn::{json_type_url_of, payload_any, payload_bytes, pb, spawn_id};
use warren_protocol::Access;

/// The answer to a spawn request that failed.
fn spawn_failed(message: String) -> Response {
    let reply = pb::SpawnResponse {
        status: Some(status(false, message)),
    };
    proto(StatusCode::INTERNAL_SERVER_ERROR, &reply)
}

/// `POST /api/v1/system/{system}/actors/spawn`: create the instances a `SpawnRequest`
/// names (from `?revision=N` of their stored state, when given), answered by a
/// `SpawnResponse`.
pub(super) async fn spawn(
    State(state): State<SpawnState>,
    access: Access,
    Path(system): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    // Parsed here rather than by the extractor, so a bad value is answered in Spawn's
    // protobuf like every other failure.
    let revision = match query.get("revision") {
        None => None,
        Some(text) => match text.trim().parse::<i64>() {
            Ok(revision) => Some(revision),
            Err(e) => {
                return spawn_failed(format!("?revision={text:?} is not a revision number: {e}"));
            }
        },
    };
    let request = match pb::SpawnRequest::decode(body) {
        Ok(r) => r,
        Err(e) => return spawn_failed(format!("the body is not a Spawn SpawnRequest: {e}")),
    };
    let runtime = &state.runtime;
    for id in request.actors {
        let system = if id.system.is_empty() {
            &system
        } else {
            &id.system
        };
        let tenant = match tenant(&access, system) {
            Ok(t) => t,
            Err(denied) => return denied.into_response(),
        };
        let address = Address {
            name: id.name,
            parent: Some(id.parent).filter(|p| !p.is_empty()),
        };
        let actor = match runtime.resolve(&tenant, &address).await {
            Ok(actor) => actor,
            Err(e) => return spawn_failed(e.to_string()),
        };
        if let Some(revision) = revision
            && let Err(e) = runtime.restore_revision(&actor, revision).await
        {
            return spawn_failed(e.to_string());
        }
    }
    let reply = pb::SpawnResponse {
        status: Some(status(true, "Accepted")),
    };
    proto(StatusCode::OK, &reply)
}

/// An invocation's answer: the request's system and actor echoed, with the payload.
fn answer(
    request: &pb::InvocationRequest,
    code: StatusCode,
    ok: bool,
    message: String,
    payload: Option<pb::invocation_response::Payload>,
) -> Response {
    let reply = pb::InvocationResponse {
        status: Some(status(ok, message)),
        system: request.system.clone(),
        actor: request.actor.clone(),
        payload,
    };
    proto(code, &reply)
}

/// A failed invocation's answer: 500 with status ERROR.
fn failed(request: &pb::InvocationRequest, message: String) -> Response {
    answer(
        request,
        StatusCode::INTERNAL_SERVER_ERROR,
        false,
        message,
        None,
    )
}

/// How long the caller waits: Spawn's `request-timeout` metadata (milliseconds), within
/// the tenant's turn timeout, which a caller may shorten but not extend.
fn deadline(state: &SpawnState, tenant: &str, metadata: &HashMap<String, String>) -> Instant {
    let asked = metadata
        .get("request-timeout")
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    state.runtime.deadline_within(tenant, asked)
}

/// `POST /api/v1/system/{system}/actors/{actor}/invoke`: an `InvocationRequest`, run as a
/// call, a cast (`async`) or a scheduled call (`scheduled_to`), answered by an
/// `InvocationResponse`.
pub(super) async fn invoke(
    State(state): State<SpawnState>,
    access: Access,
    Path((system, actor)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut request = match pb::InvocationRequest::decode(body) {
        Ok(r) => r,
        Err(e) => return undecodable(e),
    };
    let system = system_of(&request, system);
    let tenant = match tenant(&access, &system) {
        Ok(t) => t,
        Err(denied) => return denied.into_response(),
    };
    let address = address_of(&request, actor);
    let target = match state.runtime.resolve(&tenant, &address).await {
        Ok(target) => target,
        Err(e) => return not_resolved(&request, &system, &address, e),
    };
    name_found_actor(&mut request, &target);
    let json_type_url = json_type_url_of(value_of(&request)).to_string();
    let invocation = invocation_of(&state, &tenant, &request, target);
    run(&state, &request, invocation, &json_type_url).await
}

/// The answer to a body that is no `InvocationRequest`.
fn undecodable(e: prost::DecodeError) -> Response {
    let reply = pb::InvocationResponse {
        status: Some(status(
            false,
            format!("the body is not a Spawn InvocationRequest: {e}"),
        )),
        ..Default::default()
    };
    proto(StatusCode::INTERNAL_SERVER_ERROR, &reply)
}

/// The system a request is for: the body's, else the path's.
fn system_of(request: &pb::InvocationRequest, path_system: String) -> String {
    request
        .system
        .as_ref()
        .map(|s| s.name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or(path_system)
}

/// The actor a request names: the body's name, else the path's, with the template to
/// spawn it from (`register_ref`, else the id's `parent`) if it has one.
fn address_of(request: &pb::InvocationRequest, path_actor: String) -> Address {
    let id = request
        .actor
        .as_ref()
        .and_then(|a| a.id.clone())
        .unwrap_or_default();
    Address {
        name: if id.name.is_empty() {
            path_actor
        } else {
            id.name
        },
        parent: [&request.register_ref, &id.parent]
            .into_iter()
            .find(|p| !p.is_empty())
            .cloned(),
    }
}

/// The answer when the request's actor cannot be found or spawned.
fn not_resolved(
    request: &pb::InvocationRequest,
    system: &str,
    address: &Address,
    e: InvokeError,
) -> Response {
    // Spawn's own status and words when the name finds no actor; other refusals say why.
    if let InvokeError::ActorTypeNotFound { .. } = e {
        let message = format!(
            "Actor {} not found on ActorSystem {system}: {e}",
            address.name
        );
        let reply = pb::InvocationResponse {
            status: Some(pb::RequestStatus {
                status: pb::Status::ActorNotFound as i32,
                message,
            }),
            system: request.system.clone(),
            actor: request.actor.clone(),
            payload: None,
        };
        return proto(StatusCode::INTERNAL_SERVER_ERROR, &reply);
    }
    failed(request, e.to_string())
}

/// Make the request, which the answer echoes, name the actor found: an instance of an
/// UNNAMED type with its type as `parent`, as Spawn does, even when the request named it
/// by its name alone.
fn name_found_actor(request: &mut pb::InvocationRequest, target: &ActorId) {
    if let Some(id) = request.actor.as_mut().and_then(|a| a.id.as_mut())
        && id.parent.is_empty()
    {
        id.parent = spawn_id(target).parent;
    }
}

/// The request's payload, when it is a value rather than a `Noop`.
fn value_of(request: &pb::InvocationRequest) -> Option<&Any> {
    match &request.payload {
        Some(pb::invocation_request::Payload::Value(any)) => Some(any),
        _ => None,
    }
}

/// The calling actor, when the request names one: an instance of an UNNAMED type is
/// addressed by its `parent`, its type.
fn caller_of(request: &pb::InvocationRequest, tenant: &str) -> Option<ActorId> {
    request
        .caller
        .as_ref()
        .filter(|c| !c.name.is_empty())
        .map(|c| {
            let actor_type = if c.parent.is_empty() {
                &c.name
            } else {
                &c.parent
            };
            ActorId::new(tenant, actor_type, &c.name)
        })
}

/// The runtime's invocation of `target` for a request.
fn invocation_of(
    state: &SpawnState,
    tenant: &str,
    request: &pb::InvocationRequest,
    target: ActorId,
) -> Invocation {
    Invocation {
        target,
        action: request.action_name.clone(),
        payload: payload_bytes(value_of(request)),
        metadata: request
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        caller: caller_of(request, tenant),
        mode: if request.r#async || request.scheduled_to > 0 {
            CallMode::Cast
        } else {
            CallMode::Call
        },
        trigger: Trigger::Message,
        reentrancy_id: None,
        deadline: deadline(state, tenant, &request.metadata),
        route_hops: 0,
    }
}

/// Schedule, cast or call the invocation as the request asks, and answer. A reply's data
/// goes back as an `Any` of the request's JSON type URL.
async fn run(
    state: &SpawnState,
    request: &pb::InvocationRequest,
    invocation: Invocation,
    json_type_url: &str,
) -> Response {
    let runtime = &state.runtime;
    if request.scheduled_to > 0 {
        return match runtime
            .schedule_call(invocation, request.scheduled_to)
            .await
        {
            Ok(()) => answer(request, StatusCode::OK, true, "Accepted".into(), None),
            Err(e) => failed(request, format!("cannot schedule the invocation: {e}")),
        };
    }
    if request.r#async {
        runtime.cast(invocation);
        return answer(request, StatusCode::OK, true, "Accepted".into(), None);
    }
    match runtime.invoke_detached(invocation).await {
        Ok(reply) => {
            let payload = match payload_any(&reply.data, json_type_url) {
                Some(any) => pb::invocation_response::Payload::Value(any),
                None => pb::invocation_response::Payload::Noop(pb::Noop {}),
            };
            answer(request, StatusCode::OK, true, "OK".into(), Some(payload))
        }
        // The backend's message is Spawn's own text ("Action [x] not found for Actor [y]").
        Err(InvokeError::ActionNotFound { message, .. }) => failed(request, message),
        Err(e) => failed(request, e.to_string()),
    }
}
