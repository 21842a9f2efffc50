//! The one request shape every protocol adapter hands to the runtime core, and its errors.

use std::time::Instant;

use super::ActorId;
use super::state::{ReminderChange, StoreError};
use super::workflow::Workflow;

/// Whether the sender waits for the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallMode {
    Call,
    Cast,
}

/// A timer or reminder firing, as delivered to the actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub name: String,
    /// Raw JSON as registered.
    pub data: Vec<u8>,
    /// The strings given at registration.
    pub due_time: String,
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
    Timer(Fired),
    Reminder(Fired),
    /// A message published to a channel the actor's type listens on (the channel name).
    Broadcast(String),
    /// The actor was just activated; the action is its type's activation hook.
    Activate,
}

/// A successful turn's answer.
#[derive(Clone, Debug, Default)]
pub struct Reply {
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
    pub target: ActorId,
    pub action: String,
    pub payload: Vec<u8>,
    /// Protocol metadata (headers), keys lower-case.
    pub metadata: Vec<(String, String)>,
    /// The actor that sent this, when an actor did.
    pub caller: Option<ActorId>,
    pub mode: CallMode,
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
    ConcurrentTurns,
    ActiveActors,
    Payload,
    Reply,
    StatePerActor,
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
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("actor type {actor_type:?} is not hosted in tenant {tenant:?}")]
    ActorTypeNotFound { tenant: String, actor_type: String },
    #[error("actor {actor} has no action {action:?}: {message}")]
    ActionNotFound {
        actor: ActorId,
        action: String,
        message: String,
    },
    #[error("actor {actor} rejected the payload of {action:?}: {message}")]
    InvalidArgument {
        actor: ActorId,
        action: String,
        message: String,
    },
    #[error("actor {actor} failed in {action:?}: {message}")]
    Failed {
        actor: ActorId,
        action: String,
        message: String,
    },
    #[error("actor {actor} trapped in {action:?}; its state changes were dropped: {message}")]
    Trapped {
        actor: ActorId,
        action: String,
        message: String,
    },
    #[error(
        "actor {actor} exceeded its memory limit of {limit_bytes} bytes in {action:?}; its state changes were dropped"
    )]
    MemoryLimit {
        actor: ActorId,
        action: String,
        limit_bytes: u64,
    },
    #[error(
        "actor {actor} did not finish {action:?} before its deadline; its state changes were dropped"
    )]
    DeadlineExceeded { actor: ActorId, action: String },
    #[error(
        "call to {actor} would wait on itself: its call chain already holds the actor's turn and the type does not allow reentrancy"
    )]
    CallCycle { actor: ActorId },
    #[error("call chain re-entered {actor} more than its maximum stack depth of {max}")]
    StackDepth { actor: ActorId, max: u32 },
    #[error("the host is at its limit of concurrent instances")]
    Overloaded,
    #[error("tenant {tenant:?} does not exist")]
    TenantNotFound { tenant: String },
    #[error(
        "tenant {tenant:?} is at its limit of {max} {kind} (sending to {actor}); nothing was changed"
    )]
    LimitExceeded {
        tenant: String,
        actor: ActorId,
        kind: LimitKind,
        max: u64,
    },
    #[error(
        "actor {actor} ran out of fuel ({fuel} units) in {action:?}; its state changes were dropped"
    )]
    FuelExhausted {
        actor: ActorId,
        action: String,
        fuel: u64,
    },
    /// An external backend's process answered with an error of its own protocol; `body`
    /// is its answer, for the adapter of that protocol to pass on as the cause.
    #[error(
        "the host of {actor} answered {status} in {action:?}: {}",
        String::from_utf8_lossy(body)
    )]
    Downstream {
        actor: ActorId,
        action: String,
        status: u16,
        body: Vec<u8>,
    },
    /// Cluster mode: the actor's owner could not be reached or refused the turn. With
    /// `ran` false the turn surely did not run (it may be sent again).
    #[error("actor {actor} is unavailable: {message}")]
    Unavailable {
        actor: ActorId,
        message: String,
        ran: bool,
    },
    #[error("storing the turn of {actor} failed: {source}")]
    Store {
        actor: ActorId,
        #[source]
        source: StoreError,
    },
}
