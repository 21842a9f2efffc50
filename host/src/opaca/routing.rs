//! Finding the agents a request means and delivering to them: invoke tries full matches
//! in order (local containers first, then connected platforms) until one succeeds; send
//! and broadcast reach every match. Every outbound call carries `forward=false`, so
//! forwarding is one hop.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::Identity;
use super::containers::{Container, ContainerKind};
use super::model::{AgentDescription, ErrorResponse, EventType, Message};
use super::validate::validate_arguments;
use super::{OpacaError, Platform};
use crate::runtime::{ActorId, CallMode, Invocation, InvokeError, Trigger};

/// Which agents a request means.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub agent: Option<String>,
    pub container: Option<String>,
    /// Whether connected platforms are asked too.
    pub forward: bool,
}

/// The action a message to a Wasm agent runs.
const RECEIVE: &str = "receive";

/// A runtime error as the cause of a 502.
fn cause_of(e: &InvokeError) -> ErrorResponse {
    let status_code = match e {
        InvokeError::ActionNotFound { .. } | InvokeError::ActorTypeNotFound { .. } => 404,
        InvokeError::BadRequest(_) | InvokeError::InvalidArgument { .. } => 400,
        InvokeError::DeadlineExceeded { .. } => 504,
        _ => 500,
    };
    ErrorResponse {
        status_code,
        message: e.to_string(),
        cause: None,
    }
}

fn query(target: &Target, timeout: Option<Duration>) -> String {
    let mut query = vec!["forward=false".to_string()];
    if let Some(container) = &target.container {
        query.push(format!("containerId={container}"));
    }
    if let Some(timeout) = timeout {
        query.push(format!("timeout={}", timeout.as_secs().max(1)));
    }
    query.join("&")
}

impl Platform {
    /// A call to a container or another platform, recorded as a FORWARD event. A 2xx
    /// answer gives its JSON (`null` when empty); anything else is a 502 with the
    /// answer as cause.
    pub(super) async fn call<B: Serialize>(
        &self,
        tenant: &str,
        method: Method,
        url: &str,
        body: Option<&B>,
        bearer: Option<&str>,
        login: Option<&str>,
    ) -> Result<Value, OpacaError> {
        let receiver = reqwest::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| url.to_string());
        self.0.history.record(tenant, EventType::Forward, |e| {
            e.route = Some(format!("{method} {url}"));
            e.receiver = Some(receiver);
        });
        let mut request = self
            .0
            .client
            .request(method, url)
            .header("sender-id", &self.0.base_url);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = bearer.filter(|t| !t.is_empty()) {
            request = request.bearer_auth(token);
        }
        if let Some(login) = login {
            request = request.header("ContainerLoginToken", login);
        }
        let unreachable = |e: reqwest::Error| {
            OpacaError::downstream(
                format!("{url} is unreachable"),
                ErrorResponse {
                    status_code: 502,
                    message: e.to_string(),
                    cause: None,
                },
            )
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return Ok(serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())));
        }
        let cause =
            serde_json::from_slice::<ErrorResponse>(&bytes).unwrap_or_else(|_| ErrorResponse {
                status_code: status.as_u16(),
                message: String::from_utf8_lossy(&bytes).into_owned(),
                cause: None,
            });
        Err(OpacaError::downstream(
            format!("{url} answered {}", status.as_u16()),
            cause,
        ))
    }

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

    /// Run `action` on the first agent that fully matches and succeeds.
    pub async fn invoke(
        &self,
        identity: &Identity,
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
                        let url = format!(
                            "{}/invoke/{action}/{}?{}",
                            peer.url,
                            agent.agent_id,
                            query(target, timeout)
                        );
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

    async fn invoke_in(
        &self,
        identity: &Identity,
        container: &Container,
        agent: &str,
        action: &str,
        arguments: &Map<String, Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, OpacaError> {
        match &container.kind {
            ContainerKind::Wasm { .. } => {
                let runtime = &self.0.runtime;
                let deadline = match timeout {
                    Some(t) => Instant::now() + t,
                    None => runtime.deadline(&container.tenant),
                };
                let payload = serde_json::to_vec(arguments).unwrap_or_default();
                let invocation = Invocation::call(
                    ActorId::new(&container.tenant, agent, &container.id),
                    action,
                    payload,
                    deadline,
                );
                let reply = runtime.invoke(invocation).await.map_err(|e| {
                    OpacaError::downstream(
                        format!("agent {agent:?} failed in {action:?}"),
                        cause_of(&e),
                    )
                })?;
                if reply.data.is_empty() {
                    return Ok(Value::Null);
                }
                Ok(serde_json::from_slice(&reply.data).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&reply.data).into_owned())
                }))
            }
            ContainerKind::Process(process) => {
                let target = Target::default();
                let url = format!(
                    "{}/invoke/{action}/{agent}?{}",
                    process.url,
                    query(&target, timeout)
                );
                let login = container.login_token(&identity.name);
                self.call(
                    &identity.tenant,
                    Method::POST,
                    &url,
                    Some(arguments),
                    Some(&container.token),
                    login.as_deref(),
                )
                .await
            }
        }
    }

    /// Deliver `message` to every agent named `agent`.
    pub async fn send(
        &self,
        identity: &Identity,
        agent: &str,
        target: &Target,
        message: &Message,
    ) -> Result<(), OpacaError> {
        let (mut delivered, mut failure) = (false, None);
        for container in self.matching(identity, target) {
            if !container.info().agents.iter().any(|a| a.agent_id == agent) {
                continue;
            }
            match self.send_in(identity, &container, agent, message).await {
                Ok(()) => delivered = true,
                Err(e) => failure = Some(e),
            }
        }
        if target.forward {
            for peer in self.peers_of(identity) {
                let offers = peer.info().containers.iter().any(|c| {
                    target
                        .container
                        .as_ref()
                        .is_none_or(|id| *id == c.container_id)
                        && c.agents.iter().any(|a| a.agent_id == agent)
                });
                if !offers {
                    continue;
                }
                let url = format!("{}/send/{agent}?{}", peer.url, query(target, None));
                match self
                    .call(
                        &identity.tenant,
                        Method::POST,
                        &url,
                        Some(message),
                        peer.token.as_deref(),
                        None,
                    )
                    .await
                {
                    Ok(_) => delivered = true,
                    Err(e) => failure = Some(e),
                }
            }
        }
        match (delivered, failure) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Err(OpacaError::new(
                404,
                format!("no agent {agent:?}{}", describe(target)),
            )),
        }
    }

    async fn send_in(
        &self,
        identity: &Identity,
        container: &Container,
        agent: &str,
        message: &Message,
    ) -> Result<(), OpacaError> {
        match &container.kind {
            ContainerKind::Wasm { .. } => {
                let runtime = &self.0.runtime;
                let mut invocation = Invocation::call(
                    ActorId::new(&container.tenant, agent, &container.id),
                    RECEIVE,
                    serde_json::to_vec(message).unwrap_or_default(),
                    runtime.deadline(&container.tenant),
                );
                invocation.mode = CallMode::Cast;
                runtime.invoke(invocation).await.map(drop).map_err(|e| {
                    OpacaError::downstream(
                        format!("agent {agent:?} did not take the message"),
                        cause_of(&e),
                    )
                })
            }
            ContainerKind::Process(process) => {
                let url = format!("{}/send/{agent}?forward=false", process.url);
                self.call(
                    &identity.tenant,
                    Method::POST,
                    &url,
                    Some(message),
                    Some(&container.token),
                    None,
                )
                .await
                .map(drop)
            }
        }
    }

    /// Publish `message` on `channel` to every matching container and, when forwarding,
    /// every connected platform. Failures are logged; a broadcast always succeeds.
    pub async fn broadcast(
        &self,
        identity: &Identity,
        channel: &str,
        target: &Target,
        message: &Message,
    ) {
        for container in self.matching(identity, target) {
            match &container.kind {
                ContainerKind::Wasm { component } => {
                    let payload = serde_json::to_vec(message).unwrap_or_default();
                    let runtime = &self.0.runtime;
                    for (spec, from) in runtime.actor_types(&container.tenant) {
                        let Some(subscription) = spec.channels.iter().find(|c| c.topic == channel)
                        else {
                            continue;
                        };
                        if from != *component {
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
                        let runtime = runtime.clone();
                        tokio::spawn(async move {
                            let actor = invocation.target.clone();
                            if let Err(e) = runtime.invoke(invocation).await {
                                tracing::warn!(%actor, error = %e, "OPACA broadcast not taken");
                            }
                        });
                    }
                }
                ContainerKind::Process(process) => {
                    let url = format!("{}/broadcast/{channel}?forward=false", process.url);
                    if let Err(e) = self
                        .call(
                            &identity.tenant,
                            Method::POST,
                            &url,
                            Some(message),
                            Some(&container.token),
                            None,
                        )
                        .await
                    {
                        tracing::warn!(container = %container.id, error = %e, "OPACA broadcast not taken");
                    }
                }
            }
        }
        if target.forward {
            for peer in self.peers_of(identity) {
                let url = format!("{}/broadcast/{channel}?{}", peer.url, query(target, None));
                if let Err(e) = self
                    .call(
                        &identity.tenant,
                        Method::POST,
                        &url,
                        Some(message),
                        peer.token.as_deref(),
                        None,
                    )
                    .await
                {
                    tracing::warn!(peer = %peer.url, error = %e, "forwarded broadcast failed");
                }
            }
        }
    }

    /// Read or write a stream of a process container's agent.
    pub async fn stream(
        &self,
        identity: &Identity,
        name: &str,
        target: &Target,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, OpacaError> {
        let mode = if body.is_some() { "POST" } else { "GET" };
        for container in self.matching(identity, target) {
            let ContainerKind::Process(process) = &container.kind else {
                continue;
            };
            let info = container.info();
            let Some(agent) =
                agents_of(&info.agents, target).find(|a| a.streams.iter().any(|s| s.name == name))
            else {
                continue;
            };
            let url = format!(
                "{}/stream/{name}/{}?forward=false",
                process.url, agent.agent_id
            );
            self.0
                .history
                .record(&identity.tenant, EventType::Forward, |e| {
                    e.route = Some(format!("{mode} {url}"));
                    e.receiver = Some(process.url.clone());
                });
            let request = match &body {
                Some(bytes) => self.0.client.post(&url).body(bytes.clone()),
                None => self.0.client.get(&url),
            };
            let failed = |message: String| {
                OpacaError::downstream(
                    format!("stream {name:?} failed"),
                    ErrorResponse {
                        status_code: 502,
                        message,
                        cause: None,
                    },
                )
            };
            let response = request
                .bearer_auth(&container.token)
                .header("sender-id", &self.0.base_url)
                .send()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
            if !status.is_success() {
                return Err(failed(format!("{url} answered {status}")));
            }
            return Ok(bytes.to_vec());
        }
        Err(OpacaError::new(
            404,
            format!("no agent offers stream {name:?}{}", describe(target)),
        ))
    }

    /// The local containers a target may mean.
    fn matching(&self, identity: &Identity, target: &Target) -> Vec<std::sync::Arc<Container>> {
        self.containers(identity)
            .into_iter()
            .filter(|c| target.container.as_ref().is_none_or(|id| *id == c.id))
            .collect()
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
