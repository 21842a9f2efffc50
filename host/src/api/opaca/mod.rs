//! The OPACA runtime-platform API on its own listener (its paths sit at the root).
//! Translation only: the platform (`crate::opaca`) finds agents and runs containers, and
//! Wasm agents' turns go through the runtime core.

mod access;
mod handlers;
mod subscribe;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::opaca::model::ErrorResponse;
use crate::opaca::{OpacaError, Platform};

/// Where the OPACA API listens unless told otherwise (the reference platform's port).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";

/// Every OPACA route, behind authentication, the role table and the event history.
pub fn router(platform: Platform) -> Router {
    use handlers::*;
    Router::new()
        .route("/info", get(info))
        .route("/config", get(config))
        .route("/history", get(history))
        .route("/login", post(login))
        .route("/token", get(token))
        .route("/agents", get(agents))
        .route("/agents/{agent}", get(agent))
        .route("/send/{agent}", post(send))
        .route("/broadcast/{channel}", post(broadcast))
        .route("/invoke/{action}", post(invoke_any))
        .route("/invoke/{action}/{agent}", post(invoke_agent))
        .route(
            "/stream/{stream}",
            get(stream_get_any).post(stream_post_any),
        )
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
        .with_state(platform)
}

/// An `ErrorResponse` answer.
fn error(e: OpacaError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, axum::Json(e.response())).into_response()
}

/// A bare string answer (tokens and container ids), as the reference sends them.
fn raw(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

/// A request body that is not the JSON the route takes.
fn unprocessable(message: String) -> Response {
    let body = ErrorResponse {
        status_code: 422,
        message,
        cause: None,
    };
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}
