//! Turn errors as the host-to-host service carries them (`pb::Failure`), and back: kind
//! by kind, so the protocol of the host that forwarded a turn answers as if it had run
//! locally. Each family of errors has its pair of functions.

use warren_core::types::{ActorId, InvokeError, LimitKind, StoreError};

use crate::proto::{actor_of, actor_ref, pb};

/// An error, kind by kind, so the sender's protocol answers as if it had run locally.
pub(crate) fn failure(e: &InvokeError) -> pb::Failure {
    let mut f = pb::Failure {
        message: e.to_string(),
        ..pb::Failure::default()
    };
    let (kind, actor) = match e {
        InvokeError::BadRequest(_)
        | InvokeError::ActorTypeNotFound { .. }
        | InvokeError::TenantNotFound { .. }
        | InvokeError::Overloaded => (request_failure(e, &mut f), None),
        InvokeError::ActionNotFound { actor, .. }
        | InvokeError::InvalidArgument { actor, .. }
        | InvokeError::Failed { actor, .. }
        | InvokeError::Trapped { actor, .. }
        | InvokeError::Downstream { actor, .. }
        | InvokeError::Unavailable { actor, .. } => (turn_failure(e, &mut f), Some(actor)),
        InvokeError::MemoryLimit { actor, .. }
        | InvokeError::DeadlineExceeded { actor, .. }
        | InvokeError::CallCycle { actor }
        | InvokeError::StackDepth { actor, .. }
        | InvokeError::LimitExceeded { actor, .. }
        | InvokeError::FuelExhausted { actor, .. } => (limit_failure(e, &mut f), Some(actor)),
        InvokeError::Store { actor, source } => (store_failure(source, &mut f), Some(actor)),
    };
    f.kind = kind.into();
    f.actor = actor.map(actor_ref);
    f
}

/// A forwarded failure in the caller's terms; the actor and action are the forwarded
/// call's unless the failure names its own.
pub(crate) fn error_of(mut f: pb::Failure, target: &ActorId, action: &str) -> InvokeError {
    let actor = f
        .actor
        .take()
        .and_then(|a| actor_of(Some(a)).ok())
        .unwrap_or_else(|| target.clone());
    if f.action.is_empty() {
        f.action = action.to_string();
    }
    match f.kind.as_str() {
        "bad_request" | "type_not_found" | "tenant_not_found" | "overloaded" => request_error(f),
        "action_not_found" | "invalid_argument" | "failed" | "trapped" | "downstream"
        | "unavailable" => turn_error(f, actor),
        "memory" | "deadline" | "cycle" | "stack_depth" | "limit" | "fuel" => limit_error(f, actor),
        _ => InvokeError::Store {
            actor,
            source: store_error(f),
        },
    }
}

/// A request no actor took: malformed, or for a type or tenant not here, or refused
/// under load. `failure` sends only these here (overloaded is the rest).
fn request_failure(e: &InvokeError, f: &mut pb::Failure) -> &'static str {
    match e {
        InvokeError::BadRequest(m) => {
            f.message = m.clone();
            "bad_request"
        }
        InvokeError::ActorTypeNotFound { tenant, actor_type } => {
            f.tenant = tenant.clone();
            f.actor_type = actor_type.clone();
            "type_not_found"
        }
        InvokeError::TenantNotFound { tenant } => {
            f.tenant = tenant.clone();
            "tenant_not_found"
        }
        _ => "overloaded",
    }
}

/// [`request_failure`] back.
fn request_error(f: pb::Failure) -> InvokeError {
    match f.kind.as_str() {
        "bad_request" => InvokeError::BadRequest(f.message),
        "type_not_found" => InvokeError::ActorTypeNotFound {
            tenant: f.tenant,
            actor_type: f.actor_type,
        },
        "tenant_not_found" => InvokeError::TenantNotFound { tenant: f.tenant },
        _ => InvokeError::Overloaded,
    }
}

/// A turn that ran and failed: the action's own error, a downstream call's, or an owner
/// that could not finish it. `failure` sends only these here (a trap is the rest).
fn turn_failure(e: &InvokeError, f: &mut pb::Failure) -> &'static str {
    match e {
        InvokeError::ActionNotFound {
            action, message, ..
        }
        | InvokeError::InvalidArgument {
            action, message, ..
        }
        | InvokeError::Failed {
            action, message, ..
        }
        | InvokeError::Trapped {
            action, message, ..
        } => {
            f.action = action.clone();
            f.message = message.clone();
            match e {
                InvokeError::ActionNotFound { .. } => "action_not_found",
                InvokeError::InvalidArgument { .. } => "invalid_argument",
                InvokeError::Failed { .. } => "failed",
                _ => "trapped",
            }
        }
        InvokeError::Downstream {
            action,
            status,
            body,
            ..
        } => {
            f.action = action.clone();
            f.status = u32::from(*status);
            f.body = body.clone();
            "downstream"
        }
        InvokeError::Unavailable { message, ran, .. } => {
            f.message = message.clone();
            f.number = u64::from(*ran);
            "unavailable"
        }
        _ => "trapped",
    }
}

/// [`turn_failure`] back.
fn turn_error(f: pb::Failure, actor: ActorId) -> InvokeError {
    let (action, message) = (f.action, f.message);
    match f.kind.as_str() {
        "action_not_found" => InvokeError::ActionNotFound {
            actor,
            action,
            message,
        },
        "invalid_argument" => InvokeError::InvalidArgument {
            actor,
            action,
            message,
        },
        "failed" => InvokeError::Failed {
            actor,
            action,
            message,
        },
        "downstream" => InvokeError::Downstream {
            actor,
            action,
            status: f.status.min(u32::from(u16::MAX)) as u16,
            body: f.body,
        },
        "unavailable" => InvokeError::Unavailable {
            actor,
            message,
            ran: f.number != 0,
        },
        _ => InvokeError::Trapped {
            actor,
            action,
            message,
        },
    }
}

/// A turn stopped by a bound: memory, time, call depth or cycles, a tenant's limit, fuel.
/// `failure` sends only these here (a call cycle is the rest).
fn limit_failure(e: &InvokeError, f: &mut pb::Failure) -> &'static str {
    match e {
        InvokeError::MemoryLimit {
            action,
            limit_bytes,
            ..
        } => {
            f.action = action.clone();
            f.number = *limit_bytes;
            "memory"
        }
        InvokeError::DeadlineExceeded { action, .. } => {
            f.action = action.clone();
            "deadline"
        }
        InvokeError::StackDepth { max, .. } => {
            f.number = u64::from(*max);
            "stack_depth"
        }
        InvokeError::LimitExceeded {
            tenant, kind, max, ..
        } => {
            f.tenant = tenant.clone();
            f.limit = limit_name(*kind).into();
            f.number = *max;
            "limit"
        }
        InvokeError::FuelExhausted { action, fuel, .. } => {
            f.action = action.clone();
            f.number = *fuel;
            "fuel"
        }
        _ => "cycle",
    }
}

/// [`limit_failure`] back.
fn limit_error(f: pb::Failure, actor: ActorId) -> InvokeError {
    let action = f.action;
    match f.kind.as_str() {
        "memory" => InvokeError::MemoryLimit {
            actor,
            action,
            limit_bytes: f.number,
        },
        "deadline" => InvokeError::DeadlineExceeded { actor, action },
        "stack_depth" => InvokeError::StackDepth {
            actor,
            max: f.number.min(u64::from(u32::MAX)) as u32,
        },
        "limit" => InvokeError::LimitExceeded {
            tenant: f.tenant,
            actor,
            kind: limit_of(&f.limit),
            max: f.number,
        },
        "fuel" => InvokeError::FuelExhausted {
            actor,
            action,
            fuel: f.number,
        },
        _ => InvokeError::CallCycle { actor },
    }
}

/// A store's error under a turn, in its own kind (`store_error`) with its details.
fn store_failure(source: &StoreError, f: &mut pb::Failure) -> &'static str {
    let (kind, message, number) = match source {
        StoreError::Io(m) => ("io", m.clone(), 0),
        StoreError::Corrupt(m) => ("corrupt", m.clone(), 0),
        StoreError::Conflict { expected, found } => {
            f.status = (*found).min(u64::from(u32::MAX)) as u32;
            ("conflict", String::new(), *expected)
        }
        StoreError::Closed => ("closed", String::new(), 0),
        StoreError::Halted(m) => ("halted", m.clone(), 0),
        StoreError::Fenced { partition } => ("fenced", String::new(), u64::from(*partition)),
        StoreError::Fired { name } => ("fired", name.clone(), 0),
    };
    f.store_error = kind.into();
    f.message = message;
    f.number = number;
    "store"
}

/// [`store_failure`] back; a kind this host does not know is an I/O error.
fn store_error(f: pb::Failure) -> StoreError {
    let message = f.message;
    match f.store_error.as_str() {
        "corrupt" => StoreError::Corrupt(message),
        "conflict" => StoreError::Conflict {
            expected: f.number,
            found: u64::from(f.status),
        },
        "closed" => StoreError::Closed,
        "halted" => StoreError::Halted(message),
        "fired" => StoreError::Fired { name: message },
        "fenced" => StoreError::Fenced {
            partition: f.number.min(u64::from(u32::MAX)) as u32,
        },
        _ => StoreError::Io(message),
    }
}

fn limit_name(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::ConcurrentTurns => "concurrent_turns",
        LimitKind::ActiveActors => "active_actors",
        LimitKind::Payload => "payload",
        LimitKind::Reply => "reply",
        LimitKind::StatePerActor => "state_per_actor",
        LimitKind::StatePerTenant => "state_per_tenant",
    }
}

fn limit_of(name: &str) -> LimitKind {
    match name {
        "concurrent_turns" => LimitKind::ConcurrentTurns,
        "active_actors" => LimitKind::ActiveActors,
        "payload" => LimitKind::Payload,
        "reply" => LimitKind::Reply,
        "state_per_actor" => LimitKind::StatePerActor,
        _ => LimitKind::StatePerTenant,
    }
}
