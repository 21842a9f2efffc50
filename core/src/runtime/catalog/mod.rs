//! The catalog of components: what each tenant has deployed, its kept versions and
//! canaries, and the registry of actor types that turns are routed by. It loads bytes
//! through the [`ComponentLoader`] and keeps them in a [`ComponentStore`]; what it needs
//! of the rest of the core (a tenant's limits, what a new version would break) it asks
//! through [`CatalogContext`].

mod errors;
mod follow;
pub mod registry;
mod versions;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use super::backend::{ActorBackend, BackendFuture, ComponentLoader, LoadedComponent};
use super::unix_now;
use crate::store::{ComponentRecord, ComponentStore};
use crate::types::manifest::{ActorTypeSpec, Manifest};
use crate::types::{StoreError, check_name};
pub use errors::{Breakage, DeployError, VersionError};
pub use registry::{
    ActorTypeEntry, AttachError, CanaryInfo, ComponentInfo, Registry, TypeConflict, canary_bucket,
};
pub use versions::VersionView;

/// What the catalog asks of the rest of the core.
pub trait CatalogContext: Send + Sync {
    /// Tenant `tenant`'s limit of components, or `None` when the tenant does not exist.
    fn max_components(&self, tenant: &str) -> Option<u64>;
    /// What replacing component `name` of `tenant` by one with `manifest` would break of
    /// what runs (active actors, reminders, timers).
    fn breakage<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        manifest: &'a Manifest,
    ) -> BackendFuture<'a, Result<Breakage, StoreError>>;
    /// A component was loaded (compiled, or taken from the artifact cache) in `took`.
    fn loaded(&self, took: Duration);
}

/// Whether installing a component checks what it would break of the version it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upgrade {
    /// A deploy that is not forced.
    Checked,
    /// A forced deploy, or loading what the store already holds (at start, or following
    /// another host).
    Unchecked,
}

impl Upgrade {
    fn unless(force: bool) -> Self {
        if force {
            Upgrade::Unchecked
        } else {
            Upgrade::Checked
        }
    }
}

/// How a component is deployed.
#[derive(Clone, Debug, Default)]
pub struct DeployOptions {
    /// Replace the running version even if the new one would break running actors.
    pub force: bool,
    /// Deploy as a canary serving this share (1 to 99 percent) of the actor ids, while
    /// the current version keeps serving the others.
    pub canary_percent: Option<u8>,
    /// Who deploys it, as the host authenticated them; kept with the version.
    pub deployed_by: String,
}

/// A component loaded, described and checked, not registered yet.
struct Prepared {
    info: ComponentInfo,
    manifest: Manifest,
    backend: Arc<dyn ActorBackend>,
}

/// The components of every tenant, their versions, and the actor types they provide.
pub struct Catalog {
    store: Arc<dyn ComponentStore>,
    loader: Arc<dyn ComponentLoader>,
    registry: Registry,
    /// Held by a change of the deployed components (install, then store) and by a
    /// follow of the stored ones, so a follow never sees a deploy half done and undoes it.
    changes: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// An empty catalog over `store`, loading components through `loader`.
    pub fn new(store: Arc<dyn ComponentStore>, loader: Arc<dyn ComponentLoader>) -> Self {
        Catalog {
            store,
            loader,
            registry: Registry::default(),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// The registry turns are routed by.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The loader components go through (for its cache counts and kept instances).
    pub fn loader(&self) -> &Arc<dyn ComponentLoader> {
        &self.loader
    }

    /// Load every component the store holds (at start), with its canary if it has one. A
    /// component that no longer loads is logged and skipped, so one bad artifact cannot
    /// keep the host down.
    pub async fn load_stored_components(
        &self,
        context: &dyn CatalogContext,
    ) -> Result<(), StoreError> {
        for record in self.store.components().await? {
            match self.load_stored(context, &record).await {
                Ok(Some(info)) => {
                    tracing::info!(tenant = %info.tenant, name = %info.name, version = info.number, types = ?info.actor_types, "component loaded")
                }
                Ok(None) => {
                    tracing::warn!(tenant = %record.tenant, name = %record.name, "stored component has no bytes")
                }
                Err(e) => {
                    tracing::error!(tenant = %record.tenant, name = %record.name, error = %e, "stored component failed to load")
                }
            }
        }
        Ok(())
    }

    /// Register the component `record` describes, and its canary, from the stored bytes.
    async fn load_stored(
        &self,
        context: &dyn CatalogContext,
        record: &ComponentRecord,
    ) -> Result<Option<ComponentInfo>, DeployError> {
        let Some(wasm) = self
            .store
            .component_wasm(&record.tenant, &record.name)
            .await?
        else {
            return Ok(None);
        };
        let load = Load {
            tenant: &record.tenant,
            name: Some(&record.name),
            deployed_at: record.deployed_at,
            upgrade: Upgrade::Unchecked,
        };
        let mut prepared = self.prepare(context, load, Arc::new(wasm)).await?;
        prepared.info.number = record.number;
        let info = prepared.info.clone();
        self.registry
            .insert(prepared.info, prepared.manifest, prepared.backend)?;
        if let Some(canary) = &record.canary {
            let upgrade = Upgrade::Unchecked;
            self.start_canary(context, &record.tenant, &record.name, canary, upgrade)
                .await?;
        }
        Ok(Some(info))
    }

    /// Deploy a component into `tenant`, named `name` or else by its manifest, as its
    /// next version (kept with the earlier ones). Replaces the running version, unless the
    /// new one drops an actor type or an action still in use and `force` is not set; with
    /// a canary share, runs beside it for that share of the actors instead. Refuses a bad
    /// `.wasm` without touching what runs.
    pub async fn deploy(
        &self,
        context: &dyn CatalogContext,
        tenant: &str,
        name: Option<&str>,
        wasm: Vec<u8>,
        options: DeployOptions,
    ) -> Result<ComponentInfo, DeployError> {
        let wasm = Arc::new(wasm);
        let _changing = self.changes.lock().await;
        if let Some(percent) = options.canary_percent
            && !(1..=99).contains(&percent)
        {
            return Err(DeployError::Version(VersionError::CanaryShare(percent)));
        }
        let load = Load {
            tenant,
            name,
            deployed_at: unix_now(),
            upgrade: Upgrade::unless(options.force),
        };
        let mut prepared = self.prepare(context, load, wasm.clone()).await?;
        let name = prepared.info.name.clone();
        if options.canary_percent.is_some() && self.registry.component(tenant, &name).is_none() {
            return Err(DeployError::Version(VersionError::NothingToCanary(name)));
        }
        // Refused before it is kept: a version that never ran is not worth a rollback.
        self.registry.check(tenant, &name, &prepared.manifest)?;
        let number = self
            .keep_version(&prepared, &wasm, &options.deployed_by)
            .await?;
        prepared.info.number = number;
        let info = match options.canary_percent {
            None => self.make_current(prepared, &wasm).await?,
            Some(percent) => {
                let deployed = prepared.info.clone();
                self.route_canary(prepared, percent);
                self.store_record(tenant, &name).await?;
                self.registry.component(tenant, &name).unwrap_or(deployed)
            }
        };
        tracing::info!(tenant, name = %info.name, version = number, canary = ?options.canary_percent, types = ?info.actor_types, "component deployed");
        Ok(info)
    }

    /// Load, describe and check a component, without registering it.
    async fn prepare(
        &self,
        context: &dyn CatalogContext,
        load: Load<'_>,
        wasm: Arc<Vec<u8>>,
    ) -> Result<Prepared, DeployError> {
        let tenant = load.tenant;
        check_name("tenant", tenant).map_err(DeployError::BadName)?;
        if let Some(name) = load.name {
            check_name("component name", name).map_err(DeployError::BadName)?;
        }
        let max_components = context
            .max_components(tenant)
            .ok_or_else(|| DeployError::NoTenant(tenant.to_string()))?;
        let loading = std::time::Instant::now();
        let loaded = self.loader.clone().load(wasm).await;
        context.loaded(loading.elapsed());
        let LoadedComponent {
            backend,
            manifest,
            sha256,
            size,
        } = loaded?;
        let name = load.name.unwrap_or(&manifest.name).to_string();
        let existing = self.registry.components(tenant);
        if existing.len() as u64 >= max_components && !existing.iter().any(|c| c.name == name) {
            return Err(DeployError::TooMany {
                tenant: tenant.to_string(),
                max: max_components,
            });
        }
        if load.upgrade == Upgrade::Checked {
            let breakage = context.breakage(tenant, &name, &manifest).await?;
            if !breakage.is_empty() {
                return Err(DeployError::Breaking {
                    component: name,
                    breakage,
                });
            }
        }
        let info = ComponentInfo {
            tenant: tenant.to_string(),
            version: manifest.version.clone(),
            number: 0,
            sha256,
            size,
            actor_types: manifest
                .actor_types
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            deployed_at: load.deployed_at,
            name,
            canary: None,
        };
        Ok(Prepared {
            info,
            manifest,
            backend,
        })
    }

    /// Host the actor types of `manifest` by an external `backend` (an app that called
    /// in, or one Warren calls back), as component `manifest.name` of `tenant`, replacing
    /// what the same component registered before.
    pub fn register_external(
        &self,
        tenant: &str,
        manifest: Manifest,
        backend: Arc<dyn ActorBackend>,
    ) -> Result<ComponentInfo, TypeConflict> {
        self.registry.check(tenant, &manifest.name, &manifest)?;
        let types = manifest
            .actor_types
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let info = ComponentInfo::external(tenant, &manifest.name, &manifest.version, types);
        self.registry.insert(info.clone(), manifest, backend)?;
        Ok(info)
    }

    /// Host `spec`'s type by component `component` of `tenant` through `join` (see
    /// [`Registry::attach`]).
    pub fn attach(
        &self,
        tenant: &str,
        component: &str,
        spec: ActorTypeSpec,
        join: impl FnOnce(Option<&Arc<dyn ActorBackend>>) -> Result<Arc<dyn ActorBackend>, String>,
    ) -> Result<(), AttachError> {
        check_name("actor type", &spec.name).map_err(AttachError::Refused)?;
        let info = ComponentInfo::external(tenant, component, "", vec![spec.name.clone()]);
        self.registry.attach(info, spec, join)
    }

    /// Remove a component and its actor types; returns whether it existed.
    pub async fn remove(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let _changing = self.changes.lock().await;
        let stored = self.store.remove_component(tenant, name).await?;
        let registered = self.registry.remove(tenant, name);
        Ok(stored || registered)
    }

    /// Forget what tenant `tenant` hosts here: its components and actor types.
    pub fn drop_tenant(&self, tenant: &str) {
        for component in self.registry.components(tenant) {
            self.registry.remove(tenant, &component.name);
        }
    }
}

/// What to load and how to check it.
struct Load<'a> {
    tenant: &'a str,
    /// Its name, or `None` to take the manifest's.
    name: Option<&'a str>,
    deployed_at: u64,
    upgrade: Upgrade,
}
