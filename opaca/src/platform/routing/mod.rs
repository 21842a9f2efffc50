//! Finding the agents a request means and delivering to them: invoke tries full matches
//! in order (local containers first, then connected platforms) until one succeeds; send
//! and broadcast reach every match. Every outbound call carries `forward=false`, so
//! forwarding is one hop.

mod invoke;
mod messages;
mod streams;

use std::sync::Arc;
use std::time::Duration;

use super::Platform;
use super::auth::Identity;
use super::containers::{Container, ContainerKind};
use super::model::{AgentDescription, ErrorResponse};
use crate::process_backend;
use crate::types::{ActorId, InvokeError};

pub use messages::Recipient;

/// Which agents a request means.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Only this agent, when given.
    pub agent: Option<String>,
    /// Only this container, when given.
    pub container: Option<String>,
    /// Whether connected platforms are asked too.
    pub forward: bool,
}

/// A runtime error as the cause of a 502: a process container's own answer when it gave
/// one.
fn cause_of(e: &InvokeError) -> ErrorResponse {
    if let InvokeError::Downstream { status, body, .. } = e {
        return serde_json::from_slice::<ErrorResponse>(body).unwrap_or_else(|_| ErrorResponse {
            status_code: *status,
            message: String::from_utf8_lossy(body).into_owned(),
            cause: None,
        });
    }
    let status_code = match e {
        InvokeError::ActionNotFound { .. } | InvokeError::ActorTypeNotFound { .. } => 404,
        InvokeError::BadRequest(_) | InvokeError::InvalidArgument { .. } => 400,
        InvokeError::DeadlineExceeded { .. } => 504,
        InvokeError::Unavailable { .. } => 503,
        _ => 500,
    };
    ErrorResponse {
        status_code,
        message: e.to_string(),
        cause: None,
    }
}

/// The query of a call onward: never forwarded again, same container, same timeout.
fn query(target: &Target, timeout: Option<Duration>) -> Vec<(&'static str, String)> {
    let mut query = vec![("forward", "false".to_string())];
    if let Some(container) = &target.container {
        query.push(("containerId", container.clone()));
    }
    if let Some(timeout) = timeout {
        query.push(("timeout", timeout.as_secs().max(1).to_string()));
    }
    query
}

impl Platform {
    /// The agents `identity` sees, with those of connected platforms if asked.
    pub fn agents(&self, identity: &Identity, include_connected: bool) -> Vec<AgentDescription> {
        let mut agents: Vec<AgentDescription> = self
            .containers(identity)
            .iter()
            .flat_map(|c| c.info().agents)
            .collect();
        if include_connected {
            for peer in self.peers_of(identity) {
                agents.extend(peer.info().containers.into_iter().flat_map(|c| c.agents));
            }
        }
        agents
    }

    /// The local containers a target may mean.
    fn matching(&self, identity: &Identity, target: &Target) -> Vec<Arc<Container>> {
        self.containers(identity)
            .into_iter()
            .filter(|c| target.container.as_ref().is_none_or(|id| *id == c.id))
            .collect()
    }
}

/// The actor that is `agent` of `container`: of a Wasm container, the agent's actor type
/// with the container's id; of a process container, the container's agents type with the
/// agent's id.
fn agent_actor(container: &Container, agent: &str) -> ActorId {
    match &container.kind {
        ContainerKind::Wasm { .. } => ActorId::new(&container.tenant, agent, &container.id),
        ContainerKind::Process(_) => ActorId::new(
            &container.tenant,
            &process_backend::agents_type(&container.id),
            agent,
        ),
    }
}

/// The agents of `agents` the target means.
fn agents_of<'a>(
    agents: &'a [AgentDescription],
    target: &'a Target,
) -> impl Iterator<Item = &'a AgentDescription> {
    agents
        .iter()
        .filter(move |a| target.agent.as_ref().is_none_or(|id| *id == a.agent_id))
}

/// The target's agent and container, as the end of an error message.
fn describe(target: &Target) -> String {
    let mut text = String::new();
    if let Some(agent) = &target.agent {
        text.push_str(&format!(" on agent {agent:?}"));
    }
    if let Some(container) = &target.container {
        text.push_str(&format!(" in container {container:?}"));
    }
    text
}
