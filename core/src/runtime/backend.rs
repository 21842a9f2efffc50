//! The seam between the runtime core and whatever runs an actor type's turns: a Wasm
//! component, an app called back over HTTP, a process holding a stream open. The core
//! names none of them; each implements [`ActorBackend`] and is registered as a trait
//! object.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::config::ComponentConfig;
use super::egress::TenantEgress;
use super::tenants::Limits;
use super::{ActivationCache, Runtime, TurnState};
use crate::types::manifest::Manifest;
use crate::types::{ActorId, Invocation, InvokeError, LimitKind, Reply, StoreError};

/// A boxed future of a backend method.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One turn, as the core hands it to a backend. The core holds the actor's turn (or the
/// chain re-entering it) for as long as the backend runs it.
pub struct Turn<'a> {
    /// The runtime, for the calls, casts and timers a turn makes.
    pub runtime: &'a Runtime,
    /// The message the turn runs: target, action, payload, trigger and deadline.
    pub invocation: &'a Invocation,
    /// The limits of the actor's tenant.
    pub limits: &'a Limits,
    /// What the backend kept for this activation after its last turn.
    pub cache: &'a ActivationCache,
    /// The turn's view of the actor's committed state, for a backend whose turns stage
    /// their writes for the core to commit.
    pub state: TurnState,
    /// The configuration values of the actor's component, if it has any.
    pub config: Option<Arc<ComponentConfig>>,
    /// What the turn may send out, under its tenant's egress policy.
    pub egress: TenantEgress,
}

/// What a backend answers for one turn.
pub struct TurnOutcome {
    /// The turn's reply, or why it failed.
    pub result: Result<Reply, InvokeError>,
    /// The turn's staged state, timers, casts and workflow, which the core commits when
    /// the turn succeeded; `None` for a backend that keeps its actors' state itself.
    pub staged: Option<TurnState>,
    /// What the actor's code printed during a failed turn (its first lines), shown with
    /// the failure; empty when the backend does not see it.
    pub output: Vec<String>,
}

impl TurnOutcome {
    /// The outcome of a backend that stages nothing with the core.
    pub fn unstaged(result: Result<Reply, InvokeError>) -> Self {
        TurnOutcome {
            result,
            staged: None,
            output: Vec::new(),
        }
    }
}

/// Why a backend could not restore, or store, the state it holds for an actor.
#[derive(Debug, thiserror::Error)]
pub enum HeldStateError {
    /// The actor's backend keeps no revisions (it commits every turn).
    #[error(
        "actor {0} keeps no revisions: only actors whose state is written behind (those of a Spawn SDK) do; a Wasm actor commits every turn"
    )]
    NoRevisions(ActorId),
    /// No revision of that number is stored for the actor.
    #[error("actor {actor} has no stored revision {revision}")]
    NoRevision {
        /// The actor asked for.
        actor: ActorId,
        /// The revision asked for.
        revision: i64,
    },
    /// A stored revision could not be decoded.
    #[error("revision {revision} of {actor} is unreadable: {message}")]
    Unreadable {
        /// The actor whose revision it is.
        actor: ActorId,
        /// The revision's number.
        revision: i64,
        /// What the decoder said.
        message: String,
    },
    /// Storing the state would take the tenant past a state limit.
    #[error("tenant {tenant:?} is at its limit of {max} {kind}; the snapshot was not written")]
    Quota {
        /// The tenant at its limit.
        tenant: String,
        /// Which limit.
        kind: LimitKind,
        /// The limit, in bytes of state.
        max: u64,
    },
    /// The actor's tenant does not exist.
    #[error("tenant {tenant:?} does not exist")]
    NoTenant {
        /// The tenant's name.
        tenant: String,
    },
    /// The actor could not be activated to restore it.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whatever runs the turns of one or more actor types.
///
/// Only [`ActorBackend::run_turn`] is required; the other methods are hooks with no-op
/// defaults, for backends that talk to a process that must hear about activations and
/// deactivations, and [`ActorBackend::held_state`] for those that hold actor state
/// between turns.
pub trait ActorBackend: Send + Sync + 'static {
    /// Run one turn.
    fn run_turn<'a>(&'a self, turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome>;

    /// `actor` is being activated: called once per activation, holding its turn, before
    /// its first turn runs (Dapr's activation callback to an app).
    fn activating<'a>(
        &'a self,
        _runtime: &'a Runtime,
        _actor: &'a ActorId,
    ) -> BackendFuture<'a, ()> {
        Box::pin(async {})
    }

    /// `actor` was deactivated after its idle timeout. Called off the sweeper; a backend
    /// that must tell someone spawns the work.
    fn deactivated(self: Arc<Self>, _runtime: &Runtime, _actor: ActorId) {}

    /// What this backend adds when it holds its actors' state between turns and writes
    /// it behind (the Spawn SDK's backend): the core asks for the capability, never for
    /// the concrete type.
    fn held_state(&self) -> Option<&dyn HeldState> {
        None
    }
}

/// The capability of a backend that holds its actors' state between turns and writes it
/// behind, keeping stored revisions (the Spawn SDK's): what the core asks of it to restore
/// a revision and to write everything at shutdown.
pub trait HeldState: Send + Sync {
    /// Make stored revision `revision` the state of `actor`. The caller holds the actor's
    /// turn.
    fn restore_revision<'a>(
        &'a self,
        runtime: &'a Runtime,
        actor: &'a ActorId,
        revision: i64,
    ) -> BackendFuture<'a, Result<(), HeldStateError>>;

    /// Write the state held behind to the store (at shutdown).
    fn flush_held_state<'a>(&'a self, runtime: &'a Runtime) -> BackendFuture<'a, ()>;
}

/// A backend that loads deployed components: compiles the bytes, checks them, and reads
/// the manifest they describe themselves with.
pub trait ComponentLoader: Send + Sync + 'static {
    /// Load a component's bytes into a backend for its actor types.
    fn load(
        self: Arc<Self>,
        wasm: Arc<Vec<u8>>,
    ) -> BackendFuture<'static, Result<LoadedComponent, LoadError>>;

    /// Components compiled since start, and artifacts loaded from the cache instead.
    fn cache_counts(&self) -> (u64, u64);

    /// The instances kept warm for their actors now, and their memory budget.
    fn kept(&self) -> KeptUsage {
        KeptUsage::default()
    }

    /// The instances kept for one tenant's actors now, and the memory charged to them.
    fn kept_by(&self, _tenant: &str) -> TenantKept {
        TenantKept::default()
    }
}

/// What one tenant's kept instances hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TenantKept {
    /// Instances kept now.
    pub instances: u64,
    /// Memory charged to them, in bytes.
    pub bytes: u64,
}

/// What the instances kept for their actors between turns hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeptUsage {
    /// Instances kept now.
    pub instances: u64,
    /// Memory charged to them, in bytes.
    pub bytes: u64,
    /// The host's budget for them, in bytes.
    pub budget_bytes: u64,
    /// Kept instances dropped to make room for others, since start.
    pub evictions: u64,
}

/// A component loaded and described, ready to register.
pub struct LoadedComponent {
    /// What runs the turns of the component's actor types.
    pub backend: Arc<dyn ActorBackend>,
    /// The manifest the component described itself with.
    pub manifest: Manifest,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Length of the bytes.
    pub size: usize,
}

/// Why a `.wasm` was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component the engine accepts.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// Its compilation did not finish: the compiler hit a limit or crashed.
    #[error("compiling the component failed: {0}")]
    Compile(String),
    /// The component's imports or exports do not match the `warren:actor` world.
    #[error("the component does not implement the warren:actor world: {0}")]
    WrongWorld(String),
    /// The component's `describe` failed, trapped or did not return in time.
    #[error("the component's `describe` failed: {0}")]
    Describe(String),
    /// The manifest `describe` returned was refused.
    #[error("the component's manifest is not acceptable: {0}")]
    Manifest(String),
}
