//! Protocol adapters. Each translates its protocol into calls on the runtime core and
//! nothing more.

pub mod admin;
pub mod dapr_http;

use axum::Router;

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

/// Every HTTP route Warren serves on its main listener.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        .merge(dapr_http::router(runtime.clone()))
        .merge(admin::router(runtime))
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
