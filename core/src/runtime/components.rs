//! The runtime's façade over its [`Catalog`](super::catalog::Catalog): deploying,
//! versions, canaries and external registrations, each handed to the catalog with the
//! runtime as its [`CatalogContext`].

use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
use super::backend::{ActorBackend, BackendFuture};
use super::catalog::{
    AttachError, Breakage, CatalogContext, ComponentInfo, DeployError, DeployOptions, TypeConflict,
    VersionView,
};
use crate::types::StoreError;
use crate::types::manifest::{self, Manifest};

impl CatalogContext for Runtime {
    fn max_components(&self, tenant: &str) -> Option<u64> {
        Some(self.0.tenancy.get(tenant)?.limits.max_components)
    }

    fn breakage<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        manifest: &'a Manifest,
    ) -> BackendFuture<'a, Result<Breakage, StoreError>> {
        Box::pin(self.upgrade_breakage(tenant, name, manifest))
    }

    fn loaded(&self, took: Duration) {
        self.0.metrics.component_loaded(took);
    }
}

impl Runtime {
    /// Load every component the store holds (at start), with its canary if it has one. A
    /// component that no longer loads is logged and skipped, so one bad artifact cannot
    /// keep the host down.
    pub async fn load_stored_components(&self) -> Result<(), StoreError> {
        self.0.catalog.load_stored_components(self).await
    }

    /// Deploy a component into `tenant` (see [`Catalog::deploy`](super::catalog::Catalog::deploy)).
    pub async fn deploy(
        &self,
        tenant: &str,
        name: Option<&str>,
        wasm: Vec<u8>,
        options: DeployOptions,
    ) -> Result<ComponentInfo, DeployError> {
        self.0
            .catalog
            .deploy(self, tenant, name, wasm, options)
            .await
    }

    /// The kept versions of component `name`, oldest first, marked current or canary.
    pub async fn component_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Vec<VersionView>, DeployError> {
        self.0.catalog.versions(tenant, name).await
    }

    /// Make kept version `number` of component `name` the one serving all its actors: a
    /// rollback, a roll forward, or a canary's promotion. Checked like a deploy unless
    /// `force`.
    pub async fn use_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
        force: bool,
    ) -> Result<ComponentInfo, DeployError> {
        let catalog = &self.0.catalog;
        catalog.use_version(self, tenant, name, number, force).await
    }

    /// End component `name`'s canary: all its actors go back to the current version.
    pub async fn stop_canary(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<ComponentInfo, DeployError> {
        self.0.catalog.stop_canary(tenant, name).await
    }

    /// Delete kept version `number` of component `name`; neither the current version nor
    /// a running canary can be deleted.
    pub async fn delete_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> Result<(), DeployError> {
        self.0.catalog.delete_version(tenant, name, number).await
    }

    /// Prepare for the process to stop, once no more requests come in: every backend
    /// writes the state it holds behind to the store. Call it before the store's final
    /// flush.
    pub async fn shutdown(&self) {
        for backend in self.0.catalog.registry().backends() {
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
        self.0.catalog.register_external(tenant, manifest, backend)
    }

    /// The backend hosting component `name` of `tenant` now, if any: an adapter that
    /// registers again finds out whether its earlier backend is still the one serving.
    pub fn component_backend(&self, tenant: &str, name: &str) -> Option<Arc<dyn ActorBackend>> {
        self.0.catalog.registry().component_backend(tenant, name)
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
        if self.0.tenancy.get(tenant).is_none() {
            return Err(AttachError::Refused(format!(
                "tenant {tenant:?} does not exist"
            )));
        }
        self.0.catalog.attach(tenant, component, spec, join)
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
        let registry = self.0.catalog.registry();
        registry.detach(tenant, actor_type, component, leave);
    }

    /// Remove a component and its actor types; returns whether it existed.
    pub async fn remove_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        self.0.catalog.remove(tenant, name).await
    }
}
