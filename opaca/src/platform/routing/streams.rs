//! Agent streams: a named stream of an agent is read or written through its process
//! container or a connected platform (Wasm agents offer none).

use reqwest::Method;

use super::{Target, agents_of, describe, query};
use crate::platform::auth::Identity;
use crate::platform::containers::ContainerKind;
use crate::platform::model::AgentDescription;
use crate::platform::outbound::{Outbound, endpoint};
use crate::platform::{OpacaError, Platform};

impl Platform {
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
}
