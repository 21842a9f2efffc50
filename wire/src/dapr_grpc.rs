//! Dapr's gRPC actor requests in Warren's terms: a state transaction's changes, a timer's
//! or reminder's job (with its failure policy), and the data a job carries. Each refusal
//! is the gRPC status Dapr answers with.

use base64::Engine;
use chrono::{DateTime, Utc};
use prost::Message;
use tonic::Status;

use crate::dapr_proto::common::{JobFailurePolicy, job_failure_policy};
use crate::dapr_proto::runtime as pb;
use crate::jobs::{FailurePolicy, Job, JobKind, JobRequest};
use crate::types::{StateChange, check_name};

/// Type URL of `google.protobuf.BytesValue`, in which Dapr wraps a reminder's data.
const BYTES_VALUE_URL: &str = "type.googleapis.com/google.protobuf.BytesValue";

/// Registered bytes as Dapr stores them: the JSON string of their base64 (Go's encoding
/// of `[]byte`), so callbacks see what daprd would send.
pub fn registered_data(data: &[u8]) -> Vec<u8> {
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

/// A reminder's failure policy; Dapr's default when absent.
pub fn failure_policy(policy: Option<JobFailurePolicy>) -> Result<FailurePolicy, Status> {
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
                Some(d) => (d.seconds as u64)
                    .saturating_mul(1000)
                    .saturating_add(d.nanos as u64 / 1_000_000),
                None => 0,
            };
            FailurePolicy::Constant {
                interval_ms,
                max_retries: c.max_retries,
            }
        }
    })
}

/// The state changes of a transaction.
pub fn transaction(
    operations: Vec<pb::TransactionalActorStateOperation>,
) -> Result<Vec<StateChange>, Status> {
    let mut changes: Vec<StateChange> = Vec::with_capacity(operations.len());
    for op in operations {
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
    Ok(changes)
}

/// The job a timer registration asks for, at `now`.
pub fn timer_job(req: pb::RegisterActorTimerRequest, now: DateTime<Utc>) -> Result<Job, Status> {
    check_name("timer name", &req.name).map_err(Status::invalid_argument)?;
    Job::new(
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
        now,
    )
    .map_err(|e| Status::invalid_argument(e.to_string()))
}

/// The job a reminder registration asks for, at `now`.
pub fn reminder_job(
    req: pb::RegisterActorReminderRequest,
    now: DateTime<Utc>,
) -> Result<Job, Status> {
    check_name("reminder name", &req.name).map_err(Status::invalid_argument)?;
    Job::new(
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
        now,
    )
    .map_err(|e| Status::invalid_argument(e.to_string()))
}
