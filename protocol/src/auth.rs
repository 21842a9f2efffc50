//! Who is calling: every request's token is resolved once, here, to the admin, one tenant,
//! or an anonymous caller; protocol adapters then ask for the tenant they act in.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Tenant;
use crate::runtime::{DEFAULT_TENANT, Runtime};

/// Tokens configured on the host.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// Grants the admin API, across tenants.
    pub admin_token: Option<String>,
    /// Dapr's `DAPR_API_TOKEN`: a token of the default tenant.
    pub api_token: Option<String>,
}

/// The resolved caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The holder of the admin token: every tenant.
    Admin,
    /// The holder of a tenant's token: that tenant only.
    Tenant(String),
    /// A caller with no token.
    Anonymous,
}

/// The caller plus what an anonymous caller may do, attached to every request.
#[derive(Clone, Debug)]
pub struct Access {
    /// Who called.
    pub caller: Caller,
    /// No admin or API token is configured: anyone may use the admin API (the quick start).
    admin_open: bool,
    /// The default tenant needs no token.
    default_open: bool,
}

/// A refused request: 401 for a missing or unknown token (with Dapr's plain-text body),
/// 403 for a known token that reaches past its tenant.
#[derive(Debug)]
pub enum Denied {
    /// No token, or one nobody holds: 401.
    Unauthorized,
    /// A known token asking past its tenant (the reason): 403.
    Forbidden(String),
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid api token").into_response(),
            Denied::Forbidden(message) => {
                let body = serde_json::json!({
                    "error": message, "errorCode": "ERR_TENANT_FORBIDDEN", "message": message
                });
                (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
            }
        }
    }
}

impl Access {
    /// The tenant a protocol request acts in.
    pub fn tenant(&self) -> Result<Tenant, Denied> {
        match &self.caller {
            Caller::Tenant(name) => Ok(Tenant(name.clone())),
            Caller::Anonymous if self.default_open => Ok(Tenant::default_tenant()),
            _ => Err(Denied::Unauthorized),
        }
    }

    /// The tenant an admin request acts in: `requested` if the caller may act there.
    pub fn scope(&self, requested: Option<&str>) -> Result<String, Denied> {
        let requested = requested.unwrap_or_default();
        match &self.caller {
            Caller::Admin => Ok(non_empty(requested)),
            Caller::Anonymous if self.admin_open => Ok(non_empty(requested)),
            Caller::Tenant(own) if requested.is_empty() || requested == own => Ok(own.clone()),
            Caller::Tenant(own) => Err(Denied::Forbidden(format!(
                "a token of tenant {own:?} cannot act on tenant {requested:?}"
            ))),
            Caller::Anonymous => Err(Denied::Unauthorized),
        }
    }

    /// Succeeds for the admin (or anyone, when no admin token is set).
    pub fn require_admin(&self) -> Result<(), Denied> {
        match &self.caller {
            Caller::Admin => Ok(()),
            Caller::Anonymous if self.admin_open => Ok(()),
            Caller::Tenant(own) => Err(Denied::Forbidden(format!(
                "a token of tenant {own:?} cannot manage tenants"
            ))),
            Caller::Anonymous => Err(Denied::Unauthorized),
        }
    }
}

fn non_empty(tenant: &str) -> String {
    if tenant.is_empty() {
        DEFAULT_TENANT.to_string()
    } else {
        tenant.to_string()
    }
}

/// The token a request carries: Dapr's header, or a bearer token.
fn token(parts: &Parts) -> Option<&str> {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    header("dapr-api-token")
        .or_else(|| header("authorization").and_then(warren_wire::tokens::bearer))
}

/// The cookie that carries the admin token for the console's requests (set by the
/// console's login, read here).
pub const COOKIE: &str = "warren_console";

/// The token in the console's cookie, if the request has one.
fn console_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    let values = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    warren_wire::tokens::cookie(values, COOKIE)
}

/// Resolve the caller presenting `token` (any protocol): the admin, a tenant, or an
/// anonymous caller; a token nobody issued is refused.
pub fn access(
    runtime: &Runtime,
    config: &AuthConfig,
    token: Option<&str>,
) -> Result<Access, Denied> {
    let caller = match token {
        None => Caller::Anonymous,
        Some(t) if config.admin_token.as_deref() == Some(t) => Caller::Admin,
        Some(t) => match runtime.tenant_for_token(t) {
            Some(tenant) => Caller::Tenant(tenant),
            None if config.api_token.as_deref() == Some(t) => Caller::Tenant(DEFAULT_TENANT.into()),
            None => return Err(Denied::Unauthorized),
        },
    };
    let default_has_tokens = runtime
        .tenant(DEFAULT_TENANT)
        .is_some_and(|t| !t.record.tokens.is_empty());
    Ok(Access {
        caller,
        admin_open: config.admin_token.is_none() && config.api_token.is_none(),
        default_open: config.api_token.is_none() && !default_has_tokens,
    })
}

/// Middleware: resolve the caller, or answer 401 for a token nobody issued.
pub async fn resolve(
    State((runtime, config)): State<(Runtime, AuthConfig)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path();
    let health = ["/v1.0/healthz", "/v1.0/healthz/outbound", "/health"];
    if health.contains(&path) || path.starts_with("/health/") {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let access = match token(&parts) {
        Some(token) => access(&runtime, &config, Some(token)),
        // The console's cookie stands for the admin token it was set from; one that no
        // longer is (the token changed) counts as none, so the sign-in page still shows.
        None => console_cookie(&parts.headers)
            .and_then(|token| access(&runtime, &config, Some(token)).ok())
            .map_or_else(|| access(&runtime, &config, None), Ok),
    };
    let access = match access {
        Ok(access) => access,
        Err(denied) => return denied.into_response(),
    };
    parts.extensions.insert(access);
    next.run(Request::from_parts(parts, body)).await
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Access>()
            .cloned()
            .ok_or(Denied::Unauthorized)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Access::from_request_parts(parts, state).await?.tenant()
    }
}
