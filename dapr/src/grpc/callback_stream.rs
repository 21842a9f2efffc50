//! `SubscribeActorEventsAlpha1` (Dapr 1.18): an app opens the stream, declares the actor
//! types it hosts, and answers invoke, reminder, timer and deactivate callbacks by string
//! id. Its API calls (state, reminders, ...) stay the unary RPCs.

use std::convert::Infallible;
use std::sync::Arc;

use tonic::{Status, Streaming};

use super::proto::runtime as pb;
use super::session::{self, Decoded, Outbound, Outbox, StreamProtocol};
use super::{attach_status, call_metadata, duration};
use crate::app::{AppConfig, EntityConfig, Reentrancy};
use crate::runtime::{ActorId, InvokeError, Reply, Trigger};
use crate::stream::{StreamConnection, StreamRequest, Streams};
use crate::types::manifest::ActorTypeSpec;
use crate::wire::dapr_grpc::data_any;
use crate::wire::streams;

use pb::subscribe_actor_events_request_alpha1::RequestType;
use pb::subscribe_actor_events_response_alpha1::ResponseType;

type EventStream = Outbound<pb::SubscribeActorEventsResponseAlpha1>;

/// The reentrancy setting of an initial request; a negative depth counts as absent.
fn reentrancy(r: &pb::ActorReentrancyConfig) -> Reentrancy {
    Reentrancy {
        enabled: r.enabled,
        max_stack_depth: r.max_stack_depth.and_then(|d| u32::try_from(d).ok()),
    }
}

/// The types an initial request declares, each with its own settings or the stream's: the
/// request is Dapr's app configuration in protobuf, read as `/dapr/config` is. A type named
/// only in `entities_config` is declared too.
fn specs(initial: &pb::SubscribeActorEventsRequestInitialAlpha1) -> Vec<ActorTypeSpec> {
    let mut entities: Vec<String> = initial
        .entities
        .iter()
        .chain(initial.entities_config.iter().flat_map(|c| &c.entities))
        .cloned()
        .collect();
    entities.sort();
    entities.dedup();
    let entities_config = initial
        .entities_config
        .iter()
        .map(|c| EntityConfig {
            entities: c.entities.clone(),
            actor_idle_timeout: duration(c.actor_idle_timeout),
            reentrancy: c.reentrancy.as_ref().map(reentrancy),
        })
        .collect();
    let config = AppConfig {
        entities,
        actor_idle_timeout: duration(initial.actor_idle_timeout),
        reentrancy: initial.reentrancy.as_ref().map(reentrancy),
        entities_config,
    };
    config.actor_types()
}

/// Accept a stream: read its initial request, host its types, and serve it.
pub async fn open(
    streams: Arc<Streams>,
    tenant: String,
    mut inbound: Streaming<pb::SubscribeActorEventsRequestAlpha1>,
) -> Result<EventStream, Status> {
    let first = session::first(&mut inbound, "initial request").await?;
    let initial = streams::events::initial(first)?;
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
        if let Err(e) = streams.attach(&tenant, spec, connection.clone(), Vec::new(), |_| Ok(())) {
            for t in &types {
                streams.detach(&tenant, t, connection.id);
            }
            return Err(attach_status(e));
        }
        types.push(name);
    }
    tracing::info!(%tenant, ?types, stream = connection.id, "actor types hosted over SubscribeActorEventsAlpha1");
    let ack = pb::SubscribeActorEventsResponseAlpha1 {
        response_type: Some(ResponseType::InitialResponse(
            pb::SubscribeActorEventsResponseInitialAlpha1 {},
        )),
    };
    Ok(session::start(
        EventsProtocol,
        tenant.clone(),
        ack,
        inbound,
        calls,
        move || {
            for t in &types {
                streams.detach(&tenant, t, connection.id);
            }
            tracing::info!(%tenant, ?types, stream = connection.id, "actor event stream closed");
        },
    ))
}

/// The translation of `SubscribeActorEventsAlpha1`: a callback per call, answered by its
/// string id. The app makes no requests on the stream.
struct EventsProtocol;

impl StreamProtocol for EventsProtocol {
    type In = pb::SubscribeActorEventsRequestAlpha1;
    type Out = pb::SubscribeActorEventsResponseAlpha1;
    type Id = String;
    type Answer = RequestType;
    type Request = Infallible;

    const NAME: &'static str = "actor event stream";

    fn id(serial: u64) -> String {
        serial.to_string()
    }

    fn encode(id: String, request: StreamRequest) -> pb::SubscribeActorEventsResponseAlpha1 {
        let message = match request {
            StreamRequest::Turn(invocation) => callback(id, *invocation),
            StreamRequest::Deactivate(actor) => ResponseType::DeactivateRequest(
                pb::SubscribeActorEventsResponseDeactivateRequestAlpha1 {
                    id,
                    actor_type: actor.actor_type.to_string(),
                    actor_id: actor.id.to_string(),
                },
            ),
        };
        pb::SubscribeActorEventsResponseAlpha1 {
            response_type: Some(message),
        }
    }

    fn decode(
        &mut self,
        message: pb::SubscribeActorEventsRequestAlpha1,
    ) -> Result<Decoded<String, RequestType, Infallible>, Status> {
        streams::events::decode(message)
    }

    fn result(answer: RequestType, actor: ActorId, action: String) -> Result<Reply, InvokeError> {
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
            RequestType::DeactivateResponse(_) | RequestType::InitialRequest(_) => {
                Ok(Reply::default())
            }
            RequestType::RequestFailed(r) => Err(session::failure(
                r.code,
                r.message,
                actor,
                action,
                "the app failed the request",
            )),
        }
    }

    /// An answer to no pending callback (a second answer, or an id Warren never sent) is
    /// logged and ignored: no reason to end the stream.
    fn unexpected(id: String) -> Result<(), Status> {
        tracing::debug!(id, "answer to no pending callback (late or unknown)");
        streams::events::unexpected(id)
    }

    fn serve(&mut self, request: Infallible, _out: &Outbox<Self::Out>) {
        match request {}
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
