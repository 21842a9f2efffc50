//! Host side of `warren:actor/actors`: messages to other actors, timers and reminders,
//! all through the runtime core.

use super::TurnView;
use crate::bindings::types::{ActorRef, Error};
use crate::bindings::warren::actor::actors::Host;
use warren_core::runtime::scheduler::{FailurePolicy, Job, JobKind, JobRequest};
use warren_core::runtime::{
    ActorId, CallMode, Invocation, InvokeError, ScheduleOp, Trigger, check_name,
};

/// The invocation a guest's call or cast turns into.
fn outgoing(
    host: &mut TurnView<'_>,
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
        metadata: turn.trace.clone(),
        caller: Some(me),
        mode,
        trigger: Trigger::Message,
        // A call continues this turn's chain; a cast does not wait, so it starts its own.
        reentrancy_id: match mode {
            CallMode::Call => turn.reentrancy_id.clone(),
            CallMode::Cast => None,
        },
        deadline: turn.deadline,
        route_hops: 0,
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
        | InvokeError::StackDepth { .. }
        | InvokeError::DeadlineExceeded { .. }
        | InvokeError::Unavailable { .. }
        | InvokeError::Overloaded => Error::Unavailable(e.to_string()),
        _ => Error::Failed(e.to_string()),
    }
}

/// Parse a guest's timer or reminder registration.
fn job(
    kind: JobKind,
    name: &str,
    due_time: &str,
    period: &str,
    ttl: &str,
    data: Vec<u8>,
) -> Result<Job, Error> {
    check_name("name", name).map_err(Error::InvalidArgument)?;
    Job::new(
        JobRequest {
            kind,
            name,
            due_time,
            period,
            ttl,
            data,
            callback: None,
            failure_policy: FailurePolicy::default(),
        },
        chrono::Utc::now(),
    )
    .map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// Stage a parsed timer or reminder change in the turn; a parse error goes to the guest.
fn stage(
    host: &mut TurnView<'_>,
    op: Result<ScheduleOp, Error>,
) -> wasmtime::Result<Result<(), Error>> {
    let turn = host.turn()?;
    Ok(op.map(|op| turn.state.push_schedule(op)))
}

impl Host for TurnView<'_> {
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
        Ok(runtime
            .invoke_detached(invocation)
            .await
            .map(|reply| reply.data)
            .map_err(to_guest_error))
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

    async fn set_timer(
        &mut self,
        name: String,
        due_time: String,
        period: String,
        ttl: String,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let job = job(JobKind::Timer, &name, &due_time, &period, &ttl, data);
        stage(self, job.map(ScheduleOp::SetTimer))
    }

    async fn cancel_timer(&mut self, name: String) -> wasmtime::Result<()> {
        self.turn()?
            .state
            .push_schedule(ScheduleOp::CancelTimer(name));
        Ok(())
    }

    async fn set_reminder(
        &mut self,
        name: String,
        due_time: String,
        period: String,
        ttl: String,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let job = job(JobKind::Reminder, &name, &due_time, &period, &ttl, data);
        stage(self, job.map(ScheduleOp::SetReminder))
    }

    async fn cancel_reminder(&mut self, name: String) -> wasmtime::Result<()> {
        self.turn()?
            .state
            .push_schedule(ScheduleOp::CancelReminder(name));
        Ok(())
    }
}
