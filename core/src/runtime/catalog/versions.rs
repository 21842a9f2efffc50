//! A component's kept versions: numbering each deploy, listing them, making a kept one
//! current again (rollback, or promoting a canary), running a canary beside the current
//! version, and deleting old ones.

use std::sync::Arc;

use serde::Serialize;

use super::{
    CanaryInfo, Catalog, CatalogContext, ComponentInfo, DeployError, Load, Prepared, Upgrade,
    VersionError,
};
use crate::runtime::unix_now;
use crate::store::{Canary, ComponentRecord, ComponentVersion};
use crate::types::StoreError;

/// A kept version as the admin API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct VersionView {
    /// Its number among the component's kept versions, counting deploys from 1.
    pub number: u64,
    /// The version its manifest declares.
    pub version: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// When it was deployed, seconds since the Unix epoch.
    pub deployed_at: u64,
    /// Who deployed it, as the host authenticated them.
    pub deployed_by: String,
    /// Whether it serves the actors (the others' share, with a canary).
    pub current: bool,
    /// The share of actors it serves as a canary, if it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<u8>,
    /// The manifest it described itself with.
    pub manifest: serde_json::Value,
}

impl ComponentInfo {
    /// The store's record of this component (current version and canary).
    fn record(&self) -> ComponentRecord {
        ComponentRecord {
            tenant: self.tenant.clone(),
            name: self.name.clone(),
            sha256: self.sha256.clone(),
            deployed_at: self.deployed_at,
            number: self.number,
            canary: self.canary.as_ref().map(|c| Canary {
                number: c.number,
                sha256: c.sha256.clone(),
                percent: c.percent,
            }),
        }
    }
}

/// What a version kept from before Warren kept versions is said to be deployed by.
const UNKNOWN_DEPLOYER: &str = "unknown (deployed before versions were kept)";

impl Catalog {
    /// Keep `prepared` (with its bytes) as the next version of its component; its number.
    /// A component deployed before versions were kept gets its running version kept first,
    /// as version 1, so it can be rolled back to.
    pub(super) async fn keep_version(
        &self,
        prepared: &Prepared,
        wasm: &[u8],
        deployed_by: &str,
    ) -> Result<u64, DeployError> {
        let (tenant, name) = (&prepared.info.tenant, &prepared.info.name);
        let kept = self.store.component_versions(tenant, name).await?;
        let mut last = kept.last().map_or(0, |v| v.number);
        if let Some(current) = self.registry.component(tenant, name) {
            if last == 0 && current.number == 0 && !current.sha256.is_empty() {
                last = self.keep_unversioned(&current).await?;
            }
            last = last.max(current.number);
        }
        let number = last + 1;
        let version = ComponentVersion {
            tenant: tenant.clone(),
            name: name.clone(),
            number,
            version: prepared.manifest.version.clone(),
            sha256: prepared.info.sha256.clone(),
            deployed_at: prepared.info.deployed_at,
            deployed_by: deployed_by.to_string(),
            manifest: serde_json::to_string(&prepared.manifest)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        };
        self.store.put_component_version(&version, wasm).await?;
        Ok(number)
    }

    /// Keep the running version of a component deployed before versions were kept, as
    /// version 1; returns 1, or 0 when its bytes are gone.
    async fn keep_unversioned(&self, current: &ComponentInfo) -> Result<u64, DeployError> {
        let (tenant, name) = (&current.tenant, &current.name);
        let Some(wasm) = self.store.component_wasm(tenant, name).await? else {
            return Ok(0);
        };
        let types: Vec<_> = self
            .registry
            .actor_types(tenant)
            .into_iter()
            .filter(|(_, component)| component == name)
            .map(|(spec, _)| spec)
            .collect();
        let manifest = serde_json::json!({
            "name": name,
            "version": current.version,
            "actor_types": types,
        });
        let version = ComponentVersion {
            tenant: tenant.clone(),
            name: name.clone(),
            number: 1,
            version: current.version.clone(),
            sha256: current.sha256.clone(),
            deployed_at: current.deployed_at,
            deployed_by: UNKNOWN_DEPLOYER.to_string(),
            manifest: manifest.to_string(),
        };
        self.store.put_component_version(&version, &wasm).await?;
        let mut current = current.clone();
        current.number = 1;
        self.store.put_component(&current.record(), None).await?;
        Ok(1)
    }

    /// Register `prepared` as the version serving all its component's actors (ending a
    /// canary) and store it as such, with its bytes.
    pub(super) async fn make_current(
        &self,
        prepared: Prepared,
        wasm: &[u8],
    ) -> Result<ComponentInfo, DeployError> {
        let info = prepared.info.clone();
        self.registry
            .insert(prepared.info, prepared.manifest, prepared.backend)?;
        self.store.put_component(&info.record(), Some(wasm)).await?;
        Ok(info)
    }

    /// Route `percent` of the actors of `prepared`'s component to it, while the current
    /// version serves the others.
    pub(super) fn route_canary(&self, prepared: Prepared, percent: u8) {
        let info = &prepared.info;
        let canary = CanaryInfo {
            number: info.number,
            version: info.version.clone(),
            sha256: info.sha256.clone(),
            percent,
            actor_types: info.actor_types.clone(),
        };
        self.registry
            .set_canary(&info.tenant, &info.name, Some((canary, prepared.backend)));
    }

    /// Write the store's record of component `name` as the registry has it now.
    pub(super) async fn store_record(&self, tenant: &str, name: &str) -> Result<(), StoreError> {
        match self.registry.component(tenant, name) {
            Some(info) => self.store.put_component(&info.record(), None).await,
            None => Ok(()),
        }
    }

    /// Load kept version `canary.number` of a component and route `canary.percent` of its
    /// actors to it.
    pub(super) async fn start_canary(
        &self,
        context: &dyn CatalogContext,
        tenant: &str,
        name: &str,
        canary: &Canary,
        upgrade: Upgrade,
    ) -> Result<(), DeployError> {
        let (mut prepared, _) = self
            .prepare_kept(context, tenant, name, canary.number, upgrade)
            .await?;
        prepared.info.number = canary.number;
        self.registry.check(tenant, name, &prepared.manifest)?;
        self.route_canary(prepared, canary.percent);
        Ok(())
    }

    /// Load kept version `number` of component `name`, checked as `upgrade` says.
    async fn prepare_kept(
        &self,
        context: &dyn CatalogContext,
        tenant: &str,
        name: &str,
        number: u64,
        upgrade: Upgrade,
    ) -> Result<(Prepared, Arc<Vec<u8>>), DeployError> {
        let no_version = || VersionError::NoVersion {
            name: name.to_string(),
            number,
        };
        let wasm = self
            .store
            .component_version_wasm(tenant, name, number)
            .await?
            .ok_or_else(no_version)?;
        let wasm = Arc::new(wasm);
        let deployed_at = self
            .store
            .component_versions(tenant, name)
            .await?
            .iter()
            .find(|v| v.number == number)
            .map_or_else(unix_now, |v| v.deployed_at);
        let load = Load {
            tenant,
            name: Some(name),
            deployed_at,
            upgrade,
        };
        let prepared = self.prepare(context, load, wasm.clone()).await?;
        Ok((prepared, wasm))
    }

    /// The deployed (not external) component `name`.
    fn deployed(&self, tenant: &str, name: &str) -> Result<ComponentInfo, VersionError> {
        let info = self
            .registry
            .component(tenant, name)
            .ok_or_else(|| VersionError::NoComponent(name.to_string()))?;
        if info.sha256.is_empty() {
            return Err(VersionError::External(name.to_string()));
        }
        Ok(info)
    }

    /// The kept versions of component `name`, oldest first, marked current or canary.
    pub async fn versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Vec<VersionView>, DeployError> {
        let info = self.deployed(tenant, name)?;
        let kept = self.store.component_versions(tenant, name).await?;
        Ok(kept
            .into_iter()
            .map(|v| VersionView {
                current: v.number == info.number,
                canary_percent: info
                    .canary
                    .as_ref()
                    .filter(|c| c.number == v.number)
                    .map(|c| c.percent),
                manifest: serde_json::from_str(&v.manifest).unwrap_or(serde_json::Value::Null),
                number: v.number,
                version: v.version,
                sha256: v.sha256,
                deployed_at: v.deployed_at,
                deployed_by: v.deployed_by,
            })
            .collect())
    }

    /// Make kept version `number` of component `name` the one serving all its actors: a
    /// rollback, a roll forward again, or the promotion of its canary (which it ends).
    /// Checked like a deploy unless `force`. Turns already running finish on the version
    /// they started with.
    pub async fn use_version(
        &self,
        context: &dyn CatalogContext,
        tenant: &str,
        name: &str,
        number: u64,
        force: bool,
    ) -> Result<ComponentInfo, DeployError> {
        let _changing = self.changes.lock().await;
        self.deployed(tenant, name)?;
        let upgrade = Upgrade::unless(force);
        let (mut prepared, wasm) = self
            .prepare_kept(context, tenant, name, number, upgrade)
            .await?;
        prepared.info.number = number;
        let info = self.make_current(prepared, &wasm).await?;
        tracing::info!(
            tenant,
            name,
            version = number,
            "component version made current"
        );
        Ok(info)
    }

    /// End component `name`'s canary: all its actors go back to the current version.
    pub async fn stop_canary(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<ComponentInfo, DeployError> {
        let _changing = self.changes.lock().await;
        let info = self.deployed(tenant, name)?;
        if info.canary.is_none() {
            return Err(VersionError::NoCanary(name.to_string()).into());
        }
        self.registry.set_canary(tenant, name, None);
        self.store_record(tenant, name).await?;
        tracing::info!(tenant, name, "canary stopped");
        Ok(self.deployed(tenant, name)?)
    }

    /// Delete kept version `number` of component `name`; neither the current version nor
    /// a running canary can be deleted.
    pub async fn delete_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> Result<(), DeployError> {
        let _changing = self.changes.lock().await;
        let info = self.deployed(tenant, name)?;
        let role = if info.number == number {
            Some("current")
        } else if info.canary.as_ref().is_some_and(|c| c.number == number) {
            Some("the running canary")
        } else {
            None
        };
        if let Some(role) = role {
            return Err(VersionError::InUse {
                name: name.to_string(),
                number,
                role,
            }
            .into());
        }
        if !self
            .store
            .remove_component_version(tenant, name, number)
            .await?
        {
            return Err(VersionError::NoVersion {
                name: name.to_string(),
                number,
            }
            .into());
        }
        Ok(())
    }
}
