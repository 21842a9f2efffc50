//! Invoke, state and the active-ids extension.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{DaprError, actor_id, not_hosted, reserved};
use crate::runtime::{Invocation, Runtime, StateError};
use crate::types::StateChange;
use warren_protocol::{Tenant, header_metadata};

/// `/method/{method}`, any verb: call the method with the body as payload and answer
/// with the reply (`application/json` unless it names its type). The request's headers
/// go to the actor, and `dapr-reentrancy-id` continues that call chain.
pub async fn invoke(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id, method)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DaprError> {
    let target = actor_id(&tenant, &actor_type, &id)?;
    let deadline = runtime.deadline(&tenant.0);
    let mut invocation = Invocation::call(target, &method, body.to_vec(), deadline);
    invocation.reentrancy_id = headers
        .get("dapr-reentrancy-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    invocation.metadata = header_metadata(&headers);
    let reply = runtime.invoke_detached(invocation).await?;
    let content_type = reply
        .content_type
        .unwrap_or_else(|| "application/json".into());
    Ok(([(header::CONTENT_TYPE, content_type)], reply.data).into_response())
}

/// `GET /state/{key}`: 200 with the stored bytes as `application/json`, or 204 when the
/// key is absent.
pub async fn get_state(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id, key)): Path<(String, String, String)>,
) -> Result<Response, DaprError> {
    let actor = actor_id(&tenant, &actor_type, &id)?;
    let value = runtime.get_state(&actor, &key).await.map_err(|e| match e {
        StateError::NotHosted { .. } => not_hosted(e.to_string()),
        _ => DaprError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_ACTOR_STATE_GET",
            e.to_string(),
        ),
    })?;
    Ok(match value {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Parse a Dapr actor state transaction body into state changes.
pub fn parse_transaction(body: &[u8]) -> Result<Vec<StateChange>, DaprError> {
    warren_wire::dapr_bodies::parse_transaction(body)
        .map_err(|e| DaprError::malformed(e.to_string()))
}

/// `POST` or `PUT /state`: apply a JSON array of upserts and deletes at once; 204.
pub async fn state_transaction(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, DaprError> {
    let actor = actor_id(&tenant, &actor_type, &id)?;
    let changes = parse_transaction(&body)?;
    runtime
        .state_transaction(&actor, changes)
        .await
        .map_err(|e| match e {
            StateError::NotHosted { .. } => not_hosted(e.to_string()),
            StateError::NotActive(_) => DaprError::new(
                StatusCode::BAD_REQUEST,
                "ERR_ACTOR_INSTANCE_MISSING",
                e.to_string(),
            ),
            StateError::ReservedKey(_) => DaprError::new(
                StatusCode::BAD_REQUEST,
                "ERR_MALFORMED_REQUEST",
                e.to_string(),
            ),
            StateError::Quota { .. } => DaprError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "ERR_TENANT_LIMIT",
                e.to_string(),
            ),
            StateError::Store(_) => DaprError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ERR_ACTOR_STATE_TRANSACTION_SAVE",
                e.to_string(),
            ),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Warren extension: the ids of the active actors of a type.
pub async fn active_ids(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path(actor_type): Path<String>,
) -> Result<Response, DaprError> {
    reserved(&actor_type)?;
    let ids = runtime
        .active_ids(&tenant.0, &actor_type)
        .map_err(|e| not_hosted(e.to_string()))?;
    Ok(Json(ids).into_response())
}
