//! The plain types every layer shares: who an actor is, what a message to it looks like,
//! what a turn answers and asks for, what a component declares, and what a state change
//! is. A leaf: it imports nothing of Warren, so any layer may import it.

mod ids;
mod invocation;
pub mod manifest;
mod state;
pub mod workflow;

pub use ids::{ActorId, DEFAULT_TENANT, check_name};
pub use invocation::{CallMode, Fired, Invocation, InvokeError, LimitKind, Reply, Trigger};
pub use state::{ReminderChange, StateChange, StoreError};
