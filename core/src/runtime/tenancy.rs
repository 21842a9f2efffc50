//! Tenancy, a part of the core ([`Tenancy`]): tenants with their limits and tokens,
//! created, changed, deleted, loaded at start and followed in a cluster; the runtime's
//! tenant methods are its façade.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::config::{self, ConfigEntry, ConfigError, ConfigView};
use super::tenants::{
    LimitOverrides, Limits, Tenant, TenantRecord, Tenants, TokenRecord, token_hash,
};
use super::{DEFAULT_TENANT, Runtime, check_name, unix_now};
use crate::store::{ActorStore, StateStore, StoreError, TenantStore};

/// Why a tenant operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The name is not a valid tenant name.
    #[error("invalid tenant: {0}")]
    BadName(String),
    /// A tenant of that name exists already.
    #[error("tenant {0:?} already exists")]
    Exists(String),
    /// No tenant has that name.
    #[error("tenant {0:?} does not exist")]
    NotFound(String),
    /// A delete of the default tenant, which always exists.
    #[error("the default tenant cannot be deleted")]
    DefaultTenant,
    /// The tenant has no token of that id.
    #[error("tenant {tenant:?} has no token {id:?}")]
    NoSuchToken {
        /// The tenant's name.
        tenant: String,
        /// The token id asked for.
        id: String,
    },
    /// A pattern of `allowed_outbound_hosts` does not parse.
    #[error(transparent)]
    Egress(#[from] super::egress::PatternError),
    /// A configuration value was refused or is missing.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuse outbound host patterns that do not parse, before they are stored.
fn check_egress(limits: &LimitOverrides) -> Result<(), TenantError> {
    let patterns = limits.allowed_outbound_hosts.as_deref().unwrap_or_default();
    Ok(super::egress::check_patterns(patterns)?)
}

/// A tenant as the admin API shows it: never a token, only token ids.
#[derive(Debug, serde::Serialize)]
pub struct TenantView {
    /// The tenant's name.
    pub name: String,
    /// Its effective limits: its overrides over the host's defaults.
    pub limits: super::tenants::Limits,
    /// The limits it overrides.
    pub overrides: LimitOverrides,
    /// The ids of its tokens.
    pub tokens: Vec<String>,
    /// Its actors active on this host now.
    pub active_actors: u64,
    /// Its turns running on this host now.
    pub running_turns: u64,
    /// Bytes of its actors' stored state, keys plus values.
    pub state_bytes: u64,
    /// Its actors' instances kept between turns on this host now, and their charge
    /// (within `limits.max_kept_memory_bytes`).
    pub kept: super::TenantKept,
}

impl TenantView {
    fn of(t: &Tenant) -> Self {
        use std::sync::atomic::Ordering::Acquire;
        TenantView {
            name: t.record.name.clone(),
            limits: t.limits.clone(),
            overrides: t.record.limits.clone(),
            tokens: t.record.tokens.iter().map(|k| k.id.clone()).collect(),
            active_actors: t.active_actors.load(Acquire),
            running_turns: t.running_turns.load(Acquire),
            state_bytes: t.state_bytes.load(Acquire),
            kept: Default::default(),
        }
    }
}

/// The tenancy part of the core: every tenant with its limits and tokens, kept in the
/// store and indexed in memory (by name, and by token hash). The runtime asks it who a
/// tenant is; it names no actor, type or turn.
pub struct Tenancy {
    tenants: Tenants,
    store: Arc<dyn TenantStore>,
    /// Where each tenant's state size is counted (the actor store's counters).
    sizes: Arc<dyn ActorStore>,
    /// The host's limits, which a tenant's overrides change.
    defaults: Limits,
}

impl Tenancy {
    /// No tenant yet (see [`Tenancy::load`]), on `store`, with the host's `defaults`.
    pub fn new(store: Arc<dyn StateStore>, defaults: Limits) -> Self {
        Tenancy {
            tenants: Tenants::default(),
            store: store.clone(),
            sizes: store,
            defaults,
        }
    }

    /// A tenant, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<Tenant>> {
        self.tenants.get(name)
    }

    /// The tenant a token belongs to.
    pub fn by_token(&self, token: &str) -> Option<String> {
        self.tenants.by_token(token)
    }

    /// Every tenant, by name.
    pub fn list(&self) -> Vec<Arc<Tenant>> {
        self.tenants.list()
    }

    /// Load the stored tenants (at start), creating the default tenant if missing.
    pub async fn load(&self) -> Result<(), StoreError> {
        for bytes in self.store.tenants().await? {
            match serde_json::from_slice::<TenantRecord>(&bytes) {
                Ok(record) => {
                    let size = self.sizes.tenant_state_size(&record.name).await?;
                    self.tenants.put(record, &self.defaults, size);
                }
                Err(e) => tracing::error!(error = %e, "skipping unreadable tenant record"),
            }
        }
        if self.tenants.get(DEFAULT_TENANT).is_none() {
            self.save(TenantRecord {
                name: DEFAULT_TENANT.to_string(),
                limits: LimitOverrides::default(),
                tokens: Vec::new(),
                created_at: unix_now(),
                config: Default::default(),
            })
            .await?;
        }
        Ok(())
    }

    /// Take the store's tenants as they are now (another host changed them): the
    /// tenants changed, and the names of those deleted elsewhere, whose data went with
    /// them and whose types the runtime is to drop. Every tenant's state size is read
    /// again: the store's counter counts every host's commits.
    pub async fn follow(&self) -> Result<(usize, Vec<String>), StoreError> {
        let mut changed = 0;
        let mut stored = HashSet::new();
        for bytes in self.store.tenants().await? {
            let Ok(record) = serde_json::from_slice::<TenantRecord>(&bytes) else {
                continue;
            };
            stored.insert(record.name.clone());
            let same = self.tenants.get(&record.name).is_some_and(|known| {
                serde_json::to_vec(&known.record).is_ok_and(|known| known == bytes)
            });
            if !same {
                let size = self.sizes.tenant_state_size(&record.name).await?;
                self.tenants.put(record, &self.defaults, size);
                changed += 1;
            }
        }
        let mut deleted = Vec::new();
        for tenant in self.tenants.list() {
            let name = &tenant.record.name;
            if name != DEFAULT_TENANT && !stored.contains(name) {
                self.tenants.remove(name);
                deleted.push(name.clone());
                continue;
            }
            let size = self.sizes.tenant_state_size(name).await?;
            tenant.state_bytes.store(size, Ordering::Release);
        }
        Ok((changed + deleted.len(), deleted))
    }

    async fn save(&self, record: TenantRecord) -> Result<Arc<Tenant>, StoreError> {
        let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.put_tenant(&record.name, bytes).await?;
        let size = match self.tenants.get(&record.name) {
            Some(_) => 0,
            None => self.sizes.tenant_state_size(&record.name).await?,
        };
        Ok(self.tenants.put(record, &self.defaults, size))
    }

    fn existing(&self, name: &str) -> Result<Arc<Tenant>, TenantError> {
        self.tenants
            .get(name)
            .ok_or_else(|| TenantError::NotFound(name.to_string()))
    }

    /// Every tenant, as the admin API shows them.
    pub fn views(&self) -> Vec<TenantView> {
        self.tenants
            .list()
            .iter()
            .map(|t| TenantView::of(t))
            .collect()
    }

    /// One tenant as the admin API shows it.
    pub fn view(&self, name: &str) -> Result<TenantView, TenantError> {
        let tenant = self.existing(name)?;
        Ok(TenantView::of(&tenant))
    }

    /// Create a tenant with limit overrides.
    pub async fn create(
        &self,
        name: &str,
        limits: LimitOverrides,
    ) -> Result<TenantView, TenantError> {
        check_name("tenant", name).map_err(TenantError::BadName)?;
        check_egress(&limits)?;
        if self.tenants.get(name).is_some() {
            return Err(TenantError::Exists(name.to_string()));
        }
        let record = TenantRecord {
            name: name.to_string(),
            limits,
            tokens: Vec::new(),
            created_at: unix_now(),
            config: Default::default(),
        };
        let tenant = self.save(record).await?;
        Ok(TenantView::of(&tenant))
    }

    /// Make sure tenant `name` exists: one that does is taken as it is; a missing one is
    /// created with the host's default limits when `may_create` (the caller may manage
    /// tenants), and refused otherwise. A concurrent creation of the same tenant is fine.
    pub async fn ensure(&self, name: &str, may_create: bool) -> Result<(), TenantError> {
        if self.tenants.get(name).is_some() {
            return Ok(());
        }
        if !may_create {
            return Err(TenantError::NotFound(name.to_string()));
        }
        match self.create(name, LimitOverrides::default()).await {
            Ok(_) | Err(TenantError::Exists(_)) => Ok(()),
            Err(_) if self.tenants.get(name).is_some() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Change some of a tenant's limits.
    pub async fn update(
        &self,
        name: &str,
        limits: LimitOverrides,
    ) -> Result<TenantView, TenantError> {
        check_egress(&limits)?;
        let tenant = self.existing(name)?;
        let mut record = tenant.record.clone();
        record.limits = record.limits.merged(&limits);
        let tenant = self.save(record).await?;
        Ok(TenantView::of(&tenant))
    }

    /// Issue a new token for a tenant: returns its id and the token, shown only now.
    pub async fn issue_token(&self, name: &str) -> Result<(String, String), TenantError> {
        let tenant = self.existing(name)?;
        let mut record = tenant.record.clone();
        let token = format!("wt_{}", uuid::Uuid::new_v4().simple());
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        record.tokens.push(TokenRecord {
            id: id.clone(),
            sha256: token_hash(&token),
            created_at: unix_now(),
        });
        self.save(record).await?;
        Ok((id, token))
    }

    /// Revoke a tenant's token.
    pub async fn revoke_token(&self, name: &str, id: &str) -> Result<(), TenantError> {
        let tenant = self.existing(name)?;
        let mut record = tenant.record.clone();
        let before = record.tokens.len();
        record.tokens.retain(|t| t.id != id);
        if record.tokens.len() == before {
            return Err(TenantError::NoSuchToken {
                tenant: name.to_string(),
                id: id.to_string(),
            });
        }
        self.save(record).await?;
        Ok(())
    }

    /// The values of `component` in tenant `name`, as the admin API shows them.
    pub fn config(&self, name: &str, component: &str) -> Result<Vec<ConfigView>, TenantError> {
        let tenant = self.existing(name)?;
        let values = tenant.record.config.get(component);
        Ok(values
            .into_iter()
            .flatten()
            .map(|(key, entry)| ConfigView::of(key, entry))
            .collect())
    }

    /// Set a value of `component` in tenant `name`; the next turn sees it.
    pub async fn set_config(
        &self,
        name: &str,
        component: &str,
        key: &str,
        entry: ConfigEntry,
    ) -> Result<ConfigView, TenantError> {
        check_name("component", component).map_err(ConfigError::BadComponent)?;
        let tenant = self.existing(name)?;
        let mut record = tenant.record.clone();
        let view = config::set(&mut record.config, component, key, entry)?;
        self.save(record).await?;
        Ok(view)
    }

    /// Remove a value of `component` in tenant `name`.
    pub async fn delete_config(
        &self,
        name: &str,
        component: &str,
        key: &str,
    ) -> Result<(), TenantError> {
        let tenant = self.existing(name)?;
        let mut record = tenant.record.clone();
        config::remove(&mut record.config, component, key)?;
        self.save(record).await?;
        Ok(())
    }

    /// Delete a tenant with everything it owns in the store. `drop_hosted` runs once the
    /// tenant no longer resolves and before its stored data goes: the runtime drops its
    /// types and schedules there, so no turn of it starts meanwhile.
    pub async fn delete(&self, name: &str, drop_hosted: impl FnOnce()) -> Result<(), TenantError> {
        if name == DEFAULT_TENANT {
            return Err(TenantError::DefaultTenant);
        }
        if self.tenants.remove(name).is_none() {
            return Err(TenantError::NotFound(name.to_string()));
        }
        drop_hosted();
        self.store.delete_tenant(name).await?;
        Ok(())
    }
}

impl Runtime {
    /// Load the stored tenants (at start), creating the default tenant if missing.
    pub async fn load_tenants(&self) -> Result<(), StoreError> {
        self.0.tenancy.load().await
    }

    /// A tenant, if it exists.
    pub fn tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        self.0.tenancy.get(name)
    }

    /// The configuration values of a tenant's component, secrets without their values.
    pub fn component_config(
        &self,
        tenant: &str,
        component: &str,
    ) -> Result<Vec<ConfigView>, TenantError> {
        self.0.tenancy.config(tenant, component)
    }

    /// Set a configuration value of a tenant's component.
    pub async fn set_component_config(
        &self,
        tenant: &str,
        component: &str,
        key: &str,
        entry: ConfigEntry,
    ) -> Result<ConfigView, TenantError> {
        self.0
            .tenancy
            .set_config(tenant, component, key, entry)
            .await
    }

    /// Remove a configuration value of a tenant's component.
    pub async fn delete_component_config(
        &self,
        tenant: &str,
        component: &str,
        key: &str,
    ) -> Result<(), TenantError> {
        self.0.tenancy.delete_config(tenant, component, key).await
    }

    /// The tenant a token belongs to.
    pub fn tenant_for_token(&self, token: &str) -> Option<String> {
        self.0.tenancy.by_token(token)
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<TenantView> {
        let mut views = self.0.tenancy.views();
        for view in &mut views {
            view.kept = self.0.catalog.loader().kept_by(&view.name);
        }
        views
    }

    /// One tenant as the admin API shows it.
    pub fn tenant_view(&self, name: &str) -> Result<TenantView, TenantError> {
        let mut view = self.0.tenancy.view(name)?;
        view.kept = self.0.catalog.loader().kept_by(name);
        Ok(view)
    }

    /// Create a tenant with limit overrides.
    pub async fn create_tenant(
        &self,
        name: &str,
        limits: LimitOverrides,
    ) -> Result<TenantView, TenantError> {
        self.0.tenancy.create(name, limits).await
    }

    /// Make sure tenant `name` exists: an existing one is taken as it is; a missing one is
    /// created with the host's default limits when `may_create` (the caller may manage
    /// tenants), and refused otherwise.
    pub async fn ensure_tenant(&self, name: &str, may_create: bool) -> Result<(), TenantError> {
        self.0.tenancy.ensure(name, may_create).await
    }

    /// Change some of a tenant's limits.
    pub async fn update_tenant(
        &self,
        name: &str,
        limits: LimitOverrides,
    ) -> Result<TenantView, TenantError> {
        self.0.tenancy.update(name, limits).await
    }

    /// Issue a new token for a tenant: returns its id and the token, shown only now.
    pub async fn issue_token(&self, name: &str) -> Result<(String, String), TenantError> {
        self.0.tenancy.issue_token(name).await
    }

    /// Revoke a tenant's token.
    pub async fn revoke_token(&self, name: &str, id: &str) -> Result<(), TenantError> {
        self.0.tenancy.revoke_token(name, id).await
    }

    /// Delete a tenant with its components, actor types, reminders and state.
    pub async fn delete_tenant(&self, name: &str) -> Result<(), TenantError> {
        self.0
            .tenancy
            .delete(name, || self.drop_tenant_types(name))
            .await
    }

    /// Forget what tenant `name` hosts here: its components and actor types, and the
    /// timers and reminders scheduled for them.
    pub(super) fn drop_tenant_types(&self, name: &str) {
        self.0.catalog.drop_tenant(name);
        self.0.scheduler.remove_tenant(name);
    }
}

#[cfg(test)]
mod tests;
