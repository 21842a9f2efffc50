//! Warren's own admin API: deploy, list and remove components; inspect actors.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::runtime::{DEFAULT_TENANT, DeployError, Runtime};

/// Largest `.wasm` accepted by upload.
const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// An admin API error: a status and `{"error": message}`.
pub struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<DeployError> for AdminError {
    fn from(e: DeployError) -> Self {
        let status = match e {
            DeployError::Invalid(_) | DeployError::BadName(_) => StatusCode::BAD_REQUEST,
            DeployError::Conflict(_) => StatusCode::CONFLICT,
            DeployError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AdminError(status, e.to_string())
    }
}

/// The admin routes, under `/admin/v1`.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/admin/v1/components", get(list_components).post(deploy))
        .route("/admin/v1/components/{name}", delete(remove))
        .route("/admin/v1/actor-types", get(actor_types))
        .route("/admin/v1/actors", get(actors))
        .route("/admin/v1/stats", get(stats))
        .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES))
        .with_state(runtime)
}

/// Query parameters shared by the admin routes.
#[derive(Deserialize)]
struct Scope {
    #[serde(default = "default_tenant")]
    tenant: String,
    /// Component name on upload; defaults to the manifest's.
    name: Option<String>,
}

fn default_tenant() -> String {
    DEFAULT_TENANT.to_string()
}

async fn deploy(
    State(runtime): State<Runtime>,
    Query(scope): Query<Scope>,
    body: Bytes,
) -> Result<(StatusCode, Response), AdminError> {
    if body.is_empty() {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            "the request body must be the component's .wasm bytes".into(),
        ));
    }
    let info = runtime
        .deploy(&scope.tenant, scope.name.as_deref(), body.to_vec())
        .await?;
    Ok((StatusCode::CREATED, Json(info).into_response()))
}

async fn list_components(State(runtime): State<Runtime>, Query(scope): Query<Scope>) -> Response {
    Json(runtime.components(&scope.tenant)).into_response()
}

async fn remove(
    State(runtime): State<Runtime>,
    Path(name): Path<String>,
    Query(scope): Query<Scope>,
) -> Result<StatusCode, AdminError> {
    let existed = runtime
        .remove_component(&scope.tenant, &name)
        .await
        .map_err(|e| AdminError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminError(
            StatusCode::NOT_FOUND,
            format!("tenant {:?} has no component {name:?}", scope.tenant),
        ))
    }
}

/// An actor type as the admin API lists it.
#[derive(Serialize)]
struct ActorTypeView {
    component: String,
    #[serde(flatten)]
    spec: crate::runtime::manifest::ActorTypeSpec,
}

async fn actor_types(State(runtime): State<Runtime>, Query(scope): Query<Scope>) -> Response {
    let list: Vec<ActorTypeView> = runtime
        .actor_types(&scope.tenant)
        .into_iter()
        .map(|(spec, component)| ActorTypeView { component, spec })
        .collect();
    Json(list).into_response()
}

async fn actors(State(runtime): State<Runtime>, Query(scope): Query<Scope>) -> Response {
    let list: Vec<_> = runtime
        .active_actors(&scope.tenant)
        .into_iter()
        .map(|a| json!({ "type": &*a.actor_type, "id": &*a.id }))
        .collect();
    Json(list).into_response()
}

async fn stats(State(runtime): State<Runtime>) -> Response {
    Json(runtime.stats()).into_response()
}
