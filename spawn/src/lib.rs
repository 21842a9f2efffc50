//! The Spawn proxy protocol (eigr/spawn): binary protobuf over HTTP. An SDK registers its
//! actor system here, spawns instances and invokes actors; a Spawn actor system is a
//! Warren tenant. Translation only: addressing, state and workflows live in the runtime
//! core and the Spawn SDK backend.

#![warn(missing_docs)]

mod invoke;
mod registration;
pub mod sdk_backend;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prost::Message;

use warren_protocol::auth::Denied;
use warren_protocol::{Access, Host, Protocol, ProtocolError, observed};

use self::registration::SpawnSystems;
use crate::runtime::Runtime;
use crate::wire::spawn::pb;

// The paths the modules name the core and the wire formats by.
use warren_core::runtime;
use warren_wire::{self as wire, types};

/// Where Spawn SDKs listen unless told otherwise (Spawn's sidecar default port).
pub const DEFAULT_USER_FUNCTION: &str = "http://127.0.0.1:8090";

/// The flags of the Spawn protocol.
#[derive(Clone, Debug, clap::Args)]
pub struct SpawnFlags {
    /// Base URL of the Spawn SDK user function that Spawn registrations call back
    /// (Spawn's `USER_FUNCTION_HOST`/`USER_FUNCTION_PORT`).
    #[arg(long, env = "WARREN_SPAWN_USER_FUNCTION", default_value = DEFAULT_USER_FUNCTION)]
    pub spawn_user_function: String,
}

/// The Spawn protocol, as the host runs it: routes on the main HTTP listener.
pub struct Spawn {
    flags: SpawnFlags,
}

impl Spawn {
    /// The protocol with these flags.
    pub fn new(flags: SpawnFlags) -> Self {
        Spawn { flags }
    }
}

#[async_trait::async_trait]
impl Protocol for Spawn {
    fn name(&self) -> &'static str {
        "spawn"
    }

    async fn prepare(&mut self, host: &Host) -> Result<Option<axum::Router>, ProtocolError> {
        let routes = router(host.runtime.clone(), self.flags.spawn_user_function.clone());
        Ok(Some(observed(routes, &host.runtime, "spawn")))
    }

    async fn start(&mut self, _host: &Host) -> Result<(), ProtocolError> {
        Ok(())
    }
}

/// What the Spawn routes need.
#[derive(Clone)]
struct SpawnState {
    runtime: Runtime,
    /// Base URL of the SDK's user function that registrations call back.
    user_function: String,
    /// The registrations kept in the store.
    systems: Arc<SpawnSystems>,
}

/// Spawn's routes, and its health checks. The registrations the store holds are served
/// from the runtime's next [`Runtime::follow_store`] on.
pub fn router(runtime: Runtime, user_function: String) -> Router {
    let systems = SpawnSystems::new(runtime.clone());
    Router::new()
        .route("/api/v1/system", post(registration::register))
        .route("/api/v1/system/{system}/actors/spawn", post(invoke::spawn))
        .route(
            "/api/v1/system/{system}/actors/{actor}/invoke",
            post(invoke::invoke),
        )
        .route("/health", get(health))
        .route("/health/liveness", get(health))
        .route("/health/readiness", get(health))
        .with_state(SpawnState {
            runtime,
            user_function,
            systems,
        })
}

async fn health() -> Response {
    axum::Json(serde_json::json!({ "status": "up" })).into_response()
}

/// A protobuf reply, as Spawn sends them.
fn proto(status: StatusCode, message: &impl Message) -> Response {
    let mut response = (status, message.encode_to_vec()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// Spawn's request status.
fn status(ok: bool, message: impl Into<String>) -> pb::RequestStatus {
    pb::RequestStatus {
        status: if ok {
            pb::Status::Ok
        } else {
            pb::Status::Error
        } as i32,
        message: message.into(),
    }
}

/// The tenant a request for actor system `system` acts in.
fn tenant(access: &Access, system: &str) -> Result<String, Denied> {
    access.scope(Some(system))
}
