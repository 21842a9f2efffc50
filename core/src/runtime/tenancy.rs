//! Tenant management on the runtime: create, update, delete, tokens, and loading at start.

use std::sync::Arc;

use super::tenants::{LimitOverrides, Tenant, TenantRecord, TokenRecord, token_hash};
use super::{DEFAULT_TENANT, Runtime, check_name, unix_now};
use crate::store::StoreError;

/// Why a tenant operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("invalid tenant: {0}")]
    BadName(String),
    #[error("tenant {0:?} already exists")]
    Exists(String),
    #[error("tenant {0:?} does not exist")]
    NotFound(String),
    #[error("the default tenant cannot be deleted")]
    DefaultTenant,
    #[error("tenant {tenant:?} has no token {id:?}")]
    NoSuchToken { tenant: String, id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A tenant as the admin API shows it: never a token, only token ids.
#[derive(Debug, serde::Serialize)]
pub struct TenantView {
    pub name: String,
    pub limits: super::tenants::Limits,
    pub overrides: LimitOverrides,
    pub tokens: Vec<String>,
    pub active_actors: u64,
    pub running_turns: u64,
    pub state_bytes: u64,
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
        }
    }
}

impl Runtime {
    /// Load the stored tenants (at start), creating the default tenant if missing.
    pub async fn load_tenants(&self) -> Result<(), StoreError> {
        for bytes in self.0.store.tenants().await? {
            match serde_json::from_slice::<TenantRecord>(&bytes) {
                Ok(record) => {
                    let size = self.0.store.tenant_state_size(&record.name).await?;
                    self.0.tenants.put(record, &self.0.config.limits, size);
                }
                Err(e) => tracing::error!(error = %e, "skipping unreadable tenant record"),
            }
        }
        if self.0.tenants.get(DEFAULT_TENANT).is_none() {
            let record = TenantRecord {
                name: DEFAULT_TENANT.to_string(),
                limits: LimitOverrides::default(),
                tokens: Vec::new(),
                created_at: unix_now(),
            };
            self.save_tenant(record).await?;
        }
        Ok(())
    }

    async fn save_tenant(&self, record: TenantRecord) -> Result<Arc<Tenant>, StoreError> {
        let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.0.store.put_tenant(&record.name, bytes).await?;
        let size = match self.0.tenants.get(&record.name) {
            Some(_) => 0,
            None => self.0.store.tenant_state_size(&record.name).await?,
        };
        Ok(self.0.tenants.put(record, &self.0.config.limits, size))
    }

    /// A tenant, if it exists.
    pub fn tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        self.0.tenants.get(name)
    }

    /// The tenant a token belongs to.
    pub fn tenant_for_token(&self, token: &str) -> Option<String> {
        self.0.tenants.by_token(token)
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<TenantView> {
        self.0
            .tenants
            .list()
            .iter()
            .map(|t| TenantView::of(t))
            .collect()
    }

    /// One tenant as the admin API shows it.
    pub fn tenant_view(&self, name: &str) -> Result<TenantView, TenantError> {
        self.0
            .tenants
            .get(name)
            .map(|t| TenantView::of(&t))
            .ok_or_else(|| TenantError::NotFound(name.to_string()))
    }

    /// Create a tenant with limit overrides.
    pub async fn create_tenant(
        &self,
        name: &str,
        limits: LimitOverrides,
    ) -> Result<TenantView, TenantError> {
        check_name("tenant", name).map_err(TenantError::BadName)?;
        if self.0.tenants.get(name).is_some() {
            return Err(TenantError::Exists(name.to_string()));
        }
        let record = TenantRecord {
            name: name.to_string(),
            limits,
            tokens: Vec::new(),
            created_at: unix_now(),
        };
        let tenant = self.save_tenant(record).await?;
        Ok(TenantView::of(&tenant))
    }

    /// Make sure tenant `name` exists: one that does is taken as it is; a missing one is
    /// created with the host's default limits when `may_create` (the caller may manage
    /// tenants), and refused otherwise. A concurrent creation of the same tenant is fine.
    pub async fn ensure_tenant(&self, name: &str, may_create: bool) -> Result<(), TenantError> {
        if self.0.tenants.get(name).is_some() {
            return Ok(());
        }
        if !may_create {
            return Err(TenantError::NotFound(name.to_string()));
        }
        match self.create_tenant(name, LimitOverrides::default()).await {
            Ok(_) | Err(TenantError::Exists(_)) => Ok(()),
            Err(_) if self.0.tenants.get(name).is_some() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Change some of a tenant's limits.
    pub async fn update_tenant(
        &self,
        name: &str,
        limits: LimitOverrides,
    ) -> Result<TenantView, TenantError> {
        let tenant = self
            .0
            .tenants
            .get(name)
            .ok_or_else(|| TenantError::NotFound(name.to_string()))?;
        let mut record = tenant.record.clone();
        record.limits = record.limits.merged(&limits);
        let tenant = self.save_tenant(record).await?;
        Ok(TenantView::of(&tenant))
    }

    /// Issue a new token for a tenant: returns its id and the token, shown only now.
    pub async fn issue_token(&self, name: &str) -> Result<(String, String), TenantError> {
        let tenant = self
            .0
            .tenants
            .get(name)
            .ok_or_else(|| TenantError::NotFound(name.to_string()))?;
        let token = format!("wt_{}", uuid::Uuid::new_v4().simple());
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let mut record = tenant.record.clone();
        record.tokens.push(TokenRecord {
            id: id.clone(),
            sha256: token_hash(&token),
            created_at: unix_now(),
        });
        self.save_tenant(record).await?;
        Ok((id, token))
    }

    /// Revoke a tenant's token.
    pub async fn revoke_token(&self, name: &str, id: &str) -> Result<(), TenantError> {
        let tenant = self
            .0
            .tenants
            .get(name)
            .ok_or_else(|| TenantError::NotFound(name.to_string()))?;
        let mut record = tenant.record.clone();
        let before = record.tokens.len();
        record.tokens.retain(|t| t.id != id);
        if record.tokens.len() == before {
            return Err(TenantError::NoSuchToken {
                tenant: name.to_string(),
                id: id.to_string(),
            });
        }
        self.save_tenant(record).await?;
        Ok(())
    }

    /// Delete a tenant with its components, actor types, reminders and state.
    pub async fn delete_tenant(&self, name: &str) -> Result<(), TenantError> {
        if name == DEFAULT_TENANT {
            return Err(TenantError::DefaultTenant);
        }
        if self.0.tenants.remove(name).is_none() {
            return Err(TenantError::NotFound(name.to_string()));
        }
        for component in self.0.registry.components(name) {
            self.0.registry.remove(name, &component.name);
        }
        self.0.scheduler.remove_tenant(name);
        self.0.store.delete_tenant(name).await?;
        Ok(())
    }
}
