//! Agent containers: starting them (a Wasm component of the owner's tenant, or a process
//! for an image the settings map to a command), their descriptions, and stopping them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::auth::Identity;
use super::model::{
    Action, AgentContainer, AgentContainerImage, AgentDescription, Connectivity, EventType,
    Parameter, PostAgentContainer, Role,
};
use super::process::{InfoError, ProcessContainer, allowed_variable};
use super::{OpacaError, Platform, WeakPlatform, timestamp};
use crate::process_backend::{self, CallObserver, ProcessAgents, agents_type};
use crate::runtime::{FollowFuture, Follower};
use crate::types::manifest::ActorTypeSpec;
use crate::types::{ActorId, StoreError};

/// The record area Wasm containers are kept in (cluster mode).
const CONTAINERS: &str = "opaca-containers";

/// A Wasm container as the shared store keeps it.
#[derive(Serialize, Deserialize)]
struct RecordedContainer {
    tenant: String,
    owner: String,
    component: String,
    info: AgentContainer,
}

impl RecordedContainer {
    fn of(container: &Container) -> Option<Self> {
        let ContainerKind::Wasm { component } = &container.kind else {
            return None;
        };
        Some(RecordedContainer {
            tenant: container.tenant.clone(),
            owner: container.owner.clone(),
            component: component.clone(),
            info: container.info(),
        })
    }

    fn container(self, id: String) -> Container {
        Container::new(
            id,
            self.tenant,
            self.owner,
            ContainerKind::Wasm {
                component: self.component,
            },
            String::new(),
            self.info,
        )
    }
}

/// Brings this host's Wasm containers in line with the ones the cluster's hosts keep in
/// the store.
pub(super) struct ContainerFollower(pub(super) WeakPlatform);

impl Follower for ContainerFollower {
    fn follow(&self) -> FollowFuture<'_> {
        Box::pin(async move {
            match self.0.upgrade() {
                Some(platform) => platform.follow_containers().await,
                None => Ok(0),
            }
        })
    }
}

/// How long a started container's token is valid (the reference's 24 h).
const CONTAINER_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// What runs a container's agents.
pub enum ContainerKind {
    /// A component of the tenant: each agent is actor (agent type, container id).
    Wasm {
        component: String,
    },
    Process(Box<ProcessContainer>),
}

/// A running agent container.
pub struct Container {
    pub id: String,
    pub tenant: String,
    pub owner: String,
    pub kind: ContainerKind,
    /// The token the container was given (`TOKEN`), sent back on every call to it.
    pub token: String,
    info: RwLock<AgentContainer>,
    /// Tokens from the container's own `/login`, per user.
    logins: Mutex<HashMap<String, String>>,
}

impl Container {
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

    fn set_info(&self, info: AgentContainer) {
        *self.info.write().unwrap_or_else(|p| p.into_inner()) = info;
    }
}

/// An OPACA action from an action of an actor type's manifest.
fn action(spec: &crate::types::manifest::ActionSpec) -> Action {
    // A model that is not OPACA's shape is logged and left out, so the action still shows.
    fn model<T: serde::de::DeserializeOwned>(
        action: &str,
        what: &str,
        value: &Option<serde_json::Value>,
    ) -> Option<T> {
        let value = value.clone()?;
        serde_json::from_value(value)
            .map_err(|e| tracing::warn!(action, error = %e, "the manifest's {what} model is not OPACA's"))
            .ok()
    }
    Action {
        name: spec.name.clone(),
        description: spec.description.clone(),
        parameters: model::<BTreeMap<String, Parameter>>(&spec.name, "parameter", &spec.parameters)
            .unwrap_or_default(),
        result: model(&spec.name, "result", &spec.result),
    }
}

/// The agent an actor type of a component is.
fn agent(spec: &ActorTypeSpec) -> AgentDescription {
    AgentDescription {
        agent_id: spec.name.clone(),
        agent_type: Some(spec.name.clone()),
        description: spec.description.clone(),
        actions: spec.actions.iter().map(action).collect(),
        streams: Vec::new(),
    }
}

/// The arguments a container gets: the given ones, defaults for the rest; a missing
/// required one is an error. Unknown arguments are dropped, as in OPACA.
fn arguments(
    image: &AgentContainerImage,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, OpacaError> {
    let mut values = BTreeMap::new();
    for parameter in &image.parameters {
        match given
            .get(&parameter.name)
            .or(parameter.default_value.as_ref())
        {
            Some(value) => {
                values.insert(parameter.name.clone(), value.clone());
            }
            None if parameter.required => {
                return Err(OpacaError::new(
                    400,
                    format!("missing required parameter {:?}", parameter.name),
                ));
            }
            None => {}
        }
    }
    Ok(values)
}

/// The arguments without the confidential ones, as `/containers` shows them.
fn public(
    image: &AgentContainerImage,
    values: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    values
        .iter()
        .filter(|(name, _)| {
            !image
                .parameters
                .iter()
                .any(|p| &p.name == *name && p.confidential)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Platform {
    /// The agents of component `component` of `tenant`: one per actor type.
    fn wasm_agents(&self, tenant: &str, component: &str) -> Vec<AgentDescription> {
        self.0
            .runtime
            .actor_types(tenant)
            .into_iter()
            .filter(|(_, from)| from == component)
            .map(|(spec, _)| agent(&spec))
            .collect()
    }

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

    /// Start a container for `identity`; its id.
    pub async fn start_container(
        &self,
        identity: &Identity,
        request: PostAgentContainer,
        timeout: Duration,
    ) -> Result<String, OpacaError> {
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
        let values = arguments(&request.image, &request.arguments)?;
        let id = uuid::Uuid::new_v4().to_string();
        let image = request.image;
        let runtime = &self.0.runtime;
        let component = runtime
            .components(&identity.tenant)
            .into_iter()
            .find(|c| c.name == image.image_name);
        let mut token = String::new();
        let (kind, info) = if let Some(component) = component {
            let agents = self.wasm_agents(&identity.tenant, &component.name);
            let info = AgentContainer {
                container_id: id.clone(),
                arguments: public(&image, &values),
                agents,
                owner: Some(identity.owner.clone()),
                running_since: Some(timestamp()),
                connectivity: None,
                image: image.clone(),
            };
            (
                ContainerKind::Wasm {
                    component: component.name,
                },
                info,
            )
        } else if let Some(command) = self.0.config.images.get(&image.image_name) {
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
            if self.0.config.require_auth {
                token = self
                    .0
                    .auth
                    .delegate(&id, identity, Role::Admin, CONTAINER_TOKEN_TTL);
            }
            let mut env = values.clone();
            env.insert("CONTAINER_ID".into(), id.clone());
            env.insert("PLATFORM_URL".into(), self.0.base_url.clone());
            env.insert("TOKEN".into(), token.clone());
            env.insert("OWNER".into(), identity.owner.clone());
            let started =
                ProcessContainer::start(command, image.api_port, env, &self.0.client, timeout)
                    .await;
            let (process, mut info) = match started {
                Ok(started) => started,
                Err(e) => {
                    self.0.auth.revoke(&id);
                    return Err(OpacaError::new(502, e.to_string()));
                }
            };
            if info.container_id != id {
                // Not the process Warren started (another listener took the port).
                process.stop().await;
                self.0.auth.revoke(&id);
                return Err(OpacaError::new(
                    502,
                    format!(
                        "the container on port {} reports id {:?}, not {id:?}",
                        process.port, info.container_id
                    ),
                ));
            }
            // The container's own image description (definitions, parameters) stands;
            // only a missing name comes from the request.
            if info.image.image_name.is_empty() {
                info.image.image_name = image.image_name.clone();
            }
            info.arguments = public(&image, &values);
            info.owner = Some(identity.owner.clone());
            info.connectivity = Some(Connectivity {
                public_url: "http://127.0.0.1".into(),
                api_port_mapping: process.port,
                extra_port_mappings: BTreeMap::new(),
            });
            // Its agents' turns go through the runtime like every actor's.
            let agents = ProcessAgents::new(
                &process.url,
                &token,
                &self.0.base_url,
                self.0.client.clone(),
                self.forward_observer(),
            );
            let registered = runtime.register_external(
                &identity.tenant,
                process_backend::component(&id),
                Arc::new(agents),
            );
            if let Err(e) = registered {
                process.stop().await;
                self.0.auth.revoke(&id);
                return Err(OpacaError::new(500, e.to_string()));
            }
            (ContainerKind::Process(Box::new(process)), info)
        } else {
            return Err(OpacaError::new(
                404,
                format!(
                    "image {:?} is neither a component of tenant {:?} nor an image of this platform",
                    image.image_name, identity.tenant
                ),
            ));
        };
        let container = Arc::new(Container::new(
            id.clone(),
            identity.tenant.clone(),
            identity.owner.clone(),
            kind,
            token,
            info,
        ));
        self.keep(&container)
            .await
            .map_err(|e| OpacaError::new(500, format!("the container was not stored: {e}")))?;
        self.add(container);
        tracing::info!(container = %id, image = %image.image_name, tenant = %identity.tenant, "agent container started");
        Ok(id)
    }

    /// Stop a container; `false` if `identity` sees no such container. Only its owner or
    /// an admin may stop it.
    pub async fn stop_container(&self, identity: &Identity, id: &str) -> Result<bool, OpacaError> {
        let Some(container) = self.container(identity, id) else {
            return Ok(false);
        };
        if container.owner != identity.owner && !identity.has(Role::Admin) {
            return Err(OpacaError::new(
                403,
                "only the container's owner or an admin may stop it",
            ));
        }
        self.remove(id).await;
        Ok(true)
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

    /// Write a Wasm container's record (cluster mode; nothing otherwise).
    async fn keep(&self, container: &Container) -> Result<(), StoreError> {
        let Some(recorded) = RecordedContainer::of(container).filter(|_| self.0.config.shared)
        else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&recorded).map_err(|e| StoreError::Io(e.to_string()))?;
        self.0
            .runtime
            .put_record(CONTAINERS, &container.id, Some(bytes))
            .await
    }

    /// Add the Wasm containers other hosts started and drop the ones they stopped; how
    /// many changed. The host that stops a container deletes its agents' state.
    async fn follow_containers(&self) -> Result<usize, StoreError> {
        let mut recorded = HashMap::new();
        for (id, bytes) in self.0.runtime.records(CONTAINERS).await? {
            match serde_json::from_slice::<RecordedContainer>(&bytes) {
                Ok(container) => {
                    recorded.insert(id, container);
                }
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "an unreadable container record is skipped")
                }
            }
        }
        let mut changed = 0;
        {
            let mut containers = self.0.containers.write().unwrap_or_else(|p| p.into_inner());
            containers.retain(|c| {
                let keep =
                    matches!(c.kind, ContainerKind::Process(_)) || recorded.contains_key(&c.id);
                changed += usize::from(!keep);
                keep
            });
        }
        for (id, container) in recorded {
            changed += usize::from(self.add(Arc::new(container.container(id))));
        }
        Ok(changed)
    }

    /// Forget a container: stop its process, or delete its Wasm agents' state (a
    /// container id is never used again).
    async fn remove(&self, id: &str) {
        if self.0.config.shared
            && let Err(e) = self.0.runtime.put_record(CONTAINERS, id, None).await
        {
            tracing::warn!(container = %id, error = %e, "a stopped container's record not deleted");
        }
        let removed = {
            let mut containers = self.0.containers.write().unwrap_or_else(|p| p.into_inner());
            let index = containers.iter().position(|c| c.id == id);
            index.map(|i| containers.remove(i))
        };
        self.0.auth.revoke(id);
        let Some(container) = removed else { return };
        match &container.kind {
            ContainerKind::Process(process) => {
                let name = agents_type(id);
                if let Err(e) = self
                    .0
                    .runtime
                    .remove_component(&container.tenant, &name)
                    .await
                {
                    tracing::warn!(container = %id, error = %e, "agents of a stopped container not removed");
                }
                process.stop().await;
            }
            ContainerKind::Wasm { .. } => {
                for agent in container.info().agents {
                    let actor = ActorId::new(&container.tenant, &agent.agent_id, id);
                    if let Err(e) = self.0.runtime.delete_actor_state(&actor).await {
                        tracing::warn!(%actor, error = %e, "state of a stopped container not deleted");
                    }
                }
            }
        }
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

    /// Pull a container's description again (`/containers/notify`): `false`, and the
    /// container removed, if it no longer answers.
    pub async fn refresh_container(
        &self,
        identity: &Identity,
        id: &str,
    ) -> Result<bool, OpacaError> {
        let container = self
            .container(identity, id)
            .ok_or_else(|| OpacaError::new(404, format!("no container {id:?}")))?;
        match &container.kind {
            ContainerKind::Wasm { component } => {
                let agents = self.wasm_agents(&container.tenant, component);
                if agents.is_empty() {
                    self.remove(id).await;
                    return Ok(false);
                }
                let mut info = container.info();
                info.agents = agents;
                container.set_info(info);
                self.keep(&container).await.map_err(|e| {
                    OpacaError::new(500, format!("the container was not stored: {e}"))
                })?;
                Ok(true)
            }
            ContainerKind::Process(process) => match process.info(&self.0.client).await {
                Ok(fresh) => {
                    let mut info = container.info();
                    info.agents = fresh.agents;
                    container.set_info(info);
                    Ok(true)
                }
                Err(InfoError::Unreachable | InfoError::Bad(_)) => {
                    self.remove(id).await;
                    Ok(false)
                }
            },
        }
    }

    /// Log in to a container with its own credentials; the token it gave.
    pub async fn container_login(
        &self,
        identity: &Identity,
        id: &str,
        login: &super::model::Login,
    ) -> Result<String, OpacaError> {
        let container = self
            .container(identity, id)
            .ok_or_else(|| OpacaError::new(404, format!("no container {id:?}")))?;
        let ContainerKind::Process(process) = &container.kind else {
            return Err(OpacaError::downstream(
                "the container does not support login",
                super::model::ErrorResponse {
                    status_code: 501,
                    message: "Wasm agent containers take no login".into(),
                    cause: None,
                },
            ));
        };
        let url = format!("{}/login", process.url);
        let response = self
            .call(
                &identity.tenant,
                Method::POST,
                &url,
                Some(login),
                Some(&container.token),
                None,
            )
            .await?;
        let token = response
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| response.to_string());
        let token = token.trim_matches('"').to_string();
        container
            .logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(identity.name.clone(), token.clone());
        Ok(token)
    }

    /// Log out of a container; whether there was a login.
    pub async fn container_logout(
        &self,
        identity: &Identity,
        id: &str,
    ) -> Result<bool, OpacaError> {
        let container = self
            .container(identity, id)
            .ok_or_else(|| OpacaError::new(404, format!("no container {id:?}")))?;
        let token = container
            .logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&identity.name);
        if let (Some(token), ContainerKind::Process(process)) = (&token, &container.kind) {
            let url = format!("{}/logout", process.url);
            let _ = self
                .call::<()>(
                    &identity.tenant,
                    Method::POST,
                    &url,
                    None,
                    Some(&container.token),
                    Some(token),
                )
                .await;
        }
        Ok(token.is_some())
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

    /// Stop every container this host runs (at shutdown). In a cluster the Wasm
    /// containers belong to the whole platform and stay.
    pub async fn stop_all(&self) {
        let shared = self.0.config.shared;
        let ids: Vec<String> = self
            .0
            .containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| !shared || matches!(c.kind, ContainerKind::Process(_)))
            .map(|c| c.id.clone())
            .collect();
        for id in ids {
            self.remove(&id).await;
        }
    }
}
