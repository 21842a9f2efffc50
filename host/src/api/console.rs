//! The web console at `/console`: plain HTML, CSS and JavaScript embedded in the binary,
//! over the admin API. Signing in posts the admin token once; the host answers with an
//! HTTP-only, same-site cookie that the auth layer accepts as that token, so the page's
//! own requests need no script-held secret.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::runtime::Runtime;
use warren_protocol::AuthConfig;
use warren_protocol::auth::{self, Access, COOKIE};

const INDEX: &str = include_str!("console/index.html");
const LOGIN: &str = include_str!("console/login.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// The console's routes.
pub fn router(runtime: Runtime, config: AuthConfig) -> Router {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(style))
        .route("/console/login", post(login))
        .route("/console/logout", post(logout))
        .with_state((runtime, config))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The sign-in page, with `message` (fixed texts only: nothing a caller sent).
fn login_page(status: StatusCode, message: &str) -> Response {
    html(status, LOGIN.replace("{{message}}", message))
}

async fn index(access: Access) -> Response {
    match access.require_admin() {
        Ok(()) => html(StatusCode::OK, INDEX.to_string()),
        Err(_) => login_page(StatusCode::UNAUTHORIZED, "Sign in with the admin token."),
    }
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

fn cookie(value: &str, max_age: u64) -> String {
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

async fn login(
    State((runtime, config)): State<(Runtime, AuthConfig)>,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let token = form.token.trim();
    let admin = !token.is_empty()
        && !token.contains([';', ' ', ','])
        && auth::access(&runtime, &config, Some(token))
            .is_ok_and(|access| access.require_admin().is_ok());
    if !admin {
        return login_page(StatusCode::UNAUTHORIZED, "That is not the admin token.");
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie(token, 12 * 3600)),
            (header::LOCATION, "/console".to_string()),
        ],
    )
        .into_response()
}

async fn logout() -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie("", 0)),
            (header::LOCATION, "/console".to_string()),
        ],
    )
        .into_response()
}
