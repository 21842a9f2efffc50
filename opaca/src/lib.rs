//! The OPACA runtime-platform API on its own listener (its paths sit at the root). The
//! routes translate; [`platform`] holds what OPACA itself defines (agent containers, users
//! and tokens, the event history, connected platforms), and every agent's turn, of a Wasm
//! container or a process container, goes through the runtime core.

#![warn(missing_docs)]

mod access;
pub mod agent_calls;
mod handlers;
pub mod platform;
pub mod process_backend;
mod protocol;
mod subscribe;

pub use protocol::{OPACA_LISTENER, Opaca, OpacaFlags};

// The paths the modules name the core and the wire formats by.
use warren_core::runtime;
use warren_wire::types;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use platform::auth::AuthError;
use platform::{OpacaError, Platform};

/// Where the OPACA API listens unless told otherwise (the reference platform's port).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";

/// Every OPACA route, behind authentication, the role table and the event history.
pub fn router(platform: Platform) -> Router {
    use handlers::*;
    let router = Router::new()
        .route("/info", get(info))
        .route("/config", get(config))
        .route("/history", get(history))
        .route("/login", post(login))
        .route("/token", get(token))
        .route("/agents", get(agents))
        .route("/agents/{agent}", get(agent))
        .route("/send/{agent}", post(send))
        .route("/broadcast/{channel}", post(broadcast))
        .route("/invoke/{action}", post(invoke))
        .route("/invoke/{action}/{agent}", post(invoke))
        .route("/stream/{stream}", get(stream_get).post(stream_post))
        .route(
            "/stream/{stream}/{agent}",
            get(stream_get).post(stream_post),
        )
        .route(
            "/containers",
            get(containers).post(start_container).put(replace_container),
        )
        .route("/containers/notify", post(notify_container))
        .route("/containers/login/{id}", post(container_login))
        .route("/containers/logout/{id}", post(container_logout))
        .route("/containers/{id}", get(container).delete(stop_container))
        .route(
            "/connections",
            get(connections).post(connect).delete(disconnect),
        )
        .route("/connections/notify", post(notify_connection))
        .route("/users", get(users).post(create_user))
        .route(
            "/users/{name}",
            get(user).put(update_user).delete(delete_user),
        )
        .route("/v3/api-docs/actions", get(action_docs))
        .route("/subscribe", get(subscribe::subscribe))
        .layer(middleware::from_fn_with_state(
            platform.clone(),
            access::history,
        ))
        .layer(middleware::from_fn_with_state(
            platform.clone(),
            access::authenticate,
        ))
        .with_state(platform.clone());
    // Outermost, so a preflight is answered before authentication.
    match cors(&platform.config().cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS for the configured origins; none when the list is empty (off: a preflight finds
/// no route, as before the setting existed).
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let origins: Vec<axum::http::HeaderValue> = origins
        .iter()
        .filter_map(|o| {
            o.parse()
                .map_err(
                    |_| tracing::warn!(origin = %o, "CORS origin is not a header value; ignored"),
                )
                .ok()
        })
        .collect();
    (!origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods(Any)
            .allow_headers(Any)
    })
}

/// An error answers with its status (502 if that is no HTTP status) and its
/// `ErrorResponse` as JSON.
impl IntoResponse for OpacaError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        (status, axum::Json(self.response())).into_response()
    }
}

/// A failed login or user change as an HTTP error.
impl From<AuthError> for OpacaError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::BadCredentials => 403,
            AuthError::Exists(_) => 409,
            AuthError::NoUser(_) => 404,
            AuthError::Invalid(_) => 400,
            _ => 500,
        };
        OpacaError::new(status, e.to_string())
    }
}

/// A bare string answer (tokens and container ids), as the reference sends them.
#[derive(Clone, Debug)]
pub struct Raw(pub String);

impl IntoResponse for Raw {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "text/plain")], self.0).into_response()
    }
}

/// Whether the request says its body is JSON: `application/json`, in any case, with or
/// without parameters such as `; charset=UTF-8`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .is_some_and(|media| {
            // `application/json`, or a structured `+json` type as the reference accepts.
            media == "application/json"
                || media
                    .strip_prefix("application/")
                    .is_some_and(|sub| sub.ends_with("+json") && sub.len() > "+json".len())
        })
}

/// 415: the body is not declared as JSON.
fn not_json() -> OpacaError {
    OpacaError::new(415, "the body must be JSON (content type application/json)")
}

/// 422: the body is not the JSON the route takes.
fn unparsable(e: serde_json::Error) -> OpacaError {
    OpacaError::new(422, format!("the body is not valid here: {e}"))
}

/// A JSON body: 415 unless the content type is `application/json`, 422 if it does not
/// parse as `T`.
fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, OpacaError> {
    if !is_json(headers) {
        return Err(not_json());
    }
    serde_json::from_slice(bytes).map_err(unparsable)
}

/// A JSON request body: 415 unless the content type is `application/json` (parameters
/// such as `; charset=UTF-8` allowed), 422 if it does not parse as `T`. Requiring the
/// content type also guards against cross-site requests: a browser cannot send
/// `application/json` to another origin without a CORS preflight, which Warren never
/// grants.
#[derive(Clone, Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = OpacaError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Refuse before reading the body.
        if !is_json(request.headers()) {
            return Err(not_json());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| OpacaError::new(e.status().as_u16(), e.body_text()))?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(unparsable)
    }
}
