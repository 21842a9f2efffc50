//! Components and actor types: deploying and loading Wasm components, registering the
//! types external backends host, and removing them.

use std::sync::Arc;

use super::backend::{ActorBackend, LoadError, LoadedComponent};
use super::upgrade::Breakage;
use super::version_error::VersionError;
use super::{AttachError, ComponentInfo, Runtime, TypeConflict, unix_now};
use crate::types::manifest;
use crate::types::{StoreError, check_name};

/// Why a component was not deployed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The loader refused the bytes.
    #[error(transparent)]
    Invalid(#[from] LoadError),
    /// A tenant or component name is not a valid name.
    #[error("invalid component name: {0}")]
    BadName(String),
    /// The tenant does not exist.
    #[error("tenant {0:?} does not exist")]
    NoTenant(String),
    /// The tenant is at its limit of components.
    #[error("tenant {tenant:?} is at its limit of {max} components")]
    TooMany {
        /// The tenant at its limit.
        tenant: String,
        /// Its limit of components.
        max: u64,
    },
    /// An actor type of the component is another component's.
    #[error(transparent)]
    Conflict(#[from] TypeConflict),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The new version leaves running things without code; deploying with `force`
    /// replaces it anyway.
    #[error(
        "the new version of component {component:?} would break running actors: {breakage}; deploy with force to replace it anyway"
    )]
    Breaking {
        /// The component deployed.
        component: String,
        /// What it would break.
        breakage: Breakage,
    },
    /// A version or canary operation was refused.
    #[error(transparent)]
    Version(#[from] VersionError),
}

/// Whether installing a component checks what it would break of the version it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Upgrade {
    /// A deploy that is not forced.
    Checked,
    /// A forced deploy, or loading what the store already holds (at start, or following
    /// another host).
    Unchecked,
}

impl Upgrade {
    pub(super) fn unless(force: bool) -> Self {
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
pub(super) struct Prepared {
    pub info: ComponentInfo,
    pub manifest: manifest::Manifest,
    pub backend: Arc<dyn ActorBackend>,
}

impl Runtime {
    /// Load every component the store holds (at start), with its canary if it has one. A
    /// component that no longer loads is logged and skipped, so one bad artifact cannot
    /// keep the host down.
    pub async fn load_stored_components(&self) -> Result<(), StoreError> {
        for record in self.0.store.components().await? {
            match self.load_stored(&record).await {
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
    pub(super) async fn load_stored(
        &self,
        record: &crate::store::ComponentRecord,
    ) -> Result<Option<ComponentInfo>, DeployError> {
        let Some(wasm) = self
            .0
            .store
            .component_wasm(&record.tenant, &record.name)
            .await?
        else {
            return Ok(None);
        };
        let mut prepared = self
            .prepare(
                &record.tenant,
                Some(&record.name),
                Arc::new(wasm),
                record.deployed_at,
                Upgrade::Unchecked,
            )
            .await?;
        prepared.info.number = record.number;
        let info = prepared.info.clone();
        self.0
            .registry
            .insert(prepared.info, prepared.manifest, prepared.backend)?;
        if let Some(canary) = &record.canary {
            self.start_canary(
                &record.tenant,
                &record.name,
                canary.number,
                canary.percent,
                Upgrade::Unchecked,
            )
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
        tenant: &str,
        name: Option<&str>,
        wasm: Vec<u8>,
        options: DeployOptions,
    ) -> Result<ComponentInfo, DeployError> {
        let wasm = Arc::new(wasm);
        let _changing = self.0.component_changes.lock().await;
        if let Some(percent) = options.canary_percent
            && !(1..=99).contains(&percent)
        {
            return Err(DeployError::Version(VersionError::CanaryShare(percent)));
        }
        let check = Upgrade::unless(options.force);
        let mut prepared = self
            .prepare(tenant, name, wasm.clone(), unix_now(), check)
            .await?;
        let name = prepared.info.name.clone();
        if options.canary_percent.is_some() && self.0.registry.component(tenant, &name).is_none() {
            return Err(DeployError::Version(VersionError::NothingToCanary(name)));
        }
        // Refused before it is kept: a version that never ran is not worth a rollback.
        self.0.registry.check(tenant, &name, &prepared.manifest)?;
        let number = self
            .keep_version(&prepared, &wasm, &options.deployed_by)
            .await?;
        prepared.info.number = number;
        let info = match options.canary_percent {
            None => self.make_current(prepared, &wasm).await?,
            Some(percent) => {
                let deployed = prepared.info.clone();
                self.route_canary(prepared, percent);
                self.store_component_record(tenant, &name).await?;
                self.0.registry.component(tenant, &name).unwrap_or(deployed)
            }
        };
        tracing::info!(tenant, name = %info.name, version = number, canary = ?options.canary_percent, types = ?info.actor_types, "component deployed");
        Ok(info)
    }

    /// Load, describe and check a component for `tenant`, without registering it.
    pub(super) async fn prepare(
        &self,
        tenant: &str,
        name: Option<&str>,
        wasm: Arc<Vec<u8>>,
        deployed_at: u64,
        upgrade: Upgrade,
    ) -> Result<Prepared, DeployError> {
        check_name("tenant", tenant).map_err(DeployError::BadName)?;
        if let Some(name) = name {
            check_name("component name", name).map_err(DeployError::BadName)?;
        }
        let limits = self
            .0
            .tenancy
            .get(tenant)
            .ok_or_else(|| DeployError::NoTenant(tenant.to_string()))?
            .limits
            .clone();
        let loading = std::time::Instant::now();
        let loaded = self.0.loader.clone().load(wasm).await;
        self.0.metrics.component_loaded(loading.elapsed());
        let LoadedComponent {
            backend,
            manifest,
            sha256,
            size,
        } = loaded?;
        let name = name.unwrap_or(&manifest.name).to_string();
        let existing = self.0.registry.components(tenant);
        if existing.len() as u64 >= limits.max_components
            && !existing.iter().any(|c| c.name == name)
        {
            return Err(DeployError::TooMany {
                tenant: tenant.to_string(),
                max: limits.max_components,
            });
        }
        if upgrade == Upgrade::Checked {
            let breakage = self.upgrade_breakage(tenant, &name, &manifest).await?;
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
            deployed_at,
            name,
            canary: None,
        };
        Ok(Prepared {
            info,
            manifest,
            backend,
        })
    }

    /// Prepare for the process to stop, once no more requests come in: every backend
    /// writes the state it holds behind to the store. Call it before the store's final
    /// flush.
    pub async fn shutdown(&self) {
        for backend in self.0.registry.backends() {
            if let Some(held) = backend.held_state() {
                held.flush_held_state(self).await;
            }
        }
    }

    /// Host the actor types of `manifest` by an external `backend` (an app that called
    /// in, or one Warren calls back), as component `manifest.name` of `tenant`, replacing
    /// what the same component registered before. A backend that takes over what the one
    /// it replaces holds does so before calling this (its adapter knows both), so it is
    /// never reachable without it.
    pub fn register_external(
        &self,
        tenant: &str,
        manifest: manifest::Manifest,
        backend: Arc<dyn ActorBackend>,
    ) -> Result<ComponentInfo, TypeConflict> {
        self.0.registry.check(tenant, &manifest.name, &manifest)?;
        let types = manifest
            .actor_types
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let info = ComponentInfo::external(tenant, &manifest.name, &manifest.version, types);
        self.0.registry.insert(info.clone(), manifest, backend)?;
        Ok(info)
    }

    /// The backend hosting component `name` of `tenant` now, if any: an adapter that
    /// registers again finds out whether its earlier backend is still the one serving.
    pub fn component_backend(&self, tenant: &str, name: &str) -> Option<Arc<dyn ActorBackend>> {
        self.0.registry.component_backend(tenant, name)
    }

    /// Host `spec`'s type by component `component` of `tenant` through `join`, which gets
    /// the backend already hosting it for that component (if any) and returns the one to
    /// host it with, or why it refuses (a stream joining the streams of a type).
    pub fn attach(
        &self,
        tenant: &str,
        component: &str,
        spec: manifest::ActorTypeSpec,
        join: impl FnOnce(Option<&Arc<dyn ActorBackend>>) -> Result<Arc<dyn ActorBackend>, String>,
    ) -> Result<(), AttachError> {
        check_name("actor type", &spec.name).map_err(AttachError::Refused)?;
        if self.0.tenancy.get(tenant).is_none() {
            return Err(AttachError::Refused(format!(
                "tenant {tenant:?} does not exist"
            )));
        }
        let info = ComponentInfo::external(tenant, component, "", vec![spec.name.clone()]);
        self.0.registry.attach(info, spec, join)
    }

    /// Let `leave` take a connection out of the backend hosting `actor_type` for
    /// `component`; the type goes when `leave` says none is left.
    pub fn detach(
        &self,
        tenant: &str,
        actor_type: &str,
        component: &str,
        leave: impl FnOnce(&dyn ActorBackend) -> bool,
    ) {
        self.0.registry.detach(tenant, actor_type, component, leave);
    }

    /// Remove a component and its actor types; returns whether it existed.
    pub async fn remove_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let stored = self.0.store.remove_component(tenant, name).await?;
        let registered = self.0.registry.remove(tenant, name);
        Ok(stored || registered)
    }
}
