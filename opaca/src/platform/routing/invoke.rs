//! `invoke`: an action runs on the first agent that offers it, takes the arguments and
//! succeeds, trying the local containers first and then, when forwarding, connected
//! platforms.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};

use super::{Target, agent_actor, agents_of, cause_of, describe, query};
use crate::platform::auth::Identity;
use crate::platform::containers::{Container, ContainerKind};
use crate::platform::model::AgentDescription;
use crate::platform::outbound::endpoint;
use crate::platform::validate::validate_arguments;
use crate::platform::{OpacaError, Platform};
use crate::process_backend;
use crate::runtime::PlatformCaller;
use crate::types::Invocation;

/// One `invoke`, as it is tried on the agents that may take it.
struct ActionCall<'a> {
    identity: &'a Identity,
    /// The turn of a Wasm agent that asks, if one does.
    origin: Option<&'a PlatformCaller>,
    action: &'a str,
    target: &'a Target,
    arguments: &'a Map<String, Value>,
    timeout: Option<Duration>,
}

/// What the agents an `invoke` was tried on said, for the answer when none succeeded.
#[derive(Default)]
struct Attempts {
    /// Why the arguments did not fit, for the last action they did not fit.
    bad_arguments: Option<String>,
    /// The last call that failed.
    failure: Option<OpacaError>,
}

impl Attempts {
    /// Whether `agent` offers the call's action and the arguments fit it (a misfit is
    /// noted). `definitions` are the schemas of the agent's container.
    fn offers(
        &mut self,
        agent: &AgentDescription,
        call: &ActionCall<'_>,
        definitions: &BTreeMap<String, Value>,
    ) -> bool {
        let Some(found) = agent.actions.iter().find(|a| a.name == call.action) else {
            return false;
        };
        if let Err(e) = validate_arguments(found, call.arguments, definitions) {
            self.bad_arguments = Some(e);
            return false;
        }
        true
    }

    /// The error when no agent took the call: the last failure, else the last misfit of
    /// the arguments (400), else none offers the action (404).
    fn into_error(self, action: &str, target: &Target) -> OpacaError {
        if let Some(failure) = self.failure {
            return failure;
        }
        match self.bad_arguments {
            Some(e) => OpacaError::new(
                400,
                format!("the arguments do not fit action {action:?}: {e}"),
            ),
            None => OpacaError::new(
                404,
                format!("no agent offers action {action:?}{}", describe(target)),
            ),
        }
    }
}

impl Platform {
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
        let call = ActionCall {
            identity,
            origin,
            action,
            target,
            arguments: &arguments,
            timeout,
        };
        let mut attempts = Attempts::default();
        if let Some(result) = self.invoke_local(&call, &mut attempts).await {
            return Ok(result);
        }
        if target.forward
            && let Some(result) = self.invoke_connected(&call, &mut attempts).await?
        {
            return Ok(result);
        }
        Err(attempts.into_error(action, target))
    }

    /// Try the call on the local agents that match, in container order; the first
    /// success's result.
    async fn invoke_local(&self, call: &ActionCall<'_>, attempts: &mut Attempts) -> Option<Value> {
        for container in self.matching(call.identity, call.target) {
            let info = container.info();
            for agent in agents_of(&info.agents, call.target) {
                if !attempts.offers(agent, call, &info.image.definitions) {
                    continue;
                }
                match self.invoke_in(call, &container, &agent.agent_id).await {
                    Ok(result) => return Some(result),
                    Err(e) => attempts.failure = Some(e),
                }
            }
        }
        None
    }

    /// Try the call on the matching agents of connected platforms, through their
    /// `/invoke`; the first success's result. A peer URL that makes no endpoint ends the
    /// search with its error.
    async fn invoke_connected(
        &self,
        call: &ActionCall<'_>,
        attempts: &mut Attempts,
    ) -> Result<Option<Value>, OpacaError> {
        let target = call.target;
        for peer in self.peers_of(call.identity) {
            for container in peer.info().containers {
                if target
                    .container
                    .as_ref()
                    .is_some_and(|c| *c != container.container_id)
                {
                    continue;
                }
                for agent in agents_of(&container.agents, target) {
                    if !attempts.offers(agent, call, &container.image.definitions) {
                        continue;
                    }
                    let url = endpoint(
                        &peer.url,
                        &["invoke", call.action, &agent.agent_id],
                        &query(target, call.timeout),
                    )?;
                    let called = self
                        .call(
                            &call.identity.tenant,
                            Method::POST,
                            &url,
                            Some(call.arguments),
                            peer.token.as_deref(),
                            None,
                        )
                        .await;
                    match called {
                        Ok(result) => return Ok(Some(result)),
                        Err(e) => attempts.failure = Some(e),
                    }
                }
            }
        }
        Ok(None)
    }

    /// Run the call on `agent` of a local container, through the runtime.
    async fn invoke_in(
        &self,
        call: &ActionCall<'_>,
        container: &Container,
        agent: &str,
    ) -> Result<Value, OpacaError> {
        let (action, timeout) = (call.action, call.timeout);
        let runtime = &self.0.runtime;
        let payload = serde_json::to_vec(call.arguments).unwrap_or_default();
        let mut invocation = Invocation::call(
            agent_actor(container, agent),
            action,
            payload,
            runtime.deadline_within(&container.tenant, timeout),
        );
        if let Some(origin) = call.origin {
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
            if let Some(login) = container.login_token(&call.identity.name) {
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
}
