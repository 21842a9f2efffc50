//! `send` and `broadcast`: a message reaches every agent it means, in local containers
//! and, when forwarding, on connected platforms.

use std::sync::Arc;

use reqwest::Method;

use super::{Target, agent_actor, cause_of, describe, query};
use crate::platform::auth::Identity;
use crate::platform::containers::{Container, ContainerKind};
use crate::platform::model::Message;
use crate::platform::outbound::endpoint;
use crate::platform::{OpacaError, Platform};
use crate::process_backend;
use crate::types::{ActorId, CallMode, Invocation, Trigger};

/// Where a message goes.
pub enum Recipient {
    /// A local container with the agent.
    Container(Arc<Container>),
    /// A connected platform with the agent: its `/send` URL and token.
    Platform {
        /// The peer's `/send/{agent}` URL, with the onward query.
        url: String,
        /// The token for calling the peer, if it needs one.
        token: Option<String>,
    },
}

/// The action a message to a Wasm agent runs.
const RECEIVE: &str = "receive";

impl Platform {
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

    /// Cast `message` to `agent` of a local container, as its `receive` action.
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
}
