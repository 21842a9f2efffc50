//! Protocol adapters. Each translates its protocol into calls on the runtime core and
//! nothing more.

pub mod admin;
pub mod auth;
pub mod console;
pub mod dapr_grpc;
pub mod dapr_http;
pub mod grpc_incoming;
pub mod inspect;
pub mod listener;
pub mod observe;
pub mod opaca;
pub mod spawn;

use axum::Router;
use axum::middleware;

pub use auth::{Access, AuthConfig, Caller};

use crate::runtime::{DEFAULT_TENANT, Runtime};

/// The tenant a protocol request acts for, resolved from its token (see [`auth`]);
/// handlers take it as an extractor.
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
    pub auth: AuthConfig,
    /// The app id reported by `/v1.0/metadata`.
    pub app_id: String,
    /// Base URL of the Spawn SDK user function that Spawn registrations call back.
    pub spawn_user_function: String,
}

/// Every HTTP route Warren serves on its main listener, behind caller resolution; each
/// request traced and counted by protocol and status.
pub fn router(runtime: Runtime, config: HttpConfig) -> Router {
    Router::new()
        .merge(observed(
            dapr_http::router(runtime.clone(), config.app_id.clone()),
            &runtime,
            "dapr-http",
        ))
        .merge(observed(
            admin::router(runtime.clone()).merge(inspect::router(runtime.clone())),
            &runtime,
            "admin",
        ))
        .merge(console::router(runtime.clone(), config.auth.clone()))
        .merge(observed(
            spawn::router(runtime.clone(), config.spawn_user_function),
            &runtime,
            "spawn",
        ))
        .layer(middleware::from_fn_with_state(
            (runtime, config.auth),
            auth::resolve,
        ))
}

/// `router` with its requests observed as `protocol`: traced, and counted in the metrics
/// by status.
pub fn observed(router: Router, runtime: &Runtime, protocol: &'static str) -> Router {
    router.route_layer(observe::Observe::new(runtime.clone(), protocol))
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
