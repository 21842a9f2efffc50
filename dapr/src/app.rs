//! Dapr's app-callback mode: an ordinary HTTP app hosts actor types; Warren reads its
//! `/dapr/config` and calls `PUT /actors/{type}/{id}/method/...` for each turn.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::runtime::durations::parse_go;
use crate::runtime::{ActorBackend, BackendFuture, Runtime, Turn, TurnOutcome};
use crate::types::manifest::{ActorTypeSpec, Manifest};
use crate::types::{ActorId, Fired, Invocation, InvokeError, Reply, Trigger};
use warren_protocol::answer;

/// Dapr's default idle timeout for app-hosted actors.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60 * 60);
/// Dapr's default reentrancy depth.
pub const DEFAULT_DEPTH: u32 = 32;

/// The most of an app's `/dapr/config` answer that is read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Why talking to the app failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request to the app was not answered.
    #[error("app at {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL that was called.
        url: String,
        /// The transport's error.
        reason: String,
    },
    /// `GET /dapr/config` answered with a status other than 200 (Dapr then hosts no
    /// actors for the app).
    #[error("app's /dapr/config answered {status}")]
    Status {
        /// The HTTP status the app answered with.
        status: u16,
    },
    /// The app's URL is malformed, or its `/dapr/config` is unreadable or not the JSON
    /// Dapr expects.
    #[error("app's /dapr/config is not valid: {0}")]
    Config(String),
}

/// Dapr's reentrancy setting, of an app or of some of its types.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Reentrancy {
    /// Whether a call chain may re-enter an actor it already holds.
    #[serde(default)]
    pub enabled: bool,
    /// How long a chain may grow; Dapr's default when absent.
    pub max_stack_depth: Option<u32>,
}

/// Settings for the actor types in `entities`, in place of the app's own; the fields mean
/// what [`AppConfig`]'s of the same names mean.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EntityConfig {
    /// The actor types these settings are for (`entities`).
    #[serde(default)]
    pub entities: Vec<String>,
    /// Their idle timeout (`actorIdleTimeout`, a Go duration); `None` when absent or
    /// unparsable.
    #[serde(default, deserialize_with = "go_duration")]
    pub actor_idle_timeout: Option<Duration>,
    /// Their reentrancy (`reentrancy`); `None` when absent.
    pub reentrancy: Option<Reentrancy>,
}

/// The actor part of a Dapr app's configuration: the types it hosts and their settings.
/// An app declares it in `/dapr/config` (JSON, read here) or in the initial request of
/// `SubscribeActorEventsAlpha1` (protobuf, translated by the gRPC API); [`actor_types`]
/// reads it for both, so a type gets the same settings whichever way it was declared.
/// Unknown and deprecated fields are ignored.
///
/// [`actor_types`]: AppConfig::actor_types
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    /// The actor types the app hosts.
    #[serde(default)]
    pub entities: Vec<String>,
    /// The app's idle timeout; `None` when absent or unparsable (Dapr's default applies).
    #[serde(default, deserialize_with = "go_duration")]
    pub actor_idle_timeout: Option<Duration>,
    /// The app's reentrancy; `None` when absent (no reentrancy).
    pub reentrancy: Option<Reentrancy>,
    /// Settings for some types in place of the app's.
    #[serde(default)]
    pub entities_config: Vec<EntityConfig>,
}

/// A Go duration string as a duration. Like Dapr, an unparsable one counts as absent, so
/// the default applies.
fn go_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.and_then(|t| parse_go(&t)))
}

/// The reentrancy depth a setting allows: `None` when absent, `Some(None)` when disabled.
fn depth(r: Option<&Reentrancy>) -> Option<Option<u32>> {
    r.map(|r| {
        r.enabled
            .then(|| r.max_stack_depth.unwrap_or(DEFAULT_DEPTH))
    })
}

impl AppConfig {
    /// The types in `entities`, each with the settings of the first `entities_config`
    /// entry naming it, or else the app's, or else Dapr's defaults.
    pub fn actor_types(&self) -> Vec<ActorTypeSpec> {
        let base_idle = self.actor_idle_timeout.unwrap_or(DEFAULT_IDLE);
        let base_depth = depth(self.reentrancy.as_ref()).flatten();
        self.entities
            .iter()
            .map(|name| {
                let own = self
                    .entities_config
                    .iter()
                    .find(|c| c.entities.contains(name));
                ActorTypeSpec::external(
                    name,
                    own.and_then(|c| c.actor_idle_timeout).unwrap_or(base_idle),
                    own.and_then(|c| depth(c.reentrancy.as_ref()))
                        .unwrap_or(base_depth),
                )
            })
            .collect()
    }

    /// The manifest of app `app_id`'s actor types.
    fn manifest(&self, app_id: &str) -> Manifest {
        Manifest {
            name: format!("app:{app_id}"),
            version: String::new(),
            actor_types: self.actor_types(),
        }
    }
}

/// An app Warren calls for the turns of its actor types.
pub struct AppChannel {
    base: Url,
    app_id: String,
    client: reqwest::Client,
    /// Sent as `dapr-api-token` on every callback (Dapr's `APP_API_TOKEN`).
    token: Option<String>,
}

/// A JSON value for a callback body: the raw JSON as registered, or a string if the bytes
/// are not JSON (a Wasm guest may register any bytes).
fn raw_json(data: &[u8]) -> Box<RawValue> {
    if data.is_empty() {
        return RawValue::from_string("null".into()).unwrap_or_default();
    }
    match std::str::from_utf8(data)
        .ok()
        .and_then(|s| RawValue::from_string(s.to_string()).ok())
    {
        Some(raw) => raw,
        None => {
            let text = serde_json::to_string(&String::from_utf8_lossy(data)).unwrap_or_default();
            RawValue::from_string(text).unwrap_or_default()
        }
    }
}

/// The JSON body of a timer or reminder callback: the registered data, `dueTime` and
/// `period`, and for a timer its `callback`.
fn callback_body(fired: &Fired, with_callback: bool) -> Vec<u8> {
    let mut body = serde_json::json!({
        "data": raw_json(&fired.data),
        "dueTime": fired.due_time,
        "period": fired.period,
    });
    if with_callback {
        body["callback"] = fired.callback.clone().unwrap_or_default().into();
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

impl AppChannel {
    /// A channel to the app at `base` (e.g. `http://127.0.0.1:3000`).
    pub fn new(base: &str, app_id: &str, token: Option<String>) -> Result<Self, AppError> {
        let base =
            Url::parse(base).map_err(|e| AppError::Config(format!("bad app URL {base:?}: {e}")))?;
        Ok(AppChannel {
            base,
            app_id: app_id.to_string(),
            client: reqwest::Client::new(),
            token,
        })
    }

    /// The app's URL with `segments` appended to its path, each escaped.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A request to the app, with its `dapr-api-token` when one is set.
    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, url);
        if let Some(token) = &self.token {
            request = request.header("dapr-api-token", token);
        }
        request
    }

    /// Read the app's actor configuration.
    pub async fn manifest(&self) -> Result<Manifest, AppError> {
        let url = self.url(&["dapr", "config"]);
        let response = self
            .request(reqwest::Method::GET, url.clone())
            .header("dapr-app-id", &self.app_id)
            .send()
            .await
            .map_err(|e| AppError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        if response.status() != StatusCode::OK {
            return Err(AppError::Status {
                status: response.status().as_u16(),
            });
        }
        let bytes = answer::read_capped(response, MAX_CONFIG_BYTES)
            .await
            .map_err(|e| AppError::Config(e.to_string()))?;
        let config: AppConfig =
            serde_json::from_slice(&bytes).map_err(|e| AppError::Config(e.to_string()))?;
        Ok(config.manifest(&self.app_id))
    }

    /// Run one turn in the app; an answer past `max_reply` bytes is refused.
    pub async fn run_turn(
        &self,
        invocation: &Invocation,
        max_reply: u64,
    ) -> Result<Reply, InvokeError> {
        let failed = |message: String| InvokeError::Failed {
            actor: invocation.target.clone(),
            action: invocation.action.clone(),
            message,
        };
        let timeout = invocation
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let response = self
            .turn_request(invocation)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| answer::request_failed(invocation, e, "app unreachable", failed))?;
        let status = response.status();
        let cancel = response
            .headers()
            .get("X-DaprReminderCancel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let data = answer::read_capped(response, max_reply)
            .await
            .map_err(|e| e.into_invoke_error(invocation, failed))?;
        match status {
            StatusCode::OK => Ok(Reply {
                data,
                content_type,
                cancel,
                ..Reply::default()
            }),
            StatusCode::NOT_FOUND => Err(InvokeError::ActionNotFound {
                actor: invocation.target.clone(),
                action: invocation.action.clone(),
                message: String::from_utf8_lossy(&data).into_owned(),
            }),
            other => Err(failed(format!(
                "app answered {other}: {}",
                String::from_utf8_lossy(&data)
            ))),
        }
    }

    /// The `PUT` that runs a turn: to the method, timer or reminder route of the
    /// invocation's trigger, with the headers the app may see and the call chain.
    fn turn_request(&self, invocation: &Invocation) -> reqwest::RequestBuilder {
        let actor = &invocation.target;
        let base = ["actors", &actor.actor_type, &actor.id, "method"];
        let (url, body, json) = match &invocation.trigger {
            // Dapr has no broadcasts or activation hooks: both arrive as plain method calls.
            Trigger::Message | Trigger::Broadcast(_) | Trigger::Activate => (
                self.url(&[&base[..], &[invocation.action.as_str()]].concat()),
                invocation.payload.clone(),
                false,
            ),
            Trigger::Timer(fired) => (
                self.url(&[&base[..], &["timer", fired.name.as_str()]].concat()),
                callback_body(fired, true),
                true,
            ),
            Trigger::Reminder(fired) => (
                self.url(&[&base[..], &["remind", fired.name.as_str()]].concat()),
                callback_body(fired, false),
                true,
            ),
        };
        let mut request = self.request(reqwest::Method::PUT, url).body(body);
        for (name, value) in &invocation.metadata {
            if is_forwarded(name) {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        if json {
            request = request.header("content-type", "application/json");
        }
        if let Some(chain) = &invocation.reentrancy_id {
            request = request.header("Dapr-Reentrancy-Id", chain.as_str());
        }
        request
    }

    /// Tell the app an actor is being activated (`POST /actors/{type}/{id}`), before its
    /// first method call. An app that does not route it (404 or 405: newer SDKs do not) is
    /// fine; another failure is logged, and the activation goes on.
    pub async fn activate(&self, actor: &ActorId, deadline: std::time::Instant) {
        let url = self.url(&["actors", &actor.actor_type, &actor.id]);
        let timeout = deadline
            .saturating_duration_since(std::time::Instant::now())
            .max(Duration::from_millis(1));
        let sent = self
            .request(reqwest::Method::POST, url)
            .timeout(timeout)
            .send()
            .await;
        match sent.map(|r| r.status()) {
            Ok(status)
                if status.is_success()
                    || status == StatusCode::NOT_FOUND
                    || status == StatusCode::METHOD_NOT_ALLOWED => {}
            Ok(status) => tracing::warn!(%actor, %status, "app refused the activation"),
            Err(e) => tracing::warn!(%actor, error = %e, "app did not take the activation"),
        }
    }

    /// Tell the app an actor was deactivated.
    pub async fn deactivate(&self, actor: &ActorId) {
        let url = self.url(&["actors", &actor.actor_type, &actor.id]);
        if let Err(e) = self.request(reqwest::Method::DELETE, url).send().await {
            tracing::warn!(%actor, error = %e, "app did not take the deactivation");
        }
    }
}

impl ActorBackend for AppChannel {
    fn run_turn<'a>(&'a self, turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
        Box::pin(async move {
            TurnOutcome::unstaged(
                self.run_turn(turn.invocation, answer::reply_cap(turn.limits))
                    .await,
            )
        })
    }

    fn activating<'a>(&'a self, runtime: &'a Runtime, actor: &'a ActorId) -> BackendFuture<'a, ()> {
        // No longer than a few seconds: the first message waits on it.
        let deadline = runtime
            .deadline(&actor.tenant)
            .min(std::time::Instant::now() + Duration::from_secs(5));
        Box::pin(self.activate(actor, deadline))
    }

    fn deactivated(self: std::sync::Arc<Self>, _runtime: &Runtime, actor: ActorId) {
        tokio::spawn(async move { self.deactivate(&actor).await });
    }
}

/// Request headers passed on to the app with a method call.
pub fn is_forwarded(name: &str) -> bool {
    !matches!(
        name,
        "host"
            | "content-length"
            | "connection"
            | "transfer-encoding"
            | "dapr-api-token"
            | "dapr-reentrancy-id"
    )
}
