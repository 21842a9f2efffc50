//! The admin routes of component configuration: the values and secrets a component's
//! guests read through `wasi:config/store`, per tenant. A secret's value is accepted and
//! never answered.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::admin::{AdminError, AdminResult, Scope};
use crate::runtime::config::{ConfigEntry, ConfigError};
use crate::runtime::{Runtime, TenantError};
use warren_protocol::Access;

/// The configuration routes, under `/admin/v1/components/{name}/config`.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/admin/v1/components/{name}/config", get(list))
        .route(
            "/admin/v1/components/{name}/config/{key}",
            get(read).put(set).delete(remove),
        )
        .with_state(runtime)
}

/// A value to set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewValue {
    value: String,
    #[serde(default)]
    secret: bool,
}

async fn list(
    State(runtime): State<Runtime>,
    access: Access,
    Path(component): Path<String>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let values = runtime.component_config(&tenant, &component)?;
    Ok(Json(values).into_response())
}

async fn read(
    State(runtime): State<Runtime>,
    access: Access,
    Path((component, key)): Path<(String, String)>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let value = runtime
        .component_config(&tenant, &component)?
        .into_iter()
        .find(|v| v.key == key)
        .ok_or(ConfigError::NotFound { component, key })
        .map_err(TenantError::from)?;
    Ok(Json(value).into_response())
}

async fn set(
    State(runtime): State<Runtime>,
    access: Access,
    Path((component, key)): Path<(String, String)>,
    Query(scope): Query<Scope>,
    body: axum::body::Bytes,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let new: NewValue = serde_json::from_slice(&body).map_err(|e| {
        AdminError::Status(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"value\": \"...\", \"secret\": false}}: {e}"),
        )
    })?;
    let entry = ConfigEntry {
        value: new.value,
        secret: new.secret,
    };
    let view = runtime
        .set_component_config(&tenant, &component, &key, entry)
        .await?;
    Ok(Json(view).into_response())
}

async fn remove(
    State(runtime): State<Runtime>,
    access: Access,
    Path((component, key)): Path<(String, String)>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    runtime
        .delete_component_config(&tenant, &component, &key)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
