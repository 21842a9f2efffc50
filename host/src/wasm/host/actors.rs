//! Host side of `warren:actor/actors`: messages to other actors, through the runtime core.

use super::HostState;
use crate::runtime::{ActorId, CallMode, Invocation, InvokeError, Trigger, check_name};
use crate::wasm::bindings::types::{ActorRef, Error};
use crate::wasm::bindings::warren::actor::actors::Host;

/// The invocation a guest's call or cast turns into.
fn outgoing(
    host: &mut HostState,
    target: &ActorRef,
    action: String,
    payload: Vec<u8>,
    mode: CallMode,
) -> wasmtime::Result<Result<Invocation, Error>> {
    let turn = host.turn()?;
    if let Err(e) = check_name("actor type", &target.actor_type)
        .and_then(|()| check_name("actor id", &target.id))
    {
        return Ok(Err(Error::InvalidArgument(e)));
    }
    let me = turn.state.actor().clone();
    let target = ActorId::new(&me.tenant, &target.actor_type, &target.id);
    Ok(Ok(Invocation {
        target,
        action,
        payload,
        metadata: Vec::new(),
        caller: Some(me),
        mode,
        trigger: Trigger::Message,
        reentrancy_id: turn.reentrancy_id.clone(),
        deadline: turn.deadline,
        // A cast does not wait, so it starts a chain of its own.
        chain: match mode {
            CallMode::Call => turn.chain.clone(),
            CallMode::Cast => Vec::new(),
        },
    }))
}

/// How a failed call looks to the calling guest.
fn to_guest_error(e: InvokeError) -> Error {
    match e {
        InvokeError::ActorTypeNotFound { .. } | InvokeError::ActionNotFound { .. } => {
            Error::NotFound(e.to_string())
        }
        InvokeError::BadRequest(_) | InvokeError::InvalidArgument { .. } => {
            Error::InvalidArgument(e.to_string())
        }
        InvokeError::CallCycle { .. }
        | InvokeError::DeadlineExceeded { .. }
        | InvokeError::Overloaded => Error::Unavailable(e.to_string()),
        _ => Error::Failed(e.to_string()),
    }
}

impl Host for HostState {
    async fn call(
        &mut self,
        target: ActorRef,
        action: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let invocation = match outgoing(self, &target, action, payload, CallMode::Call)? {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let runtime = self.turn()?.runtime.clone();
        Ok(runtime.invoke(invocation).await.map_err(to_guest_error))
    }

    async fn cast(
        &mut self,
        target: ActorRef,
        action: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let invocation = match outgoing(self, &target, action, payload, CallMode::Cast)? {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        self.turn()?.state.push_cast(invocation);
        Ok(Ok(()))
    }
}
