//! What a backend says it provides: actor types and their settings, protocol-neutral.
//! One manifest feeds every protocol's discovery (Dapr config, Spawn registration, OPACA).

use std::time::Duration;

use serde::Serialize;

use super::ids::check_name;

/// How actors of a type are addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// Any id names an actor, which exists from its first message (Spawn's `NAMED`).
    Named,
    /// A template: instances are spawned from it by name, and it is not called itself
    /// (Spawn's `UNNAMED`).
    Unnamed,
    /// Interchangeable instances, any of which may serve a message (Spawn's `POOLED`).
    Pooled,
}

/// One action of an actor type.
#[derive(Clone, Debug, Serialize)]
pub struct ActionSpec {
    /// The action's name, as callers invoke it.
    pub name: String,
    /// What the action does, in words for people (and OPACA's clients).
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
    /// The action to run.
    pub action: String,
    /// Milliseconds between two runs (never 0 in a valid manifest).
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
    /// The actor type's name, as callers address it.
    pub name: String,
    /// How actors of the type are addressed.
    pub kind: ActorKind,
    /// How long an actor stays active without a turn (Dapr's `actorIdleTimeout`); the
    /// host's default when absent. Serialized in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub idle_timeout: Option<Duration>,
    /// How deep a call chain may re-enter an actor of the type; absent means no
    /// reentrancy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reentrancy_depth: Option<u32>,
    /// How often changed state is written behind instead of at every turn (Spawn's
    /// snapshot timeout); every turn commits when absent. Serialized in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub snapshot_interval: Option<Duration>,
    /// The action run when an actor is activated, before its first message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activate_action: Option<String>,
    /// Actions run on a fixed period while an actor is active.
    pub timer_actions: Vec<TimerActionSpec>,
    /// The channels whose broadcasts the type receives.
    pub channels: Vec<ChannelSpec>,
    /// The actions the type declares.
    pub actions: Vec<ActionSpec>,
    /// What the type is for, in words for people.
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
    /// The component's (or app's) name; valid per [`check_name`].
    pub name: String,
    /// The version of its code: an actor's first turn under another version runs the
    /// component's `on-upgrade` first (see [`CODE_VERSION_KEY`](crate::record::CODE_VERSION_KEY)).
    pub version: String,
    /// The actor types it hosts (at least one).
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
