//! The one request shape every protocol adapter hands to the runtime core, and its errors.

use std::time::Instant;

use super::ActorId;
use super::state::{ReminderChange, StoreError};
use super::workflow::Workflow;

/// Whether the sender waits for the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallMode {
    /// A request: the sender waits for the reply.
    Call,
    /// Fire and forget: the sender does not wait, and the reply is dropped.
    Cast,
}

/// A timer or reminder firing, as delivered to the actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The timer's or reminder's name.
    pub name: String,
    /// Raw JSON as registered.
    pub data: Vec<u8>,
    /// The strings given at registration.
    pub due_time: String,
    /// Dapr's `period` as registered (may be empty).
    pub period: String,
    /// A timer's callback method, when it has one.
    pub callback: Option<String>,
    /// For a reminder: its progress ([`ReminderChange::Advance`] to the next due time, or
    /// to none after the last firing), which the firing's turn commits with its state.
    pub progress: Option<ReminderChange>,
}

/// Why a turn runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A message from a protocol adapter or another actor.
    Message,
    /// A timer of the actor's activation fired.
    Timer(Fired),
    /// A durable reminder fired.
    Reminder(Fired),
    /// A message published to a channel the actor's type listens on (the channel name).
    Broadcast(String),
    /// The actor was just activated; the action is its type's activation hook.
    Activate,
}

/// A successful turn's answer.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// The reply's payload.
    pub data: Vec<u8>,
    /// Content type, when the backend named one.
    pub content_type: Option<String>,
    /// The actor asked to stop the timer or reminder that triggered this turn.
    pub cancel: bool,
    /// The reminder progress of the firing this turn ran for was committed with the
    /// turn's state (so the firing must not write it again).
    pub progress_committed: bool,
    /// What the runtime does after the turn: side effects, a broadcast, pipe or forward.
    pub workflow: Workflow,
}

impl Reply {
    /// A plain reply.
    pub fn data(data: Vec<u8>) -> Self {
        Reply {
            data,
            ..Reply::default()
        }
    }
}

/// One message to one actor.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The actor the message is for.
    pub target: ActorId,
    /// The action (Dapr's method) to run.
    pub action: String,
    /// The message's payload, as the protocol carried it.
    pub payload: Vec<u8>,
    /// Protocol metadata (headers), keys lower-case.
    pub metadata: Vec<(String, String)>,
    /// The actor that sent this, when an actor did.
    pub caller: Option<ActorId>,
    /// Whether the sender waits for the reply.
    pub mode: CallMode,
    /// Why the turn runs.
    pub trigger: Trigger,
    /// The call chain this message belongs to (Dapr's `Dapr-Reentrancy-Id`). A message
    /// without one starts a new chain.
    pub reentrancy_id: Option<String>,
    /// The turn fails with [`InvokeError::DeadlineExceeded`] if not done by then.
    pub deadline: Instant,
    /// How many pipes and forwards led to this message (0 for one sent directly), so a
    /// route chain that comes back on itself ends (the runtime cuts such a chain).
    pub route_hops: u32,
}

impl Invocation {
    /// A call from outside any actor.
    pub fn call(target: ActorId, action: &str, payload: Vec<u8>, deadline: Instant) -> Self {
        Invocation {
            target,
            action: action.to_string(),
            payload,
            metadata: Vec::new(),
            caller: None,
            mode: CallMode::Call,
            trigger: Trigger::Message,
            reentrancy_id: None,
            deadline,
            route_hops: 0,
        }
    }
}

/// Which tenant limit a request ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// Turns running at once in the tenant.
    ConcurrentTurns,
    /// Actors active at once in the tenant.
    ActiveActors,
    /// Bytes of one request's payload.
    Payload,
    /// Bytes of one turn's reply.
    Reply,
    /// Bytes of one actor's state.
    StatePerActor,
    /// Bytes of the state of all the tenant's actors.
    StatePerTenant,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::ConcurrentTurns => "concurrent turns",
            LimitKind::ActiveActors => "active actors",
            LimitKind::Payload => "payload bytes",
            LimitKind::Reply => "reply bytes",
            LimitKind::StatePerActor => "state bytes per actor",
            LimitKind::StatePerTenant => "state bytes",
        })
    }
}

/// Why an invocation failed. Each protocol maps these to its own codes.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The request itself is unacceptable (a bad name, an unnamed type called by its own
    /// name, ...); the message says why.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// The tenant hosts no actor type of that name.
    #[error("actor type {actor_type:?} is not hosted in tenant {tenant:?}")]
    ActorTypeNotFound {
        /// The tenant the request was for.
        tenant: String,
        /// The actor type asked for.
        actor_type: String,
    },
    /// The actor's type has no such action.
    #[error("actor {actor} has no action {action:?}: {message}")]
    ActionNotFound {
        /// The actor called.
        actor: ActorId,
        /// The action asked for.
        action: String,
        /// The backend's explanation.
        message: String,
    },
    /// The actor refused the payload as unfit for the action.
    #[error("actor {actor} rejected the payload of {action:?}: {message}")]
    InvalidArgument {
        /// The actor called.
        actor: ActorId,
        /// The action called.
        action: String,
        /// The actor's explanation.
        message: String,
    },
    /// The action ran and failed; the message is the application's.
    #[error("actor {actor} failed in {action:?}: {message}")]
    Failed {
        /// The actor called.
        actor: ActorId,
        /// The action called.
        action: String,
        /// The application's error message.
        message: String,
    },
    /// The actor's Wasm code trapped; the turn's state changes were dropped.
    #[error("actor {actor} trapped in {action:?}; its state changes were dropped: {message}")]
    Trapped {
        /// The actor called.
        actor: ActorId,
        /// The action that trapped.
        action: String,
        /// The trap, as the engine described it.
        message: String,
    },
    /// The actor's instance grew past its memory limit; the turn's state changes were
    /// dropped.
    #[error(
        "actor {actor} exceeded its memory limit of {limit_bytes} bytes in {action:?}; its state changes were dropped"
    )]
    MemoryLimit {
        /// The actor called.
        actor: ActorId,
        /// The action that ran out of memory.
        action: String,
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// The turn was not done by the invocation's deadline; its state changes were
    /// dropped.
    #[error(
        "actor {actor} did not finish {action:?} before its deadline; its state changes were dropped"
    )]
    DeadlineExceeded {
        /// The actor called.
        actor: ActorId,
        /// The action that ran late.
        action: String,
    },
    /// The call would wait on a turn its own call chain holds, and the actor's type does
    /// not allow reentrancy.
    #[error(
        "call to {actor} would wait on itself: its call chain already holds the actor's turn and the type does not allow reentrancy"
    )]
    CallCycle {
        /// The actor called.
        actor: ActorId,
    },
    /// The call chain re-entered the actor more often than its type allows.
    #[error("call chain re-entered {actor} more than its maximum stack depth of {max}")]
    StackDepth {
        /// The actor called.
        actor: ActorId,
        /// The type's maximum reentrancy depth.
        max: u32,
    },
    /// The host runs as many instances at once as it may.
    #[error("the host is at its limit of concurrent instances")]
    Overloaded,
    /// No tenant of that name exists.
    #[error("tenant {tenant:?} does not exist")]
    TenantNotFound {
        /// The tenant named.
        tenant: String,
    },
    /// The request would take the tenant past one of its limits; nothing was changed.
    #[error(
        "tenant {tenant:?} is at its limit of {max} {kind} (sending to {actor}); nothing was changed"
    )]
    LimitExceeded {
        /// The tenant whose limit it is.
        tenant: String,
        /// The actor the request was for.
        actor: ActorId,
        /// Which limit.
        kind: LimitKind,
        /// The limit, in the unit of `kind`.
        max: u64,
    },
    /// The turn used up its fuel (Wasmtime's budget of executed Wasm operations); its
    /// state changes were dropped.
    #[error(
        "actor {actor} ran out of fuel ({fuel} units) in {action:?}; its state changes were dropped"
    )]
    FuelExhausted {
        /// The actor called.
        actor: ActorId,
        /// The action that ran out of fuel.
        action: String,
        /// The fuel the turn had, in Wasmtime's fuel units.
        fuel: u64,
    },
    /// An external backend's process answered with an error of its own protocol; `body`
    /// is its answer, for the adapter of that protocol to pass on as the cause.
    #[error(
        "the host of {actor} answered {status} in {action:?}: {}",
        String::from_utf8_lossy(body)
    )]
    Downstream {
        /// The actor called.
        actor: ActorId,
        /// The action called.
        action: String,
        /// The HTTP status the process answered with.
        status: u16,
        /// The process's answer, as it sent it.
        body: Vec<u8>,
    },
    /// Cluster mode: the actor's owner could not be reached or refused the turn. With
    /// `ran` false the turn surely did not run (it may be sent again).
    #[error("actor {actor} is unavailable: {message}")]
    Unavailable {
        /// The actor called.
        actor: ActorId,
        /// Why it is unavailable.
        message: String,
        /// Whether the turn may have run on the owner.
        ran: bool,
    },
    /// Loading or committing the actor's state failed.
    #[error("storing the turn of {actor} failed: {source}")]
    Store {
        /// The actor whose turn it was.
        actor: ActorId,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}
