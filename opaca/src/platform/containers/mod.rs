//! Agent containers: the table of the containers this platform runs (a Wasm component of
//! the owner's tenant, or a process for an image the settings map to a command), and
//! what the rest of the platform asks of it.

mod descriptions;
mod login;
mod records;
mod start;
mod stop;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::Platform;
use super::auth::Identity;
use super::model::AgentContainer;
use super::process::ProcessContainer;
use crate::types::ActorId;

pub(super) use records::ContainerFollower;

/// What runs a container's agents.
pub enum ContainerKind {
    /// A component of the tenant: each agent is actor (agent type, container id).
    Wasm {
        /// The component's name, which is the container's image name.
        component: String,
    },
    /// A child process serving OPACA's container API on a loopback port; its agents are
    /// the actors of one external actor type (see [`crate::process_backend`]).
    Process(Box<ProcessContainer>),
}

/// A running agent container.
pub struct Container {
    /// The container's id (a UUID), OPACA's `containerId`.
    pub id: String,
    /// The Warren tenant it runs in: its starter's.
    pub tenant: String,
    /// The user it was started for, who may stop or replace it.
    pub owner: String,
    /// What runs its agents.
    pub kind: ContainerKind,
    /// The token the container was given (`TOKEN`), sent back on every call to it.
    pub token: String,
    /// Its description, as `/containers` shows it.
    info: RwLock<AgentContainer>,
    /// Tokens from the container's own `/login`, per user.
    logins: Mutex<HashMap<String, String>>,
}

impl Container {
    /// A container with no logins yet.
    fn new(
        id: String,
        tenant: String,
        owner: String,
        kind: ContainerKind,
        token: String,
        info: AgentContainer,
    ) -> Self {
        Container {
            id,
            tenant,
            owner,
            kind,
            token,
            info: RwLock::new(info),
            logins: Mutex::new(HashMap::new()),
        }
    }

    /// The container's description as the platform shows it.
    pub fn info(&self) -> AgentContainer {
        self.info.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The container-login token `user` holds, if any.
    pub fn login_token(&self, user: &str) -> Option<String> {
        self.logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .cloned()
    }

    /// Replace the container's description.
    fn set_info(&self, info: AgentContainer) {
        *self.info.write().unwrap_or_else(|p| p.into_inner()) = info;
    }
}

impl Platform {
    /// How many process containers run now.
    fn processes(&self) -> usize {
        self.0
            .containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| matches!(c.kind, ContainerKind::Process(_)))
            .count()
    }

    /// The containers `identity` sees (its tenant's), in start order.
    pub fn containers(&self, identity: &Identity) -> Vec<Arc<Container>> {
        self.0
            .containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| c.tenant == identity.tenant)
            .cloned()
            .collect()
    }

    /// The Wasm container whose agent `actor` is: a container of the actor's tenant whose
    /// id is the actor's id and whose component provides the actor's type.
    pub fn container_of_agent(&self, actor: &ActorId) -> Option<Arc<Container>> {
        let container = self
            .0
            .containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|c| *c.tenant == *actor.tenant && *c.id == *actor.id)
            .cloned()?;
        let ContainerKind::Wasm { component } = &container.kind else {
            return None;
        };
        let provides = self
            .0
            .runtime
            .actor_types(&actor.tenant)
            .into_iter()
            .any(|(spec, from)| from == *component && *spec.name == *actor.actor_type);
        provides.then_some(container)
    }

    /// One container of `identity`'s tenant.
    pub fn container(&self, identity: &Identity, id: &str) -> Option<Arc<Container>> {
        self.containers(identity).into_iter().find(|c| c.id == id)
    }

    /// What this platform provides to `requires` checks (OPACA's provisions).
    pub fn provides(&self, identity: &Identity) -> Vec<String> {
        let mut provides = vec![
            "config:container-env=WARREN".to_string(),
            "config:platform-env=WARREN".to_string(),
            format!("config:require-auth={}", self.0.config.require_auth),
            "config:session-policy=SHUTDOWN".to_string(),
        ];
        for container in self.containers(identity) {
            let info = container.info();
            provides.push(format!("image:{}", info.image.image_name));
            provides.extend(info.image.provides.iter().cloned());
            for agent in &info.agents {
                if let Some(agent_type) = &agent.agent_type {
                    provides.push(format!("agent:{agent_type}"));
                }
                provides.extend(agent.actions.iter().map(|a| format!("action:{}", a.name)));
            }
        }
        provides.sort();
        provides.dedup();
        provides
    }

    /// Add a container to the table, unless it is there already (followed from the store
    /// while it started).
    fn add(&self, container: Arc<Container>) -> bool {
        let mut containers = self.0.containers.write().unwrap_or_else(|p| p.into_inner());
        if containers.iter().any(|c| c.id == container.id) {
            return false;
        }
        containers.push(container);
        true
    }
}
