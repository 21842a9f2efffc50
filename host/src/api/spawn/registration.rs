//! `POST /api/v1/system`: an SDK registers its actor system and actor types.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prost::Message;

use super::{SpawnState, proto, status, tenant};
use crate::api::Access;
use crate::backends::spawn_sdk::{DEFAULT_SNAPSHOT_INTERVAL, SdkActorType, SpawnApp};
use crate::runtime::{Runtime, TenantError, check_name};
use crate::types::manifest::{ActionSpec, ActorKind, ActorTypeSpec, Manifest, TimerActionSpec};
use crate::wire::spawn::{channels, pb};

/// Spawn's deactivation timeout when an actor names none.
const DEFAULT_DEACTIVATION: Duration = Duration::from_secs(10);
/// Actions Spawn runs once when an actor is activated.
const INIT_ACTIONS: [&str; 4] = ["init", "Init", "setup", "Setup"];

fn refused(message: String) -> Response {
    let reply = pb::RegistrationResponse {
        status: Some(status(false, message)),
        proxy_info: None,
    };
    proto(StatusCode::INTERNAL_SERVER_ERROR, &reply)
}

fn millis(strategy: Option<i64>, default: Duration) -> Duration {
    strategy
        .filter(|ms| *ms > 0)
        .map_or(default, |ms| Duration::from_millis(ms as u64))
}

/// One registered actor in the runtime's terms, and what the SDK backend keeps of it.
fn actor_type(name: &str, actor: pb::Actor) -> Result<(ActorTypeSpec, SdkActorType), String> {
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
    };
    let sdk = SdkActorType {
        stateful: settings.stateful,
        initial: actor.state.unwrap_or_default(),
        snapshot_interval,
        actions: handled,
    };
    Ok((spec, sdk))
}

/// Make sure the system's tenant exists: a caller who may manage tenants creates it.
async fn ensure_tenant(runtime: &Runtime, access: &Access, name: &str) -> Result<(), String> {
    let may_create = access.require_admin().is_ok();
    runtime
        .ensure_tenant(name, may_create)
        .await
        .map_err(|e| match e {
            TenantError::NotFound(_) => {
                format!("actor system {name:?} is not a tenant of this host")
            }
            other => other.to_string(),
        })
}

pub(super) async fn register(
    State(state): State<SpawnState>,
    access: Access,
    body: Bytes,
) -> Response {
    let request = match pb::RegistrationRequest::decode(body) {
        Ok(r) => r,
        Err(e) => return refused(format!("the body is not a Spawn RegistrationRequest: {e}")),
    };
    let system = request.actor_system.unwrap_or_default();
    let tenant = match tenant(&access, &system.name) {
        Ok(t) => t,
        Err(denied) => return denied.into_response(),
    };
    if let Err(message) = ensure_tenant(&state.runtime, &access, &tenant).await {
        return refused(message);
    }
    let mut specs = Vec::new();
    let mut sdk_types = HashMap::new();
    let actors = system.registry.map(|r| r.actors).unwrap_or_default();
    for (name, actor) in actors {
        match actor_type(&name, actor) {
            Ok((spec, sdk)) => {
                sdk_types.insert(name, sdk);
                specs.push(spec);
            }
            Err(message) => return refused(message),
        }
    }
    if specs.is_empty() {
        return refused("the registration declares no actors".into());
    }
    let service = request.service_info.unwrap_or_default();
    let manifest = Manifest {
        name: format!("spawn:{}", non_empty(&service.service_name, "sdk")),
        version: service.service_version,
        actor_types: specs,
    };
    let actor_count = manifest.actor_types.len();
    let app = SpawnApp::new(&state.user_function, sdk_types);
    if let Err(e) = state.runtime.register_external(&tenant, manifest, app) {
        return refused(e.to_string());
    }
    tracing::info!(system = %tenant, actors = actor_count, "Spawn actor system registered");
    let reply = pb::RegistrationResponse {
        status: Some(status(true, "Accepted")),
        proxy_info: Some(pb::ProxyInfo {
            protocol_major_version: 1,
            protocol_minor_version: 2,
            proxy_name: "warren".into(),
            proxy_version: env!("CARGO_PKG_VERSION").into(),
        }),
    };
    proto(StatusCode::OK, &reply)
}

fn non_empty<'a>(text: &'a str, default: &'a str) -> &'a str {
    if text.is_empty() { default } else { text }
}
