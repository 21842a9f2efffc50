//! `SubscribeActorEventsAlpha1` (Dapr 1.18): an app opens the stream, declares the actor
//! types it hosts, and answers invoke, reminder, timer and deactivate callbacks by string
//! id. Its API calls (state, reminders, ...) stay the unary RPCs.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::actor_api::data_any;
use super::proto::runtime as pb;
use super::{attach_status, call_metadata, duration, stack_depth};
use crate::backends::dapr_app::DEFAULT_IDLE;
use crate::backends::stream::{StreamCall, StreamConnection, StreamRequest};
use crate::runtime::manifest::ActorTypeSpec;
use crate::runtime::{ActorId, InvokeError, Reply, Runtime, Trigger};

use pb::subscribe_actor_events_request_alpha1::RequestType;
use pb::subscribe_actor_events_response_alpha1::ResponseType;

type EventStream =
    Pin<Box<dyn Stream<Item = Result<pb::SubscribeActorEventsResponseAlpha1, Status>> + Send>>;

/// gRPC's NOT_FOUND: the app has no such actor or method; not retried.
const NOT_FOUND: u32 = 5;

fn depth(r: Option<&pb::ActorReentrancyConfig>) -> Option<Option<u32>> {
    r.map(|r| r.enabled.then(|| stack_depth(r.max_stack_depth)))
}

/// The types an initial request declares, each with its own settings or the stream's.
fn specs(initial: &pb::SubscribeActorEventsRequestInitialAlpha1) -> Vec<ActorTypeSpec> {
    let base_idle = duration(initial.actor_idle_timeout).unwrap_or(DEFAULT_IDLE);
    let base_depth = depth(initial.reentrancy.as_ref()).flatten();
    let mut names: Vec<&String> = initial
        .entities
        .iter()
        .chain(initial.entities_config.iter().flat_map(|c| &c.entities))
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let own = initial
                .entities_config
                .iter()
                .find(|c| c.entities.contains(name));
            ActorTypeSpec::external(
                name,
                own.and_then(|c| duration(c.actor_idle_timeout))
                    .unwrap_or(base_idle),
                own.and_then(|c| depth(c.reentrancy.as_ref()))
                    .unwrap_or(base_depth),
            )
        })
        .collect()
}

/// Accept a stream: read its initial request, host its types, and serve it.
pub async fn open(
    runtime: Runtime,
    tenant: String,
    mut inbound: Streaming<pb::SubscribeActorEventsRequestAlpha1>,
) -> Result<EventStream, Status> {
    let first = inbound
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("the stream closed before its initial request"))?;
    let Some(RequestType::InitialRequest(initial)) = first.request_type else {
        return Err(Status::invalid_argument(
            "the first message of the stream must be initial_request",
        ));
    };
    let specs = specs(&initial);
    if specs.is_empty() {
        return Err(Status::invalid_argument(
            "initial_request declares no actor types (entities)",
        ));
    }
    let (connection, calls) = StreamConnection::new();
    let connection = Arc::new(connection);
    let mut types: Vec<String> = Vec::new();
    for spec in specs {
        let name = spec.name.clone();
        if let Err(e) =
            runtime.attach_stream(&tenant, spec, connection.clone(), Vec::new(), |_| Ok(()))
        {
            for t in &types {
                runtime.detach_stream(&tenant, t, connection.id);
            }
            return Err(attach_status(e));
        }
        types.push(name);
    }
    tracing::info!(%tenant, ?types, stream = connection.id, "actor types hosted over SubscribeActorEventsAlpha1");
    let (out, receiver) = mpsc::channel(64);
    let ack = pb::SubscribeActorEventsResponseAlpha1 {
        response_type: Some(ResponseType::InitialResponse(
            pb::SubscribeActorEventsResponseInitialAlpha1 {},
        )),
    };
    // The channel is new and has room: this cannot block.
    let _ = out.send(Ok(ack)).await;
    let session = Session {
        out,
        pending: HashMap::new(),
        next_id: 0,
    };
    tokio::spawn(async move {
        session.serve(inbound, calls).await;
        for t in &types {
            runtime.detach_stream(&tenant, t, connection.id);
        }
        tracing::info!(%tenant, ?types, stream = connection.id, "actor event stream closed");
    });
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

/// A callback sent and not yet answered.
struct Pending {
    reply: oneshot::Sender<Result<Reply, InvokeError>>,
    actor: ActorId,
    action: String,
}

struct Session {
    out: mpsc::Sender<Result<pb::SubscribeActorEventsResponseAlpha1, Status>>,
    pending: HashMap<String, Pending>,
    next_id: u64,
}

impl Session {
    /// Pass calls to the app and its answers back, until either side closes. Calls still
    /// pending then fail: their reply channels drop with the session.
    async fn serve(
        mut self,
        mut inbound: Streaming<pb::SubscribeActorEventsRequestAlpha1>,
        mut calls: mpsc::UnboundedReceiver<StreamCall>,
    ) {
        loop {
            tokio::select! {
                call = calls.recv() => {
                    let Some(call) = call else { break };
                    if !self.send(call).await {
                        break;
                    }
                }
                message = inbound.message() => match message {
                    Ok(Some(message)) => {
                        if let Err(status) = self.answer(message) {
                            let _ = self.out.send(Err(status)).await;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(%status, "actor event stream ended");
                        break;
                    }
                },
                () = self.out.closed() => break,
            }
        }
    }

    /// Send one callback; false when the app is gone.
    async fn send(&mut self, call: StreamCall) -> bool {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let (actor, action, message) = match call.request {
            StreamRequest::Turn(invocation) => {
                let actor = invocation.target.clone();
                let action = invocation.action.clone();
                (actor, action, callback(id.clone(), *invocation))
            }
            StreamRequest::Deactivate(actor) => {
                let message = ResponseType::DeactivateRequest(
                    pb::SubscribeActorEventsResponseDeactivateRequestAlpha1 {
                        id: id.clone(),
                        actor_type: actor.actor_type.to_string(),
                        actor_id: actor.id.to_string(),
                    },
                );
                (actor, "deactivate".into(), message)
            }
        };
        let message = pb::SubscribeActorEventsResponseAlpha1 {
            response_type: Some(message),
        };
        if self.out.send(Ok(message)).await.is_err() {
            return false;
        }
        self.pending.insert(
            id,
            Pending {
                reply: call.reply,
                actor,
                action,
            },
        );
        true
    }

    /// Take one message of the app: an answer to a callback. A second initial request is a
    /// protocol error that ends the stream.
    fn answer(&mut self, message: pb::SubscribeActorEventsRequestAlpha1) -> Result<(), Status> {
        let Some(answer) = message.request_type else {
            return Ok(());
        };
        let id = match &answer {
            RequestType::InitialRequest(_) => {
                return Err(Status::invalid_argument(
                    "initial_request may only be the first message of the stream",
                ));
            }
            RequestType::InvokeResponse(r) => r.id.clone(),
            RequestType::ReminderResponse(r) | RequestType::TimerResponse(r) => r.id.clone(),
            RequestType::DeactivateResponse(r) => r.id.clone(),
            RequestType::RequestFailed(r) => r.id.clone(),
        };
        match self.pending.remove(&id) {
            Some(pending) => {
                let result = answer_result(&pending, answer);
                // The caller may have given up (deadline); nothing to tell then.
                let _ = pending.reply.send(result);
            }
            None => tracing::debug!(id, "answer to no pending callback (late or unknown)"),
        }
        Ok(())
    }
}

/// What the app's answer means for the turn that sent the callback.
fn answer_result(pending: &Pending, answer: RequestType) -> Result<Reply, InvokeError> {
    let (actor, action) = (pending.actor.clone(), pending.action.clone());
    match answer {
        RequestType::InvokeResponse(r) if r.error => Err(InvokeError::Failed {
            actor,
            action,
            message: String::from_utf8_lossy(&r.data).into_owned(),
        }),
        RequestType::InvokeResponse(r) => Ok(Reply {
            content_type: r.metadata.get("content-type").cloned(),
            data: r.data,
            ..Reply::default()
        }),
        RequestType::ReminderResponse(r) | RequestType::TimerResponse(r) => Ok(Reply {
            cancel: r.cancel,
            ..Reply::default()
        }),
        RequestType::DeactivateResponse(_) | RequestType::InitialRequest(_) => Ok(Reply::default()),
        RequestType::RequestFailed(r) if r.code == NOT_FOUND => Err(InvokeError::ActionNotFound {
            actor,
            action,
            message: r.message,
        }),
        RequestType::RequestFailed(r) => Err(InvokeError::Failed {
            actor,
            action,
            message: format!(
                "the app failed the request (gRPC code {}): {}",
                r.code, r.message
            ),
        }),
    }
}

/// The callback message of one turn.
fn callback(id: String, invocation: crate::runtime::Invocation) -> ResponseType {
    let actor = invocation.target;
    let (actor_type, actor_id) = (actor.actor_type.to_string(), actor.id.to_string());
    match invocation.trigger {
        // Dapr has no broadcasts or activation hooks: both arrive as plain method calls.
        Trigger::Message | Trigger::Broadcast(_) | Trigger::Activate => {
            let metadata = call_metadata(
                invocation.metadata,
                invocation.reentrancy_id,
                "Dapr-Reentrancy-Id",
            );
            ResponseType::InvokeRequest(pb::SubscribeActorEventsResponseInvokeRequestAlpha1 {
                id,
                actor_type,
                actor_id,
                method: invocation.action,
                data: invocation.payload,
                metadata,
            })
        }
        Trigger::Reminder(fired) => {
            ResponseType::ReminderRequest(pb::SubscribeActorEventsResponseReminderRequestAlpha1 {
                id,
                actor_type,
                actor_id,
                name: fired.name,
                due_time: fired.due_time,
                period: fired.period,
                data: data_any(&fired.data),
            })
        }
        Trigger::Timer(fired) => {
            ResponseType::TimerRequest(pb::SubscribeActorEventsResponseTimerRequestAlpha1 {
                id,
                actor_type,
                actor_id,
                name: fired.name,
                due_time: fired.due_time,
                period: fired.period,
                callback: fired.callback.unwrap_or_default(),
                data: data_any(&fired.data),
            })
        }
    }
}
