//! A turn on the SDK's user function: Spawn's default `get` actions answered here, the
//! others sent as an `ActorInvocation` and retried, like Spawn, until a readable answer
//! or the deadline.

use std::time::{Duration, Instant};

use prost::Message;

use super::held_state::Held;
use super::{GET_ACTIONS, SpawnApp};
use crate::runtime::Runtime;
use crate::types::{Invocation, InvokeError, Reply, Trigger};
use crate::wire::spawn::{JSON_TYPE_URL, payload_any, payload_bytes, pb, spawn_id, workflow_of};
use warren_protocol::answer::{self, BodyError};

/// Why one callback to the SDK produced no answer.
fn describe(e: reqwest::Error) -> String {
    if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

/// Why one POST to the user function gave no answer.
enum PostError {
    /// Worth another try within the deadline (Spawn retries such answers).
    Retry(String),
    /// An answer past the cap: never retried.
    TooLarge(BodyError),
}

impl SpawnApp {
    /// Run one turn of `invocation` on the SDK.
    pub async fn run_turn(
        &self,
        runtime: &Runtime,
        invocation: &Invocation,
        max_answer: u64,
    ) -> Result<Reply, InvokeError> {
        let actor = &invocation.target;
        let action = invocation.action.as_str();
        let kind = self.types.get(&*actor.actor_type);
        let handled = kind.is_some_and(|t| t.actions.contains(action));
        let held = self.held(runtime, actor).await?;
        if !handled && GET_ACTIONS.contains(&action) {
            let held = held.lock();
            return Ok(Reply::data(payload_bytes(held.state.as_ref())));
        }
        if !handled {
            return Err(InvokeError::ActionNotFound {
                actor: actor.clone(),
                action: action.to_string(),
                message: format!("Action [{action}] not found for Actor [{}]", actor.id),
            });
        }
        let request = {
            let held = held.lock();
            self.invocation(invocation, &held)
        };
        let response = self
            .call(invocation, request.encode_to_vec(), max_answer)
            .await?;
        if let Some(context) = response.updated_context {
            let mut held = held.lock();
            if context.state.is_some() {
                held.state = context.state;
            }
            held.tags = context.tags;
        }
        if response.checkpoint {
            self.try_write(runtime, actor)
                .await
                .map_err(|e| InvokeError::Failed {
                    actor: actor.clone(),
                    action: action.to_string(),
                    message: format!("checkpoint failed: {e}"),
                })?;
        }
        let data = match response.payload {
            Some(pb::actor_invocation_response::Payload::Value(any)) => payload_bytes(Some(&any)),
            _ => Vec::new(),
        };
        Ok(Reply {
            data,
            workflow: response.workflow.map(workflow_of).unwrap_or_default(),
            ..Reply::default()
        })
    }

    /// The `ActorInvocation` the SDK gets for `invocation`, with the held state and tags
    /// as its context.
    fn invocation(&self, invocation: &Invocation, held: &Held) -> pb::ActorInvocation {
        let me = spawn_id(&invocation.target);
        // Spawn sends a timer action as a call from the actor to itself.
        let caller = match invocation.trigger {
            Trigger::Timer(_) => Some(me.clone()),
            _ => invocation.caller.as_ref().map(spawn_id),
        };
        let payload = match payload_any(&invocation.payload, JSON_TYPE_URL) {
            Some(any) => pb::actor_invocation::Payload::Value(any),
            None => pb::actor_invocation::Payload::Noop(pb::Noop {}),
        };
        pb::ActorInvocation {
            actor: Some(me.clone()),
            action_name: invocation.action.clone(),
            current_context: Some(pb::Context {
                state: held.state.clone(),
                caller: caller.clone(),
                self_: Some(me),
                metadata: invocation.metadata.iter().cloned().collect(),
                tags: held.tags.clone(),
            }),
            payload: Some(payload),
            caller,
        }
    }

    /// POST the invocation until the SDK answers with a readable response or the deadline
    /// passes. Like Spawn, an empty or unreadable body counts as a failure and is retried.
    /// An answer past `max_answer` bytes is refused at once, not retried.
    async fn call(
        &self,
        invocation: &Invocation,
        body: Vec<u8>,
        max_answer: u64,
    ) -> Result<pb::ActorInvocationResponse, InvokeError> {
        let mut backoff = Duration::from_millis(50);
        loop {
            let failure = match self
                .post(body.clone(), invocation.deadline, max_answer)
                .await
            {
                Ok(response) => return Ok(response),
                Err(PostError::TooLarge(e)) => {
                    return Err(e.into_invoke_error(invocation, |m| InvokeError::Failed {
                        actor: invocation.target.clone(),
                        action: invocation.action.clone(),
                        message: m,
                    }));
                }
                Err(PostError::Retry(failure)) => failure,
            };
            let now = Instant::now();
            if now + backoff >= invocation.deadline {
                return Err(InvokeError::Failed {
                    actor: invocation.target.clone(),
                    action: invocation.action.clone(),
                    message: format!(
                        "the Spawn user function at {} gave no usable answer before the deadline: {failure}",
                        self.url
                    ),
                });
            }
            tracing::debug!(actor = %invocation.target, %failure, "Spawn user function failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// One POST of an encoded invocation, answered by a decoded response.
    async fn post(
        &self,
        body: Vec<u8>,
        deadline: Instant,
        max_answer: u64,
    ) -> Result<pb::ActorInvocationResponse, PostError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/octet-stream")
            .body(body)
            .timeout(timeout.max(Duration::from_millis(1)))
            .send()
            .await
            .map_err(|e| PostError::Retry(describe(e)))?;
        let status = response.status();
        let bytes = match answer::read_capped(response, max_answer).await {
            Ok(bytes) => bytes,
            Err(BodyError::Read(e)) => return Err(PostError::Retry(describe(e))),
            Err(too_large) => return Err(PostError::TooLarge(too_large)),
        };
        if bytes.is_empty() {
            return Err(PostError::Retry(format!("empty body (HTTP {status})")));
        }
        pb::ActorInvocationResponse::decode(bytes.as_slice()).map_err(|e| {
            PostError::Retry(format!(
                "the body is not an ActorInvocationResponse (HTTP {status}): {e}"
            ))
        })
    }
}
