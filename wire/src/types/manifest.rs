//! What a backend says it provides: actor types and their settings, protocol-neutral.
//! One manifest feeds every protocol's discovery (Dapr config, Spawn registration, OPACA).

use std::time::Duration;

use serde::Serialize;

use super::ids::check_name;

/// How actors of a type are addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    Named,
    Unnamed,
    Pooled,
}

/// One action of an actor type.
#[derive(Clone, Debug, Serialize)]
pub struct ActionSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON parameter model, when declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// JSON result model, when declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// An action run on a fixed period while an actor is active.
#[derive(Clone, Debug, Serialize)]
pub struct TimerActionSpec {
    pub action: String,
    pub period_ms: u64,
}

/// A channel an actor type listens on, and the action its broadcasts run.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelSpec {
    /// The channel's name (Spawn's topic).
    pub topic: String,
    /// The action each broadcast on the channel runs ([`Self::DEFAULT_ACTION`] when the
    /// subscriber named none).
    pub action: String,
}

impl ChannelSpec {
    /// The action a broadcast runs when the subscription names none (Spawn's default).
    pub const DEFAULT_ACTION: &'static str = "receive";

    /// A subscription to `topic` running `action`, or [`Self::DEFAULT_ACTION`] if empty.
    pub fn new(topic: &str, action: &str) -> Self {
        let action = if action.is_empty() {
            Self::DEFAULT_ACTION
        } else {
            action
        };
        ChannelSpec {
            topic: topic.to_string(),
            action: action.to_string(),
        }
    }
}

/// How Wasm instances serve an actor type's turns, as a component chooses per type (the
/// host's flags give the default and cap the choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStrategy {
    /// A fresh instance for every turn: nothing outlives a turn.
    Fresh,
    /// An active actor keeps its last turn's instance for its next turn; no other actor
    /// ever runs in it.
    Kept,
    /// Instances are pooled and reused across the type's actors: one actor's leftovers in
    /// memory can reach the next, so only for code trusted on that point.
    Reused,
}

/// How many interchangeable instances serve a pooled type unless it says otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// An actor type and its settings.
#[derive(Clone, Debug, Serialize)]
pub struct ActorTypeSpec {
    pub name: String,
    pub kind: ActorKind,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub idle_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reentrancy_depth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub snapshot_interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activate_action: Option<String>,
    pub timer_actions: Vec<TimerActionSpec>,
    pub channels: Vec<ChannelSpec>,
    pub actions: Vec<ActionSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Instances of a pooled type ([`DEFAULT_POOL_SIZE`] when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
    /// The instance strategy a Wasm component chose for the type; the host's default
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<InstanceStrategy>,
}

impl ActorTypeSpec {
    /// A named type hosted by an external process, which declares only Dapr's settings.
    pub fn external(name: &str, idle_timeout: Duration, reentrancy_depth: Option<u32>) -> Self {
        ActorTypeSpec {
            name: name.to_string(),
            kind: ActorKind::Named,
            idle_timeout: Some(idle_timeout),
            reentrancy_depth,
            snapshot_interval: None,
            activate_action: None,
            timer_actions: Vec::new(),
            channels: Vec::new(),
            actions: Vec::new(),
            description: None,
            pool_size: None,
            instances: None,
        }
    }
}

/// A component's (or app's) description of itself.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub actor_types: Vec<ActorTypeSpec>,
}

impl Manifest {
    /// Check that the manifest is usable: named, at least one type, valid and unique names.
    pub fn validate(&self) -> Result<(), String> {
        check_name("component name", &self.name)?;
        if self.actor_types.is_empty() {
            return Err("the component's manifest declares no actor types".into());
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.actor_types {
            check_name("actor type", &t.name)?;
            if !seen.insert(t.name.as_str()) {
                return Err(format!("actor type {:?} is declared twice", t.name));
            }
            if t.timer_actions.iter().any(|a| a.period_ms == 0) {
                return Err(format!(
                    "actor type {:?} has a timer action with period 0",
                    t.name
                ));
            }
        }
        Ok(())
    }
}

mod opt_millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }
}
