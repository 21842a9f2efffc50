//! Which components each tenant has deployed and which actor types they provide.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::runtime::backend::ActorBackend;
use crate::types::manifest::{ActorTypeSpec, Manifest};

/// A hosted actor type.
pub struct ActorTypeEntry {
    /// The type's name and settings, from its component's manifest.
    pub spec: ActorTypeSpec,
    /// The component that provides it.
    pub component: String,
    /// Who runs its turns.
    pub backend: Arc<dyn ActorBackend>,
    /// A canary version of the component serving a share of the type's actors, when one
    /// is deployed and provides the type.
    pub canary: Option<CanaryRoute>,
}

/// The backend of a canary version and the share of actor ids it serves.
#[derive(Clone)]
pub struct CanaryRoute {
    /// The share of actor ids it serves, 1 to 99 percent.
    pub percent: u8,
    /// Who runs the turns of those actors.
    pub backend: Arc<dyn ActorBackend>,
}

impl ActorTypeEntry {
    /// Who runs the turns of actor `id`: the canary for the ids that hash into its share,
    /// the current version for the others. The hash is stable, so an actor stays on one
    /// side for as long as the canary runs, on every host.
    pub fn backend_for(&self, id: &str) -> &Arc<dyn ActorBackend> {
        match &self.canary {
            Some(canary) if canary_bucket(&self.spec.name, id) < canary.percent => &canary.backend,
            _ => &self.backend,
        }
    }
}

/// The bucket, 0 to 99, of an actor for canary routing.
pub fn canary_bucket(actor_type: &str, id: &str) -> u8 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"canary\0")
        .chain_update(actor_type.as_bytes())
        .chain_update(b"\0")
        .chain_update(id.as_bytes())
        .finalize();
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % 100) as u8
}

/// A deployed component, as the admin API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentInfo {
    /// The tenant it is registered in.
    pub tenant: String,
    /// Its name within the tenant.
    pub name: String,
    /// The version its manifest declares (empty for a type a stream attached).
    pub version: String,
    /// The number of this deploy among the component's kept versions (0 for a component
    /// registered from outside, which has none).
    pub number: u64,
    /// Hex SHA-256 of the running version's bytes; empty for a component registered from outside.
    pub sha256: String,
    /// Size of those bytes (0 for a component registered from outside).
    pub size: usize,
    /// The names of the actor types it provides.
    pub actor_types: Vec<String>,
    /// When this version was deployed (or the component registered), seconds since the Unix epoch.
    pub deployed_at: u64,
    /// The canary version serving a share of the actors, if one is deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryInfo>,
}

/// A canary version as the admin API lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CanaryInfo {
    /// Its number among the component's kept versions.
    pub number: u64,
    /// The version its manifest declares.
    pub version: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// The share of actor ids it serves, 1 to 99 percent.
    pub percent: u8,
    /// The actor types it provides, the only ones routed to it.
    pub actor_types: Vec<String>,
}

impl ComponentInfo {
    /// A component registered from outside (an app, a stream, an SDK), with no bytes.
    pub fn external(tenant: &str, name: &str, version: &str, actor_types: Vec<String>) -> Self {
        ComponentInfo {
            tenant: tenant.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            number: 0,
            sha256: String::new(),
            size: 0,
            actor_types,
            deployed_at: crate::runtime::unix_now(),
            canary: None,
        }
    }
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
    /// The type is another component's.
    #[error(transparent)]
    Conflict(#[from] TypeConflict),
    /// The backend hosting the type refused to join, the type's name is invalid, or the
    /// tenant does not exist.
    #[error("{0}")]
    Refused(String),
}

/// Why a component cannot be registered.
#[derive(Debug, thiserror::Error)]
#[error("actor type {actor_type:?} is already provided by component {component:?}")]
pub struct TypeConflict {
    /// The type both would provide.
    pub actor_type: String,
    /// The component that provides it now.
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
        backend: Arc<dyn ActorBackend>,
    ) -> Result<(), TypeConflict> {
        self.check(&info.tenant, &info.name, &manifest)?;
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let entries = tenants.entry(info.tenant.clone()).or_default();
        entries.types.retain(|_, t| t.component != info.name);
        for spec in manifest.actor_types {
            let entry = ActorTypeEntry {
                spec,
                component: info.name.clone(),
                backend: backend.clone(),
                canary: None,
            };
            entries
                .types
                .insert(entry.spec.name.clone(), Arc::new(entry));
        }
        entries.components.insert(info.name.clone(), info);
        Ok(())
    }

    /// Route a share of the actors of component `name` to a canary version (`Some`:
    /// its description and backend), or stop routing them (`None`). Only the types the
    /// canary provides are routed; their settings stay the current version's.
    pub fn set_canary(
        &self,
        tenant: &str,
        name: &str,
        canary: Option<(CanaryInfo, Arc<dyn ActorBackend>)>,
    ) -> bool {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let Some(entries) = tenants.get_mut(tenant) else {
            return false;
        };
        let Some(component) = entries.components.get_mut(name) else {
            return false;
        };
        component.canary = canary.as_ref().map(|(info, _)| info.clone());
        for entry in entries.types.values_mut().filter(|t| t.component == name) {
            let route = canary
                .as_ref()
                .filter(|(info, _)| info.actor_types.contains(&entry.spec.name))
                .map(|(info, backend)| CanaryRoute {
                    percent: info.percent,
                    backend: backend.clone(),
                });
            *entry = Arc::new(ActorTypeEntry {
                spec: entry.spec.clone(),
                component: entry.component.clone(),
                backend: entry.backend.clone(),
                canary: route,
            });
        }
        true
    }

    /// The registered description of component `name`.
    pub fn component(&self, tenant: &str, name: &str) -> Option<ComponentInfo> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        tenants.get(tenant)?.components.get(name).cloned()
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

    /// Host `spec`'s type by component `info.name` through `join`, which is given the
    /// backend already hosting the type for that component (if any) and returns the one to
    /// host it with (the same, joined, or a new one), or why it refuses. Another
    /// component's type is a conflict. Under the write lock, so a type appears and
    /// disappears atomically with the connections behind it.
    pub fn attach(
        &self,
        info: ComponentInfo,
        spec: ActorTypeSpec,
        join: impl FnOnce(Option<&Arc<dyn ActorBackend>>) -> Result<Arc<dyn ActorBackend>, String>,
    ) -> Result<(), AttachError> {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let entries = tenants.entry(info.tenant.clone()).or_default();
        let existing = entries.types.get(&spec.name).map(|e| e.backend.clone());
        if let Some(entry) = entries.types.get(&spec.name)
            && entry.component != info.name
        {
            return Err(TypeConflict {
                actor_type: spec.name.clone(),
                component: entry.component.clone(),
            }
            .into());
        }
        let backend = join(existing.as_ref()).map_err(AttachError::Refused)?;
        if existing.is_some_and(|e| Arc::ptr_eq(&e, &backend)) {
            return Ok(());
        }
        let entry = ActorTypeEntry {
            spec,
            component: info.name.clone(),
            backend,
            canary: None,
        };
        entries
            .types
            .insert(entry.spec.name.clone(), Arc::new(entry));
        entries.components.entry(info.name.clone()).or_insert(info);
        Ok(())
    }

    /// Let `leave` take a connection out of the backend hosting `actor_type` for
    /// `component`; the type (and its component) goes when `leave` says none is left.
    pub fn detach(
        &self,
        tenant: &str,
        actor_type: &str,
        component: &str,
        leave: impl FnOnce(&dyn ActorBackend) -> bool,
    ) {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let Some(entries) = tenants.get_mut(tenant) else {
            return;
        };
        let empty = match entries.types.get(actor_type) {
            Some(entry) if entry.component == component => leave(entry.backend.as_ref()),
            _ => false,
        };
        if empty {
            entries.types.remove(actor_type);
            entries.components.remove(component);
        }
    }

    /// Every backend registered, in any tenant, each once.
    pub fn backends(&self) -> Vec<Arc<dyn ActorBackend>> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        let mut backends: Vec<Arc<dyn ActorBackend>> = Vec::new();
        for entry in tenants.values().flat_map(|e| e.types.values()) {
            if !backends
                .iter()
                .any(|known| Arc::ptr_eq(known, &entry.backend))
            {
                backends.push(entry.backend.clone());
            }
        }
        backends
    }

    /// The backend hosting the types of component `name`, if it is registered.
    pub fn component_backend(&self, tenant: &str, name: &str) -> Option<Arc<dyn ActorBackend>> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        tenants
            .get(tenant)?
            .types
            .values()
            .find(|t| t.component == name)
            .map(|t| t.backend.clone())
    }

    /// The tenants with anything registered.
    pub fn tenants(&self) -> Vec<String> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        tenants.keys().cloned().collect()
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::{BackendFuture, Turn, TurnOutcome};
    use crate::types::InvokeError;

    /// A backend never called: the registry only holds it.
    struct Idle;

    impl ActorBackend for Idle {
        fn run_turn<'a>(&'a self, _turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
            Box::pin(async { TurnOutcome::unstaged(Err(InvokeError::BadRequest("idle".into()))) })
        }
    }

    fn manifest(name: &str, types: &[&str]) -> Manifest {
        Manifest {
            name: name.to_string(),
            version: "1.0.0".to_string(),
            actor_types: types
                .iter()
                .map(|t| ActorTypeSpec::external(t, Duration::from_secs(60), None))
                .collect(),
        }
    }

    fn install(registry: &Registry, name: &str, types: &[&str]) -> Result<(), TypeConflict> {
        let names = types.iter().map(|t| t.to_string()).collect();
        let info = ComponentInfo::external("t", name, "1.0.0", names);
        registry.insert(info, manifest(name, types), Arc::new(Idle))
    }

    #[test]
    fn a_type_belongs_to_one_component_until_it_is_removed() {
        let registry = Registry::default();
        install(&registry, "bank", &["account", "ledger"]).unwrap();
        assert_eq!(
            registry.actor_type("t", "account").unwrap().component,
            "bank"
        );
        let conflict = install(&registry, "other", &["account"]).unwrap_err();
        assert_eq!(conflict.component, "bank");
        // The component itself may replace its types: the dropped one goes.
        install(&registry, "bank", &["account"]).unwrap();
        assert!(registry.actor_type("t", "ledger").is_none());
        assert!(registry.actor_type("other-tenant", "account").is_none());
        assert!(registry.remove("t", "bank"));
        assert!(registry.actor_type("t", "account").is_none());
        install(&registry, "other", &["account"]).unwrap();
    }

    #[test]
    fn a_canary_serves_its_share_of_ids_of_the_types_it_provides() {
        let registry = Registry::default();
        install(&registry, "bank", &["account", "ledger"]).unwrap();
        let canary: Arc<dyn ActorBackend> = Arc::new(Idle);
        let info = CanaryInfo {
            number: 2,
            version: "2.0.0".to_string(),
            sha256: String::new(),
            percent: 30,
            actor_types: vec!["account".to_string()],
        };
        assert!(registry.set_canary("t", "bank", Some((info, canary.clone()))));
        let account = registry.actor_type("t", "account").unwrap();
        let ids: Vec<String> = (0..1000).map(|i| format!("a{i}")).collect();
        let on_canary = ids
            .iter()
            .filter(|id| Arc::ptr_eq(account.backend_for(id), &canary))
            .count();
        // Each id goes to the canary exactly when its stable bucket is in the share.
        let expected = ids
            .iter()
            .filter(|id| canary_bucket("account", id) < 30)
            .count();
        assert_eq!(on_canary, expected);
        assert!(
            (200..400).contains(&on_canary),
            "{on_canary} of 1000 on a 30 % canary"
        );
        // A type the canary does not provide stays on the current version.
        let ledger = registry.actor_type("t", "ledger").unwrap();
        assert!(
            ids.iter()
                .all(|id| !Arc::ptr_eq(ledger.backend_for(id), &canary))
        );
        assert!(registry.set_canary("t", "bank", None));
        let account = registry.actor_type("t", "account").unwrap();
        assert!(
            ids.iter()
                .all(|id| !Arc::ptr_eq(account.backend_for(id), &canary))
        );
    }

    #[test]
    fn an_attached_type_goes_when_its_last_connection_leaves() {
        let registry = Registry::default();
        let spec = ActorTypeSpec::external("stream-type", Duration::from_secs(60), None);
        let info = ComponentInfo::external("t", "stream:stream-type", "", vec![]);
        let joined = |existing: Option<&Arc<dyn ActorBackend>>| {
            Ok(existing.cloned().unwrap_or_else(|| Arc::new(Idle)))
        };
        registry.attach(info.clone(), spec.clone(), joined).unwrap();
        registry.attach(info, spec, joined).unwrap();
        registry.detach("t", "stream-type", "stream:stream-type", |_| false);
        assert!(registry.actor_type("t", "stream-type").is_some());
        registry.detach("t", "stream-type", "stream:stream-type", |_| true);
        assert!(registry.actor_type("t", "stream-type").is_none());
    }
}
