//! Builders for the component manifest returned by `describe`.

use crate::Manifest;
use crate::bindings::warren::actor::types::{ActionInfo, ActorKind, ActorTypeInfo, TimerAction};

impl Manifest {
    /// A manifest for a component named `name`, with no actor types yet.
    pub fn new(name: &str) -> Self {
        Manifest {
            name: name.to_string(),
            version: "0.1.0".to_string(),
            actor_types: Vec::new(),
        }
    }

    /// Set the component's version string.
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_string();
        self
    }

    /// Add an actor type.
    pub fn with_type(mut self, actor_type: ActorType) -> Self {
        self.actor_types.push(actor_type.0);
        self
    }
}

/// Builder for one actor type's settings.
pub struct ActorType(ActorTypeInfo);

impl ActorType {
    /// A named actor type with host defaults for every setting.
    pub fn new(name: &str) -> Self {
        ActorType(ActorTypeInfo {
            name: name.to_string(),
            kind: ActorKind::Named,
            idle_timeout_ms: None,
            reentrancy_depth: None,
            snapshot_interval_ms: None,
            activate_action: None,
            timer_actions: Vec::new(),
            channels: Vec::new(),
            actions: Vec::new(),
            description: None,
        })
    }

    /// Declare actions by name.
    pub fn actions<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.0
            .actions
            .extend(names.into_iter().map(|name| ActionInfo {
                name: name.to_string(),
                description: None,
                parameters: None,
                result: None,
            }));
        self
    }

    /// Declare one action with its description and JSON parameter and result models.
    pub fn action(
        mut self,
        name: &str,
        description: &str,
        parameters: Option<&str>,
        result: Option<&str>,
    ) -> Self {
        self.0.actions.push(ActionInfo {
            name: name.to_string(),
            description: Some(description.to_string()),
            parameters: parameters.map(str::to_string),
            result: result.map(str::to_string),
        });
        self
    }

    /// How actors of this type are addressed.
    pub fn kind(mut self, kind: ActorKind) -> Self {
        self.0.kind = kind;
        self
    }

    /// Deactivate an actor after this many milliseconds without a turn.
    pub fn idle_timeout_ms(mut self, ms: u64) -> Self {
        self.0.idle_timeout_ms = Some(ms);
        self
    }

    /// Allow re-entrant call chains up to `depth`.
    pub fn reentrancy(mut self, depth: u32) -> Self {
        self.0.reentrancy_depth = Some(depth);
        self
    }

    /// Write state behind every `ms` milliseconds instead of at every turn.
    pub fn snapshot_interval_ms(mut self, ms: u64) -> Self {
        self.0.snapshot_interval_ms = Some(ms);
        self
    }

    /// Run `action` whenever an actor of this type is activated.
    pub fn on_activate(mut self, action: &str) -> Self {
        self.0.activate_action = Some(action.to_string());
        self
    }

    /// Run `action` every `period_ms` while an actor is active.
    pub fn timer_action(mut self, action: &str, period_ms: u64) -> Self {
        self.0.timer_actions.push(TimerAction {
            action: action.to_string(),
            period_ms,
        });
        self
    }

    /// Receive broadcasts published to `channel`.
    pub fn channel(mut self, channel: &str) -> Self {
        self.0.channels.push(channel.to_string());
        self
    }

    /// A human-readable description.
    pub fn description(mut self, text: &str) -> Self {
        self.0.description = Some(text.to_string());
        self
    }
}
