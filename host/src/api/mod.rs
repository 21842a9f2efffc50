//! Protocol adapters. Each translates its protocol into calls on the runtime core and
//! nothing more.

pub mod admin;
pub mod dapr_http;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::runtime::{DEFAULT_TENANT, Runtime};

/// The tenant a request acts for. Until tenant authentication exists, every caller is the
/// `default` tenant; adapters take the tenant from here so that later changes stay here.
#[derive(Clone, Debug)]
pub struct Tenant(pub String);

impl Tenant {
    /// The tenant of an unauthenticated caller.
    pub fn default_tenant() -> Self {
        Tenant(DEFAULT_TENANT.to_string())
    }
}

/// Settings of the HTTP listener.
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    /// When set, every request but the health checks must carry it as `dapr-api-token`.
    pub api_token: Option<String>,
    /// The app id reported by `/v1.0/metadata`.
    pub app_id: String,
}

/// Every HTTP route Warren serves on its main listener.
pub fn router(runtime: Runtime, config: HttpConfig) -> Router {
    let routes = Router::new()
        .merge(dapr_http::router(runtime.clone(), config.app_id.clone()))
        .merge(admin::router(runtime));
    match config.api_token {
        Some(token) => routes.layer(middleware::from_fn(move |req, next| {
            check_token(token.clone(), req, next)
        })),
        None => routes,
    }
}

/// Dapr's API token check: 401 `invalid api token` unless the header matches; the health
/// checks are exempt.
async fn check_token(token: String, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let exempt = path == "/v1.0/healthz" || path == "/v1.0/healthz/outbound";
    let given = request
        .headers()
        .get("dapr-api-token")
        .and_then(|v| v.to_str().ok());
    if exempt || given == Some(token.as_str()) {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, "invalid api token").into_response()
    }
}

/// Request headers as invocation metadata: lower-case names, UTF-8 values only.
pub fn header_metadata(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_string(), value.to_string()))
        })
        .collect()
}
