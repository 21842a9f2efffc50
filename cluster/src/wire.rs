//! Invocations, replies and errors as the host-to-host service carries them
//! (`proto/warren_cluster.proto`), and back; the errors kind by kind are in `failure.rs`.

use std::time::{Duration, Instant};

use warren_core::runtime::scheduler::JobKind;
use warren_core::runtime::{ScheduleChange, ScheduleError};
use warren_core::types::{ActorId, CallMode, Invocation, InvokeError, Reply, StoreError, Trigger};

use crate::failure::{error_of, failure};

use crate::proto::actor_of;
pub use crate::proto::{Malformed, actor_ref, pb};

/// An invocation as sent to its actor's owner. A timer's or reminder's firing travels
/// as a plain message (firings run on the owner; one only travels when its partition
/// moved during the firing).
pub fn invocation_to_wire(invocation: &Invocation) -> pb::ForwardedInvocation {
    pb::ForwardedInvocation {
        target: Some(actor_ref(&invocation.target)),
        action: invocation.action.clone(),
        payload: invocation.payload.clone(),
        metadata: invocation
            .metadata
            .iter()
            .map(|(key, value)| pb::Header {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        caller: invocation.caller.as_ref().map(actor_ref),
        cast: invocation.mode == CallMode::Cast,
        reentrancy_id: invocation.reentrancy_id.clone(),
        deadline_ms: invocation
            .deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64,
        route_hops: invocation.route_hops,
        broadcast: match &invocation.trigger {
            Trigger::Broadcast(channel) => Some(channel.clone()),
            _ => None,
        },
    }
}

/// A forwarded invocation as the owner runs it; its deadline is at most `limit` away.
pub fn invocation_from_wire(
    wire: pb::ForwardedInvocation,
    limit: Instant,
) -> Result<Invocation, Malformed> {
    let caller = wire.caller.map(|c| actor_of(Some(c))).transpose()?;
    let deadline = Instant::now()
        .checked_add(Duration::from_millis(wire.deadline_ms))
        .map_or(limit, |asked| asked.min(limit));
    Ok(Invocation {
        target: actor_of(wire.target)?,
        action: wire.action,
        payload: wire.payload,
        metadata: wire
            .metadata
            .into_iter()
            .map(|h| (h.key, h.value))
            .collect(),
        caller,
        mode: if wire.cast {
            CallMode::Cast
        } else {
            CallMode::Call
        },
        trigger: match wire.broadcast {
            Some(channel) => Trigger::Broadcast(channel),
            None => Trigger::Message,
        },
        reentrancy_id: wire.reentrancy_id,
        deadline,
        route_hops: wire.route_hops,
    })
}

/// A turn's result, to send back to the host that forwarded it.
pub fn reply_to_wire(result: Result<Reply, InvokeError>) -> pb::ForwardedReply {
    use pb::forwarded_reply::Outcome;
    pb::ForwardedReply {
        outcome: Some(match result {
            Ok(reply) => Outcome::Ok(pb::Reply {
                data: reply.data,
                content_type: reply.content_type,
            }),
            Err(e) => Outcome::Failed(failure(&e)),
        }),
    }
}

/// A forwarded turn's result as the owner sent it, in the caller's terms (a failure keeps
/// its kind, so the caller's client sees what a local turn would have given).
pub fn reply_from_wire(
    wire: pb::ForwardedReply,
    target: &ActorId,
    action: &str,
) -> Result<Reply, InvokeError> {
    use pb::forwarded_reply::Outcome;
    match wire.outcome {
        Some(Outcome::Ok(reply)) => Ok(Reply {
            data: reply.data,
            content_type: reply.content_type,
            ..Reply::default()
        }),
        Some(Outcome::Failed(failure)) => Err(error_of(failure, target, action)),
        None => Err(InvokeError::Unavailable {
            actor: target.clone(),
            message: "the owner sent an empty reply".into(),
            ran: true,
        }),
    }
}

/// A timer or reminder change as sent to its actor's owner.
pub fn schedule_to_wire(
    actor: &ActorId,
    change: &ScheduleChange,
) -> Result<pb::ForwardedSchedule, ScheduleError> {
    use pb::forwarded_schedule::Op;
    let json = |job| {
        serde_json::to_vec(job)
            .map_err(|e| ScheduleError::Store(StoreError::Corrupt(e.to_string())))
    };
    let (op, overwrite) = match change {
        ScheduleChange::SetTimer(job) => (Op::SetTimer(json(job)?), false),
        ScheduleChange::SetReminder { job, overwrite } => (Op::SetReminder(json(job)?), *overwrite),
        ScheduleChange::Delete(JobKind::Timer, name) => (Op::DeleteTimer(name.clone()), false),
        ScheduleChange::Delete(JobKind::Reminder, name) => {
            (Op::DeleteReminder(name.clone()), false)
        }
    };
    Ok(pb::ForwardedSchedule {
        actor: Some(actor_ref(actor)),
        op: Some(op),
        overwrite,
    })
}

/// A forwarded timer or reminder change, in the core's terms.
pub fn schedule_from_wire(
    wire: pb::ForwardedSchedule,
) -> Result<(ActorId, ScheduleChange), Malformed> {
    use pb::forwarded_schedule::Op;
    let actor = actor_of(wire.actor)?;
    let job = |bytes: &[u8]| {
        serde_json::from_slice(bytes).map_err(|e| format!("the job does not parse: {e}"))
    };
    let change = match wire.op.ok_or("the change is missing")? {
        Op::SetTimer(bytes) => ScheduleChange::SetTimer(job(&bytes)?),
        Op::SetReminder(bytes) => ScheduleChange::SetReminder {
            job: job(&bytes)?,
            overwrite: wire.overwrite,
        },
        Op::DeleteTimer(name) => ScheduleChange::Delete(JobKind::Timer, name),
        Op::DeleteReminder(name) => ScheduleChange::Delete(JobKind::Reminder, name),
    };
    Ok((actor, change))
}

/// The answer to a forwarded schedule change, to send back.
pub fn schedule_reply(result: Result<bool, ScheduleError>) -> pb::ScheduleReply {
    match result {
        Ok(existed) => pb::ScheduleReply {
            existed,
            ..pb::ScheduleReply::default()
        },
        Err(e) => pb::ScheduleReply {
            existed: false,
            error_kind: match &e {
                ScheduleError::NotHosted { .. } => "not_hosted",
                ScheduleError::AlreadyExists { .. } => "exists",
                ScheduleError::Limit(_) => "limit",
                ScheduleError::Unavailable(_) => "unavailable",
                ScheduleError::OutcomeUnknown(_) => "unknown",
                ScheduleError::Duration(_) | ScheduleError::Store(_) => "store",
            }
            .into(),
            error: e.to_string(),
        },
    }
}

/// A forwarded schedule change's answer as the owner sent it, in the caller's terms.
pub fn schedule_result(
    reply: pb::ScheduleReply,
    actor: &ActorId,
    change: &ScheduleChange,
) -> Result<bool, ScheduleError> {
    match reply.error_kind.as_str() {
        "" => Ok(reply.existed),
        "not_hosted" => Err(ScheduleError::NotHosted {
            tenant: actor.tenant.to_string(),
            actor_type: actor.actor_type.to_string(),
        }),
        "exists" => Err(ScheduleError::AlreadyExists {
            actor: actor.clone(),
            name: match change {
                ScheduleChange::SetTimer(job) | ScheduleChange::SetReminder { job, .. } => {
                    job.name.clone()
                }
                ScheduleChange::Delete(_, name) => name.clone(),
            },
        }),
        "limit" => Err(ScheduleError::Limit(reply.error)),
        "unavailable" => Err(ScheduleError::Unavailable(reply.error)),
        "unknown" => Err(ScheduleError::OutcomeUnknown(reply.error)),
        _ => Err(ScheduleError::Store(StoreError::Io(reply.error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_core::types::LimitKind;

    fn actor() -> ActorId {
        ActorId::new("t", "counter", "c1")
    }

    #[test]
    fn an_invocation_crosses_with_its_chain_caller_and_deadline() {
        let mut invocation = Invocation::call(
            actor(),
            "add",
            b"5".to_vec(),
            Instant::now() + Duration::from_secs(10),
        );
        invocation.caller = Some(ActorId::new("t", "bank", "b"));
        invocation.reentrancy_id = Some("chain-1".into());
        invocation.metadata = vec![("traceparent".into(), "00-abc".into())];
        invocation.trigger = Trigger::Broadcast("news".into());
        invocation.route_hops = 2;
        let wire = invocation_to_wire(&invocation);
        // The receiver's own limit wins over a longer deadline asked for.
        let limit = Instant::now() + Duration::from_secs(5);
        let back = invocation_from_wire(wire, limit).unwrap();
        assert_eq!(back.target, invocation.target);
        assert_eq!(back.caller, invocation.caller);
        assert_eq!(back.reentrancy_id.as_deref(), Some("chain-1"));
        assert_eq!(back.metadata, invocation.metadata);
        assert_eq!(back.trigger, Trigger::Broadcast("news".into()));
        assert_eq!((back.route_hops, back.payload.as_slice()), (2, &b"5"[..]));
        assert!(back.deadline <= limit);
    }

    #[test]
    fn a_malformed_target_is_refused() {
        let mut wire = invocation_to_wire(&Invocation::call(
            actor(),
            "add",
            Vec::new(),
            Instant::now(),
        ));
        wire.target = Some(pb::ActorRef {
            tenant: "t".into(),
            actor_type: "a/b".into(),
            id: "x".into(),
        });
        assert!(invocation_from_wire(wire.clone(), Instant::now()).is_err());
        wire.target = None;
        assert!(invocation_from_wire(wire, Instant::now()).is_err());
    }

    #[test]
    fn errors_cross_kind_by_kind() {
        let errors = vec![
            InvokeError::BadRequest("no".into()),
            InvokeError::ActionNotFound {
                actor: actor(),
                action: "x".into(),
                message: "none".into(),
            },
            InvokeError::Trapped {
                actor: actor(),
                action: "add".into(),
                message: "unreachable".into(),
            },
            InvokeError::LimitExceeded {
                tenant: "t".into(),
                actor: actor(),
                kind: LimitKind::StatePerActor,
                max: 10,
            },
            InvokeError::Downstream {
                actor: actor(),
                action: "a".into(),
                status: 418,
                body: b"teapot".to_vec(),
            },
            InvokeError::Unavailable {
                actor: actor(),
                message: "gone".into(),
                ran: false,
            },
            InvokeError::Store {
                actor: actor(),
                source: StoreError::Io("disk".into()),
            },
            InvokeError::Store {
                actor: actor(),
                source: StoreError::Fenced { partition: 7 },
            },
        ];
        for e in errors {
            let shown = e.to_string();
            let back = reply_from_wire(reply_to_wire(Err(e)), &actor(), "add").unwrap_err();
            assert_eq!(back.to_string(), shown);
        }
    }

    #[test]
    fn schedule_changes_cross() {
        let job = warren_core::runtime::scheduler::Job::new(
            warren_core::runtime::scheduler::JobRequest {
                kind: JobKind::Reminder,
                name: "r",
                due_time: "1s",
                period: "",
                ttl: "",
                data: b"{}".to_vec(),
                callback: None,
                failure_policy: Default::default(),
            },
            chrono::Utc::now(),
        )
        .unwrap();
        let change = ScheduleChange::SetReminder {
            job,
            overwrite: false,
        };
        let wire = schedule_to_wire(&actor(), &change).unwrap();
        let (back_actor, back) = schedule_from_wire(wire).unwrap();
        assert_eq!(back_actor, actor());
        assert!(
            matches!(back, ScheduleChange::SetReminder { overwrite: false, job } if job.name == "r")
        );
        let refused = schedule_reply(Err(ScheduleError::AlreadyExists {
            actor: actor(),
            name: "r".into(),
        }));
        assert!(matches!(
            schedule_result(refused, &actor(), &change),
            Err(ScheduleError::AlreadyExists { .. })
        ));
    }
}
