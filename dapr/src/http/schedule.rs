//! Timers and reminders over Dapr's HTTP API, plus Warren's listing extension.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{DaprError, actor_id};
use crate::runtime::scheduler::{Job, JobKind};
use crate::runtime::{ActorId, Runtime, ScheduleError};
use crate::wire::dapr_bodies::{self, BodyError};
use warren_protocol::Tenant;

/// A parsed timer or reminder registration.
pub use warren_wire::dapr_bodies::Registration as Parsed;

/// Parse a timer or reminder registration body as Dapr's HTTP API takes it; a schedule
/// that cannot be made is answered with `create_code`.
pub fn parse(
    kind: JobKind,
    name: &str,
    body: &[u8],
    create_code: &'static str,
) -> Result<Parsed, DaprError> {
    dapr_bodies::parse_registration(kind, name, body, chrono::Utc::now()).map_err(|e| match e {
        BodyError::Malformed(m) => DaprError::malformed(m),
        BodyError::BadName(m) => DaprError::new(StatusCode::BAD_REQUEST, "ERR_BAD_REQUEST", m),
        BodyError::Schedule(e) => DaprError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            create_code,
            e.to_string(),
        ),
    })
}

/// Dapr's error for a refused reminder operation; `code` names the operation for the
/// failures that are not the caller's.
fn schedule_error(e: ScheduleError, code: &'static str) -> DaprError {
    match e {
        ScheduleError::NotHosted { .. } => DaprError::new(
            StatusCode::FORBIDDEN,
            "ERR_ACTOR_REMINDER_NON_HOSTED",
            e.to_string(),
        ),
        ScheduleError::AlreadyExists { .. } => DaprError::new(
            StatusCode::CONFLICT,
            "ERR_ACTOR_REMINDER_ALREADY_EXISTS",
            e.to_string(),
        ),
        ScheduleError::Limit(_) => DaprError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ERR_TENANT_LIMIT",
            e.to_string(),
        ),
        ScheduleError::Unavailable(_) | ScheduleError::OutcomeUnknown(_) => {
            DaprError::new(StatusCode::SERVICE_UNAVAILABLE, code, e.to_string())
        }
        ScheduleError::Duration(_) | ScheduleError::Store(_) => {
            DaprError::new(StatusCode::INTERNAL_SERVER_ERROR, code, e.to_string())
        }
    }
}

/// The actor a timer or reminder route names.
fn target(tenant: &Tenant, actor_type: &str, id: &str) -> Result<ActorId, DaprError> {
    actor_id(tenant, actor_type, id)
}

/// `POST` or `PUT /reminders/{name}`: register a reminder; 204, or 409 when it exists and
/// the body says `"overwrite": false`.
pub async fn set_reminder(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, DaprError> {
    let actor = target(&tenant, &actor_type, &id)?;
    let parsed = parse(JobKind::Reminder, &name, &body, "ERR_ACTOR_REMINDER_CREATE")?;
    runtime
        .set_reminder(&actor, parsed.job, parsed.overwrite)
        .await
        .map_err(|e| schedule_error(e, "ERR_ACTOR_REMINDER_CREATE"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// A job as Dapr's reminder read shows it, with Warren's extra fields.
pub fn job_view(actor: &ActorId, job: &Job) -> Value {
    let data = serde_json::from_slice::<Value>(&job.data).unwrap_or(Value::Null);
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    };
    json!({
        "actorID": &*actor.id,
        "actorType": &*actor.actor_type,
        "name": job.name,
        "dueTime": job.due_time,
        "period": job.period,
        "ttl": job.expires_ms.and_then(at),
        "data": data,
        "callback": job.callback,
        "nextDueTime": at(job.due_ms),
        "remaining": job.remaining,
    })
}

/// `GET /reminders/{name}`: the reminder as [`job_view`] shows it; 404 when the actor has
/// none of that name.
pub async fn get_reminder(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id, name)): Path<(String, String, String)>,
) -> Result<Response, DaprError> {
    let actor = target(&tenant, &actor_type, &id)?;
    let job = runtime
        .get_job(JobKind::Reminder, &actor, &name)
        .await
        .map_err(|e| schedule_error(e, "ERR_ACTOR_REMINDER_GET"))?;
    match job {
        Some(job) => Ok(Json(job_view(&actor, &job)).into_response()),
        None => Err(DaprError::new(
            StatusCode::NOT_FOUND,
            "ERR_ACTOR_REMINDER_NOT_FOUND",
            format!("actor {actor} has no reminder {name:?}"),
        )),
    }
}

/// `DELETE /reminders/{name}`: delete a reminder; 204.
pub async fn delete_reminder(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id, name)): Path<(String, String, String)>,
) -> Result<StatusCode, DaprError> {
    let actor = target(&tenant, &actor_type, &id)?;
    runtime
        .delete_reminder(&actor, &name)
        .await
        .map_err(|e| schedule_error(e, "ERR_ACTOR_REMINDER_DELETE"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST` or `PUT /timers/{name}`: start a timer; 204. Every refusal is Dapr's
/// `ERR_ACTOR_TIMER_CREATE` (500).
pub async fn set_timer(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, DaprError> {
    let actor = target(&tenant, &actor_type, &id)?;
    let parsed = parse(JobKind::Timer, &name, &body, "ERR_ACTOR_TIMER_CREATE")?;
    runtime.set_timer(&actor, parsed.job).await.map_err(|e| {
        DaprError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_ACTOR_TIMER_CREATE",
            e.to_string(),
        )
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /timers/{name}`: delete a timer; 204.
pub async fn delete_timer(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id, name)): Path<(String, String, String)>,
) -> Result<StatusCode, DaprError> {
    let actor = target(&tenant, &actor_type, &id)?;
    runtime
        .delete_timer(&actor, &name)
        .await
        .map_err(|e| super::not_hosted(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The jobs of one kind of an actor, each as [`job_view`] shows it.
async fn list(
    runtime: Runtime,
    tenant: Tenant,
    kind: JobKind,
    actor_type: String,
    id: String,
) -> Result<Response, DaprError> {
    let actor = target(&tenant, &actor_type, &id)?;
    let jobs: Vec<Value> = runtime
        .list_jobs(kind, &actor)
        .await
        .map_err(|e| super::not_hosted(e.to_string()))?
        .iter()
        .map(|job| job_view(&actor, job))
        .collect();
    Ok(Json(jobs).into_response())
}

/// Warren extension: every reminder of an actor.
pub async fn list_reminders(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id)): Path<(String, String)>,
) -> Result<Response, DaprError> {
    list(runtime, tenant, JobKind::Reminder, actor_type, id).await
}

/// Warren extension: every timer of an actor's activation.
pub async fn list_timers(
    State(runtime): State<Runtime>,
    tenant: Tenant,
    Path((actor_type, id)): Path<(String, String)>,
) -> Result<Response, DaprError> {
    list(runtime, tenant, JobKind::Timer, actor_type, id).await
}
