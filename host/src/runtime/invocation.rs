//! The one request shape every protocol adapter hands to the runtime core, and its errors.

use std::time::Instant;

use super::ActorId;
use crate::store::StoreError;

/// Whether the sender waits for the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallMode {
    Call,
    Cast,
}

/// Why a turn runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A message from a protocol adapter or another actor.
    Message,
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
    /// Re-entrant call chains share this id (Dapr's `Dapr-Reentrancy-Id`).
    pub reentrancy_id: Option<String>,
    /// The turn fails with [`InvokeError::DeadlineExceeded`] if not done by then.
    pub deadline: Instant,
    /// The actors whose turns are waiting on this call, outermost first.
    pub chain: Vec<ActorId>,
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
            chain: Vec::new(),
        }
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
    #[error("call to {actor} would wait on itself: the call chain {chain} already holds its turn")]
    CallCycle { actor: ActorId, chain: String },
    #[error("the host is at its limit of concurrent instances")]
    Overloaded,
    #[error("storing the turn of {actor} failed: {source}")]
    Store {
        actor: ActorId,
        #[source]
        source: StoreError,
    },
}
