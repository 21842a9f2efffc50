//! The runtime core: tenants' actor types, the actor table, turns, timers, reminders and
//! state commit. Every protocol adapter calls [`Runtime`]; nothing else touches the store
//! or an instance.

mod addressing;
pub mod durations;
mod execute;
mod firing;
mod follow;
mod ids;
mod invocation;
mod lifecycle;
pub mod manifest;
mod records;
mod registry;
pub mod scheduler;
mod table;
mod tenancy;
pub mod tenants;
mod turn;
pub mod workflow;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::backends::dapr_app::AppChannel;
use crate::backends::spawn_sdk::{SnapshotError, SpawnApp};
use crate::backends::stream::{StreamConnection, StreamHost};
use crate::store::{StateChange, StateStore, StoreError};
use crate::wasm::{LoadError, WasmEngine};

pub use firing::ScheduleError;
pub use follow::MAX_ROUTE_HOPS;
pub use ids::{ActorId, DEFAULT_TENANT, check_name};
pub use invocation::LimitKind;
pub use invocation::{CallMode, Fired, Invocation, InvokeError, Reply, Trigger};
pub use registry::{ActorTypeEntry, AttachError, Backend, ComponentInfo, TypeConflict};
pub use table::ActivationCache;
pub use tenancy::{TenantError, TenantView};
pub use turn::{ScheduleOp, TurnState};

use registry::Registry;
use scheduler::Scheduler;
use table::ActorTable;
use tenants::{Limits, Tenants};

/// Settings of the runtime core.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Deactivate an actor after this long without a turn (unless its type says otherwise).
    pub idle_timeout: Duration,
    /// Overdue reminders (after downtime) fire at most this many per second.
    pub reminder_backlog_rate: u32,
    /// Limits of a tenant that does not override them.
    pub limits: Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 64 << 20,
            turn_timeout_ms: 60_000,
            fuel_per_turn: None,
            max_concurrent_turns: 10_000,
            max_active_actors: 10_000_000,
            max_state_bytes_per_actor: 64 << 20,
            max_state_bytes: 1 << 40,
            max_components: 100,
            max_payload_bytes: 4 << 20,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            idle_timeout: Duration::from_secs(60 * 60),
            reminder_backlog_rate: 500,
            limits: Limits::default(),
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
    #[error("tenant {0:?} does not exist")]
    NoTenant(String),
    #[error("tenant {tenant:?} is at its limit of {max} components")]
    TooMany { tenant: String, max: u64 },
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
    #[error("tenant {tenant:?} is at its limit of {max} {kind}; nothing was changed")]
    Quota {
        tenant: String,
        kind: LimitKind,
        max: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters for the admin API.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub active_actors: usize,
    pub components_compiled: u64,
    pub artifact_cache_hits: u64,
    /// Timer and reminder firings, with their lateness.
    pub firings: firing::FiringSnapshot,
}

struct Inner {
    config: RuntimeConfig,
    store: Arc<dyn StateStore>,
    wasm: Arc<WasmEngine>,
    registry: Registry,
    table: ActorTable,
    scheduler: Scheduler,
    backlog: firing::Backlog,
    firing_stats: firing::FiringStats,
    tenants: Tenants,
    /// When this runtime started, milliseconds since the Unix epoch.
    started_ms: i64,
    /// Round-robin position over the members of pooled types.
    pool_cursor: std::sync::atomic::AtomicU64,
}

/// Handle to the runtime core. Cheap to clone.
#[derive(Clone)]
pub struct Runtime(Arc<Inner>);

/// The future of one invocation.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<Reply, InvokeError>> + Send>>;

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Runtime {
    /// A runtime over `store` and `wasm`; starts the idle sweeper and the timer loop.
    pub fn new(config: RuntimeConfig, store: Arc<dyn StateStore>, wasm: Arc<WasmEngine>) -> Self {
        let config_rate = config.reminder_backlog_rate;
        let runtime = Runtime(Arc::new(Inner {
            config,
            store,
            wasm,
            registry: Registry::default(),
            table: ActorTable::new(),
            scheduler: Scheduler::default(),
            backlog: firing::Backlog::new(config_rate),
            firing_stats: firing::FiringStats::default(),
            tenants: Tenants::default(),
            started_ms: scheduler::now_ms(),
            pool_cursor: Default::default(),
        }));
        runtime.start_sweeper();
        firing::start(&runtime);
        runtime
    }

    fn start_sweeper(&self) {
        let weak = Arc::downgrade(&self.0);
        let every = (self.0.config.idle_timeout / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let runtime = Runtime(inner);
                for actor in runtime.0.table.sweep() {
                    runtime.deactivated(actor);
                }
            }
        });
    }

    /// An actor was deactivated: its timers die, and an app hosting it is told.
    fn deactivated(&self, actor: ActorId) {
        tracing::debug!(%actor, "deactivated after idle timeout");
        self.0.scheduler.remove_timers(&actor);
        if let Some(tenant) = self.0.tenants.get(&actor.tenant) {
            tenant
                .active_actors
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
        let Some(entry) = self.0.registry.actor_type(&actor.tenant, &actor.actor_type) else {
            return;
        };
        match &entry.backend {
            Backend::DaprApp(app) => {
                let app = app.clone();
                tokio::spawn(async move { app.deactivate(&actor).await });
            }
            Backend::Stream(host) => {
                let host = host.clone();
                let deadline = self.deadline(&actor.tenant);
                tokio::spawn(async move { host.deactivate(actor, deadline).await });
            }
            Backend::SpawnSdk(app) => {
                let (app, runtime) = (app.clone(), self.clone());
                tokio::spawn(async move { app.deactivate(&runtime, &actor).await });
            }
            Backend::Wasm(_) => {}
        }
    }

    /// The deadline of a request of `tenant` arriving now.
    pub fn deadline(&self, tenant: &str) -> Instant {
        let ms = self
            .0
            .tenants
            .get(tenant)
            .map(|t| t.limits.turn_timeout_ms)
            .unwrap_or(self.0.config.limits.turn_timeout_ms);
        Instant::now() + Duration::from_millis(ms)
    }

    /// Load every component the store holds (at start). A component that no longer loads
    /// is logged and skipped, so one bad artifact cannot keep the host down.
    pub async fn load_stored_components(&self) -> Result<(), StoreError> {
        for record in self.0.store.components()? {
            let Some(wasm) = self.0.store.component_wasm(&record.tenant, &record.name)? else {
                tracing::warn!(tenant = %record.tenant, name = %record.name, "stored component has no bytes");
                continue;
            };
            let loaded = self
                .install(
                    &record.tenant,
                    Some(&record.name),
                    Arc::new(wasm),
                    record.deployed_at,
                )
                .await;
            match loaded {
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
        let limits = self
            .0
            .tenants
            .get(tenant)
            .ok_or_else(|| DeployError::NoTenant(tenant.to_string()))?
            .limits
            .clone();
        let (component, manifest) = self.0.wasm.load(wasm).await?;
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
        let component = Arc::new(component);
        self.0
            .registry
            .insert(info.clone(), manifest, || Backend::Wasm(component.clone()))?;
        Ok(info)
    }

    /// Host the actor types an external app declares (Dapr app-callback mode).
    pub fn register_app(
        &self,
        tenant: &str,
        app: Arc<AppChannel>,
        manifest: manifest::Manifest,
    ) -> Result<ComponentInfo, TypeConflict> {
        self.register_external(tenant, manifest, || Backend::DaprApp(app.clone()))
    }

    /// Host the actor types a Spawn SDK registered, replacing what the same service
    /// registered before, and start writing their state behind. Like Spawn, its NAMED
    /// stateful actors are then activated in the background.
    pub fn register_spawn_app(
        &self,
        tenant: &str,
        app: Arc<SpawnApp>,
        manifest: manifest::Manifest,
    ) -> Result<ComponentInfo, TypeConflict> {
        let previous = self
            .0
            .registry
            .components(tenant)
            .into_iter()
            .find(|c| c.name == manifest.name)
            .and_then(|c| c.actor_types.first().cloned())
            .and_then(|t| self.0.registry.actor_type(tenant, &t))
            .and_then(|entry| match &entry.backend {
                Backend::SpawnSdk(previous) => Some(previous.clone()),
                _ => None,
            });
        // Before the new app is reachable: its first turn must find the state the old one
        // holds, not load an older snapshot.
        if let Some(previous) = &previous {
            app.adopt(previous);
        }
        let warm: Vec<String> = manifest
            .actor_types
            .iter()
            .filter(|t| t.kind == manifest::ActorKind::Named && app.is_stateful(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let info = self.register_external(tenant, manifest, || Backend::SpawnSdk(app.clone()))?;
        app.start_snapshots(self.clone());
        if let Some(previous) = previous {
            // The actors of types the new registration dropped were not adopted: write
            // what they hold before the old app goes.
            let runtime = self.clone();
            tokio::spawn(async move { previous.write_all(&runtime).await });
        }
        for name in warm {
            let runtime = self.clone();
            let actor = ActorId::new(tenant, &name, &name);
            tokio::spawn(async move {
                if let Err(e) = runtime.warm(&actor).await {
                    tracing::warn!(%actor, error = %e, "warming a Spawn actor failed");
                }
            });
        }
        Ok(info)
    }

    /// Prepare for the process to stop, once no more requests come in: write the state
    /// that backends hold behind (Spawn SDK actors') to the store. Call it before the
    /// store's final flush.
    pub async fn shutdown(&self) {
        for app in self.0.registry.spawn_apps() {
            app.write_all(self).await;
        }
    }

    fn register_external(
        &self,
        tenant: &str,
        manifest: manifest::Manifest,
        backend: impl Fn() -> Backend,
    ) -> Result<ComponentInfo, TypeConflict> {
        let info = ComponentInfo {
            tenant: tenant.to_string(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            sha256: String::new(),
            size: 0,
            actor_types: manifest
                .actor_types
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            deployed_at: unix_now(),
        };
        self.0.registry.insert(info.clone(), manifest, backend)?;
        Ok(info)
    }

    /// Host `spec`'s type by a stream's `connection`, registering the type when no stream
    /// hosts it yet; `accept` may refuse to join the streams already there.
    pub fn attach_stream(
        &self,
        tenant: &str,
        spec: manifest::ActorTypeSpec,
        connection: Arc<StreamConnection>,
        registration: Vec<u8>,
        accept: impl FnOnce(&StreamHost) -> Result<(), String>,
    ) -> Result<(), AttachError> {
        check_name("actor type", &spec.name).map_err(AttachError::Refused)?;
        if self.0.tenants.get(tenant).is_none() {
            return Err(AttachError::Refused(format!(
                "tenant {tenant:?} does not exist"
            )));
        }
        let info = ComponentInfo {
            tenant: tenant.to_string(),
            name: registry::stream_component(&spec.name),
            version: String::new(),
            sha256: String::new(),
            size: 0,
            actor_types: vec![spec.name.clone()],
            deployed_at: unix_now(),
        };
        self.0
            .registry
            .attach_stream(info, spec, connection, registration, accept)
    }

    /// A stream closed: it no longer hosts `actor_type`.
    pub fn detach_stream(&self, tenant: &str, actor_type: &str, connection: u64) {
        self.0
            .registry
            .detach_stream(tenant, actor_type, connection);
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

    /// Whether a tenant hosts an actor type.
    pub fn hosts(&self, tenant: &str, actor_type: &str) -> bool {
        self.0.registry.actor_type(tenant, actor_type).is_some()
    }

    /// Whether `actor` is active.
    pub fn is_active(&self, actor: &ActorId) -> bool {
        self.0.table.is_active(actor)
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
            firings: self.0.firing_stats.snapshot(),
        }
    }

    /// Read one state key of an actor (committed state; no turn is taken).
    pub fn get_state(&self, actor: &ActorId, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.store.get(actor, key)
    }

    /// Make stored revision `revision` the current state of `actor` (Spawn's
    /// `spawn?revision=N`). Revisions are kept for Spawn SDK actors, whose state Warren
    /// writes behind; Wasm actors commit every turn and keep no revisions. The restore
    /// takes the actor's turn (activating it), so no turn running meanwhile can overwrite
    /// the restored state with what it read before.
    pub async fn restore_revision(
        &self,
        actor: &ActorId,
        revision: i64,
    ) -> Result<(), SnapshotError> {
        // Refused before activating: a Wasm actor must not be woken for nothing. A type
        // that is not hosted is reported by the activation.
        if let Some(entry) = self.0.registry.actor_type(&actor.tenant, &actor.actor_type)
            && !matches!(entry.backend, Backend::SpawnSdk(_))
        {
            return Err(SnapshotError::NotSpawnActor(actor.clone()));
        }
        self.in_turn(actor, |entry| async move {
            match &entry.backend {
                Backend::SpawnSdk(app) => app.restore(self, actor, revision).await,
                // Registered again by another backend meanwhile.
                _ => Err(SnapshotError::NotSpawnActor(actor.clone())),
            }
        })
        .await?
    }

    /// Store state an external backend holds for `actor` (Spawn snapshots), within the
    /// tenant's state quotas.
    pub async fn write_backend_state(
        &self,
        actor: &ActorId,
        changes: Vec<StateChange>,
    ) -> Result<(), SnapshotError> {
        let tenant = self
            .0
            .tenants
            .get(&actor.tenant)
            .ok_or_else(|| SnapshotError::NoTenant {
                tenant: actor.tenant.to_string(),
            })?;
        self.commit_state(&tenant, actor, changes)
            .await
            .map_err(|e| match e {
                execute::CommitError::Quota(kind, max) => SnapshotError::Quota {
                    tenant: actor.tenant.to_string(),
                    kind,
                    max,
                },
                execute::CommitError::Store(e) => SnapshotError::Store(e),
            })
    }

    /// Delete all state of `actor`, whose owner is gone for good (a stopped OPACA
    /// container's agent).
    pub async fn delete_actor_state(&self, actor: &ActorId) -> Result<(), StoreError> {
        let keys = self.0.store.keys(actor, "")?;
        if keys.is_empty() {
            return Ok(());
        }
        let Some(tenant) = self.0.tenants.get(&actor.tenant) else {
            return Ok(());
        };
        let changes = keys.into_iter().map(|key| (key, None)).collect();
        match self.commit_state(&tenant, actor, changes).await {
            Ok(()) => Ok(()),
            Err(execute::CommitError::Store(e)) => Err(e),
            // Deleting only frees space.
            Err(execute::CommitError::Quota(..)) => Ok(()),
        }
    }

    /// Apply a state transaction from outside the actor's turns (Dapr's state API, which an
    /// app calls while its turn runs). Like Dapr, only for an active actor.
    pub async fn state_transaction(
        &self,
        actor: &ActorId,
        changes: Vec<StateChange>,
    ) -> Result<(), StateError> {
        let tenant = match self.0.tenants.get(&actor.tenant) {
            Some(t) if self.0.table.is_active(actor) => t,
            _ => return Err(StateError::NotActive(actor.clone())),
        };
        self.commit_state(&tenant, actor, changes)
            .await
            .map_err(|e| match e {
                execute::CommitError::Quota(kind, max) => StateError::Quota {
                    tenant: actor.tenant.to_string(),
                    kind,
                    max,
                },
                execute::CommitError::Store(e) => StateError::Store(e),
            })
    }
}
