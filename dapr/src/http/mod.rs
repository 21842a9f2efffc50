//! Dapr's actor HTTP API (`/v1.0/actors/...`), translated onto the runtime core.

mod actors;
mod schedule;

pub use actors::parse_transaction;
pub use schedule::{Parsed as Registration, job_view, parse as parse_registration};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::runtime::{ActorId, InvokeError, Runtime, check_name};
use warren_protocol::Tenant;

/// Largest request body read at all; each tenant's own payload limit is lower.
const MAX_BODY: usize = 64 << 20;

/// Dapr's error body with its HTTP status.
pub struct DaprError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl DaprError {
    /// An error answered with HTTP `status` and the body
    /// `{"errorCode": code, "message": message}`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        DaprError {
            status,
            code,
            message: message.into(),
        }
    }

    fn malformed(message: impl Into<String>) -> Self {
        DaprError::new(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", message)
    }
}

impl IntoResponse for DaprError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "errorCode": self.code, "message": self.message }));
        (self.status, body).into_response()
    }
}

impl From<InvokeError> for DaprError {
    fn from(e: InvokeError) -> Self {
        use crate::runtime::LimitKind;
        let (status, code) = match e {
            InvokeError::BadRequest(_) => (StatusCode::BAD_REQUEST, "ERR_BAD_REQUEST"),
            InvokeError::LimitExceeded { kind, .. } => match kind {
                LimitKind::Payload | LimitKind::Reply => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "ERR_TENANT_LIMIT")
                }
                LimitKind::StatePerActor | LimitKind::StatePerTenant => {
                    (StatusCode::INSUFFICIENT_STORAGE, "ERR_TENANT_LIMIT")
                }
                LimitKind::ConcurrentTurns | LimitKind::ActiveActors => {
                    (StatusCode::TOO_MANY_REQUESTS, "ERR_TENANT_LIMIT")
                }
            },
            InvokeError::StackDepth { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "ERR_ACTOR_STACK_DEPTH")
            }
            InvokeError::Unavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "ERR_ACTOR_INVOKE_METHOD")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "ERR_ACTOR_INVOKE_METHOD"),
        };
        DaprError::new(status, code, e.to_string())
    }
}

/// The Dapr routes: actors, health and metadata.
pub fn router(runtime: Runtime, app_id: String) -> Router {
    const ACTOR: &str = "/v1.0/actors/{actor_type}/{actor_id}";
    Router::new()
        .route("/v1.0/healthz", get(healthz))
        .route("/v1.0/healthz/outbound", get(healthz))
        .route(
            "/v1.0/metadata",
            get(move |state, tenant| metadata(state, tenant, app_id.clone())),
        )
        .route("/v1.0/actors/{actor_type}", get(actors::active_ids))
        .route(&format!("{ACTOR}/method/{{method}}"), any(actors::invoke))
        .route(&format!("{ACTOR}/state/{{key}}"), get(actors::get_state))
        .route(
            &format!("{ACTOR}/state"),
            post(actors::state_transaction).put(actors::state_transaction),
        )
        .route(&format!("{ACTOR}/reminders"), get(schedule::list_reminders))
        .route(
            &format!("{ACTOR}/reminders/{{name}}"),
            post(schedule::set_reminder)
                .put(schedule::set_reminder)
                .get(schedule::get_reminder)
                .delete(schedule::delete_reminder),
        )
        .route(&format!("{ACTOR}/timers"), get(schedule::list_timers))
        .route(
            &format!("{ACTOR}/timers/{{name}}"),
            post(schedule::set_timer)
                .put(schedule::set_timer)
                .delete(schedule::delete_timer),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(runtime)
}

async fn healthz() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Dapr's metadata document, with the hosted actor types and their active counts.
async fn metadata(State(runtime): State<Runtime>, tenant: Tenant, app_id: String) -> Response {
    let active = runtime.active_actors(&tenant.0);
    let counts: Vec<_> = runtime
        .actor_types(&tenant.0)
        .into_iter()
        .map(|(spec, _)| {
            let count = active.iter().filter(|a| *a.actor_type == spec.name).count();
            json!({ "type": spec.name, "count": count })
        })
        .collect();
    Json(json!({
        "id": app_id,
        "runtimeVersion": concat!("warren-", env!("CARGO_PKG_VERSION")),
        "enabledFeatures": [],
        "actors": counts,
        "actorRuntime": {
            "runtimeStatus": "RUNNING",
            "activeActors": counts,
            "hostReady": true,
            "placement": "warren: in-process"
        },
        "components": [],
        "extended": {},
    }))
    .into_response()
}

/// The actor named by a Dapr path, with Dapr's name rules checked.
fn actor_id(tenant: &Tenant, actor_type: &str, actor_id: &str) -> Result<ActorId, DaprError> {
    check_name("actor type", actor_type)
        .and_then(|()| check_name("actor id", actor_id))
        .map_err(|m| DaprError::new(StatusCode::BAD_REQUEST, "ERR_BAD_REQUEST", m))?;
    reserved(actor_type)?;
    Ok(ActorId::new(&tenant.0, actor_type, actor_id))
}

/// Dapr's 403 for an actor whose type the caller's tenant does not host (the runtime
/// refuses them; Dapr itself does not check reads).
fn not_hosted(message: String) -> DaprError {
    DaprError::new(StatusCode::FORBIDDEN, "ERR_ACTOR_TYPE_NOT_HOSTED", message)
}

/// Dapr reserves `dapr.internal.*` actor types for its workflows.
fn reserved(actor_type: &str) -> Result<(), DaprError> {
    if actor_type.starts_with("dapr.internal.") {
        return Err(DaprError::new(
            StatusCode::FORBIDDEN,
            "ERR_ACTOR_TYPE_RESERVED",
            format!("actor type {actor_type:?} is reserved"),
        ));
    }
    Ok(())
}
