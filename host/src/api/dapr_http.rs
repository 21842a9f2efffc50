//! Dapr's actor HTTP API (`/v1.0/actors/...`), translated onto the runtime core.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Tenant, header_metadata};
use crate::runtime::{ActorId, Invocation, InvokeError, Runtime, StateError, check_name};

/// Dapr's default maximum request body (4 MiB).
const MAX_BODY: usize = 4 << 20;

/// Dapr's error body with its HTTP status.
pub struct DaprError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl DaprError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        DaprError {
            status,
            code,
            message: message.into(),
        }
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
        let status = match e {
            InvokeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = match e {
            InvokeError::BadRequest(_) => "ERR_BAD_REQUEST",
            _ => "ERR_ACTOR_INVOKE_METHOD",
        };
        DaprError::new(status, code, e.to_string())
    }
}

/// The Dapr actor routes.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/v1.0/healthz", get(healthz))
        .route("/v1.0/healthz/outbound", get(healthz))
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/method/{method}",
            any(invoke),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/state/{key}",
            get(get_state),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/state",
            post(state_transaction).put(state_transaction),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(runtime)
}

async fn healthz() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The actor named by a Dapr path, with Dapr's name rules checked.
fn actor_id(tenant: &Tenant, actor_type: &str, actor_id: &str) -> Result<ActorId, DaprError> {
    check_name("actor type", actor_type)
        .and_then(|()| check_name("actor id", actor_id))
        .map_err(|m| DaprError::new(StatusCode::BAD_REQUEST, "ERR_BAD_REQUEST", m))?;
    if actor_type.starts_with("dapr.internal.") {
        return Err(DaprError::new(
            StatusCode::FORBIDDEN,
            "ERR_ACTOR_TYPE_RESERVED",
            format!("actor type {actor_type:?} is reserved"),
        ));
    }
    Ok(ActorId::new(&tenant.0, actor_type, actor_id))
}

async fn invoke(
    State(runtime): State<Runtime>,
    Path((actor_type, id, method)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DaprError> {
    let tenant = Tenant::default_tenant();
    let target = actor_id(&tenant, &actor_type, &id)?;
    let mut invocation = Invocation::call(target, &method, body.to_vec(), runtime.deadline());
    invocation.metadata = header_metadata(&headers);
    let reply = runtime.invoke(invocation).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], reply).into_response())
}

async fn get_state(
    State(runtime): State<Runtime>,
    Path((actor_type, id, key)): Path<(String, String, String)>,
) -> Result<Response, DaprError> {
    let tenant = Tenant::default_tenant();
    let actor = actor_id(&tenant, &actor_type, &id)?;
    let value = runtime.get_state(&actor, &key).map_err(|e| {
        DaprError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_ACTOR_STATE_GET",
            e.to_string(),
        )
    })?;
    Ok(match value {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// One operation of a Dapr actor state transaction.
#[derive(Deserialize)]
struct Operation {
    operation: String,
    request: OperationRequest,
}

#[derive(Deserialize)]
struct OperationRequest {
    key: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

async fn state_transaction(
    State(runtime): State<Runtime>,
    Path((actor_type, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, DaprError> {
    let tenant = Tenant::default_tenant();
    let actor = actor_id(&tenant, &actor_type, &id)?;
    let malformed = |m: String| DaprError::new(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", m);
    let operations: Vec<Operation> = serde_json::from_slice(&body).map_err(|e| {
        malformed(format!(
            "state transaction body is not a JSON array of operations: {e}"
        ))
    })?;
    let mut changes = Vec::with_capacity(operations.len());
    for op in operations {
        let value = match op.operation.as_str() {
            "upsert" => {
                let value = op.request.value.unwrap_or(serde_json::Value::Null);
                Some(serde_json::to_vec(&value).map_err(|e| malformed(e.to_string()))?)
            }
            "delete" => None,
            other => {
                return Err(malformed(format!(
                    "operation {other:?} is not supported: use \"upsert\" or \"delete\""
                )));
            }
        };
        changes.push((op.request.key, value));
    }
    runtime
        .state_transaction(&actor, changes)
        .await
        .map_err(|e| match e {
            StateError::NotActive(_) => DaprError::new(
                StatusCode::BAD_REQUEST,
                "ERR_ACTOR_INSTANCE_MISSING",
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
