//! `POST .../actors/spawn` and `POST .../actors/{actor}/invoke`. Spawn routes on the body:
//! the path's system and actor only fill in what the body leaves empty.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prost::Message;

use super::{SpawnState, proto, status, tenant};
use crate::runtime::{ActorId, CallMode, Invocation, InvokeError, Trigger};
use crate::types::workflow::Address;
use crate::wire::spawn::{json_type_url_of, payload_any, payload_bytes, pb, spawn_id};
use warren_protocol::Access;

fn spawn_failed(message: String) -> Response {
    let reply = pb::SpawnResponse {
        status: Some(status(false, message)),
    };
    proto(StatusCode::INTERNAL_SERVER_ERROR, &reply)
}

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

pub(super) async fn invoke(
    State(state): State<SpawnState>,
    access: Access,
    Path((system, actor)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut request = match pb::InvocationRequest::decode(body) {
        Ok(r) => r,
        Err(e) => {
            let reply = pb::InvocationResponse {
                status: Some(status(
                    false,
                    format!("the body is not a Spawn InvocationRequest: {e}"),
                )),
                ..Default::default()
            };
            return proto(StatusCode::INTERNAL_SERVER_ERROR, &reply);
        }
    };
    let system = request
        .system
        .as_ref()
        .map(|s| s.name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or(system);
    let tenant = match tenant(&access, &system) {
        Ok(t) => t,
        Err(denied) => return denied.into_response(),
    };
    let id = request
        .actor
        .as_ref()
        .and_then(|a| a.id.clone())
        .unwrap_or_default();
    let address = Address {
        name: if id.name.is_empty() { actor } else { id.name },
        parent: [&request.register_ref, &id.parent]
            .into_iter()
            .find(|p| !p.is_empty())
            .cloned(),
    };
    let runtime = &state.runtime;
    let target = match runtime.resolve(&tenant, &address).await {
        Ok(target) => target,
        // Spawn's own status and words when the name finds no actor; other refusals say
        // why.
        Err(e @ InvokeError::ActorTypeNotFound { .. }) => {
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
        Err(e) => return failed(&request, e.to_string()),
    };
    // The answer names the actor found: an instance of an UNNAMED type with its type as
    // `parent`, as Spawn does, even when the request named it by its name alone.
    if let Some(id) = request.actor.as_mut().and_then(|a| a.id.as_mut())
        && id.parent.is_empty()
    {
        id.parent = spawn_id(&target).parent;
    }
    let value = match &request.payload {
        Some(pb::invocation_request::Payload::Value(any)) => Some(any),
        _ => None,
    };
    let json_type_url = json_type_url_of(value).to_string();
    let caller = request
        .caller
        .as_ref()
        .filter(|c| !c.name.is_empty())
        .map(|c| {
            let actor_type = if c.parent.is_empty() {
                &c.name
            } else {
                &c.parent
            };
            ActorId::new(&tenant, actor_type, &c.name)
        });
    let invocation = Invocation {
        target,
        action: request.action_name.clone(),
        payload: payload_bytes(value),
        metadata: request
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        caller,
        mode: if request.r#async || request.scheduled_to > 0 {
            CallMode::Cast
        } else {
            CallMode::Call
        },
        trigger: Trigger::Message,
        reentrancy_id: None,
        deadline: deadline(&state, &tenant, &request.metadata),
        route_hops: 0,
    };
    if request.scheduled_to > 0 {
        return match runtime
            .schedule_call(invocation, request.scheduled_to)
            .await
        {
            Ok(()) => answer(&request, StatusCode::OK, true, "Accepted".into(), None),
            Err(e) => failed(&request, format!("cannot schedule the invocation: {e}")),
        };
    }
    if request.r#async {
        runtime.cast(invocation);
        return answer(&request, StatusCode::OK, true, "Accepted".into(), None);
    }
    match runtime.invoke_detached(invocation).await {
        Ok(reply) => {
            let payload = match payload_any(&reply.data, &json_type_url) {
                Some(any) => pb::invocation_response::Payload::Value(any),
                None => pb::invocation_response::Payload::Noop(pb::Noop {}),
            };
            answer(&request, StatusCode::OK, true, "OK".into(), Some(payload))
        }
        // The backend's message is Spawn's own text ("Action [x] not found for Actor [y]").
        Err(InvokeError::ActionNotFound { message, .. }) => failed(&request, message),
        Err(e) => failed(&request, e.to_string()),
    }
}
