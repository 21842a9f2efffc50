//! The OPACA routes: parse, call the platform, answer in the reference's formats.

use std::collections::HashMap;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::platform::auth::{AuthError, Identity, UserUpdate};
use super::platform::model::{ConnectionRequest, Login, Message, PostAgentContainer, Role, User};
use super::platform::{OpacaError, Platform, Target};
use super::{JsonBody, Raw, parse_json};
use crate::runtime::DEFAULT_TENANT;

type Params = Query<HashMap<String, String>>;

/// Token lifetimes of the reference: a login's token and a renewed one.
const LOGIN_TTL: Duration = Duration::from_secs(3600);
const RENEWED_TTL: Duration = Duration::from_secs(10 * 3600);
/// How long `POST /containers` waits for a process container's `/info` by default.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// `containerId`, `forward` (default true) and the agent of a path. Like the reference's
/// typed parameters, a `forward` that is no boolean is a 400.
fn target(params: &HashMap<String, String>, agent: Option<String>) -> Result<Target, OpacaError> {
    let forward = match params.get("forward").map(|f| f.trim().to_ascii_lowercase()) {
        None => true,
        Some(f) if f.is_empty() => true,
        Some(f) if matches!(f.as_str(), "true" | "1" | "yes" | "on") => true,
        Some(f) if matches!(f.as_str(), "false" | "0" | "no" | "off") => false,
        Some(f) => {
            return Err(OpacaError::new(
                400,
                format!("query parameter `forward` must be true or false, not {f:?}"),
            ));
        }
    };
    Ok(Target {
        agent,
        container: params.get("containerId").filter(|c| !c.is_empty()).cloned(),
        forward,
    })
}

/// `timeout` in seconds; absent, empty, not positive or not a representable duration
/// (infinite, too large) means none. One that is no number is a 400.
fn timeout(params: &HashMap<String, String>) -> Result<Option<Duration>, OpacaError> {
    let Some(text) = params
        .get("timeout")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    let seconds = text
        .parse::<f64>()
        .ok()
        .filter(|t| !t.is_nan())
        .ok_or_else(|| {
            OpacaError::new(
                400,
                format!("query parameter `timeout` must be a number of seconds, not {text:?}"),
            )
        })?;
    Ok(Some(seconds)
        .filter(|t| *t > 0.0)
        .and_then(|t| Duration::try_from_secs_f64(t).ok()))
}

/// A body that is a bare string, with or without JSON quotes.
fn bare(bytes: &Bytes) -> String {
    let text = String::from_utf8_lossy(bytes);
    serde_json::from_str::<String>(&text)
        .unwrap_or_else(|_| text.trim().trim_matches('"').to_string())
}

/// The tenant a user acts in (`default` when it names none).
fn tenant_of(user: &User) -> &str {
    user.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
}

/// Whether `who` may see and manage users of `tenant`: the platform admin those of every
/// tenant, everyone else those of its own.
fn in_scope(who: &Identity, tenant: &str) -> bool {
    who.global || who.tenant == tenant
}

/// `GET /info`: the platform as the caller sees it.
pub async fn info(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
) -> impl IntoResponse {
    Json(p.info(&who))
}

/// `GET /config`: the platform's settings.
pub async fn config(State(p): State<Platform>) -> impl IntoResponse {
    Json(p.settings())
}

/// `GET /history`: recent events of the caller's tenant (of all tenants for the
/// platform admin).
pub async fn history(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
) -> impl IntoResponse {
    let tenant = (!who.global).then_some(who.tenant.as_str());
    Json(p.history().list(tenant))
}

/// `POST /login`: a token for a username and password; 400 without a JSON login.
pub async fn login(
    State(p): State<Platform>,
    body: Result<JsonBody<Login>, OpacaError>,
) -> Result<Raw, OpacaError> {
    let JsonBody(login) =
        body.map_err(|_| OpacaError::new(400, "a login needs a username and a password"))?;
    let identity = p.auth().login(&login.username, &login.password).await?;
    Ok(Raw(p.auth().issue(&identity.name, LOGIN_TTL)))
}

/// `GET /token`: a fresh token for the caller.
pub async fn token(State(p): State<Platform>, Extension(who): Extension<Identity>) -> Raw {
    Raw(p.auth().issue(&who.name, RENEWED_TTL))
}

/// `GET /agents`: the agents the caller sees, with connected platforms' if asked.
pub async fn agents(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
) -> impl IntoResponse {
    let connected = params.get("includeConnected").is_some_and(|v| v == "true");
    Json(p.agents(&who, connected))
}

/// `GET /agents/{agent}`: one agent, or an empty 200 if there is none.
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

/// `POST /send/{agent}`: deliver a message to an agent.
pub async fn send(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(agent): Path<String>,
    Query(params): Params,
    JsonBody(message): JsonBody<Message>,
) -> Result<StatusCode, OpacaError> {
    p.send(&who, &agent, &target(&params, None)?, &message)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /broadcast/{channel}`: publish a message on a channel (always 200).
pub async fn broadcast(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(channel): Path<String>,
    Query(params): Params,
    JsonBody(message): JsonBody<Message>,
) -> Result<StatusCode, OpacaError> {
    p.broadcast(&who, &channel, &target(&params, None)?, &message)
        .await;
    Ok(StatusCode::OK)
}

/// The path of `/invoke/{action}` and `/invoke/{action}/{agent}`.
#[derive(Debug, Deserialize)]
pub struct InvokePath {
    action: String,
    #[serde(default)]
    agent: Option<String>,
}

/// `POST /invoke/{action}[/{agent}]`: run an action. An empty body means no arguments
/// (whatever its content type); any other body must be a JSON object (415, 422).
pub async fn invoke(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(path): Path<InvokePath>,
    Query(params): Params,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<Value>, OpacaError> {
    let arguments: Map<String, Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        parse_json(&headers, &bytes)?
    };
    let target = target(&params, path.agent)?;
    let result = p
        .invoke(
            &who,
            None,
            &path.action,
            &target,
            arguments,
            timeout(&params)?,
        )
        .await?;
    Ok(Json(result))
}

/// The path of `/stream/{stream}` and `/stream/{stream}/{agent}`.
#[derive(Debug, Deserialize)]
pub struct StreamPath {
    stream: String,
    #[serde(default)]
    agent: Option<String>,
}

/// `GET /stream/{stream}[/{agent}]`: read a stream as octets.
pub async fn stream_get(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(path): Path<StreamPath>,
    Query(params): Params,
) -> Result<impl IntoResponse, OpacaError> {
    let bytes = p
        .stream(&who, &path.stream, &target(&params, path.agent)?, None)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

/// `POST /stream/{stream}[/{agent}]`: write the raw body to a stream.
pub async fn stream_post(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(path): Path<StreamPath>,
    Query(params): Params,
    bytes: Bytes,
) -> Result<StatusCode, OpacaError> {
    let target = target(&params, path.agent)?;
    p.stream(&who, &path.stream, &target, Some(bytes.to_vec()))
        .await?;
    Ok(StatusCode::OK)
}

/// `GET /containers`: the containers the caller sees.
pub async fn containers(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
) -> impl IntoResponse {
    let list: Vec<_> = p.containers(&who).iter().map(|c| c.info()).collect();
    Json(list)
}

/// `GET /containers/{id}`: one container, or an empty 200 if there is none.
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

/// `timeout`, or the default wait for a new container.
fn start_timeout(params: &HashMap<String, String>) -> Result<Duration, OpacaError> {
    Ok(timeout(params)?.unwrap_or(DEFAULT_START_TIMEOUT))
}

/// `POST /containers`: start a container; its id.
pub async fn start_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
    JsonBody(request): JsonBody<PostAgentContainer>,
) -> Result<Raw, OpacaError> {
    let id = p
        .start_container(&who, request, start_timeout(&params)?)
        .await?;
    Ok(Raw(id))
}

/// `PUT /containers`: replace the one container of the image; the new id.
pub async fn replace_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
    JsonBody(request): JsonBody<PostAgentContainer>,
) -> Result<Raw, OpacaError> {
    let id = p
        .replace_container(&who, request, start_timeout(&params)?)
        .await?;
    Ok(Raw(id))
}

/// `DELETE /containers/{id}`: stop a container; whether it existed.
pub async fn stop_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Json<bool>, OpacaError> {
    Ok(Json(p.stop_container(&who, &id).await?))
}

/// `POST /containers/notify`: pull a container's `/info` again (the body is its id).
pub async fn notify_container(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    bytes: Bytes,
) -> Result<Json<bool>, OpacaError> {
    Ok(Json(p.refresh_container(&who, &bare(&bytes)).await?))
}

/// `POST /containers/login/{id}`: log the caller in to a container; its token.
pub async fn container_login(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    JsonBody(login): JsonBody<Login>,
) -> Result<Raw, OpacaError> {
    Ok(Raw(p.container_login(&who, &id, &login).await?))
}

/// `POST /containers/logout/{id}`: forget the caller's container login.
pub async fn container_logout(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Json<bool>, OpacaError> {
    Ok(Json(p.container_logout(&who, &id).await?))
}

/// `GET /connections`: the connected platforms' base URLs.
pub async fn connections(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
) -> impl IntoResponse {
    Json(p.connections(&who))
}

/// `POST /connections`: connect to a platform (the platform admin only).
pub async fn connect(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    JsonBody(request): JsonBody<ConnectionRequest>,
) -> Result<Json<bool>, OpacaError> {
    Ok(Json(p.connect(&who, request).await?))
}

/// `DELETE /connections`: disconnect from a platform (the platform admin only).
pub async fn disconnect(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    JsonBody(request): JsonBody<ConnectionRequest>,
) -> Result<Json<bool>, OpacaError> {
    Ok(Json(p.disconnect(&who, request).await?))
}

/// `POST /connections/notify`: pull a platform's `/info` again (the body is its URL;
/// the platform admin only).
pub async fn notify_connection(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    bytes: Bytes,
) -> Result<Json<bool>, OpacaError> {
    Ok(Json(p.refresh_peer(&who.tenant, &bare(&bytes)).await?))
}

/// `GET /users`: the users of the caller's tenant (every user for the platform admin).
pub async fn users(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
) -> Result<Json<Vec<User>>, OpacaError> {
    let users: Vec<User> = p
        .auth()
        .users()
        .await?
        .into_iter()
        .filter(|u| in_scope(&who, tenant_of(u)))
        .collect();
    Ok(Json(users))
}

/// `POST /users`: create a user, in the caller's tenant unless the body names one
/// (another tenant only for the platform admin).
pub async fn create_user(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    JsonBody(mut user): JsonBody<User>,
) -> Result<impl IntoResponse, OpacaError> {
    let tenant: &str = user.tenant.get_or_insert_with(|| who.tenant.clone());
    if !in_scope(&who, tenant) {
        return Err(OpacaError::new(
            403,
            format!("{} may not create users in tenant {tenant:?}", who.name),
        ));
    }
    let user = p.auth().create(user).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /users/{name}`: one user; others than the caller only for admins, and those of
/// other tenants only for the platform admin (404 otherwise).
pub async fn user(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Json<User>, OpacaError> {
    if who.name != name && !who.has(Role::Admin) && p.config().require_auth {
        return Err(OpacaError::new(403, "only admins may read other users"));
    }
    let user = p.auth().user(&name).await?;
    if !in_scope(&who, tenant_of(&user)) {
        return Err(AuthError::NoUser(name).into());
    }
    Ok(Json(user))
}

/// `PUT /users/{name}`: change the given fields of a user of the caller's tenant (of any
/// tenant, and into any tenant, for the platform admin).
pub async fn update_user(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    JsonBody(update): JsonBody<UserUpdate>,
) -> Result<Json<User>, OpacaError> {
    let old = p.auth().user(&name).await?;
    if !in_scope(&who, tenant_of(&old)) {
        return Err(AuthError::NoUser(name).into());
    }
    if let Some(tenant) = &update.tenant
        && !in_scope(&who, tenant)
    {
        return Err(OpacaError::new(
            403,
            format!("{} may not move users to tenant {tenant:?}", who.name),
        ));
    }
    Ok(Json(p.auth().update(&name, update).await?))
}

/// `DELETE /users/{name}`: delete a user of the caller's tenant (of any tenant for the
/// platform admin).
pub async fn delete_user(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> Result<Json<bool>, OpacaError> {
    let user = p.auth().user(&name).await?;
    if !in_scope(&who, tenant_of(&user)) {
        return Err(AuthError::NoUser(name).into());
    }
    if !p.auth().delete(&name).await? {
        return Err(AuthError::NoUser(name).into());
    }
    Ok(Json(true))
}

/// `GET /v3/api-docs/actions`: an OpenAPI document of the actions the caller sees.
pub async fn action_docs(
    State(p): State<Platform>,
    Extension(who): Extension<Identity>,
    Query(params): Params,
) -> Result<impl IntoResponse, OpacaError> {
    if params
        .get("format")
        .is_some_and(|f| !f.eq_ignore_ascii_case("JSON"))
    {
        return Err(OpacaError::new(
            400,
            "Warren writes the action docs as JSON only",
        ));
    }
    let mut definitions = std::collections::BTreeMap::new();
    for container in p.containers(&who) {
        definitions.extend(container.info().image.definitions);
    }
    let agents = p.agents(&who, false);
    Ok(Json(super::platform::api_docs::action_docs(
        "OPACA actions",
        &agents,
        &definitions,
    )))
}
