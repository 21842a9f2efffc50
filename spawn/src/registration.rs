//! `POST /api/v1/system`: an SDK registers its actor system and actor types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::{SpawnState, proto, status, tenant};
use crate::runtime::{ActorBackend, FollowFuture, Follower, Runtime, TenantError};
use crate::sdk_backend::SpawnApp;
use crate::types::StoreError;
use crate::types::manifest::Manifest;
use crate::wire::spawn::pb;
use crate::wire::spawn_registration;
use warren_protocol::Access;

fn refused(message: String) -> Response {
    let reply = pb::RegistrationResponse {
        status: Some(status(false, message)),
        proxy_info: None,
    };
    proto(StatusCode::INTERNAL_SERVER_ERROR, &reply)
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

/// An actor system's registration in the runtime's terms: its manifest and the backend
/// that calls the SDK at `user_function`.
fn system(
    registry: Option<pb::Registry>,
    service: pb::ServiceInfo,
    user_function: &str,
) -> Result<(Manifest, Arc<SpawnApp>), String> {
    let (manifest, sdk_types) = spawn_registration::system(registry, service)?;
    Ok((manifest, SpawnApp::new(user_function, sdk_types)))
}

pub(super) async fn register(
    State(state): State<SpawnState>,
    access: Access,
    body: Bytes,
) -> Response {
    let request = match pb::RegistrationRequest::decode(body.clone()) {
        Ok(r) => r,
        Err(e) => return refused(format!("the body is not a Spawn RegistrationRequest: {e}")),
    };
    let system_info = request.actor_system.unwrap_or_default();
    let tenant = match tenant(&access, &system_info.name) {
        Ok(t) => t,
        Err(denied) => return denied.into_response(),
    };
    if let Err(message) = ensure_tenant(&state.runtime, &access, &tenant).await {
        return refused(message);
    }
    let service = request.service_info.unwrap_or_default();
    let (manifest, app) = match system(system_info.registry, service, &state.user_function) {
        Ok(system) => system,
        Err(message) => return refused(message),
    };
    let recorded = Recorded {
        tenant: tenant.clone(),
        component: manifest.name.clone(),
        user_function: state.user_function.clone(),
        registration: BASE64.encode(&body),
    };
    let actor_count = manifest.actor_types.len();
    if let Err(e) = state.systems.install(&tenant, manifest, app) {
        return refused(e);
    }
    // Kept, so a restarted host and every other host of a cluster serve the system too.
    if let Err(e) = state.systems.record(&recorded).await {
        return refused(format!("the registration was not stored: {e}"));
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

/// The record area registrations are kept in.
const SYSTEMS: &str = "spawn-systems";

/// A registration as the store keeps it: the SDK's own request, and where its user
/// function listens (the registering host's setting, which every host then calls).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct Recorded {
    tenant: String,
    component: String,
    user_function: String,
    /// The `RegistrationRequest` as the SDK sent it, base64.
    registration: String,
}

impl Recorded {
    fn key(&self) -> String {
        system_key(&self.tenant, &self.component)
    }
}

/// How a system is named among the records and the backends: `tenant/component`.
fn system_key(tenant: &str, component: &str) -> String {
    format!("{tenant}/{component}")
}

/// The registrations this host serves, kept in the store and followed from it: a host
/// restores them at start, and in a cluster every host serves every host's systems.
pub struct SpawnSystems {
    runtime: Runtime,
    /// What this host applied, by record key: only a changed record is applied again.
    applied: Mutex<HashMap<String, Recorded>>,
    /// The backend of each system's last registration (by `tenant/component`), the one a
    /// new registration of the same system takes over from. Weak: a removed system's
    /// backend goes with its registration, and its snapshot loop with it.
    apps: Mutex<HashMap<String, Weak<SpawnApp>>>,
}

impl SpawnSystems {
    /// The registrations of `runtime`, followed by it from now on.
    pub fn new(runtime: Runtime) -> Arc<Self> {
        let systems = Arc::new(SpawnSystems {
            runtime: runtime.clone(),
            applied: Mutex::new(HashMap::new()),
            apps: Mutex::new(HashMap::new()),
        });
        let follower: Arc<dyn Follower> = systems.clone();
        runtime.add_follower(Arc::downgrade(&follower));
        systems
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, HashMap<String, Recorded>> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn record(&self, recorded: &Recorded) -> Result<(), String> {
        let bytes = serde_json::to_vec(recorded).map_err(|e| e.to_string())?;
        self.applied().insert(recorded.key(), recorded.clone());
        self.runtime
            .put_record(SYSTEMS, &recorded.key(), Some(bytes))
            .await
            .map_err(|e| e.to_string())
    }

    /// Register a recorded system here, as its SDK once did on some host.
    fn apply(&self, recorded: &Recorded) -> Result<(), String> {
        let body = BASE64
            .decode(&recorded.registration)
            .map_err(|e| e.to_string())?;
        let request =
            pb::RegistrationRequest::decode(body.as_slice()).map_err(|e| e.to_string())?;
        let service = request.service_info.unwrap_or_default();
        let registry = request.actor_system.unwrap_or_default().registry;
        let (manifest, app) = system(registry, service, &recorded.user_function)?;
        self.install(&recorded.tenant, manifest, app)
    }

    /// Host a system's types by `app`, in place of the same system's earlier
    /// registration: `app` takes over the state the earlier one holds before it is
    /// reachable (its first turn must find that state, not load an older snapshot), then
    /// starts its work.
    fn install(&self, tenant: &str, manifest: Manifest, app: Arc<SpawnApp>) -> Result<(), String> {
        let key = system_key(tenant, &manifest.name);
        // Held across the swap: two registrations of one system take turns.
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        // The earlier registration, while it still serves the system (not removed, not
        // replaced by another kind of backend since).
        let serving = self.runtime.component_backend(tenant, &manifest.name);
        let previous = apps.get(&key).and_then(Weak::upgrade).filter(|previous| {
            let previous: Arc<dyn ActorBackend> = previous.clone();
            serving.as_ref().is_some_and(|s| Arc::ptr_eq(s, &previous))
        });
        if let Some(previous) = &previous {
            app.adopt(previous);
        }
        self.runtime
            .register_external(tenant, manifest.clone(), app.clone())
            .map_err(|e| e.to_string())?;
        apps.insert(key, Arc::downgrade(&app));
        drop(apps);
        app.started(&self.runtime, tenant, &manifest, previous);
        Ok(())
    }

    async fn follow_records(&self) -> Result<usize, StoreError> {
        let mut changed = 0;
        for (key, bytes) in self.runtime.records(SYSTEMS).await? {
            let Ok(recorded) = serde_json::from_slice::<Recorded>(&bytes) else {
                tracing::warn!(%key, "an unreadable Spawn registration record is skipped");
                continue;
            };
            if self.applied().get(&key) == Some(&recorded)
                || self.runtime.tenant(&recorded.tenant).is_none()
            {
                continue;
            }
            match self.apply(&recorded) {
                Ok(()) => {
                    tracing::info!(system = %recorded.tenant, component = %recorded.component, "Spawn actor system restored from the store");
                    changed += 1;
                }
                Err(e) => {
                    tracing::error!(system = %recorded.tenant, component = %recorded.component, error = %e, "a stored Spawn registration cannot be restored");
                }
            }
            // Applied or refused, it is not tried again until it changes.
            self.applied().insert(key, recorded);
        }
        Ok(changed)
    }
}

impl Follower for SpawnSystems {
    fn follow(&self) -> FollowFuture<'_> {
        Box::pin(self.follow_records())
    }
}
