//! The actor calls of Dapr's gRPC API, shared by the unary RPCs and the `Actors/Stream`
//! requests: each checks its arguments, calls the runtime core, and shapes the answer.

use base64::Engine;
use prost::Message;
use tonic::Status;

use super::proto::common::{JobFailurePolicy, job_failure_policy};
use super::proto::runtime as pb;
use super::{invoke_status, schedule_status, tenant_of};
use crate::api::AuthConfig;
use crate::runtime::scheduler::{FailurePolicy, Job, JobKind, JobRequest};
use crate::runtime::{ActorId, Invocation, Runtime, StateError, check_name};
use crate::types::StateChange;

/// Type URL of `google.protobuf.BytesValue`, in which Dapr wraps a reminder's data.
const BYTES_VALUE_URL: &str = "type.googleapis.com/google.protobuf.BytesValue";

/// The runtime and the host's tokens: what every gRPC service of Warren needs.
#[derive(Clone)]
pub struct ActorApi {
    pub(super) runtime: Runtime,
    auth: AuthConfig,
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

/// Registered bytes as Dapr stores them: the JSON string of their base64 (Go's encoding
/// of `[]byte`), so callbacks see what daprd would send.
fn registered_data(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    serde_json::to_vec(&text).unwrap_or_default()
}

/// A job's JSON data as the `google.protobuf.Any` (a `BytesValue`) Dapr sends.
pub fn data_any(data: &[u8]) -> Option<prost_types::Any> {
    (!data.is_empty()).then(|| prost_types::Any {
        type_url: BYTES_VALUE_URL.into(),
        value: data.to_vec().encode_to_vec(),
    })
}

fn failure_policy(policy: Option<JobFailurePolicy>) -> Result<FailurePolicy, Status> {
    let Some(policy) = policy.and_then(|p| p.policy) else {
        return Ok(FailurePolicy::default());
    };
    Ok(match policy {
        job_failure_policy::Policy::Drop(_) => FailurePolicy::Drop,
        job_failure_policy::Policy::Constant(c) => {
            let interval_ms = match c.interval {
                Some(d) if d.seconds < 0 || d.nanos < 0 => {
                    return Err(Status::invalid_argument(
                        "failure_policy interval must not be negative",
                    ));
                }
                Some(d) => d.seconds as u64 * 1000 + d.nanos as u64 / 1_000_000,
                None => 0,
            };
            FailurePolicy::Constant {
                interval_ms,
                max_retries: c.max_retries,
            }
        }
    })
}

fn state_status(e: StateError) -> Status {
    match e {
        StateError::NotHosted { .. } => Status::permission_denied(e.to_string()),
        StateError::NotActive(_) => Status::failed_precondition(e.to_string()),
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
    pub fn new(runtime: Runtime, auth: AuthConfig) -> Self {
        ActorApi { runtime, auth }
    }

    /// The tenant of a call, from its metadata.
    pub(super) fn tenant(&self, metadata: &tonic::metadata::MetadataMap) -> Result<String, Status> {
        tenant_of(&self.runtime, &self.auth, metadata)
    }

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

    pub async fn state_transaction(
        &self,
        tenant: &str,
        req: pb::ExecuteActorStateTransactionRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        let mut changes: Vec<StateChange> = Vec::with_capacity(req.operations.len());
        for op in req.operations {
            let value = match op.operation_type.as_str() {
                // Dapr stores only the Any's value; its type URL is not kept.
                "upsert" => Some(op.value.map(|v| v.value).unwrap_or_default()),
                "delete" => None,
                other => {
                    return Err(Status::unimplemented(format!(
                        "operation type {other:?} is not supported: use \"upsert\" or \"delete\""
                    )));
                }
            };
            changes.push((op.key, value));
        }
        self.runtime
            .state_transaction(&actor, changes)
            .await
            .map_err(state_status)
    }

    pub async fn register_timer(
        &self,
        tenant: &str,
        req: pb::RegisterActorTimerRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        check_name("timer name", &req.name).map_err(Status::invalid_argument)?;
        let job = Job::new(
            JobRequest {
                kind: JobKind::Timer,
                name: &req.name,
                due_time: &req.due_time,
                period: &req.period,
                ttl: &req.ttl,
                data: registered_data(&req.data),
                callback: Some(req.callback),
                failure_policy: FailurePolicy::default(),
            },
            chrono::Utc::now(),
        )
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.runtime
            .set_timer(&actor, job)
            .await
            .map_err(schedule_status)
    }

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

    pub async fn register_reminder(
        &self,
        tenant: &str,
        req: pb::RegisterActorReminderRequest,
    ) -> Result<(), Status> {
        let actor = target(tenant, &req.actor_type, &req.actor_id)?;
        check_name("reminder name", &req.name).map_err(Status::invalid_argument)?;
        let job = Job::new(
            JobRequest {
                kind: JobKind::Reminder,
                name: &req.name,
                due_time: &req.due_time,
                period: &req.period,
                ttl: &req.ttl,
                data: registered_data(&req.data),
                callback: None,
                failure_policy: failure_policy(req.failure_policy)?,
            },
            chrono::Utc::now(),
        )
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.runtime
            .set_reminder(&actor, job, req.overwrite.unwrap_or(true))
            .await
            .map_err(schedule_status)
    }

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
