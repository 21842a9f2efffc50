//! Who is calling (a token's user, container or platform; the admin when auth is off;
//! an anonymous guest on the open routes), the minimum role each route needs, and the
//! CALL / SUCCESS / ERROR events of logged routes.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::platform::auth::Identity;
use super::platform::model::Role;
use super::platform::{OpacaError, Platform};

/// The minimum role of a route; `None` for the open ones.
pub(super) fn minimum_role(method: &Method, path: &str) -> Option<Role> {
    let first = path.split('/').nth(1).unwrap_or_default();
    let get = method == Method::GET;
    match first {
        "login" => None,
        "v3" if path != "/v3/api-docs/actions" => None,
        "v3" | "info" | "config" | "token" | "agents" | "subscribe" => Some(Role::Guest),
        "containers" if get => Some(Role::Guest),
        "containers"
            if path.starts_with("/containers/login") || path.starts_with("/containers/logout") =>
        {
            Some(Role::User)
        }
        "containers" => Some(Role::Contributor),
        "history" | "send" | "invoke" | "broadcast" | "stream" => Some(Role::User),
        "connections" if get => Some(Role::User),
        // A user may read itself; the handler checks the name.
        "users" if get && path.len() > "/users/".len() => Some(Role::Guest),
        _ => Some(Role::Admin),
    }
}

/// 403 unless `identity` has the `required` role of its route.
pub(super) fn check_role(identity: &Identity, required: Option<Role>) -> Result<(), OpacaError> {
    match required {
        Some(required) if !identity.has(required) => Err(OpacaError::new(
            403,
            format!(
                "{} has role {:?}; this route needs {required:?}",
                identity.name, identity.role
            ),
        )),
        _ => Ok(()),
    }
}

/// Routes only the configured platform admin may call (with auth on): they make the host
/// fetch URLs the caller chooses.
fn platform_admin_only(method: &Method, path: &str) -> bool {
    // Notify only pulls a peer the tenant already has, so a tenant's ADMIN may.
    path == "/connections" && (method == Method::POST || method == Method::DELETE)
}

/// Who calls an open route without a valid token while auth is on.
fn anonymous() -> Identity {
    Identity {
        name: "anonymous".into(),
        role: Role::Guest,
        tenant: String::new(),
        owner: String::new(),
        global: false,
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "Unauthorized",
    )
        .into_response()
}

/// Resolve the caller and check the route's role; the handler gets the [`Identity`].
pub async fn authenticate(
    State(platform): State<Platform>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let token = token.map(str::to_string);
    let verified = match token {
        Some(t) => platform.auth().verify(&t).await,
        None => None,
    };
    let (method, path) = (request.method(), request.uri().path());
    let required = minimum_role(method, path);
    let require_auth = platform.config().require_auth;
    let identity = match (verified, require_auth) {
        (Some(identity), _) => identity,
        // With auth off, everyone acts as the admin (as in the reference platform).
        (None, false) => platform.auth().admin(),
        (None, true) if required.is_none() => anonymous(),
        (None, true) => return unauthorized(),
    };
    if require_auth {
        if let Err(refused) = check_role(&identity, required) {
            return refused.into_response();
        }
        if platform_admin_only(method, path) && !identity.global {
            return OpacaError::new(403, "only the platform admin may change connections")
                .into_response();
        }
    }
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// Whether calls of this route are recorded (the reference's list).
fn logged(method: &Method, path: &str) -> bool {
    let first = path.split('/').nth(1).unwrap_or_default();
    match *method {
        Method::POST => matches!(
            first,
            "users"
                | "stream"
                | "invoke"
                | "send"
                | "broadcast"
                | "login"
                | "containers"
                | "connections"
        ),
        Method::PUT => matches!(first, "users" | "containers"),
        Method::DELETE => matches!(first, "users" | "containers" | "connections"),
        Method::GET => matches!(first, "stream" | "token"),
        _ => false,
    }
}

/// Record CALL before and SUCCESS or ERROR after each logged call.
pub async fn history(State(platform): State<Platform>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    if !logged(&method, &path) {
        return next.run(request).await;
    }
    let tenant = request
        .extensions()
        .get::<Identity>()
        .map(|i| i.tenant.clone())
        .unwrap_or_default();
    let sender = request
        .headers()
        .get("sender-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let route = format!("{method} {path}");
    let history = platform.history();
    let call = history.call(&tenant, &route, sender);
    let response = next.run(request).await;
    history.outcome(&tenant, &route, response.status().as_u16(), call);
    response
}
