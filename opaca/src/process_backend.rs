//! The agents of an OPACA agent container that runs as a child process. The platform
//! (`api::opaca`) starts and stops the process and finds which agent a request means;
//! this backend runs each agent's turns by calling the container's own OPACA API
//! (`POST /invoke/{action}/{agent}`, `POST /send/{agent}`), so a process agent is an actor
//! like any other: one turn at a time, within its tenant's limits and deadline.
//!
//! Each container hosts one actor type, [`agents_type`] of its id, whose actor ids are its
//! agents' ids (two containers of one image have agents of the same names).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};

use crate::runtime::{ActorBackend, BackendFuture, Turn, TurnOutcome};
use crate::types::manifest::{ActorTypeSpec, Manifest};
use crate::types::{Invocation, InvokeError, Reply};
use warren_protocol::answer;

/// Metadata naming what a turn delivers: [`SEND`] for an OPACA message to the agent, an
/// action invocation otherwise.
pub const DELIVERY: &str = "opaca-delivery";
/// The [`DELIVERY`] of a message.
pub const SEND: &str = "send";
/// Metadata carrying the container-login token of the user the platform acts for.
pub const LOGIN_TOKEN: &str = "containerlogintoken";
/// Metadata carrying the timeout (whole seconds) the caller gave, passed on to the
/// container.
pub const TIMEOUT: &str = "opaca-timeout";

/// How long a process agent stays active without a turn.
const IDLE: Duration = Duration::from_secs(10 * 60);

/// The actor type whose actors are the agents of container `container_id`.
pub fn agents_type(container_id: &str) -> String {
    format!("opaca:{container_id}")
}

/// The component under which the platform registers container `container_id`.
pub fn component(container_id: &str) -> Manifest {
    Manifest {
        name: agents_type(container_id),
        version: String::new(),
        actor_types: vec![ActorTypeSpec::external(
            &agents_type(container_id),
            IDLE,
            None,
        )],
    }
}

/// `base` + path `segments` (each percent-encoded, so a name can never add a path or a
/// query) + `query` pairs.
pub fn endpoint<S: AsRef<str>>(
    base: &str,
    segments: &[&str],
    query: &[(&str, S)],
) -> Result<String, String> {
    let mut url = Url::parse(base).map_err(|e| format!("bad base URL {base:?}: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("{base:?} cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, value.as_ref());
        }
    }
    Ok(url.into())
}

/// Told of every call to a container (the platform records OPACA's FORWARD events): the
/// tenant, the route (`METHOD url`) and the receiver's origin.
pub type CallObserver = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// The agents of one process container.
pub struct ProcessAgents {
    /// The container's base URL, `http://127.0.0.1:PORT`.
    url: String,
    /// The token the container was given, sent back as a bearer token on every call.
    token: String,
    /// The platform's own base URL, sent as `sender-id`.
    sender: String,
    client: reqwest::Client,
    observer: CallObserver,
}

impl ProcessAgents {
    /// The agents of the container at `url`, called with `token`, on behalf of the
    /// platform at `sender`.
    pub fn new(
        url: &str,
        token: &str,
        sender: &str,
        client: reqwest::Client,
        observer: CallObserver,
    ) -> Self {
        ProcessAgents {
            url: url.to_string(),
            token: token.to_string(),
            sender: sender.to_string(),
            client,
            observer,
        }
    }

    async fn deliver(&self, invocation: &Invocation, max_reply: u64) -> Result<Reply, InvokeError> {
        let actor = &invocation.target;
        let action = invocation.action.clone();
        let meta = |name: &str| {
            invocation
                .metadata
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let mut query = vec![("forward", "false".to_string())];
        let segments = if meta(DELIVERY) == Some(SEND) {
            vec!["send", &*actor.id]
        } else {
            if let Some(timeout) = meta(TIMEOUT) {
                query.push(("timeout", timeout.to_string()));
            }
            vec!["invoke", action.as_str(), &*actor.id]
        };
        let failed = |status: u16, message: String| InvokeError::Downstream {
            actor: actor.clone(),
            action: action.clone(),
            status,
            body: message.into_bytes(),
        };
        let url = endpoint(&self.url, &segments, &query).map_err(|e| failed(500, e))?;
        let receiver = Url::parse(&url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| url.clone());
        (self.observer)(&actor.tenant, &format!("POST {url}"), &receiver);
        let limit = invocation
            .deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let mut request = self
            .client
            .request(Method::POST, &url)
            .timeout(limit)
            .header("sender-id", &self.sender)
            .header("content-type", "application/json; charset=UTF-8")
            .body(invocation.payload.clone());
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(login) = meta(LOGIN_TOKEN) {
            request = request.header("ContainerLoginToken", login);
        }
        let unreachable = |e: reqwest::Error| failed(502, format!("{url} is unreachable: {e}"));
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = answer::read_capped(response, max_reply)
            .await
            .map_err(|e| e.into_invoke_error(invocation, |m| failed(502, format!("{url}: {m}"))))?;
        if !status.is_success() {
            return Err(InvokeError::Downstream {
                actor: actor.clone(),
                action,
                status: status.as_u16(),
                body,
            });
        }
        Ok(Reply {
            data: body,
            content_type: Some("application/json".into()),
            ..Reply::default()
        })
    }
}

impl ActorBackend for ProcessAgents {
    fn run_turn<'a>(&'a self, turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
        Box::pin(async move {
            TurnOutcome::unstaged(
                self.deliver(turn.invocation, answer::reply_cap(turn.limits))
                    .await,
            )
        })
    }
}
