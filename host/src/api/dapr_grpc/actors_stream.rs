//! `dapr.proto.actors.v1.Actors/Stream`, the stream of Dapr's proposal: one stream hosts one
//! actor type. The client's first message declares the type; after it, the client makes API
//! calls (numbered by `uid` from 1, each exactly one more than the last) and answers every
//! message Warren sends it with a `processed` reply carrying that message's `uid`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::proto::actors as pb;
use super::proto::actors::actors_server::Actors;
use super::{ActorApi, attach_status, call_metadata, duration, stack_depth};
use crate::backends::dapr_app::DEFAULT_IDLE;
use crate::backends::stream::{StreamCall, StreamConnection, StreamRequest};
use crate::runtime::manifest::ActorTypeSpec;
use crate::runtime::{ActorId, InvokeError, Reply, Trigger};

use pb::request::ActorRequestType;
use pb::request_api::Api as RequestApi;
use pb::request_processed_response::Response as Processed;
use pb::response::ActorResponseType;
use pb::response_api::Api as ResponseApi;
use pb::response_processed_response::Response as Inbound;

type ResponseStream = Pin<Box<dyn Stream<Item = Result<pb::Response, Status>> + Send>>;
type Out = mpsc::Sender<Result<pb::Response, Status>>;

/// gRPC's NOT_FOUND and UNIMPLEMENTED codes.
const NOT_FOUND: u32 = 5;
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
    let first = inbound
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("the stream closed before its initial message"))?;
    let Some(ActorRequestType::Initial(initial)) = first.actor_request_type else {
        return Err(Status::invalid_argument(
            "the first message of the stream must be `initial`",
        ));
    };
    if initial.r#type.is_empty() {
        return Err(Status::invalid_argument(
            "`initial` must name an actor type",
        ));
    }
    let actor_type = initial.r#type.clone();
    let registration = initial.encode_to_vec();
    let (connection, calls) = StreamConnection::new();
    let connection = Arc::new(connection);
    api.runtime
        .attach_stream(
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
    let (out, receiver) = mpsc::channel(64);
    let ack = pb::Response {
        actor_response_type: Some(ActorResponseType::Initial(pb::ResponseInitial {})),
    };
    // The channel is new and has room: this cannot block.
    let _ = out.send(Ok(ack)).await;
    let session = Session {
        api: api.clone(),
        tenant: tenant.clone(),
        out,
        pending: HashMap::new(),
        next_uid: 0,
        expected_uid: 1,
    };
    tokio::spawn(async move {
        session.serve(inbound, calls).await;
        api.runtime
            .detach_stream(&tenant, &actor_type, connection.id);
        tracing::info!(%tenant, %actor_type, stream = connection.id, "Actors/Stream closed");
    });
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

/// A message sent to the client and not yet processed.
struct Pending {
    reply: oneshot::Sender<Result<Reply, InvokeError>>,
    actor: ActorId,
    action: String,
}

struct Session {
    api: ActorApi,
    tenant: String,
    out: Out,
    pending: HashMap<u64, Pending>,
    next_uid: u64,
    expected_uid: u64,
}

impl Session {
    /// Serve the stream until either side closes or the client breaks a rule; a broken
    /// rule ends the stream with INVALID_ARGUMENT. Messages still unprocessed then fail.
    async fn serve(
        mut self,
        mut inbound: Streaming<pb::Request>,
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
                        if let Err(status) = self.take(message) {
                            tracing::warn!(tenant = %self.tenant, %status, "ending Actors/Stream");
                            let _ = self.out.send(Err(status)).await;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(%status, "Actors/Stream ended");
                        break;
                    }
                },
                () = self.out.closed() => break,
            }
        }
    }

    /// Send one message for the client to process; false when the client is gone.
    async fn send(&mut self, call: StreamCall) -> bool {
        self.next_uid += 1;
        let uid = self.next_uid;
        let (actor, action, response) = match call.request {
            StreamRequest::Turn(invocation) => {
                let actor = invocation.target.clone();
                let action = invocation.action.clone();
                (actor, action, inbound(*invocation))
            }
            StreamRequest::Deactivate(actor) => {
                let response = Inbound::Deactivate(pb::ResponseProcessedResponseDeactivate {
                    actor_id: actor.id.to_string(),
                });
                (actor, "deactivate".into(), response)
            }
        };
        let message = pb::Response {
            actor_response_type: Some(ActorResponseType::Processed(pb::ResponseProcessed {
                uid,
                response: Some(pb::ResponseProcessedResponse {
                    response: Some(response),
                }),
            })),
        };
        if self.out.send(Ok(message)).await.is_err() {
            return false;
        }
        self.pending.insert(
            uid,
            Pending {
                reply: call.reply,
                actor,
                action,
            },
        );
        true
    }

    /// Take one client message: an API call, or the answer to one of Warren's messages.
    fn take(&mut self, message: pb::Request) -> Result<(), Status> {
        match message.actor_request_type {
            None => Err(Status::invalid_argument("empty message")),
            Some(ActorRequestType::Initial(_)) => Err(Status::invalid_argument(
                "`initial` may only be the first message of the stream",
            )),
            Some(ActorRequestType::Request(request)) => {
                if request.uid != self.expected_uid {
                    return Err(Status::invalid_argument(format!(
                        "request uid {} is out of sequence: expected {}",
                        request.uid, self.expected_uid
                    )));
                }
                self.expected_uid += 1;
                let (api, tenant, out) = (self.api.clone(), self.tenant.clone(), self.out.clone());
                tokio::spawn(async move {
                    let response = call_api(&api, &tenant, request.request).await;
                    let (api, error) = match response {
                        Ok(api) => (Some(pb::ResponseApi { api: Some(api) }), None),
                        Err(failure) => (None, Some(failure)),
                    };
                    let message = pb::Response {
                        actor_response_type: Some(ActorResponseType::Response(
                            pb::ResponseResponse {
                                uid: request.uid,
                                api,
                                error,
                            },
                        )),
                    };
                    let _ = out.send(Ok(message)).await;
                });
                Ok(())
            }
            Some(ActorRequestType::Processed(processed)) => {
                let pending = self.pending.remove(&processed.uid).ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "processed uid {} answers no message Warren sent",
                        processed.uid
                    ))
                })?;
                let result =
                    processed_result(&pending, processed.response.and_then(|r| r.response));
                // The caller may have given up (deadline); nothing to tell then.
                let _ = pending.reply.send(result);
                Ok(())
            }
        }
    }
}

/// What a `processed` reply means for the turn that sent the message.
fn processed_result(pending: &Pending, response: Option<Processed>) -> Result<Reply, InvokeError> {
    let (actor, action) = (pending.actor.clone(), pending.action.clone());
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
        Some(Processed::Failed(f)) if f.code == NOT_FOUND => Err(InvokeError::ActionNotFound {
            actor,
            action,
            message: f.message,
        }),
        Some(Processed::Failed(f)) => Err(InvokeError::Failed {
            actor,
            action,
            message: format!(
                "the client failed the message (gRPC code {}): {}",
                f.code, f.message
            ),
        }),
        None => Err(InvokeError::Failed {
            actor,
            action,
            message: "the client's processed reply carried no response".into(),
        }),
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
