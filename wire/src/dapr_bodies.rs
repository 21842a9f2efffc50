//! The JSON bodies of Dapr's actor HTTP API that carry more than bytes: a state
//! transaction, and a timer or reminder registration. The adapter maps each error to
//! Dapr's error code.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::durations::{DurationError, parse_go};
use crate::jobs::{FailurePolicy, Job, JobKind, JobRequest};
use crate::types::{StateChange, check_name};

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Not the JSON the API takes (Dapr's `ERR_MALFORMED_REQUEST`).
    #[error("{0}")]
    Malformed(String),
    /// A name Warren cannot take.
    #[error("{0}")]
    BadName(String),
    /// Times that do not make a schedule (Dapr answers these with the create error).
    #[error(transparent)]
    Schedule(#[from] DurationError),
}

/// One operation of a Dapr actor state transaction.
#[derive(Deserialize)]
struct Operation {
    operation: String,
    request: OperationRequest,
}

#[derive(Deserialize)]
struct OperationRequest {
    key: String,
    #[serde(default)]
    value: Option<Value>,
}

/// Parse a Dapr actor state transaction body into state changes.
pub fn parse_transaction(body: &[u8]) -> Result<Vec<StateChange>, BodyError> {
    let operations: Vec<Operation> = serde_json::from_slice(body).map_err(|e| {
        BodyError::Malformed(format!(
            "state transaction body is not a JSON array of operations: {e}"
        ))
    })?;
    let mut changes = Vec::with_capacity(operations.len());
    for op in operations {
        let value = match op.operation.as_str() {
            "upsert" => {
                let value = op.request.value.unwrap_or(Value::Null);
                Some(serde_json::to_vec(&value).map_err(|e| BodyError::Malformed(e.to_string()))?)
            }
            "delete" => None,
            other => {
                return Err(BodyError::Malformed(format!(
                    "operation {other:?} is not supported: use \"upsert\" or \"delete\""
                )));
            }
        };
        changes.push((op.request.key, value));
    }
    Ok(changes)
}

/// Body of a timer or reminder registration. Dapr's SDKs differ in spelling (the Python
/// SDK sends `failurePolicy`, daprd declares `failure_policy`), so both are taken.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationBody {
    due_time: Option<String>,
    period: Option<String>,
    ttl: Option<String>,
    data: Option<Box<RawValue>>,
    callback: Option<String>,
    overwrite: Option<bool>,
    #[serde(alias = "failure_policy")]
    failure_policy: Option<PolicyBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyBody {
    drop: Option<Value>,
    constant: Option<ConstantBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConstantBody {
    interval: Option<String>,
    #[serde(alias = "max_retries")]
    max_retries: Option<u32>,
}

fn policy(body: Option<PolicyBody>) -> Result<FailurePolicy, BodyError> {
    let Some(body) = body else {
        return Ok(FailurePolicy::default());
    };
    if body.drop.is_some() {
        return Ok(FailurePolicy::Drop);
    }
    let Some(constant) = body.constant else {
        return Err(BodyError::Malformed(
            "failurePolicy must have `drop` or `constant`".into(),
        ));
    };
    let interval = match constant.interval.as_deref() {
        None | Some("") => 0,
        Some(text) => parse_go(text)
            .ok_or_else(|| {
                BodyError::Malformed(format!("failurePolicy interval {text:?} is not a duration"))
            })?
            .as_millis() as u64,
    };
    Ok(FailurePolicy::Constant {
        interval_ms: interval,
        max_retries: constant.max_retries,
    })
}

/// A parsed timer or reminder registration.
pub struct Registration {
    /// The timer or reminder the body asks for, scheduled from the time it was parsed at.
    pub job: Job,
    /// Dapr's `overwrite` (true when absent): whether it may replace a registered reminder
    /// of the same name.
    pub overwrite: bool,
}

/// Parse a timer or reminder registration body, as Dapr's HTTP API takes it, at `now`.
pub fn parse_registration(
    kind: JobKind,
    name: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Registration, BodyError> {
    check_name("name", name).map_err(BodyError::BadName)?;
    let body: RegistrationBody = serde_json::from_slice(body)
        .map_err(|e| BodyError::Malformed(format!("registration body is not valid: {e}")))?;
    let failure_policy = policy(body.failure_policy)?;
    let job = Job::new(
        JobRequest {
            kind,
            name,
            due_time: body.due_time.as_deref().unwrap_or_default(),
            period: body.period.as_deref().unwrap_or_default(),
            ttl: body.ttl.as_deref().unwrap_or_default(),
            data: body
                .data
                .map(|d| d.get().as_bytes().to_vec())
                .unwrap_or_default(),
            callback: body.callback,
            failure_policy,
        },
        now,
    )?;
    Ok(Registration {
        job,
        overwrite: body.overwrite.unwrap_or(true),
    })
}
