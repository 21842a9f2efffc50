//! The host's own HTTP API: administration, inspection and the web console. The
//! protocols Warren speaks are crates of their own (`warren-dapr`, `warren-spawn`,
//! `warren-opaca`, behind the seam of `warren-protocol`); their routes join these on the
//! main listener.

pub mod admin;
pub mod config;
pub mod console;
pub mod inspect;

use axum::Router;
use axum::middleware;
use warren_protocol::{AuthConfig, auth, observed};

use crate::runtime::Runtime;

/// Every HTTP route of the main listener: the host's own (admin, inspection, console)
/// and those of the enabled protocols (`protocols`), all behind caller resolution; each
/// request traced and counted by protocol and status.
pub fn router(runtime: Runtime, auth: AuthConfig, protocols: Vec<Router>) -> Router {
    let own = admin::router(runtime.clone())
        .merge(config::router(runtime.clone()))
        .merge(inspect::router(runtime.clone()));
    protocols
        .into_iter()
        .fold(Router::new(), Router::merge)
        .merge(observed(own, &runtime, "admin"))
        .merge(console::router(runtime.clone(), auth.clone()))
        .layer(middleware::from_fn_with_state(
            (runtime, auth),
            auth::resolve,
        ))
}
