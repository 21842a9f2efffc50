//! Warren's own admin API: tenants and their tokens, components, actor inspection.
//! The admin token reaches every tenant; a tenant's token reaches its own components.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::runtime::config::ConfigError;
use crate::runtime::tenants::LimitOverrides;
use crate::runtime::{DeployError, DeployOptions, LoadError, Runtime, TenantError, VersionError};
use warren_protocol::Access;
use warren_protocol::auth::Caller;
use warren_protocol::auth::Denied;

/// Largest `.wasm` accepted by upload.
const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// An admin API error: a status and `{"error": message}`, or an auth refusal.
pub enum AdminError {
    /// Answered with this status and `{"error": message}`, the message being the `String`.
    Status(StatusCode, String),
    /// The caller may not do this: answered 401 or 403 as [`Denied`] says.
    Denied(Denied),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::Status(status, message) => {
                (status, Json(json!({ "error": message }))).into_response()
            }
            AdminError::Denied(denied) => denied.into_response(),
        }
    }
}

impl From<Denied> for AdminError {
    fn from(d: Denied) -> Self {
        AdminError::Denied(d)
    }
}

impl From<DeployError> for AdminError {
    fn from(e: DeployError) -> Self {
        let status = match e {
            // Well-formed, but its compilation did not finish within the host's limits.
            DeployError::Invalid(LoadError::Compile(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            DeployError::Invalid(_) | DeployError::BadName(_) => StatusCode::BAD_REQUEST,
            DeployError::Conflict(_) | DeployError::Breaking { .. } => StatusCode::CONFLICT,
            DeployError::NoTenant(_) => StatusCode::NOT_FOUND,
            DeployError::TooMany { .. } => StatusCode::FORBIDDEN,
            DeployError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            DeployError::Version(ref v) => match v {
                VersionError::NoComponent(_)
                | VersionError::NoVersion { .. }
                | VersionError::NoCanary(_) => StatusCode::NOT_FOUND,
                VersionError::CanaryShare(_) => StatusCode::BAD_REQUEST,
                VersionError::External(_)
                | VersionError::NothingToCanary(_)
                | VersionError::InUse { .. } => StatusCode::CONFLICT,
            },
        };
        AdminError::Status(status, e.to_string())
    }
}

impl From<TenantError> for AdminError {
    fn from(e: TenantError) -> Self {
        let status = match e {
            TenantError::BadName(_) | TenantError::Egress(_) => StatusCode::BAD_REQUEST,
            TenantError::Exists(_) => StatusCode::CONFLICT,
            TenantError::NotFound(_) | TenantError::NoSuchToken { .. } => StatusCode::NOT_FOUND,
            TenantError::DefaultTenant => StatusCode::FORBIDDEN,
            TenantError::Config(ref c) => match c {
                ConfigError::NotFound { .. } => StatusCode::NOT_FOUND,
                ConfigError::TooMany(_) => StatusCode::FORBIDDEN,
                ConfigError::BadKey(_)
                | ConfigError::BadComponent(_)
                | ConfigError::TooLarge(_) => StatusCode::BAD_REQUEST,
            },
            TenantError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AdminError::Status(status, e.to_string())
    }
}

/// The admin routes, under `/admin/v1`.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/admin/v1/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/admin/v1/tenants/{tenant}",
            get(get_tenant)
                .patch(update_tenant)
                .put(update_tenant)
                .delete(delete_tenant),
        )
        .route(
            "/admin/v1/tenants/{tenant}/tokens",
            axum::routing::post(issue_token),
        )
        .route(
            "/admin/v1/tenants/{tenant}/tokens/{id}",
            delete(revoke_token),
        )
        .route("/admin/v1/components", get(list_components).post(deploy))
        .route("/admin/v1/components/{name}", delete(remove))
        .route("/admin/v1/components/{name}/versions", get(versions))
        .route(
            "/admin/v1/components/{name}/versions/{number}",
            delete(delete_version),
        )
        .route("/admin/v1/components/{name}/current", put(use_version))
        .route("/admin/v1/components/{name}/canary", delete(stop_canary))
        .route(
            "/admin/v1/components/{name}/canary/promote",
            axum::routing::post(promote_canary),
        )
        .route("/admin/v1/actor-types", get(actor_types))
        .route("/admin/v1/actors", get(actors))
        .route("/admin/v1/stats", get(stats))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES))
        .with_state(runtime)
}

/// Query parameters shared by the admin routes.
#[derive(Deserialize)]
pub(super) struct Scope {
    /// The tenant to act in: the caller's own by default.
    tenant: Option<String>,
    /// Component name on upload; defaults to the manifest's.
    name: Option<String>,
    /// On upload, or making a version current: go ahead even if the version drops an
    /// actor type or an action still in use.
    #[serde(default)]
    force: bool,
    /// On upload: deploy as a canary serving this percentage of the actors.
    canary: Option<u8>,
    /// Making a version current: its number.
    version: Option<u64>,
}

impl Scope {
    /// The tenant the caller acts in: the one named, if the caller may, or its own.
    pub(super) fn tenant(&self, access: &Access) -> Result<String, Denied> {
        access.scope(self.tenant.as_deref())
    }
}

/// What an admin route answers.
pub type AdminResult = Result<Response, AdminError>;

/// The header a client may name the person deploying with (the CLI sends `$USER`); the
/// version records it beside the credential the host checked.
const DEPLOYER_HEADER: &str = "x-warren-deployer";

/// Who deploys, as kept with a version: the credential, and the name the client gave.
fn deployer(access: &Access, headers: &HeaderMap) -> String {
    let credential = match &access.caller {
        Caller::Admin => "admin token".to_string(),
        Caller::Tenant(tenant) => format!("token of tenant {tenant}"),
        Caller::Anonymous => "no token".to_string(),
    };
    let named = headers
        .get(DEPLOYER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 128);
    match named {
        Some(name) => format!("{name} ({credential})"),
        None => credential,
    }
}

async fn deploy(
    State(runtime): State<Runtime>,
    access: Access,
    headers: HeaderMap,
    Query(scope): Query<Scope>,
    body: Bytes,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    if body.is_empty() {
        return Err(AdminError::Status(
            StatusCode::BAD_REQUEST,
            "the request body must be the component's .wasm bytes".into(),
        ));
    }
    let options = DeployOptions {
        force: scope.force,
        canary_percent: scope.canary,
        deployed_by: deployer(&access, &headers),
    };
    let info = runtime
        .deploy(&tenant, scope.name.as_deref(), body.to_vec(), options)
        .await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn versions(
    State(runtime): State<Runtime>,
    access: Access,
    Path(name): Path<String>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    Ok(Json(runtime.component_versions(&tenant, &name).await?).into_response())
}

async fn use_version(
    State(runtime): State<Runtime>,
    access: Access,
    Path(name): Path<String>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let Some(number) = scope.version else {
        return Err(AdminError::Status(
            StatusCode::BAD_REQUEST,
            "name the version to make current: ?version=N".into(),
        ));
    };
    let info = runtime
        .use_version(&tenant, &name, number, scope.force)
        .await?;
    Ok(Json(info).into_response())
}

async fn promote_canary(
    State(runtime): State<Runtime>,
    access: Access,
    Path(name): Path<String>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let canary = runtime
        .components(&tenant)
        .into_iter()
        .find(|c| c.name == name)
        .and_then(|c| c.canary)
        .ok_or_else(|| DeployError::from(VersionError::NoCanary(name.clone())))?;
    let info = runtime
        .use_version(&tenant, &name, canary.number, scope.force)
        .await?;
    Ok(Json(info).into_response())
}

async fn stop_canary(
    State(runtime): State<Runtime>,
    access: Access,
    Path(name): Path<String>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    Ok(Json(runtime.stop_canary(&tenant, &name).await?).into_response())
}

async fn delete_version(
    State(runtime): State<Runtime>,
    access: Access,
    Path((name, number)): Path<(String, u64)>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    runtime.delete_version(&tenant, &name, number).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_components(
    State(runtime): State<Runtime>,
    access: Access,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    Ok(Json(runtime.components(&tenant)).into_response())
}

async fn remove(
    State(runtime): State<Runtime>,
    access: Access,
    Path(name): Path<String>,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let existed = runtime
        .remove_component(&tenant, &name)
        .await
        .map_err(|e| AdminError::Status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if existed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AdminError::Status(
            StatusCode::NOT_FOUND,
            format!("tenant {tenant:?} has no component {name:?}"),
        ))
    }
}

/// An actor type as the admin API lists it.
#[derive(Serialize)]
struct ActorTypeView {
    component: String,
    #[serde(flatten)]
    spec: crate::types::manifest::ActorTypeSpec,
}

async fn actor_types(
    State(runtime): State<Runtime>,
    access: Access,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let list: Vec<ActorTypeView> = runtime
        .actor_types(&tenant)
        .into_iter()
        .map(|(spec, component)| ActorTypeView { component, spec })
        .collect();
    Ok(Json(list).into_response())
}

async fn actors(
    State(runtime): State<Runtime>,
    access: Access,
    Query(scope): Query<Scope>,
) -> AdminResult {
    let tenant = scope.tenant(&access)?;
    let list: Vec<_> = runtime
        .active_actors(&tenant)
        .into_iter()
        .map(|a| json!({ "type": &*a.actor_type, "id": &*a.id }))
        .collect();
    Ok(Json(list).into_response())
}

async fn stats(State(runtime): State<Runtime>, access: Access) -> AdminResult {
    access.require_admin()?;
    Ok(Json(runtime.stats()).into_response())
}

/// `GET /metrics`: Prometheus' text exposition format (OpenMetrics), admin only.
async fn metrics(State(runtime): State<Runtime>, access: Access) -> AdminResult {
    access.require_admin()?;
    if !runtime.metrics().enabled() {
        return Err(AdminError::Status(
            StatusCode::NOT_FOUND,
            "metrics are off on this host (--no-metrics)".into(),
        ));
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok((
        [(axum::http::header::CONTENT_TYPE, content_type)],
        runtime.encode_metrics(),
    )
        .into_response())
}

/// Body of tenant creation: a name and optional limit overrides.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    /// Absent or `null`: the host's defaults.
    #[serde(default)]
    limits: Option<LimitOverrides>,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| {
        AdminError::Status(
            StatusCode::BAD_REQUEST,
            format!("request body is not valid: {e}"),
        )
    })
}

async fn list_tenants(State(runtime): State<Runtime>, access: Access) -> AdminResult {
    access.require_admin()?;
    Ok(Json(runtime.tenants()).into_response())
}

async fn create_tenant(State(runtime): State<Runtime>, access: Access, body: Bytes) -> AdminResult {
    access.require_admin()?;
    let new: NewTenant = json_body(&body)?;
    let limits = new.limits.unwrap_or_default();
    let view = runtime.create_tenant(&new.name, limits).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn get_tenant(
    State(runtime): State<Runtime>,
    access: Access,
    Path(tenant): Path<String>,
) -> AdminResult {
    let tenant = access.scope(Some(&tenant))?;
    Ok(Json(runtime.tenant_view(&tenant)?).into_response())
}

async fn update_tenant(
    State(runtime): State<Runtime>,
    access: Access,
    Path(tenant): Path<String>,
    body: Bytes,
) -> AdminResult {
    access.require_admin()?;
    let limits: LimitOverrides = json_body(&body)?;
    Ok(Json(runtime.update_tenant(&tenant, limits).await?).into_response())
}

async fn delete_tenant(
    State(runtime): State<Runtime>,
    access: Access,
    Path(tenant): Path<String>,
) -> AdminResult {
    access.require_admin()?;
    runtime.delete_tenant(&tenant).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn issue_token(
    State(runtime): State<Runtime>,
    access: Access,
    Path(tenant): Path<String>,
) -> AdminResult {
    access.require_admin()?;
    let (id, token) = runtime.issue_token(&tenant).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "token": token })),
    )
        .into_response())
}

async fn revoke_token(
    State(runtime): State<Runtime>,
    access: Access,
    Path((tenant, id)): Path<(String, String)>,
) -> AdminResult {
    access.require_admin()?;
    runtime.revoke_token(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
