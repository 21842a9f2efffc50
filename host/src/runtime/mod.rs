//! The runtime core: tenants' actor types, the actor table, turns and state commit.
//! Every protocol adapter calls [`Runtime`]; nothing else touches the store or an instance.

mod ids;
mod invocation;
pub mod manifest;
mod registry;
mod table;
mod turn;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::store::{StateChange, StateStore, StoreError};
use crate::wasm::{LoadError, WasmEngine};

pub use ids::{ActorId, DEFAULT_TENANT, check_name};
pub use invocation::{CallMode, Invocation, InvokeError, Trigger};
pub use registry::{ActorTypeEntry, Backend, ComponentInfo, TypeConflict};
pub use turn::TurnState;

use registry::Registry;
use table::ActorTable;

/// Settings of the runtime core.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Deactivate an actor after this long without a turn (unless its type says otherwise).
    pub idle_timeout: Duration,
    /// Wall-clock budget of a request, including the turns it waits for.
    pub turn_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            idle_timeout: Duration::from_secs(60 * 60),
            turn_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a component was not deployed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Invalid(#[from] LoadError),
    #[error("invalid component name: {0}")]
    BadName(String),
    #[error(transparent)]
    Conflict(#[from] TypeConflict),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a state transaction from outside a turn was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("actor {0} is not active")]
    NotActive(ActorId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters for the admin API.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub active_actors: usize,
    pub components_compiled: u64,
    pub artifact_cache_hits: u64,
}

struct Inner {
    config: RuntimeConfig,
    store: Arc<dyn StateStore>,
    wasm: Arc<WasmEngine>,
    registry: Registry,
    table: ActorTable,
}

/// Handle to the runtime core. Cheap to clone.
#[derive(Clone)]
pub struct Runtime(Arc<Inner>);

/// The future of one invocation.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, InvokeError>> + Send>>;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Runtime {
    /// A runtime over `store` and `wasm`; starts the idle sweeper.
    pub fn new(config: RuntimeConfig, store: Arc<dyn StateStore>, wasm: Arc<WasmEngine>) -> Self {
        let runtime = Runtime(Arc::new(Inner {
            config,
            store,
            wasm,
            registry: Registry::default(),
            table: ActorTable::new(),
        }));
        let weak = Arc::downgrade(&runtime.0);
        let every = (runtime.0.config.idle_timeout / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                for actor in inner.table.sweep() {
                    tracing::debug!(%actor, "deactivated after idle timeout");
                }
            }
        });
        runtime
    }

    /// The deadline of a request arriving now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.0.config.turn_timeout
    }

    /// Load every component the store holds (at start). A component that no longer loads
    /// is logged and skipped, so one bad artifact cannot keep the host down.
    pub async fn load_stored_components(&self) -> Result<(), StoreError> {
        for record in self.0.store.components()? {
            let Some(wasm) = self.0.store.component_wasm(&record.tenant, &record.name)? else {
                tracing::warn!(tenant = %record.tenant, name = %record.name, "stored component has no bytes");
                continue;
            };
            match self
                .install(
                    &record.tenant,
                    Some(&record.name),
                    Arc::new(wasm),
                    record.deployed_at,
                )
                .await
            {
                Ok(info) => {
                    tracing::info!(tenant = %info.tenant, name = %info.name, types = ?info.actor_types, "component loaded")
                }
                Err(e) => {
                    tracing::error!(tenant = %record.tenant, name = %record.name, error = %e, "stored component failed to load")
                }
            }
        }
        Ok(())
    }

    /// Deploy a component into `tenant`, named `name` or else by its manifest. Replaces a
    /// component of the same name; refuses a bad `.wasm` without touching what runs.
    pub async fn deploy(
        &self,
        tenant: &str,
        name: Option<&str>,
        wasm: Vec<u8>,
    ) -> Result<ComponentInfo, DeployError> {
        let wasm = Arc::new(wasm);
        let info = self.install(tenant, name, wasm.clone(), unix_now()).await?;
        let record = crate::store::ComponentRecord {
            tenant: info.tenant.clone(),
            name: info.name.clone(),
            sha256: info.sha256.clone(),
            deployed_at: info.deployed_at,
        };
        self.0.store.put_component(&record, &wasm).await?;
        tracing::info!(tenant, name = %info.name, types = ?info.actor_types, "component deployed");
        Ok(info)
    }

    async fn install(
        &self,
        tenant: &str,
        name: Option<&str>,
        wasm: Arc<Vec<u8>>,
        deployed_at: u64,
    ) -> Result<ComponentInfo, DeployError> {
        check_name("tenant", tenant).map_err(DeployError::BadName)?;
        if let Some(name) = name {
            check_name("component name", name).map_err(DeployError::BadName)?;
        }
        let (component, manifest) = self.0.wasm.load(wasm).await?;
        let name = name.unwrap_or(&manifest.name).to_string();
        let info = ComponentInfo {
            tenant: tenant.to_string(),
            version: manifest.version.clone(),
            sha256: component.sha256.clone(),
            size: component.size,
            actor_types: manifest
                .actor_types
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            deployed_at,
            name,
        };
        self.0.registry.check(tenant, &info.name, &manifest)?;
        let component = Arc::new(component);
        self.0
            .registry
            .insert(info.clone(), manifest, || Backend::Wasm(component.clone()))?;
        Ok(info)
    }

    /// Remove a component and its actor types; returns whether it existed.
    pub async fn remove_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let stored = self.0.store.remove_component(tenant, name).await?;
        let registered = self.0.registry.remove(tenant, name);
        Ok(stored || registered)
    }

    /// The components of a tenant.
    pub fn components(&self, tenant: &str) -> Vec<ComponentInfo> {
        self.0.registry.components(tenant)
    }

    /// The actor types of a tenant, each with the component providing it.
    pub fn actor_types(&self, tenant: &str) -> Vec<(manifest::ActorTypeSpec, String)> {
        self.0.registry.actor_types(tenant)
    }

    /// The active actors of a tenant.
    pub fn active_actors(&self, tenant: &str) -> Vec<ActorId> {
        let mut list = self.0.table.active(|a| &*a.tenant == tenant);
        list.sort();
        list
    }

    /// Process-wide counters.
    pub fn stats(&self) -> Stats {
        let (compiles, hits) = self.0.wasm.cache_counts();
        Stats {
            active_actors: self.0.table.len(),
            components_compiled: compiles,
            artifact_cache_hits: hits,
        }
    }

    /// Read one state key of an actor (committed state; no turn is taken).
    pub fn get_state(&self, actor: &ActorId, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.store.get(actor, key)
    }

    /// Apply a state transaction from outside the actor's turns (Dapr's state API, which an
    /// app calls while its turn runs). Like Dapr, only for an active actor.
    pub async fn state_transaction(
        &self,
        actor: &ActorId,
        changes: Vec<StateChange>,
    ) -> Result<(), StateError> {
        if !self.0.table.is_active(actor) {
            return Err(StateError::NotActive(actor.clone()));
        }
        self.0.store.commit(actor, changes).await?;
        Ok(())
    }

    /// Deliver one invocation: take the actor's turn, run it, commit its state, send its
    /// casts. The one path every protocol uses.
    pub fn invoke(&self, invocation: Invocation) -> InvokeFuture {
        let runtime = self.clone();
        Box::pin(async move { runtime.run(invocation).await })
    }

    async fn run(&self, invocation: Invocation) -> Result<Vec<u8>, InvokeError> {
        let target = invocation.target.clone();
        let entry = self
            .0
            .registry
            .actor_type(&target.tenant, &target.actor_type)
            .ok_or_else(|| InvokeError::ActorTypeNotFound {
                tenant: target.tenant.to_string(),
                actor_type: target.actor_type.to_string(),
            })?;
        if invocation.chain.contains(&target) {
            let chain: Vec<String> = invocation.chain.iter().map(ToString::to_string).collect();
            return Err(InvokeError::CallCycle {
                actor: target,
                chain: chain.join(" -> "),
            });
        }
        let idle = entry
            .spec
            .idle_timeout
            .unwrap_or(self.0.config.idle_timeout);
        let (slot, _activated) = self.0.table.activate(&target, idle);
        let turn_lock = tokio::time::timeout_at(invocation.deadline.into(), slot.turn.lock()).await;
        let Ok(_turn) = turn_lock else {
            return Err(InvokeError::DeadlineExceeded {
                actor: target,
                action: invocation.action,
            });
        };
        let result = self.run_turn(&entry, &invocation).await;
        self.0.table.touch(&slot);
        result
    }

    async fn run_turn(
        &self,
        entry: &ActorTypeEntry,
        invocation: &Invocation,
    ) -> Result<Vec<u8>, InvokeError> {
        let state = TurnState::new(invocation.target.clone(), self.0.store.clone());
        let (result, state) = match &entry.backend {
            Backend::Wasm(component) => {
                self.0
                    .wasm
                    .run_turn(component, self.clone(), state, invocation)
                    .await
            }
        };
        let reply = result?;
        let Some(state) = state else { return Ok(reply) };
        let (changes, casts) = state.into_parts();
        if !changes.is_empty() {
            self.0
                .store
                .commit(&invocation.target, changes)
                .await
                .map_err(|source| InvokeError::Store {
                    actor: invocation.target.clone(),
                    source,
                })?;
        }
        for mut cast in casts {
            cast.deadline = self.deadline();
            let runtime = self.clone();
            tokio::spawn(async move {
                let target = cast.target.clone();
                if let Err(e) = runtime.invoke(cast).await {
                    tracing::warn!(%target, error = %e, "cast failed");
                }
            });
        }
        Ok(reply)
    }
}
