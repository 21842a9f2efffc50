//! Reading an answer from code outside the host (a Dapr app, a Spawn user function, an
//! OPACA process agent) within a size cap: an app that answers without end is cut off at
//! the cap instead of being read into memory whole.

use crate::runtime::LimitKind;
use crate::runtime::tenants::Limits;
use crate::types::{Invocation, InvokeError};

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body ran past the cap.
    #[error("the answer is longer than {max} bytes")]
    TooLarge {
        /// The cap, in bytes.
        max: u64,
    },
    /// The connection failed while the body was read.
    #[error("reading the answer failed: {0}")]
    Read(#[from] reqwest::Error),
}

impl BodyError {
    /// As the turn's error: a reply past the tenant's limit is refused as a guest's would
    /// be (`Reply` limit), a read cut off by the deadline is the deadline's, and another
    /// failed read is described by `failed`.
    pub fn into_invoke_error(
        self,
        invocation: &Invocation,
        failed: impl FnOnce(String) -> InvokeError,
    ) -> InvokeError {
        match self {
            BodyError::TooLarge { max } => InvokeError::LimitExceeded {
                tenant: invocation.target.tenant.to_string(),
                actor: invocation.target.clone(),
                kind: LimitKind::Reply,
                max,
            },
            BodyError::Read(e) => request_failed(invocation, e, "reading the answer", failed),
        }
    }
}

/// A request to the app that failed, sending it or reading its answer (`doing`): cut off
/// by the turn's deadline, or else described by `failed`.
pub fn request_failed(
    invocation: &Invocation,
    e: reqwest::Error,
    doing: &str,
    failed: impl FnOnce(String) -> InvokeError,
) -> InvokeError {
    if e.is_timeout() {
        return InvokeError::DeadlineExceeded {
            actor: invocation.target.clone(),
            action: invocation.action.clone(),
        };
    }
    failed(format!("{doing}: {e}"))
}

/// The cap on an answer that carries a reply only: the tenant's reply limit.
pub fn reply_cap(limits: &Limits) -> u64 {
    limits.max_payload_bytes
}

/// The cap on an answer that carries a reply and the actor's whole state (Spawn's).
pub fn reply_and_state_cap(limits: &Limits) -> u64 {
    limits
        .max_payload_bytes
        .saturating_add(limits.max_state_bytes_per_actor)
}

/// The body of `response`, refused as soon as it passes `max` bytes.
pub async fn read_capped(mut response: reqwest::Response, max: u64) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|length| length > max) {
        return Err(BodyError::TooLarge { max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(BodyError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
