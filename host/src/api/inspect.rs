//! Admin views for people watching a host: its status at a glance (the console's front
//! page and `warren status`) and one actor's state, reminders and timers.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::AdminError;
use crate::runtime::{ActorId, Invocation, InvokeError, Runtime, ScheduleError, check_name};
use warren_dapr::http::job_view;
use warren_protocol::Access;

/// The routes, under `/admin/v1`.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/admin/v1/status", get(status))
        .route("/admin/v1/actors/{actor_type}/{actor_id}", get(actor))
        .route(
            "/admin/v1/actors/{actor_type}/{actor_id}/method/{method}",
            post(invoke),
        )
        .with_state(runtime)
}

async fn status(State(runtime): State<Runtime>, access: Access) -> Result<Response, AdminError> {
    access.require_admin()?;
    Ok(Json(runtime.status()).into_response())
}

#[derive(Deserialize)]
struct Scope {
    tenant: Option<String>,
}

/// A state value as people read it: JSON when it is JSON, else text, else base64.
fn value_view(key: &str, value: &[u8]) -> Value {
    let shown = match serde_json::from_slice::<Value>(value) {
        Ok(json) => json!({ "json": json }),
        Err(_) => match std::str::from_utf8(value) {
            Ok(text) => json!({ "text": text }),
            Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(value) }),
        },
    };
    let mut view = json!({ "key": key, "bytes": value.len() });
    if let (Some(view), Value::Object(shown)) = (view.as_object_mut(), shown) {
        view.extend(shown);
    }
    view
}

/// The actor a request names, in the tenant the caller may act in.
fn actor_of(
    access: &Access,
    scope: &Scope,
    actor_type: &str,
    id: &str,
) -> Result<ActorId, AdminError> {
    let tenant = access.scope(scope.tenant.as_deref())?;
    for (what, name) in [("actor type", actor_type), ("actor id", id)] {
        check_name(what, name).map_err(|e| AdminError::Status(StatusCode::BAD_REQUEST, e))?;
    }
    Ok(ActorId::new(&tenant, actor_type, id))
}

/// Invoke an action as the admin (the console's invoke form): the actor's reply as it
/// gave it, or the error as JSON.
async fn invoke(
    State(runtime): State<Runtime>,
    access: Access,
    Path((actor_type, actor_id, method)): Path<(String, String, String)>,
    Query(scope): Query<Scope>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let actor = actor_of(&access, &scope, &actor_type, &actor_id)?;
    let deadline = runtime.deadline(&actor.tenant);
    let invocation = Invocation::call(actor, &method, body.to_vec(), deadline);
    match runtime.invoke_detached(invocation).await {
        Ok(reply) => {
            let content_type = reply
                .content_type
                .unwrap_or_else(|| "application/json".to_string());
            Ok((
                [(axum::http::header::CONTENT_TYPE, content_type)],
                reply.data,
            )
                .into_response())
        }
        Err(e) => {
            let status = match &e {
                InvokeError::BadRequest(_) | InvokeError::InvalidArgument { .. } => {
                    StatusCode::BAD_REQUEST
                }
                InvokeError::ActorTypeNotFound { .. }
                | InvokeError::ActionNotFound { .. }
                | InvokeError::TenantNotFound { .. } => StatusCode::NOT_FOUND,
                InvokeError::LimitExceeded { .. } | InvokeError::Overloaded => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                InvokeError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            Err(AdminError::Status(status, e.to_string()))
        }
    }
}

async fn actor(
    State(runtime): State<Runtime>,
    access: Access,
    Path((actor_type, actor_id)): Path<(String, String)>,
    Query(scope): Query<Scope>,
) -> Result<Response, AdminError> {
    let actor = actor_of(&access, &scope, &actor_type, &actor_id)?;
    let view = runtime.actor_view(&actor).await.map_err(|e| {
        let status = match e {
            ScheduleError::NotHosted { .. } => StatusCode::NOT_FOUND,
            ScheduleError::Unavailable(_) | ScheduleError::OutcomeUnknown(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AdminError::Status(status, e.to_string())
    })?;
    Ok(Json(json!({
        "tenant": &*actor.tenant,
        "type": actor_type,
        "id": actor_id,
        "active": view.active,
        "version": view.version,
        "state": view.state.iter().map(|(k, v)| value_view(k, v)).collect::<Vec<_>>(),
        "reminders": view.reminders.iter().map(|j| job_view(&actor, j)).collect::<Vec<_>>(),
        "timers": view.timers.iter().map(|j| job_view(&actor, j)).collect::<Vec<_>>(),
    }))
    .into_response())
}
