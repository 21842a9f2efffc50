//! An SDK's registration of its actor system (`RegistrationRequest`) in Warren's terms:
//! a manifest of actor types (kind, deactivation, timer actions, channels, actions) and
//! what the SDK backend keeps of each type (statefulness, initial state, snapshots).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::spawn::{channels, pb};
use crate::types::check_name;
use crate::types::manifest::{ActionSpec, ActorKind, ActorTypeSpec, Manifest, TimerActionSpec};

/// Spawn's deactivation timeout when an actor names none.
const DEFAULT_DEACTIVATION: Duration = Duration::from_secs(10);
/// Actions Spawn runs once when an actor is activated.
const INIT_ACTIONS: [&str; 4] = ["init", "Init", "setup", "Setup"];

/// Spawn's snapshot interval when an actor names none.
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(2);

/// What Warren keeps of one actor type registered by the SDK.
pub struct SdkActorType {
    /// Whether the actor's state is written to the store (Spawn's `stateful`); the state of
    /// other actors lives only as long as their activation.
    pub stateful: bool,
    /// The state and tags a new actor starts with.
    pub initial: pb::ActorState,
    /// How often changed state is written behind (Spawn's snapshot timeout).
    pub snapshot_interval: Duration,
    /// Every action the SDK handles (declared, timer and channel actions).
    pub actions: HashSet<String>,
}

fn millis(strategy: Option<i64>, default: Duration) -> Duration {
    strategy
        .filter(|ms| *ms > 0)
        .map_or(default, |ms| Duration::from_millis(ms as u64))
}

/// One registered actor in the runtime's terms, and what the SDK backend keeps of it.
pub fn actor_type(name: &str, actor: pb::Actor) -> Result<(ActorTypeSpec, SdkActorType), String> {
    check_name("actor name", name)?;
    let settings = actor.settings.unwrap_or_default();
    let kind = match settings.kind {
        0 | 1 => ActorKind::Named,
        2 => ActorKind::Unnamed,
        3 => ActorKind::Pooled,
        other => {
            return Err(format!(
                "actor {name:?} has kind {other}; Warren hosts NAMED, UNNAMED and POOLED actors"
            ));
        }
    };
    let timeout = |s: Option<pb::TimeoutStrategy>| s.map(|t| t.timeout);
    let snapshot = settings
        .snapshot_strategy
        .and_then(|s| s.strategy)
        .map(|pb::actor_snapshot_strategy::Strategy::Timeout(t)| t);
    let deactivation = settings
        .deactivation_strategy
        .and_then(|s| s.strategy)
        .map(|pb::actor_deactivation_strategy::Strategy::Timeout(t)| t);
    let snapshot_interval = millis(timeout(snapshot), DEFAULT_SNAPSHOT_INTERVAL);
    let mut timer_actions = Vec::new();
    for timer in &actor.timer_actions {
        let action = timer.action.clone().unwrap_or_default().name;
        if timer.seconds <= 0 || action.is_empty() {
            return Err(format!(
                "actor {name:?} has a timer action {action:?} without a positive period"
            ));
        }
        timer_actions.push(TimerActionSpec {
            action,
            period_ms: timer.seconds as u64,
        });
    }
    let channels = channels(actor.metadata.as_ref());
    let declared: Vec<String> = actor.actions.iter().map(|a| a.name.clone()).collect();
    let mut handled: HashSet<String> = declared.iter().cloned().collect();
    handled.extend(timer_actions.iter().map(|t| t.action.clone()));
    handled.extend(channels.iter().map(|c| c.action.clone()));
    let spec = ActorTypeSpec {
        name: name.to_string(),
        kind,
        idle_timeout: Some(millis(timeout(deactivation), DEFAULT_DEACTIVATION)),
        reentrancy_depth: None,
        snapshot_interval: Some(snapshot_interval),
        activate_action: INIT_ACTIONS
            .iter()
            .find(|a| declared.iter().any(|d| d == *a))
            .map(|a| a.to_string()),
        timer_actions,
        channels,
        actions: declared
            .into_iter()
            .map(|name| ActionSpec {
                name,
                description: None,
                parameters: None,
                result: None,
            })
            .collect(),
        description: None,
        pool_size: u32::try_from(settings.max_pool_size)
            .ok()
            .filter(|n| *n > 0),
        instances: None,
    };
    let sdk = SdkActorType {
        stateful: settings.stateful,
        initial: actor.state.unwrap_or_default(),
        snapshot_interval,
        actions: handled,
    };
    Ok((spec, sdk))
}

/// An actor system's registration in the runtime's terms: its manifest, and what the SDK
/// backend keeps of each actor type.
pub fn system(
    registry: Option<pb::Registry>,
    service: pb::ServiceInfo,
) -> Result<(Manifest, HashMap<String, SdkActorType>), String> {
    let mut specs = Vec::new();
    let mut sdk_types = HashMap::new();
    for (name, actor) in registry.map(|r| r.actors).unwrap_or_default() {
        let (spec, sdk) = actor_type(&name, actor)?;
        sdk_types.insert(name, sdk);
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err("the registration declares no actors".into());
    }
    let manifest = Manifest {
        name: format!("spawn:{}", non_empty(&service.service_name, "sdk")),
        version: service.service_version,
        actor_types: specs,
    };
    Ok((manifest, sdk_types))
}

/// `text`, or `default` when it is empty.
fn non_empty<'a>(text: &'a str, default: &'a str) -> &'a str {
    if text.is_empty() { default } else { text }
}
