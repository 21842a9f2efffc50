//! The actor calls of Dapr's gRPC API, shared by the unary RPCs and the `Actors/Stream`
//! requests: each checks its arguments, calls the runtime core, and shapes the answer.

use std::sync::Arc;

use tonic::Status;

use super::proto::runtime as pb;
use super::{invoke_status, schedule_status, tenant_of};
use crate::runtime::scheduler::{Job, JobKind};
use crate::runtime::{ActorId, Invocation, Runtime, StateError, check_name};
use crate::wire::dapr_grpc::{self, data_any};
use warren_protocol::AuthConfig;

use crate::stream::Streams;

/// The runtime and the host's tokens: what every gRPC service of Warren needs.
#[derive(Clone)]
pub struct ActorApi {
    pub(super) runtime: Runtime,
    auth: AuthConfig,
    /// The actor types streams opened on this listener host.
    pub(super) streams: Arc<Streams>,
}

/// The actor a request names, with Dapr's name rules.
fn target(tenant: &str, actor_type: &str, id: &str) -> Result<ActorId, Status> {
    check_name("actor type", actor_type)
        .and_then(|()| check_name("actor id", id))
        .map_err(Status::invalid_argument)?;
    if actor_type.starts_with("dapr.internal.") {
        return Err(Status::permission_denied(format!(
            "actor type {actor_type:?} is reserved"
        )));
    }
    Ok(ActorId::new(tenant, actor_type, id))
}

fn state_status(e: StateError) -> Status {
    match e {
        StateError::NotHosted { .. } => Status::permission_denied(e.to_string()),
        StateError::NotActive(_) => Status::failed_precondition(e.to_string()),
        StateError::ReservedKey(_) => Status::invalid_argument(e.to_string()),
        StateError::Quota { .. } => Status::resource_exhausted(e.to_string()),
        StateError::Store(_) => Status::internal(e.to_string()),
    }
}

fn reminder_view(actor: &ActorId, job: &Job) -> pb::ActorReminder {
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    pb::ActorReminder {
        actor_type: actor.actor_type.to_string(),
        actor_id: actor.id.to_string(),
        due_time: Some(job.due_time.clone()),
        period: Some(job.period.clone()),
        data: data_any(&job.data),
        ttl: job.expires_ms.and_then(at),
    }
}

impl ActorApi {
    /// The API over `runtime`, checking callers' tokens against `auth`, with no streams
    /// open yet.
    pub fn new(runtime: Runtime, auth: AuthConfig) -> Self {
        let streams = Arc::new(Streams::new(runtime.clone()));
        ActorApi {
            runtime,
            auth,
            streams,
        }
    }

    /// The tenant of a call, from its metadata.
    pub(super) fn tenant(&self, metadata: &tonic::metadata::MetadataMap) -> Result<String, Status> {
        tenant_of(&self.runtime, &self.auth, metadata)
    }

    /// `InvokeActor`: call `method` on the actor in `tenant` and answer with the reply's
    /// data. The request's metadata goes to the actor as lowercase headers, except
    /// `dapr-reentrancy-id`, which continues that call chain.
    pub async fn invoke_actor(
        &self,
        tenant: &str,
        req: pb::InvokeActorRequest,
    ) -> Result<pb::InvokeActorResponse, Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        let deadline = self.runtime.deadline(tenant);
        let mut invocation = Invocation::call(actor, &req.method, req.data, deadline);
        let mut metadata: Vec<(String, String)> = req
            .metadata
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        if let Some(i) = metadata.iter().position(|(k, _)| k == "dapr-reentrancy-id") {
            invocation.reentrancy_id = Some(metadata.remove(i).1);
        }
        invocation.metadata = metadata;
        let reply = self
            .runtime
            .invoke_detached(invocation)
            .await
            .map_err(invoke_status)?;
        Ok(pb::InvokeActorResponse { data: reply.data })
    }

    /// `GetActorState`: the stored value of one key; empty data when the key is absent.
    pub async fn get_state(
        &self,
        tenant: &str,
        req: pb::GetActorStateRequest,
    ) -> Result<pb::GetActorStateResponse, Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        let data = self
            .runtime
            .get_state(&actor, &req.key)
            .await
            .map_err(state_status)?;
        Ok(pb::GetActorStateResponse {
            data: data.unwrap_or_default(),
            metadata: Default::default(),
        })
    }

    /// `ExecuteActorStateTransaction`: apply the upserts and deletes at once.
    pub async fn state_transaction(
        &self,
        tenant: &str,
        req: pb::ExecuteActorStateTransactionRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        let changes = dapr_grpc::transaction(req.operations)?;
        self.runtime
            .state_transaction(&actor, changes)
            .await
            .map_err(state_status)
    }

    /// `RegisterActorTimer`: start a timer; it lasts as long as the actor's activation.
    pub async fn register_timer(
        &self,
        tenant: &str,
        req: pb::RegisterActorTimerRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        let job = dapr_grpc::timer_job(req, chrono::Utc::now())?;
        self.runtime
            .set_timer(&actor, job)
            .await
            .map_err(schedule_status)
    }

    /// `UnregisterActorTimer`: delete a timer by name.
    pub async fn unregister_timer(
        &self,
        tenant: &str,
        req: pb::UnregisterActorTimerRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        self.runtime
            .delete_timer(&actor, &req.name)
            .await
            .map_err(schedule_status)?;
        Ok(())
    }

    /// `RegisterActorReminder`: set a reminder; an existing one of the same name is replaced
    /// unless `overwrite` is `false` (then `ALREADY_EXISTS`).
    pub async fn register_reminder(
        &self,
        tenant: &str,
        req: pb::RegisterActorReminderRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        let overwrite = req.overwrite.unwrap_or(true);
        let job = dapr_grpc::reminder_job(req, chrono::Utc::now())?;
        self.runtime
            .set_reminder(&actor, job, overwrite)
            .await
            .map_err(schedule_status)
    }

    /// `UnregisterActorReminder`: delete a reminder by name.
    pub async fn unregister_reminder(
        &self,
        tenant: &str,
        req: pb::UnregisterActorReminderRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        self.runtime
            .delete_reminder(&actor, &req.name)
            .await
            .map_err(schedule_status)?;
        Ok(())
    }

    /// `GetActorReminder`: one reminder, `NOT_FOUND` when the actor has none of that name.
    pub async fn get_reminder(
        &self,
        tenant: &str,
        req: pb::GetActorReminderRequest,
    ) -> Result<pb::GetActorReminderResponse, Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        let job = self
            .runtime
            .get_job(JobKind::Reminder, &actor, &req.name)
            .await
            .map_err(schedule_status)?
            .ok_or_else(|| {
                Status::not_found(format!("actor {actor} has no reminder {:?}", req.name))
            })?;
        let view = reminder_view(&actor, &job);
        Ok(pb::GetActorReminderResponse {
            actor_type: view.actor_type,
            actor_id: view.actor_id,
            due_time: view.due_time,
            period: view.period,
            data: view.data,
            ttl: view.ttl,
        })
    }

    /// `ListActorReminders`: the reminders of a type, of one actor when `actor_id` is set.
    pub async fn list_reminders(
        &self,
        tenant: &str,
        req: pb::ListActorRemindersRequest,
    ) -> Result<pb::ListActorRemindersResponse, Status> {
        target(
            tenant,
            &req.actor_type,
            req.actor_id.as_deref().unwrap_or("-"),
        )?;
        let reminders = self
            .runtime
            .type_reminders(tenant, &req.actor_type, req.actor_id.as_deref())
            .await
            .map_err(schedule_status)?
            .into_iter()
            .map(|(actor, job)| pb::NamedActorReminder {
                reminder: Some(reminder_view(&actor, &job)),
                name: job.name,
            })
            .collect();
        Ok(pb::ListActorRemindersResponse { reminders })
    }

    /// `UnregisterActorRemindersByType`: delete the reminders of a type, of one actor when
    /// `actor_id` is set; the first failure stops the deletion.
    pub async fn unregister_reminders_by_type(
        &self,
        tenant: &str,
        req: pb::UnregisterActorRemindersByTypeRequest,
    ) -> Result<(), Status> {
        target(
            tenant,
            &req.actor_type,
            req.actor_id.as_deref().unwrap_or("-"),
        )?;
        let reminders = self
            .runtime
            .type_reminders(tenant, &req.actor_type, req.actor_id.as_deref())
            .await
            .map_err(schedule_status)?;
        for (actor, job) in reminders {
            self.runtime
                .delete_reminder(&actor, &job.name)
                .await
                .map_err(schedule_status)?;
        }
        Ok(())
    }
}
