//! The OPACA routes: parse, call the platform, answer in the reference's formats.

use std::collections::HashMap;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{error, raw, unprocessable};
use crate::opaca::auth::{AuthError, Identity};
use crate::opaca::model::{ConnectionRequest, Login, Message, PostAgentContainer, Role, User};
use crate::opaca::{OpacaError, Platform, Target};

type Params = Query<HashMap<String, String>>;

/// Token lifetimes of the reference: a login's token and a renewed one.
const LOGIN_TTL: Duration = Duration::from_secs(3600);
const RENEWED_TTL: Duration = Duration::from_secs(10 * 3600);
/// How long `POST /containers` waits for a process container's `/info` by default.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("the body is not valid here: {e}"))
}

/// `containerId`, `forward` (default true) and the agent of a path.
fn target(params: &HashMap<String, String>, agent: Option<String>) -> Target {
    Target {
        agent,
        container: params.get("containerId").filter(|c| !c.is_empty()).cloned(),
        forward: params.get("forward").is_none_or(|f| f != "false"),
    }
}

/// `timeout` in seconds; absent or negative means none.
fn timeout(params: &HashMap<String, String>) -> Option<Duration> {
    params
        .get("timeout")
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64)
}

/// A body that is a bare string, with or without JSON quotes.
fn bare(bytes: &Bytes) -> String {
    let text = String::from_utf8_lossy(bytes);
    serde_json::from_str::<String>(&text)
        .unwrap_or_else(|_| text.trim().trim_matches('"').to_string())
}

fn auth_error(e: AuthError) -> Response {
    let status = match e {
        AuthError::BadCredentials => 403,
        AuthError::Exists(_) => 409,
        AuthError::NoUser(_) => 404,
        AuthError::Invalid(_) => 400,
        AuthError::Store(_) => 500,
    };
    error(OpacaError::new(status, e.to_string()))
}

pub async fn info(State(p): State<Platform>, Extension(who): Extension<Identity>) -> Response {
    Json(p.info(&who)).into_response()
}

pub async fn config(State(p): State<Platform>) -> Response {
    Json(p.settings()).into_response()
}

pub async fn history(State(p): State<Platform>, Extension(who): Extension<Identity>) -> Response {
    let tenant = (!who.has(Role::Admin)).then_some(who.tenant.as_str());
    Json(p.history().list(tenant)).into_response()
}

pub async fn login(State(p): State<Platform>, bytes: Bytes) -> Response {
    let Ok(login) = serde_json::from_slice::<Login>(&bytes) else {
        return error(OpacaError::new(
            400,
            "a login needs a username and a password",
        ));
    };
    match p.auth().login(&login.username, &login.password) {
        Ok(identity) => raw(p.auth().issue(&identity.name, LOGIN_TTL)),
        Err(e) => auth_error(e),
    }
}

pub async fn token(State(p): State<Platform>, Extension(who): Extension<Identity>) -> Response {
    raw(p.auth().issue(&who.name, RENEWED_TTL))
}

pub async fn agents(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
) -> Response {
    let connected = params.get("includeConnected").is_some_and(|v| v == "true");
    Json(p.agents(&who, connected)).into_response()
}

pub async fn agent(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    match p.agents(&who, true).into_iter().find(|a| a.agent_id == id) {
        Some(agent) => Json(agent).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

pub async fn send(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(agent): Path<String>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    let message: Message = match body(&bytes) {
        Ok(m) => m,
        Err(m) => return unprocessable(m),
    };
    match p.send(&who, &agent, &target(&params, None), &message).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => error(e),
    }
}

pub async fn broadcast(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(channel): Path<String>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    let message: Message = match body(&bytes) {
        Ok(m) => m,
        Err(m) => return unprocessable(m),
    };
    p.broadcast(&who, &channel, &target(&params, None), &message)
        .await;
    StatusCode::OK.into_response()
}

async fn invoke(
    p: Platform,
    who: Identity,
    action: String,
    agent: Option<String>,
    params: HashMap<String, String>,
    bytes: Bytes,
) -> Response {
    let arguments: Map<String, Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match body(&bytes) {
            Ok(a) => a,
            Err(m) => return unprocessable(m),
        }
    };
    let target = target(&params, agent);
    match p
        .invoke(&who, &action, &target, arguments, timeout(&params))
        .await
    {
        Ok(result) => Json(result).into_response(),
        Err(e) => error(e),
    }
}

pub async fn invoke_any(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(action): Path<String>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    invoke(p, who, action, None, params, bytes).await
}

pub async fn invoke_agent(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path((action, agent)): Path<(String, String)>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    invoke(p, who, action, Some(agent), params, bytes).await
}

async fn stream(
    p: Platform,
    who: Identity,
    name: String,
    agent: Option<String>,
    params: HashMap<String, String>,
    body: Option<Vec<u8>>,
) -> Response {
    let posted = body.is_some();
    match p.stream(&who, &name, &target(&params, agent), body).await {
        Ok(_) if posted => StatusCode::OK.into_response(),
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e) => error(e),
    }
}

pub async fn stream_get_any(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Response {
    stream(p, who, name, None, params, None).await
}

pub async fn stream_get(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path((name, agent)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    stream(p, who, name, Some(agent), params, None).await
}

pub async fn stream_post_any(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    stream(p, who, name, None, params, Some(bytes.to_vec())).await
}

pub async fn stream_post(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path((name, agent)): Path<(String, String)>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    stream(p, who, name, Some(agent), params, Some(bytes.to_vec())).await
}

pub async fn containers(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
) -> Response {
    let list: Vec<_> = p.containers(&who).iter().map(|c| c.info()).collect();
    Json(list).into_response()
}

pub async fn container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    match p.container(&who, &id) {
        Some(c) => Json(c.info()).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

fn start_timeout(params: &HashMap<String, String>) -> Duration {
    timeout(params).unwrap_or(DEFAULT_START_TIMEOUT)
}

pub async fn start_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    let request: PostAgentContainer = match body(&bytes) {
        Ok(r) => r,
        Err(m) => return unprocessable(m),
    };
    match p
        .start_container(&who, request, start_timeout(&params))
        .await
    {
        Ok(id) => raw(id),
        Err(e) => error(e),
    }
}

pub async fn replace_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
    bytes: Bytes,
) -> Response {
    let request: PostAgentContainer = match body(&bytes) {
        Ok(r) => r,
        Err(m) => return unprocessable(m),
    };
    match p
        .replace_container(&who, request, start_timeout(&params))
        .await
    {
        Ok(id) => raw(id),
        Err(e) => error(e),
    }
}

pub async fn stop_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    match p.stop_container(&who, &id).await {
        Ok(stopped) => Json(stopped).into_response(),
        Err(e) => error(e),
    }
}

pub async fn notify_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    bytes: Bytes,
) -> Response {
    match p.refresh_container(&who, &bare(&bytes)).await {
        Ok(fresh) => Json(fresh).into_response(),
        Err(e) => error(e),
    }
}

pub async fn container_login(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let login: Login = match body(&bytes) {
        Ok(l) => l,
        Err(m) => return unprocessable(m),
    };
    match p.container_login(&who, &id, &login).await {
        Ok(token) => raw(token),
        Err(e) => error(e),
    }
}

pub async fn container_logout(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    match p.container_logout(&who, &id).await {
        Ok(had) => Json(had).into_response(),
        Err(e) => error(e),
    }
}

pub async fn connections(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
) -> Response {
    Json(p.connections(&who)).into_response()
}

pub async fn connect(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    bytes: Bytes,
) -> Response {
    let request: ConnectionRequest = match body(&bytes) {
        Ok(r) => r,
        Err(m) => return unprocessable(m),
    };
    match p.connect(&who, request).await {
        Ok(new) => Json(new).into_response(),
        Err(e) => error(e),
    }
}

pub async fn disconnect(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    bytes: Bytes,
) -> Response {
    let request: ConnectionRequest = match body(&bytes) {
        Ok(r) => r,
        Err(m) => return unprocessable(m),
    };
    match p.disconnect(&who, request).await {
        Ok(was) => Json(was).into_response(),
        Err(e) => error(e),
    }
}

pub async fn notify_connection(State(p): State<Platform>, bytes: Bytes) -> Response {
    match p.refresh_peer(&bare(&bytes)).await {
        Ok(fresh) => Json(fresh).into_response(),
        Err(e) => error(e),
    }
}

pub async fn users(State(p): State<Platform>) -> Response {
    match p.auth().users() {
        Ok(users) => Json(users).into_response(),
        Err(e) => auth_error(e),
    }
}

pub async fn create_user(State(p): State<Platform>, bytes: Bytes) -> Response {
    let user: User = match serde_json::from_slice(&bytes) {
        Ok(u) => u,
        Err(e) => return error(OpacaError::new(400, format!("not a user: {e}"))),
    };
    match p.auth().create(user).await {
        Ok(user) => (StatusCode::CREATED, Json(user)).into_response(),
        Err(e) => auth_error(e),
    }
}

pub async fn user(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> Response {
    if who.name != name && !who.has(Role::Admin) && p.config().require_auth {
        return error(OpacaError::new(403, "only admins may read other users"));
    }
    match p.auth().user(&name) {
        Ok(user) => Json(user).into_response(),
        Err(e) => auth_error(e),
    }
}

pub async fn update_user(
    State(p): State<Platform>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let user: User = match serde_json::from_slice(&bytes) {
        Ok(u) => u,
        Err(e) => return error(OpacaError::new(400, format!("not a user: {e}"))),
    };
    match p.auth().update(&name, user).await {
        Ok(user) => Json(user).into_response(),
        Err(e) => auth_error(e),
    }
}

pub async fn delete_user(State(p): State<Platform>, Path(name): Path<String>) -> Response {
    match p.auth().delete(&name).await {
        Ok(true) => Json(true).into_response(),
        Ok(false) => auth_error(AuthError::NoUser(name)),
        Err(e) => auth_error(e),
    }
}

pub async fn action_docs(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
) -> Response {
    if params
        .get("format")
        .is_some_and(|f| !f.eq_ignore_ascii_case("JSON"))
    {
        return error(OpacaError::new(
            400,
            "Warren writes the action docs as JSON only",
        ));
    }
    let mut definitions = std::collections::BTreeMap::new();
    for container in p.containers(&who) {
        definitions.extend(container.info().image.definitions);
    }
    let agents = p.agents(&who, false);
    Json(crate::opaca::api_docs::action_docs(
        "OPACA actions",
        &agents,
        &definitions,
    ))
    .into_response()
}
