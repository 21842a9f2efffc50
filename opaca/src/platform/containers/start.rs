//! Starting a container: checking the request against the platform, then starting what
//! runs its agents (a component of the starter's tenant or, for an image the settings
//! map to a command, a child process), and replacing a running container by a new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::descriptions::{arguments, public};
use super::{Container, ContainerKind};
use crate::platform::auth::Identity;
use crate::platform::model::{
    AgentContainer, AgentContainerImage, Connectivity, EventType, PostAgentContainer, Role,
};
use crate::platform::process::{ProcessContainer, allowed_variable};
use crate::platform::{OpacaError, Platform, timestamp};
use crate::process_backend::{self, CallObserver, ProcessAgents};

/// How long a started container's token is valid (the reference's 24 h).
const CONTAINER_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// What runs a new container's agents, its description, and the token it was given
/// (empty unless a process container on a platform that requires authentication).
struct Started {
    kind: ContainerKind,
    info: AgentContainer,
    token: String,
}

impl Platform {
    /// Start a container for `identity`; its id.
    pub async fn start_container(
        &self,
        identity: &Identity,
        request: PostAgentContainer,
        timeout: Duration,
    ) -> Result<String, OpacaError> {
        self.check_start(identity, &request)?;
        let values = arguments(&request.image, &request.arguments)?;
        let id = uuid::Uuid::new_v4().to_string();
        let image = request.image;
        let started = self
            .start_agents(identity, &id, &image, &values, timeout)
            .await?;
        let container = Arc::new(Container::new(
            id.clone(),
            identity.tenant.clone(),
            identity.owner.clone(),
            started.kind,
            started.token,
            started.info,
        ));
        self.keep(&container)
            .await
            .map_err(|e| OpacaError::new(500, format!("the container was not stored: {e}")))?;
        self.add(container);
        tracing::info!(container = %id, image = %image.image_name, tenant = %identity.tenant, "agent container started");
        Ok(id)
    }

    /// Replace the one container of `identity`'s tenant running the same image.
    pub async fn replace_container(
        &self,
        identity: &Identity,
        request: PostAgentContainer,
        timeout: Duration,
    ) -> Result<String, OpacaError> {
        let same: Vec<_> = self
            .containers(identity)
            .into_iter()
            .filter(|c| c.info().image.image_name == request.image.image_name)
            .collect();
        let [old] = same.as_slice() else {
            return Err(OpacaError::new(
                400,
                format!(
                    "{} containers run image {:?}; PUT replaces exactly one",
                    same.len(),
                    request.image.image_name
                ),
            ));
        };
        let old = old.clone();
        if old.owner != identity.owner && !identity.has(Role::Admin) {
            return Err(OpacaError::new(
                403,
                "only the container's owner or an admin may replace it",
            ));
        }
        let id = self.start_container(identity, request, timeout).await?;
        self.remove(&old.id).await;
        Ok(id)
    }

    /// Refuse a request this platform cannot serve: a client type other than OPACA's,
    /// or an image that requires what the platform does not provide.
    fn check_start(
        &self,
        identity: &Identity,
        request: &PostAgentContainer,
    ) -> Result<(), OpacaError> {
        if let Some(config) = &request.client_config
            && !matches!(config.type_.as_str(), "DOCKER" | "KUBERNETES")
        {
            return Err(OpacaError::new(
                400,
                format!("unknown clientConfig type {:?}", config.type_),
            ));
        }
        let provides = self.provides(identity);
        if let Some(missing) = request
            .image
            .requires
            .iter()
            .find(|r| !provides.contains(r))
        {
            return Err(OpacaError::new(
                400,
                format!("the platform does not provide {missing:?}, which the image requires"),
            ));
        }
        Ok(())
    }

    /// Start what runs container `id`'s agents: the tenant's component named like the
    /// image, else the process the settings give for the image; 404 for neither.
    async fn start_agents(
        &self,
        identity: &Identity,
        id: &str,
        image: &AgentContainerImage,
        values: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Started, OpacaError> {
        let component = self
            .0
            .runtime
            .components(&identity.tenant)
            .into_iter()
            .find(|c| c.name == image.image_name);
        if let Some(component) = component {
            return Ok(self.wasm_container(identity, id, component.name, image, values));
        }
        if let Some(command) = self.0.config.images.get(&image.image_name) {
            return self
                .start_process(identity, id, command, image, values, timeout)
                .await;
        }
        Err(OpacaError::new(
            404,
            format!(
                "image {:?} is neither a component of tenant {:?} nor an image of this platform",
                image.image_name, identity.tenant
            ),
        ))
    }

    /// A container of the component's actor types; nothing needs starting, since the
    /// runtime activates each agent on its first call.
    fn wasm_container(
        &self,
        identity: &Identity,
        id: &str,
        component: String,
        image: &AgentContainerImage,
        values: &BTreeMap<String, String>,
    ) -> Started {
        let info = AgentContainer {
            container_id: id.to_string(),
            arguments: public(image, values),
            agents: self.wasm_agents(&identity.tenant, &component),
            owner: Some(identity.owner.clone()),
            running_since: Some(timestamp()),
            connectivity: None,
            image: image.clone(),
        };
        Started {
            kind: ContainerKind::Wasm { component },
            info,
            token: String::new(),
        }
    }

    /// Start `command` as container `id` and host its agents. Every failure after the
    /// container's token was issued revokes it again.
    async fn start_process(
        &self,
        identity: &Identity,
        id: &str,
        command: &str,
        image: &AgentContainerImage,
        values: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Started, OpacaError> {
        self.check_process_start(values)?;
        let token = if self.0.config.require_auth {
            self.0
                .auth
                .delegate(id, identity, Role::Admin, CONTAINER_TOKEN_TTL)
        } else {
            String::new()
        };
        let env = process_env(values, id, &self.0.base_url, &token, &identity.owner);
        let (process, info) = self
            .spawn_process(id, command, image.api_port, env, timeout)
            .await?;
        let info = process_info(info, image, values, identity, &process);
        self.host_process_agents(identity, id, &process, &token)
            .await?;
        Ok(Started {
            kind: ContainerKind::Process(Box::new(process)),
            info,
            token,
        })
    }

    /// Refuse a process container whose arguments would be unsafe variables, or one past
    /// the platform's limit of processes.
    fn check_process_start(&self, values: &BTreeMap<String, String>) -> Result<(), OpacaError> {
        if let Some(bad) = values.keys().find(|name| !allowed_variable(name)) {
            return Err(OpacaError::new(
                400,
                format!("parameter {bad:?} cannot be a variable of a process container"),
            ));
        }
        if self.processes() >= self.0.config.max_processes {
            return Err(OpacaError::new(
                503,
                format!(
                    "the platform runs its limit of {} process containers",
                    self.0.config.max_processes
                ),
            ));
        }
        Ok(())
    }

    /// Start the process and wait for its `/info`, which must name container `id`.
    async fn spawn_process(
        &self,
        id: &str,
        command: &str,
        api_port: u16,
        env: BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<(ProcessContainer, AgentContainer), OpacaError> {
        let started =
            ProcessContainer::start(command, api_port, env, &self.0.client, timeout).await;
        let (process, info) = match started {
            Ok(started) => started,
            Err(e) => {
                self.0.auth.revoke(id);
                return Err(OpacaError::new(502, e.to_string()));
            }
        };
        if info.container_id != id {
            // Not the process Warren started (another listener took the port).
            process.stop().await;
            self.0.auth.revoke(id);
            return Err(OpacaError::new(
                502,
                format!(
                    "the container on port {} reports id {:?}, not {id:?}",
                    process.port, info.container_id
                ),
            ));
        }
        Ok((process, info))
    }

    /// Register the process's agents with the runtime, so their turns go through it like
    /// every actor's; on failure the process is stopped.
    async fn host_process_agents(
        &self,
        identity: &Identity,
        id: &str,
        process: &ProcessContainer,
        token: &str,
    ) -> Result<(), OpacaError> {
        let agents = ProcessAgents::new(
            &process.url,
            token,
            &self.0.base_url,
            self.0.client.clone(),
            self.forward_observer(),
        );
        let registered = self.0.runtime.register_external(
            &identity.tenant,
            process_backend::component(id),
            Arc::new(agents),
        );
        if let Err(e) = registered {
            process.stop().await;
            self.0.auth.revoke(id);
            return Err(OpacaError::new(500, e.to_string()));
        }
        Ok(())
    }

    /// Records a FORWARD event for each call a process container's agents get.
    fn forward_observer(&self) -> CallObserver {
        let platform = Arc::downgrade(&self.0);
        Arc::new(move |tenant: &str, route: &str, receiver: &str| {
            if let Some(platform) = platform.upgrade() {
                platform.history.record(tenant, EventType::Forward, |e| {
                    e.route = Some(route.to_string());
                    e.receiver = Some(receiver.to_string());
                });
            }
        })
    }
}

/// A process container's environment: its arguments, and OPACA's container variables.
fn process_env(
    values: &BTreeMap<String, String>,
    id: &str,
    platform_url: &str,
    token: &str,
    owner: &str,
) -> BTreeMap<String, String> {
    let mut env = values.clone();
    env.insert("CONTAINER_ID".into(), id.to_string());
    env.insert("PLATFORM_URL".into(), platform_url.to_string());
    env.insert("TOKEN".into(), token.to_string());
    env.insert("OWNER".into(), owner.to_string());
    env
}

/// The platform's description of a process container: the container's own `/info`, with
/// what the platform knows better (arguments, owner, where it listens).
fn process_info(
    mut info: AgentContainer,
    image: &AgentContainerImage,
    values: &BTreeMap<String, String>,
    identity: &Identity,
    process: &ProcessContainer,
) -> AgentContainer {
    // The container's own image description (definitions, parameters) stands; only a
    // missing name comes from the request.
    if info.image.image_name.is_empty() {
        info.image.image_name = image.image_name.clone();
    }
    info.arguments = public(image, values);
    info.owner = Some(identity.owner.clone());
    info.connectivity = Some(Connectivity {
        public_url: "http://127.0.0.1".into(),
        api_port_mapping: process.port,
        extra_port_mappings: BTreeMap::new(),
    });
    info
}
