//! The runtime core: tenants' actor types, the actor table, turns, timers, reminders and
//! state commit. Every protocol adapter calls [`Runtime`]; nothing else touches the store
//! or an instance.

pub mod activity;
mod addressing;
mod backend;
mod catalog;
mod components;
pub mod config;
pub mod egress;
pub use warren_wire::durations;
mod execute;
mod firing;
mod follow;
mod lifecycle;
pub mod metrics;
mod platform;
mod records;
mod reminder_records;
mod routing;
pub mod scheduler;
mod shared;
mod state;
mod table;
mod tenancy;
pub mod tenants;
pub mod trace;
mod turn;
mod upgrade;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::store::StateStore;
use crate::types::manifest;

/// Whether a state key is the host's own, which no guest or caller may read or write.
pub use crate::store::record::is_reserved as is_host_key;
pub use crate::types::{
    ActorId, CallMode, DEFAULT_TENANT, Fired, Invocation, InvokeError, LimitKind, Reply, Trigger,
    check_name,
};
pub use backend::{
    ActorBackend, BackendFuture, ComponentLoader, HeldState, HeldStateError, KeptUsage, LoadError,
    LoadedComponent, TenantKept, Turn, TurnOutcome,
};
pub use catalog::{
    ActorTypeEntry, AttachError, Breakage, CanaryInfo, Catalog, CatalogContext, ComponentInfo,
    DeployError, DeployOptions, TypeConflict, VersionError, VersionView, canary_bucket,
};
pub use firing::ScheduleError;
pub use follow::MAX_ROUTE_HOPS;
pub use platform::{
    AgentPlatform, Delivery, PlatformBroadcast, PlatformCaller, PlatformError, PlatformInvoke,
    PlatformSend,
};
pub use routing::{ActorRouter, Placement, ScheduleChange};
pub use shared::{FollowFuture, Follower};
pub use state::StateError;
pub use table::ActivationCache;
pub use tenancy::{TenantError, TenantView};
pub use turn::{HeldRecord, ScheduleOp, TurnState};

use scheduler::Scheduler;
use table::ActorTable;
use tenants::Limits;

/// Settings of the runtime core.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Deactivate an actor after this long without a turn (unless its type says otherwise).
    pub idle_timeout: Duration,
    /// Overdue reminders (after downtime) fire at most this many per second.
    pub reminder_backlog_rate: u32,
    /// Timer and reminder firings running as turns at once; a burst of due reminders
    /// queues behind them instead of becoming thousands of concurrent turns.
    pub max_firing_turns: usize,
    /// Limits of a tenant that does not override them.
    pub limits: Limits,
    /// Whether turns are recorded as trace spans (a trace context that arrives is carried
    /// on either way).
    pub tracing: trace::Tracing,
    /// Whether turns, requests, commits and firings are counted (`/metrics`, the console's
    /// charts). On by default; off only to measure what counting costs.
    pub metrics: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 64 << 20,
            max_kept_memory_bytes: 256 << 20,
            turn_timeout_ms: 60_000,
            fuel_per_turn: None,
            max_concurrent_turns: 10_000,
            max_active_actors: 10_000_000,
            max_state_bytes_per_actor: 64 << 20,
            max_state_bytes: 1 << 40,
            max_components: 100,
            max_payload_bytes: 4 << 20,
            allowed_outbound_hosts: Vec::new(),
            max_outbound_requests: 64,
            max_outbound_request_bytes: 1 << 20,
            max_outbound_response_bytes: 8 << 20,
            outbound_connect_timeout_ms: 5_000,
            outbound_first_byte_timeout_ms: 30_000,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            idle_timeout: Duration::from_secs(60 * 60),
            reminder_backlog_rate: 500,
            max_firing_turns: 1000,
            limits: Limits::default(),
            tracing: trace::Tracing::default(),
            metrics: true,
        }
    }
}

/// Counters for the admin API.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Actors active on this host now.
    pub active_actors: usize,
    /// Components compiled since start.
    pub components_compiled: u64,
    /// Components loaded from the compiled-artifact cache instead, since start.
    pub artifact_cache_hits: u64,
    /// Timer and reminder firings, with their lateness.
    pub firings: firing::FiringSnapshot,
}

struct Inner {
    config: RuntimeConfig,
    store: Arc<dyn StateStore>,
    /// The components, their versions and the actor types they provide (`catalog/`).
    catalog: catalog::Catalog,
    table: ActorTable,
    scheduler: Scheduler,
    /// How many firings run at once, how fast a backlog drains (`firing/pace.rs`).
    pacing: firing::Pacing,
    /// Tenants, their limits and tokens (`tenancy.rs`).
    tenancy: tenancy::Tenancy,
    /// When this runtime started, milliseconds since the Unix epoch.
    started_ms: i64,
    /// Round-robin position over the members of pooled types.
    pool_cursor: std::sync::atomic::AtomicU64,
    /// Where the last read of due reminders stopped (`firing.rs`).
    reminder_cursor: tokio::sync::Mutex<Option<crate::store::ReminderCursor>>,
    /// Serializes writes of host-wide records (`records.rs`).
    record_writes: tokio::sync::Mutex<()>,
    /// Who keeps host-wide records and follows them (`shared.rs`); weak, since each
    /// holds the runtime.
    followers: std::sync::Mutex<Vec<std::sync::Weak<dyn Follower>>>,
    /// What the host counts (`metrics.rs`).
    metrics: metrics::Metrics,
    /// The platform turns call (`platform.rs`), installed by the binary.
    agent_platform: std::sync::RwLock<Option<Arc<dyn AgentPlatform>>>,
    /// Cluster mode: where actors live (`routing.rs`), installed by the binary.
    router: std::sync::OnceLock<Arc<dyn ActorRouter>>,
    /// Actors kept active without a message (Spawn's named stateful actors), activated by
    /// whichever host owns them (`lifecycle.rs`).
    eager: std::sync::Mutex<std::collections::HashSet<ActorId>>,
}

/// Handle to the runtime core. Cheap to clone.
#[derive(Clone)]
pub struct Runtime(Arc<Inner>);

/// The future of one invocation.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<Reply, InvokeError>> + Send>>;

/// Now, in whole seconds since the Unix epoch (0 if the clock is set before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Runtime {
    /// A runtime over `store`, deploying components through `loader`; starts the idle
    /// sweeper and the timer loop.
    pub fn new(
        config: RuntimeConfig,
        store: Arc<dyn StateStore>,
        loader: Arc<dyn ComponentLoader>,
    ) -> Self {
        let config_rate = config.reminder_backlog_rate;
        let metrics = metrics::Metrics::new(config.metrics);
        let firing_slots = config.max_firing_turns;
        let started_ms = scheduler::now_ms();
        let tenancy = tenancy::Tenancy::new(store.clone(), config.limits.clone());
        let catalog_store: Arc<dyn crate::store::ComponentStore> = store.clone();
        let runtime = Runtime(Arc::new(Inner {
            config,
            store,
            catalog: catalog::Catalog::new(catalog_store, loader),
            table: ActorTable::new(),
            scheduler: Scheduler::default(),
            pacing: firing::Pacing::new(firing_slots, config_rate, started_ms),
            tenancy,
            started_ms,
            pool_cursor: Default::default(),
            record_writes: tokio::sync::Mutex::new(()),
            followers: std::sync::Mutex::new(Vec::new()),
            reminder_cursor: tokio::sync::Mutex::new(None),
            agent_platform: std::sync::RwLock::new(None),
            router: std::sync::OnceLock::new(),
            eager: Default::default(),
            metrics,
        }));
        runtime.start_sweeper();
        runtime.start_sampler();
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

    /// Close a second of the recent activity every second.
    fn start_sampler(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                inner.metrics.activity().sample(scheduler::now_ms());
            }
        });
    }

    /// An actor was deactivated: its timers die, and an app hosting it is told.
    fn deactivated(&self, actor: ActorId) {
        tracing::debug!(%actor, "deactivated after idle timeout");
        self.0.metrics.deactivated();
        self.0.scheduler.remove_timers(&actor);
        if let Some(tenant) = self.0.tenancy.get(&actor.tenant) {
            tenant
                .active_actors
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
        if let Some(entry) = self
            .0
            .catalog
            .registry()
            .actor_type(&actor.tenant, &actor.actor_type)
        {
            entry.backend.clone().deactivated(self, actor);
        }
    }

    /// The deadline of a request of `tenant` arriving now.
    pub fn deadline(&self, tenant: &str) -> Instant {
        let ms = self
            .0
            .tenancy
            .get(tenant)
            .map(|t| t.limits.turn_timeout_ms)
            .unwrap_or(self.0.config.limits.turn_timeout_ms);
        Instant::now() + Duration::from_millis(ms)
    }

    /// The deadline of a request of `tenant` arriving now whose caller asked for `asked`:
    /// a caller may shorten its tenant's turn timeout, never extend it.
    pub fn deadline_within(&self, tenant: &str, asked: Option<Duration>) -> Instant {
        let limit = self.deadline(tenant);
        asked
            .and_then(|t| Instant::now().checked_add(t))
            .map_or(limit, |asked| asked.min(limit))
    }

    /// The components of a tenant.
    pub fn components(&self, tenant: &str) -> Vec<ComponentInfo> {
        self.0.catalog.registry().components(tenant)
    }

    /// The actor types of a tenant, each with the component providing it.
    pub fn actor_types(&self, tenant: &str) -> Vec<(manifest::ActorTypeSpec, String)> {
        self.0.catalog.registry().actor_types(tenant)
    }

    /// Whether a tenant hosts an actor type.
    pub fn hosts(&self, tenant: &str, actor_type: &str) -> bool {
        self.0
            .catalog
            .registry()
            .actor_type(tenant, actor_type)
            .is_some()
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

    /// Whether and how spans are recorded, for the adapters' request spans.
    pub fn tracing(&self) -> &trace::Tracing {
        &self.0.config.tracing
    }

    /// Process-wide counters.
    pub fn stats(&self) -> Stats {
        let (compiles, hits) = self.0.catalog.loader().cache_counts();
        Stats {
            active_actors: self.0.table.len(),
            components_compiled: compiles,
            artifact_cache_hits: hits,
            firings: self.0.pacing.snapshot(),
        }
    }
}
