//! The port through which an actor's turn calls the platform it runs on: OPACA's
//! agent-to-platform calls (invoke an action wherever it lives, send a message, broadcast).
//! The core only defines the port and holds the one implementation the binary installs;
//! the OPACA adapter implements it, and the Wasm backend's `platform` import calls it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{BackendFuture, Runtime};
use crate::types::ActorId;

/// The turn a platform call comes from.
#[derive(Clone, Debug)]
pub struct PlatformCaller {
    /// The calling actor: for a Wasm agent, (agent type, container id).
    pub actor: ActorId,
    /// The calling turn's call chain, so an invoke that reaches the caller itself is
    /// refused as a cycle instead of waiting on its own turn.
    pub reentrancy_id: Option<String>,
    /// The calling turn's deadline; nothing it waits for outlives it.
    pub deadline: Instant,
}

/// Run an action by name on whichever agent offers it.
#[derive(Clone, Debug)]
pub struct PlatformInvoke {
    /// The action's name.
    pub action: String,
    /// The arguments, a JSON object.
    pub arguments: String,
    /// Only this agent, when given.
    pub agent: Option<String>,
    /// Only this container, when given.
    pub container: Option<String>,
    /// Whether connected platforms are asked too.
    pub forward: bool,
    /// A shorter time limit than the turn's.
    pub timeout: Option<Duration>,
}

/// Deliver a message to every agent of a name.
#[derive(Clone, Debug)]
pub struct PlatformSend {
    /// The name of the agents to deliver to.
    pub agent: String,
    /// The message, a JSON object (`payload`, `replyTo`).
    pub message: String,
    /// Only the agents of this container, when given.
    pub container: Option<String>,
    /// Whether agents on connected platforms get it too.
    pub forward: bool,
}

/// Publish a message on a channel.
#[derive(Clone, Debug)]
pub struct PlatformBroadcast {
    /// The channel's name.
    pub channel: String,
    /// The message, a JSON object (`payload`, `replyTo`).
    pub message: String,
    /// Whether connected platforms publish it too.
    pub forward: bool,
}

/// A refused or failed platform call, as the same request from outside would be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct PlatformError {
    /// The HTTP status the request would get.
    pub status: u16,
    /// What went wrong, as the error's body would say it.
    pub message: String,
    /// The answer of the agent or platform that failed, as JSON, when one did.
    pub cause: Option<String>,
}

impl PlatformError {
    /// An error with no downstream cause.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        PlatformError {
            status,
            message: message.into(),
            cause: None,
        }
    }
}

/// A checked message, sent when it is run: the caller runs it only once its turn commits.
pub type Delivery = BackendFuture<'static, ()>;

/// What the platform offers a turn. `send` and `broadcast` check the request at once and
/// hand back its delivery, so a turn that fails sends nothing.
pub trait AgentPlatform: Send + Sync {
    /// Run the action and wait for its result (JSON).
    fn invoke<'a>(
        &'a self,
        caller: &'a PlatformCaller,
        request: PlatformInvoke,
    ) -> BackendFuture<'a, Result<String, PlatformError>>;

    /// Check a message and resolve its recipients; the delivery to run.
    fn send<'a>(
        &'a self,
        caller: &'a PlatformCaller,
        request: PlatformSend,
    ) -> BackendFuture<'a, Result<Delivery, PlatformError>>;

    /// Check a broadcast; the delivery to run.
    fn broadcast<'a>(
        &'a self,
        caller: &'a PlatformCaller,
        request: PlatformBroadcast,
    ) -> BackendFuture<'a, Result<Delivery, PlatformError>>;
}

impl Runtime {
    /// Install the platform turns call (once, at start; a later call replaces it).
    pub fn set_agent_platform(&self, platform: Arc<dyn AgentPlatform>) {
        *self
            .0
            .agent_platform
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(platform);
    }

    /// The platform turns call, when one is installed.
    pub fn agent_platform(&self) -> Option<Arc<dyn AgentPlatform>> {
        self.0
            .agent_platform
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
