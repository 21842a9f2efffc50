//! `dapr.proto.actors.v1.Actors/Stream`, the stream of Dapr's proposal: one stream hosts one
//! actor type. The client's first message declares the type; after it, the client makes API
//! calls (numbered by `uid` from 1, each exactly one more than the last) and answers every
//! message Warren sends it with a `processed` reply carrying that message's `uid`.

use std::sync::Arc;

use tokio::sync::Semaphore;

use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::proto::actors as pb;
use super::proto::actors::actors_server::Actors;
use super::session::{self, Decoded, Outbound, Outbox, StreamProtocol};
use super::{ActorApi, attach_status, call_metadata, duration, stack_depth};
use crate::app::DEFAULT_IDLE;
use crate::runtime::{ActorId, InvokeError, Reply, Trigger};
use crate::stream::{StreamConnection, StreamRequest};
use crate::types::manifest::ActorTypeSpec;
use crate::wire::streams;

use pb::request_api::Api as RequestApi;
use pb::request_processed_response::Response as Processed;
use pb::response::ActorResponseType;
use pb::response_api::Api as ResponseApi;
use pb::response_processed_response::Response as Inbound;

type ResponseStream = Outbound<pb::Response>;

/// The client's API calls served at once on one stream.
const MAX_API_IN_FLIGHT: usize = 256;

/// gRPC's UNIMPLEMENTED code.
const UNIMPLEMENTED: u32 = 12;

#[tonic::async_trait]
impl Actors for ActorApi {
    type StreamStream = ResponseStream;

    async fn stream(
        &self,
        request: Request<Streaming<pb::Request>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let tenant = self.tenant(request.metadata())?;
        open(self.clone(), tenant, request.into_inner())
            .await
            .map(Response::new)
    }
}

fn spec(initial: &pb::RequestInitial) -> ActorTypeSpec {
    let idle = duration(initial.idle_timeout).unwrap_or(DEFAULT_IDLE);
    let depth = initial
        .reentrancy_config
        .map(|r| stack_depth(r.max_stack_depth));
    ActorTypeSpec::external(&initial.r#type, idle, depth)
}

async fn open(
    api: ActorApi,
    tenant: String,
    mut inbound: Streaming<pb::Request>,
) -> Result<ResponseStream, Status> {
    let first = session::first(&mut inbound, "initial message").await?;
    let initial = streams::actors::initial(first)?;
    let actor_type = initial.r#type.clone();
    let registration = initial.encode_to_vec();
    let (connection, calls) = StreamConnection::new();
    let connection = Arc::new(connection);
    api.streams
        .attach(
            &tenant,
            spec(&initial),
            connection.clone(),
            registration.clone(),
            |host| {
                if host.registration == registration {
                    Ok(())
                } else {
                    Err(format!(
                        "a stream already hosts actor type {actor_type:?} with a different \
                         initial message; every stream of a type must send the same one"
                    ))
                }
            },
        )
        .map_err(attach_status)?;
    tracing::info!(%tenant, %actor_type, stream = connection.id, "actor type hosted over Actors/Stream");
    let ack = pb::Response {
        actor_response_type: Some(ActorResponseType::Initial(pb::ResponseInitial {})),
    };
    let protocol = ActorsProtocol {
        api: api.clone(),
        tenant: tenant.clone(),
        rules: streams::actors::Rules::default(),
        in_flight: Arc::new(Semaphore::new(MAX_API_IN_FLIGHT)),
    };
    Ok(session::start(
        protocol,
        tenant.clone(),
        ack,
        inbound,
        calls,
        move || {
            api.streams.detach(&tenant, &actor_type, connection.id);
            tracing::info!(%tenant, %actor_type, stream = connection.id, "Actors/Stream closed");
        },
    ))
}

/// The translation of `Actors/Stream`: Warren's messages are `processed` ones numbered by
/// `uid`, and the client's API calls must come numbered in sequence.
struct ActorsProtocol {
    api: ActorApi,
    tenant: String,
    rules: streams::actors::Rules,
    /// The client's API calls being served at once, at most [`MAX_API_IN_FLIGHT`].
    in_flight: Arc<Semaphore>,
}

impl StreamProtocol for ActorsProtocol {
    type In = pb::Request;
    type Out = pb::Response;
    type Id = u64;
    type Answer = Option<Processed>;
    type Request = pb::RequestRequest;

    const NAME: &'static str = "Actors/Stream";

    fn id(serial: u64) -> u64 {
        serial
    }

    fn encode(uid: u64, request: StreamRequest) -> pb::Response {
        let response = match request {
            StreamRequest::Turn(invocation) => inbound(*invocation),
            StreamRequest::Deactivate(actor) => {
                Inbound::Deactivate(pb::ResponseProcessedResponseDeactivate {
                    actor_id: actor.id.to_string(),
                })
            }
        };
        pb::Response {
            actor_response_type: Some(ActorResponseType::Processed(pb::ResponseProcessed {
                uid,
                response: Some(pb::ResponseProcessedResponse {
                    response: Some(response),
                }),
            })),
        }
    }

    fn decode(
        &mut self,
        message: pb::Request,
    ) -> Result<Decoded<u64, Option<Processed>, pb::RequestRequest>, Status> {
        self.rules.decode(message)
    }

    fn result(
        response: Option<Processed>,
        actor: ActorId,
        action: String,
    ) -> Result<Reply, InvokeError> {
        match response {
            Some(Processed::InvokeActor(r)) => Ok(Reply {
                content_type: r.metadata.get("content-type").cloned(),
                data: r.data,
                ..Reply::default()
            }),
            Some(Processed::Reminder(r)) => Ok(Reply {
                cancel: r.cancel,
                ..Reply::default()
            }),
            Some(Processed::Timer(_) | Processed::PubsubMessage(_) | Processed::Deactivate(_)) => {
                Ok(Reply::default())
            }
            Some(Processed::Failed(f)) => Err(session::failure(
                f.code,
                f.message,
                actor,
                action,
                "the client failed the message",
            )),
            None => Err(InvokeError::Failed {
                actor,
                action,
                message: "the client's processed reply carried no response".into(),
            }),
        }
    }

    fn unexpected(uid: u64) -> Result<(), Status> {
        streams::actors::unexpected(uid)
    }

    /// Run the API call on the runtime in a task of its own, so the stream goes on. Past
    /// [`MAX_API_IN_FLIGHT`] calls at once (a client that calls without reading the
    /// answers) a call is answered RESOURCE_EXHAUSTED at once, and an answer the client
    /// does not make room for within [`session::STALL`] is dropped.
    fn serve(&mut self, request: pb::RequestRequest, out: &Outbox<pb::Response>) {
        let (api, tenant, out) = (self.api.clone(), self.tenant.clone(), out.clone());
        let Ok(slot) = self.in_flight.clone().try_acquire_owned() else {
            let refused = pb::ProcessingFailed {
                code: tonic::Code::ResourceExhausted as u32,
                message: format!(
                    "more than {MAX_API_IN_FLIGHT} API calls in flight on this stream"
                ),
            };
            let _ = out.try_send(Ok(api_response(request.uid, Err(refused))));
            return;
        };
        tokio::spawn(async move {
            let response = call_api(&api, &tenant, request.request).await;
            let message = api_response(request.uid, response);
            let _ = tokio::time::timeout(session::STALL, out.send(Ok(message))).await;
            drop(slot);
        });
    }
}

/// The answer to the client's API call `uid`.
fn api_response(uid: u64, response: Result<ResponseApi, pb::ProcessingFailed>) -> pb::Response {
    let (api, error) = match response {
        Ok(api) => (Some(pb::ResponseApi { api: Some(api) }), None),
        Err(failure) => (None, Some(failure)),
    };
    pb::Response {
        actor_response_type: Some(ActorResponseType::Response(pb::ResponseResponse {
            uid,
            api,
            error,
        })),
    }
}

/// The message for the client of one turn.
fn inbound(invocation: crate::runtime::Invocation) -> Inbound {
    let actor_id = invocation.target.id.to_string();
    match invocation.trigger {
        // Dapr has no broadcasts or activation hooks: both arrive as plain method calls.
        Trigger::Message | Trigger::Broadcast(_) | Trigger::Activate => {
            let metadata = call_metadata(
                invocation.metadata,
                invocation.reentrancy_id,
                "dapr-reentrancy-id",
            );
            Inbound::InvokeActor(pb::ResponseProcessedResponseInvokeActor {
                actor_id,
                method: invocation.action,
                data: invocation.payload,
                metadata,
            })
        }
        Trigger::Timer(fired) => Inbound::Timer(pb::ResponseProcessedResponseTimer {
            actor_id,
            name: fired.name,
            due_time: fired.due_time,
            period: fired.period,
            callback: fired.callback.unwrap_or_default(),
            data: fired.data,
        }),
        Trigger::Reminder(fired) => Inbound::Reminder(pb::ResponseProcessedResponseReminder {
            actor_id,
            name: fired.name,
            due_time: fired.due_time,
            period: fired.period,
            data: fired.data,
        }),
    }
}

/// Run one API call of the client on the runtime, like the unary RPC of the same name.
async fn call_api(
    api: &ActorApi,
    tenant: &str,
    request: Option<pb::RequestApi>,
) -> Result<ResponseApi, pb::ProcessingFailed> {
    let failed = |status: Status| pb::ProcessingFailed {
        code: status.code() as u32,
        message: status.message().to_string(),
    };
    let Some(request) = request.and_then(|r| r.api) else {
        return Err(failed(Status::invalid_argument(
            "request carries no API call",
        )));
    };
    let result = match request {
        RequestApi::InvokeActor(r) => api
            .invoke_actor(tenant, r)
            .await
            .map(ResponseApi::InvokeActor),
        RequestApi::RegisterTimer(r) => api
            .register_timer(tenant, r)
            .await
            .map(|()| ResponseApi::RegisterTimer(())),
        RequestApi::UnregisterTimer(r) => api
            .unregister_timer(tenant, r)
            .await
            .map(|()| ResponseApi::UnregisterTimer(())),
        RequestApi::RegisterReminder(r) => api
            .register_reminder(tenant, r)
            .await
            .map(|()| ResponseApi::RegisterReminder(())),
        RequestApi::UnregisterReminder(r) => api
            .unregister_reminder(tenant, r)
            .await
            .map(|()| ResponseApi::UnregisterReminder(())),
        RequestApi::GetState(r) => api.get_state(tenant, r).await.map(ResponseApi::GetState),
        RequestApi::ExecuteStateTransaction(r) => api
            .state_transaction(tenant, r)
            .await
            .map(|()| ResponseApi::ExecuteStateTransaction(())),
        RequestApi::PublishMessage(m) => {
            return Err(pb::ProcessingFailed {
                code: UNIMPLEMENTED,
                message: format!(
                    "actor pub/sub is not available in Warren yet: nothing was published to topic {:?}",
                    m.topic
                ),
            });
        }
    };
    result.map_err(failed)
}
