//! Finding the agents a request means and delivering to them: invoke tries full matches
//! in order (local containers first, then connected platforms) until one succeeds; send
//! and broadcast reach every match. Every outbound call carries `forward=false`, so
//! forwarding is one hop.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};

use super::auth::Identity;
use super::containers::{Container, ContainerKind};
use super::model::{AgentDescription, ErrorResponse, Message};
use super::outbound::{Outbound, endpoint};
use super::validate::validate_arguments;
use super::{OpacaError, Platform};
use crate::process_backend;
use crate::runtime::PlatformCaller;
use crate::types::{ActorId, CallMode, Invocation, InvokeError, Trigger};

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

/// Where a message goes.
pub enum Recipient {
    /// A local container with the agent.
    Container(Arc<Container>),
    /// A connected platform with the agent: its `/send` URL and token.
    Platform { url: String, token: Option<String> },
}

/// The action a message to a Wasm agent runs.
const RECEIVE: &str = "receive";

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

    /// Run `action` on the first agent that fully matches and succeeds. `origin` is the
    /// turn of a Wasm agent that asks, whose call chain and deadline the call continues.
    pub async fn invoke(
        &self,
        identity: &Identity,
        origin: Option<&PlatformCaller>,
        action: &str,
        target: &Target,
        arguments: Map<String, Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, OpacaError> {
        let mut bad_arguments = None;
        let mut failure = None;
        for container in self.matching(identity, target) {
            let info = container.info();
            for agent in agents_of(&info.agents, target) {
                let Some(found) = agent.actions.iter().find(|a| a.name == action) else {
                    continue;
                };
                if let Err(e) = validate_arguments(found, &arguments, &info.image.definitions) {
                    bad_arguments = Some(e);
                    continue;
                }
                match self
                    .invoke_in(
                        identity,
                        origin,
                        &container,
                        &agent.agent_id,
                        action,
                        &arguments,
                        timeout,
                    )
                    .await
                {
                    Ok(result) => return Ok(result),
                    Err(e) => failure = Some(e),
                }
            }
        }
        if target.forward {
            for peer in self.peers_of(identity) {
                for container in peer.info().containers {
                    if target
                        .container
                        .as_ref()
                        .is_some_and(|c| *c != container.container_id)
                    {
                        continue;
                    }
                    for agent in agents_of(&container.agents, target) {
                        let Some(found) = agent.actions.iter().find(|a| a.name == action) else {
                            continue;
                        };
                        if let Err(e) =
                            validate_arguments(found, &arguments, &container.image.definitions)
                        {
                            bad_arguments = Some(e);
                            continue;
                        }
                        let url = endpoint(
                            &peer.url,
                            &["invoke", action, &agent.agent_id],
                            &query(target, timeout),
                        )?;
                        let called = self
                            .call(
                                &identity.tenant,
                                Method::POST,
                                &url,
                                Some(&arguments),
                                peer.token.as_deref(),
                                None,
                            )
                            .await;
                        match called {
                            Ok(result) => return Ok(result),
                            Err(e) => failure = Some(e),
                        }
                    }
                }
            }
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        match bad_arguments {
            Some(e) => Err(OpacaError::new(
                400,
                format!("the arguments do not fit action {action:?}: {e}"),
            )),
            None => Err(OpacaError::new(
                404,
                format!("no agent offers action {action:?}{}", describe(target)),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn invoke_in(
        &self,
        identity: &Identity,
        origin: Option<&PlatformCaller>,
        container: &Container,
        agent: &str,
        action: &str,
        arguments: &Map<String, Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, OpacaError> {
        let runtime = &self.0.runtime;
        let payload = serde_json::to_vec(arguments).unwrap_or_default();
        let mut invocation = Invocation::call(
            agent_actor(container, agent),
            action,
            payload,
            runtime.deadline_within(&container.tenant, timeout),
        );
        if let Some(origin) = origin {
            // A call from a turn continues its chain: one that comes back to the caller
            // is refused as a cycle rather than waiting on the caller's own turn.
            invocation.caller = Some(origin.actor.clone());
            invocation.reentrancy_id = origin.reentrancy_id.clone();
            invocation.deadline = invocation.deadline.min(origin.deadline);
        }
        if let ContainerKind::Process(_) = &container.kind {
            if let Some(timeout) = timeout {
                let secs = timeout.as_secs().max(1).to_string();
                invocation
                    .metadata
                    .push((process_backend::TIMEOUT.into(), secs));
            }
            if let Some(login) = container.login_token(&identity.name) {
                invocation
                    .metadata
                    .push((process_backend::LOGIN_TOKEN.into(), login));
            }
        }
        let reply = runtime.invoke_detached(invocation).await.map_err(|e| {
            OpacaError::downstream(
                format!("agent {agent:?} failed in {action:?}"),
                cause_of(&e),
            )
        })?;
        if reply.data.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&reply.data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply.data).into_owned())))
    }

    /// Deliver `message` to every agent named `agent`.
    pub async fn send(
        &self,
        identity: &Identity,
        agent: &str,
        target: &Target,
        message: &Message,
    ) -> Result<(), OpacaError> {
        let recipients = self.recipients(identity, agent, target)?;
        self.deliver(identity, agent, recipients, message).await
    }

    /// Where a message to `agent` goes: local containers and connected platforms that
    /// have such an agent; 404 when none has.
    pub fn recipients(
        &self,
        identity: &Identity,
        agent: &str,
        target: &Target,
    ) -> Result<Vec<Recipient>, OpacaError> {
        let mut recipients: Vec<Recipient> = self
            .matching(identity, target)
            .into_iter()
            .filter(|c| c.info().agents.iter().any(|a| a.agent_id == agent))
            .map(Recipient::Container)
            .collect();
        if target.forward {
            for peer in self.peers_of(identity) {
                let offers = peer.info().containers.iter().any(|c| {
                    target
                        .container
                        .as_ref()
                        .is_none_or(|id| *id == c.container_id)
                        && c.agents.iter().any(|a| a.agent_id == agent)
                });
                if offers {
                    let url = endpoint(&peer.url, &["send", agent], &query(target, None))?;
                    recipients.push(Recipient::Platform {
                        url,
                        token: peer.token.clone(),
                    });
                }
            }
        }
        if recipients.is_empty() {
            return Err(OpacaError::new(
                404,
                format!("no agent {agent:?}{}", describe(target)),
            ));
        }
        Ok(recipients)
    }

    /// Deliver `message` to `agent` at each of `recipients`: fine when one took it.
    pub async fn deliver(
        &self,
        identity: &Identity,
        agent: &str,
        recipients: Vec<Recipient>,
        message: &Message,
    ) -> Result<(), OpacaError> {
        let (mut delivered, mut failure) = (false, None);
        for recipient in recipients {
            let sent = match recipient {
                Recipient::Container(container) => self.send_in(&container, agent, message).await,
                Recipient::Platform { url, token } => self
                    .call(
                        &identity.tenant,
                        Method::POST,
                        &url,
                        Some(message),
                        token.as_deref(),
                        None,
                    )
                    .await
                    .map(drop),
            };
            match sent {
                Ok(()) => delivered = true,
                Err(e) => failure = Some(e),
            }
        }
        match (delivered, failure) {
            (false, Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    async fn send_in(
        &self,
        container: &Container,
        agent: &str,
        message: &Message,
    ) -> Result<(), OpacaError> {
        let runtime = &self.0.runtime;
        let mut invocation = Invocation::call(
            agent_actor(container, agent),
            RECEIVE,
            serde_json::to_vec(message).unwrap_or_default(),
            runtime.deadline(&container.tenant),
        );
        invocation.mode = CallMode::Cast;
        if let ContainerKind::Process(_) = &container.kind {
            invocation.metadata.push((
                process_backend::DELIVERY.into(),
                process_backend::SEND.into(),
            ));
        }
        runtime
            .invoke_detached(invocation)
            .await
            .map(drop)
            .map_err(|e| {
                OpacaError::downstream(
                    format!("agent {agent:?} did not take the message"),
                    cause_of(&e),
                )
            })
    }

    /// Publish `message` on `channel` to every matching container and, when forwarding,
    /// every connected platform, all at once. Failures are logged; a broadcast always
    /// succeeds.
    pub async fn broadcast(
        &self,
        identity: &Identity,
        channel: &str,
        target: &Target,
        message: &Message,
    ) {
        let mut calls = Vec::new();
        for container in self.matching(identity, target) {
            match &container.kind {
                ContainerKind::Wasm { component } => {
                    self.broadcast_to_wasm(&container, component, channel, message)
                }
                ContainerKind::Process(process) => {
                    let forward = [("forward", "false")];
                    if let Ok(url) = endpoint(&process.url, &["broadcast", channel], &forward) {
                        calls.push((url, Some(container.token.clone())));
                    }
                }
            }
        }
        if target.forward {
            for peer in self.peers_of(identity) {
                if let Ok(url) = endpoint(&peer.url, &["broadcast", channel], &query(target, None))
                {
                    calls.push((url, peer.token.clone()));
                }
            }
        }
        let sends = calls.iter().map(|(url, token)| async move {
            let sent = self
                .call(
                    &identity.tenant,
                    Method::POST,
                    url,
                    Some(message),
                    token.as_deref(),
                    None,
                )
                .await;
            if let Err(e) = sent {
                tracing::warn!(%url, error = %e, "OPACA broadcast not taken");
            }
        });
        futures::future::join_all(sends).await;
    }

    /// Cast a broadcast to the agents of a Wasm container listening on `channel`.
    fn broadcast_to_wasm(
        &self,
        container: &Container,
        component: &str,
        channel: &str,
        message: &Message,
    ) {
        let payload = serde_json::to_vec(message).unwrap_or_default();
        let runtime = &self.0.runtime;
        for (spec, from) in runtime.actor_types(&container.tenant) {
            let Some(subscription) = spec.channels.iter().find(|c| c.topic == channel) else {
                continue;
            };
            if from != component {
                continue;
            }
            let mut invocation = Invocation::call(
                ActorId::new(&container.tenant, &spec.name, &container.id),
                &subscription.action,
                payload.clone(),
                runtime.deadline(&container.tenant),
            );
            invocation.mode = CallMode::Cast;
            invocation.trigger = Trigger::Broadcast(channel.to_string());
            runtime.cast(invocation);
        }
    }

    /// Read (no `body`) or write a stream of an agent: a local process container's, or,
    /// when forwarding, a connected platform's.
    pub async fn stream(
        &self,
        identity: &Identity,
        name: &str,
        target: &Target,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, OpacaError> {
        let method = if body.is_some() {
            Method::POST
        } else {
            Method::GET
        };
        let offers = |agents: &[AgentDescription]| {
            agents_of(agents, target)
                .find(|a| a.streams.iter().any(|s| s.name == name))
                .map(|a| a.agent_id.clone())
        };
        let mut found = None;
        for container in self.matching(identity, target) {
            let ContainerKind::Process(process) = &container.kind else {
                continue;
            };
            if let Some(agent) = offers(&container.info().agents) {
                let url = endpoint(
                    &process.url,
                    &["stream", name, &agent],
                    &[("forward", "false")],
                )?;
                let login = container.login_token(&identity.name);
                found = Some((url, Some(container.token.clone()), login));
                break;
            }
        }
        if found.is_none() && target.forward {
            for peer in self.peers_of(identity) {
                let agent = peer.info().containers.iter().find_map(|c| {
                    let wanted = target
                        .container
                        .as_ref()
                        .is_none_or(|id| *id == c.container_id);
                    wanted.then(|| offers(&c.agents)).flatten()
                });
                if let Some(agent) = agent {
                    let url = endpoint(&peer.url, &["stream", name, &agent], &query(target, None))?;
                    found = Some((url, peer.token.clone(), None));
                    break;
                }
            }
        }
        let Some((url, bearer, login)) = found else {
            return Err(OpacaError::new(
                404,
                format!("no agent offers stream {name:?}{}", describe(target)),
            ));
        };
        let request = Outbound {
            tenant: &identity.tenant,
            method,
            url: &url,
            bearer: bearer.as_deref(),
            login: login.as_deref(),
        };
        self.send_outbound(request, None, body).await
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

fn agents_of<'a>(
    agents: &'a [AgentDescription],
    target: &'a Target,
) -> impl Iterator<Item = &'a AgentDescription> {
    agents
        .iter()
        .filter(move |a| target.agent.as_ref().is_none_or(|id| *id == a.agent_id))
}

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
