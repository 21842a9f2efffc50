//! Which components each tenant has deployed and which actor types they provide.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::manifest::{ActorTypeSpec, Manifest};
use crate::backends::dapr_app::AppChannel;
use crate::backends::spawn_sdk::SpawnApp;
use crate::backends::stream::{StreamConnection, StreamHost};
use crate::wasm::WasmComponent;

/// Who runs the turns of an actor type.
pub enum Backend {
    Wasm(Arc<WasmComponent>),
    /// An HTTP app in Dapr's app-callback mode.
    DaprApp(Arc<AppChannel>),
    /// An external process that opened a stream to Warren.
    Stream(Arc<StreamHost>),
    /// A Spawn SDK process, called back over HTTP.
    SpawnSdk(Arc<SpawnApp>),
}

/// A hosted actor type.
pub struct ActorTypeEntry {
    pub spec: ActorTypeSpec,
    /// The component that provides it.
    pub component: String,
    pub backend: Backend,
}

/// A deployed component, as the admin API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentInfo {
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size: usize,
    pub actor_types: Vec<String>,
    pub deployed_at: u64,
}

#[derive(Default)]
struct TenantEntries {
    components: HashMap<String, ComponentInfo>,
    types: HashMap<String, Arc<ActorTypeEntry>>,
}

/// Components and actor types of every tenant.
#[derive(Default)]
pub struct Registry {
    tenants: RwLock<HashMap<String, TenantEntries>>,
}

/// Why a stream cannot host an actor type.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Conflict(#[from] TypeConflict),
    #[error("{0}")]
    Refused(String),
}

/// The component name under which streams host `actor_type`.
pub fn stream_component(actor_type: &str) -> String {
    format!("stream:{actor_type}")
}

/// Why a component cannot be registered.
#[derive(Debug, thiserror::Error)]
#[error("actor type {actor_type:?} is already provided by component {component:?}")]
pub struct TypeConflict {
    pub actor_type: String,
    pub component: String,
}

impl Registry {
    /// The entry of a hosted actor type.
    pub fn actor_type(&self, tenant: &str, actor_type: &str) -> Option<Arc<ActorTypeEntry>> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        tenants.get(tenant)?.types.get(actor_type).cloned()
    }

    /// Check that `manifest` can be registered as component `name` of `tenant` (which it
    /// may replace) without taking another component's actor type.
    pub fn check(&self, tenant: &str, name: &str, manifest: &Manifest) -> Result<(), TypeConflict> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        let Some(entries) = tenants.get(tenant) else {
            return Ok(());
        };
        for t in &manifest.actor_types {
            if let Some(existing) = entries.types.get(&t.name)
                && existing.component != name
            {
                return Err(TypeConflict {
                    actor_type: t.name.clone(),
                    component: existing.component.clone(),
                });
            }
        }
        Ok(())
    }

    /// Register (or replace) a component and its actor types.
    pub fn insert(
        &self,
        info: ComponentInfo,
        manifest: Manifest,
        backend: impl Fn() -> Backend,
    ) -> Result<(), TypeConflict> {
        self.check(&info.tenant, &info.name, &manifest)?;
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let entries = tenants.entry(info.tenant.clone()).or_default();
        entries.types.retain(|_, t| t.component != info.name);
        for spec in manifest.actor_types {
            let entry = ActorTypeEntry {
                spec,
                component: info.name.clone(),
                backend: backend(),
            };
            entries
                .types
                .insert(entry.spec.name.clone(), Arc::new(entry));
        }
        entries.components.insert(info.name.clone(), info);
        Ok(())
    }

    /// Unregister a component and its actor types; returns whether it was there.
    pub fn remove(&self, tenant: &str, name: &str) -> bool {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let Some(entries) = tenants.get_mut(tenant) else {
            return false;
        };
        entries.types.retain(|_, t| t.component != name);
        entries.components.remove(name).is_some()
    }

    /// Add a stream's connection to the hosts of `spec`'s type, registering the type if no
    /// stream hosts it yet. `accept` may refuse to join an existing host. Under the write
    /// lock, so a type appears and disappears atomically with its streams.
    pub fn attach_stream(
        &self,
        info: ComponentInfo,
        spec: ActorTypeSpec,
        connection: Arc<StreamConnection>,
        registration: Vec<u8>,
        accept: impl FnOnce(&StreamHost) -> Result<(), String>,
    ) -> Result<(), AttachError> {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let entries = tenants.entry(info.tenant.clone()).or_default();
        if let Some(existing) = entries.types.get(&spec.name) {
            return match &existing.backend {
                Backend::Stream(host) if existing.component == info.name => {
                    accept(host).map_err(AttachError::Refused)?;
                    host.add(connection);
                    Ok(())
                }
                _ => Err(TypeConflict {
                    actor_type: spec.name.clone(),
                    component: existing.component.clone(),
                }
                .into()),
            };
        }
        let host = Arc::new(StreamHost::new(&spec.name, registration));
        host.add(connection);
        let entry = ActorTypeEntry {
            spec,
            component: info.name.clone(),
            backend: Backend::Stream(host),
        };
        entries
            .types
            .insert(entry.spec.name.clone(), Arc::new(entry));
        entries.components.insert(info.name.clone(), info);
        Ok(())
    }

    /// Remove a stream's connection from the hosts of `actor_type`; the type goes when its
    /// last stream does.
    pub fn detach_stream(&self, tenant: &str, actor_type: &str, connection: u64) {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let Some(entries) = tenants.get_mut(tenant) else {
            return;
        };
        let component = stream_component(actor_type);
        let empty = match entries.types.get(actor_type) {
            Some(entry) if entry.component == component => match &entry.backend {
                Backend::Stream(host) => host.remove(connection),
                _ => false,
            },
            _ => false,
        };
        if empty {
            entries.types.remove(actor_type);
            entries.components.remove(&component);
        }
    }

    /// Every Spawn SDK app registered, in any tenant, each once.
    pub fn spawn_apps(&self) -> Vec<Arc<SpawnApp>> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        let mut apps: Vec<Arc<SpawnApp>> = Vec::new();
        for entry in tenants.values().flat_map(|e| e.types.values()) {
            if let Backend::SpawnSdk(app) = &entry.backend
                && !apps.iter().any(|known| Arc::ptr_eq(known, app))
            {
                apps.push(app.clone());
            }
        }
        apps
    }

    /// The components of a tenant, sorted by name.
    pub fn components(&self, tenant: &str) -> Vec<ComponentInfo> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<_> = tenants
            .get(tenant)
            .map(|e| e.components.values().cloned().collect())
            .unwrap_or_default();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// The actor types of a tenant with their component, sorted by name.
    pub fn actor_types(&self, tenant: &str) -> Vec<(ActorTypeSpec, String)> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<_> = tenants
            .get(tenant)
            .map(|e| {
                e.types
                    .values()
                    .map(|t| (t.spec.clone(), t.component.clone()))
                    .collect()
            })
            .unwrap_or_default();
        list.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        list
    }
}
