//! The WIT manifest turned into the runtime's protocol-neutral one.

use std::time::Duration;

use super::bindings::types;
use warren_core::types::manifest::{
    ActionSpec, ActorKind, ActorTypeSpec, ChannelSpec, Manifest, TimerActionSpec,
};

/// Parse an optional JSON model string, naming where a bad one came from.
fn json_model(what: &str, text: Option<String>) -> Result<Option<serde_json::Value>, String> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| format!("{what} is not valid JSON: {e}")))
        .transpose()
}

/// Convert and validate a manifest returned by `describe`.
pub fn from_wit(m: types::Manifest) -> Result<Manifest, String> {
    let mut actor_types = Vec::with_capacity(m.actor_types.len());
    for t in m.actor_types {
        let mut actions = Vec::with_capacity(t.actions.len());
        for a in t.actions {
            let where_ = format!("action {:?} of actor type {:?}", a.name, t.name);
            actions.push(ActionSpec {
                parameters: json_model(&format!("the parameters of {where_}"), a.parameters)?,
                result: json_model(&format!("the result of {where_}"), a.result)?,
                name: a.name,
                description: a.description,
            });
        }
        actor_types.push(ActorTypeSpec {
            kind: match t.kind {
                types::ActorKind::Named => ActorKind::Named,
                types::ActorKind::Unnamed => ActorKind::Unnamed,
                types::ActorKind::Pooled => ActorKind::Pooled,
            },
            idle_timeout: t.idle_timeout_ms.map(Duration::from_millis),
            reentrancy_depth: t.reentrancy_depth,
            snapshot_interval: t.snapshot_interval_ms.map(Duration::from_millis),
            activate_action: t.activate_action,
            timer_actions: t
                .timer_actions
                .into_iter()
                .map(|a| TimerActionSpec {
                    action: a.action,
                    period_ms: a.period_ms,
                })
                .collect(),
            channels: t
                .channels
                .iter()
                .map(|topic| ChannelSpec::new(topic, ""))
                .collect(),
            actions,
            description: t.description,
            pool_size: None,
            instances: None,
            name: t.name,
        });
    }
    let manifest = Manifest {
        name: m.name,
        version: m.version,
        actor_types,
    };
    manifest.validate()?;
    Ok(manifest)
}
