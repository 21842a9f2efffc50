//! What a container shows: its agents and their actions (for a Wasm container, from the
//! component's manifest; a process container describes itself on `/info`), and the
//! arguments it was started with.

use std::collections::BTreeMap;

use super::ContainerKind;
use crate::platform::auth::Identity;
use crate::platform::model::{Action, AgentContainerImage, AgentDescription, Parameter};
use crate::platform::process::InfoError;
use crate::platform::{OpacaError, Platform};
use crate::types::manifest::{ActionSpec, ActorTypeSpec};

/// An OPACA action from an action of an actor type's manifest.
fn action(spec: &ActionSpec) -> Action {
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
pub(super) fn arguments(
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
pub(super) fn public(
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
    pub(super) fn wasm_agents(&self, tenant: &str, component: &str) -> Vec<AgentDescription> {
        self.0
            .runtime
            .actor_types(tenant)
            .into_iter()
            .filter(|(_, from)| from == component)
            .map(|(spec, _)| agent(&spec))
            .collect()
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
}
