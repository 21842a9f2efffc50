//! `dapr.proto.runtime.v1.Dapr`: its actor RPCs over [`ActorApi`], and the callback stream.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::ActorApi;
use super::proto::runtime as pb;
use super::proto::runtime::dapr_server::Dapr;

/// Run one unary call: resolve the tenant from the metadata, then `call`.
macro_rules! unary {
    ($self:ident, $request:ident, $method:ident) => {{
        let tenant = $self.tenant($request.metadata())?;
        $self
            .$method(&tenant, $request.into_inner())
            .await
            .map(Response::new)
    }};
}

type EventStream =
    Pin<Box<dyn Stream<Item = Result<pb::SubscribeActorEventsResponseAlpha1, Status>> + Send>>;

#[tonic::async_trait]
impl Dapr for ActorApi {
    async fn invoke_actor(
        &self,
        request: Request<pb::InvokeActorRequest>,
    ) -> Result<Response<pb::InvokeActorResponse>, Status> {
        unary!(self, request, invoke_actor)
    }

    async fn get_actor_state(
        &self,
        request: Request<pb::GetActorStateRequest>,
    ) -> Result<Response<pb::GetActorStateResponse>, Status> {
        unary!(self, request, get_state)
    }

    async fn execute_actor_state_transaction(
        &self,
        request: Request<pb::ExecuteActorStateTransactionRequest>,
    ) -> Result<Response<()>, Status> {
        unary!(self, request, state_transaction)
    }

    async fn register_actor_timer(
        &self,
        request: Request<pb::RegisterActorTimerRequest>,
    ) -> Result<Response<()>, Status> {
        unary!(self, request, register_timer)
    }

    async fn unregister_actor_timer(
        &self,
        request: Request<pb::UnregisterActorTimerRequest>,
    ) -> Result<Response<()>, Status> {
        unary!(self, request, unregister_timer)
    }

    async fn register_actor_reminder(
        &self,
        request: Request<pb::RegisterActorReminderRequest>,
    ) -> Result<Response<()>, Status> {
        unary!(self, request, register_reminder)
    }

    async fn unregister_actor_reminder(
        &self,
        request: Request<pb::UnregisterActorReminderRequest>,
    ) -> Result<Response<()>, Status> {
        unary!(self, request, unregister_reminder)
    }

    async fn get_actor_reminder(
        &self,
        request: Request<pb::GetActorReminderRequest>,
    ) -> Result<Response<pb::GetActorReminderResponse>, Status> {
        unary!(self, request, get_reminder)
    }

    async fn list_actor_reminders(
        &self,
        request: Request<pb::ListActorRemindersRequest>,
    ) -> Result<Response<pb::ListActorRemindersResponse>, Status> {
        unary!(self, request, list_reminders)
    }

    async fn unregister_actor_reminders_by_type(
        &self,
        request: Request<pb::UnregisterActorRemindersByTypeRequest>,
    ) -> Result<Response<pb::UnregisterActorRemindersByTypeResponse>, Status> {
        let tenant = self.tenant(request.metadata())?;
        self.unregister_reminders_by_type(&tenant, request.into_inner())
            .await?;
        Ok(Response::new(pb::UnregisterActorRemindersByTypeResponse {}))
    }

    type SubscribeActorEventsAlpha1Stream = EventStream;

    async fn subscribe_actor_events_alpha1(
        &self,
        request: Request<Streaming<pb::SubscribeActorEventsRequestAlpha1>>,
    ) -> Result<Response<EventStream>, Status> {
        let tenant = self.tenant(request.metadata())?;
        let stream =
            super::callback_stream::open(self.streams.clone(), tenant, request.into_inner())
                .await?;
        Ok(Response::new(stream))
    }
}
