//! The platform as Wasm agents call it (`warren:actor/platform`): the runtime's
//! [`AgentPlatform`] port, answered by the same routing as the HTTP routes. The agent acts
//! as its container's user, the route's role applies as it would to that user's request,
//! and the calls are recorded in the history with the agent as sender.

use axum::http::Method;
use serde_json::{Map, Value};

use super::access::{check_role, minimum_role};
use super::platform::auth::Identity;
use super::platform::model::Message;
use super::platform::{OpacaError, Platform, Target, WeakPlatform};
use crate::runtime::{
    AgentPlatform, BackendFuture, Delivery, PlatformBroadcast, PlatformCaller, PlatformError,
    PlatformInvoke, PlatformSend,
};

/// The port the runtime holds: a weak handle, since the platform holds the runtime.
pub struct AgentCalls(WeakPlatform);

impl AgentCalls {
    /// The port of `platform`.
    pub fn new(platform: &Platform) -> Self {
        AgentCalls(platform.downgrade())
    }
}

fn to_port(e: OpacaError) -> PlatformError {
    PlatformError {
        status: e.status,
        message: e.message,
        cause: e.cause.and_then(|cause| serde_json::to_string(&cause).ok()),
    }
}

/// One call of an agent: who it acts as, the route it stands for, and the platform.
struct Call {
    platform: Platform,
    identity: Identity,
    /// The agent's id, recorded as the sender.
    agent: String,
    /// "POST /invoke/Add", as the same request from outside would be recorded.
    route: String,
}

impl Call {
    /// The calling agent's container user, checked against the role of `path`.
    async fn new(
        port: &AgentCalls,
        caller: &PlatformCaller,
        path: String,
    ) -> Result<Self, PlatformError> {
        let platform = port
            .0
            .upgrade()
            .ok_or_else(|| PlatformError::new(503, "the agent platform has stopped"))?;
        let actor = &caller.actor;
        let container = platform.container_of_agent(actor).ok_or_else(|| {
            PlatformError::new(
                403,
                format!(
                    "actor {actor} is not an agent of an agent container; only agents call the platform"
                ),
            )
        })?;
        let identity = platform
            .auth()
            .user_identity(&container.owner)
            .await
            .ok_or_else(|| {
                PlatformError::new(
                    403,
                    format!(
                        "user {:?}, who started container {:?}, no longer exists",
                        container.owner, container.id
                    ),
                )
            })?;
        if platform.config().require_auth {
            check_role(&identity, minimum_role(&Method::POST, &path)).map_err(to_port)?;
        }
        Ok(Call {
            platform,
            identity,
            agent: actor.actor_type.to_string(),
            route: format!("POST {path}"),
        })
    }

    /// The CALL event; its id, for [`Call::finish`].
    fn start(&self) -> String {
        self.platform
            .history()
            .call(&self.identity.tenant, &self.route, Some(self.agent.clone()))
    }

    /// The SUCCESS or ERROR event answering `call`; passes `result` on.
    fn finish<T>(&self, call: String, result: Result<T, OpacaError>) -> Result<T, PlatformError> {
        let status = result.as_ref().map_or_else(|e| e.status, |_| 200);
        self.platform
            .history()
            .outcome(&self.identity.tenant, &self.route, status, call);
        result.map_err(to_port)
    }

    /// A request refused before anything ran: recorded as CALL and ERROR.
    fn refuse(&self, e: OpacaError) -> PlatformError {
        let call = self.start();
        self.platform
            .history()
            .outcome(&self.identity.tenant, &self.route, e.status, call);
        to_port(e)
    }
}

/// A message in OPACA's shape, 422 if it is not one (as the HTTP routes answer).
fn message(text: &str) -> Result<Message, OpacaError> {
    serde_json::from_str(text)
        .map_err(|e| OpacaError::new(422, format!("not an OPACA message: {e}")))
}

impl AgentPlatform for AgentCalls {
    fn invoke<'a>(
        &'a self,
        caller: &'a PlatformCaller,
        request: PlatformInvoke,
    ) -> BackendFuture<'a, Result<String, PlatformError>> {
        Box::pin(async move {
            let mut path = format!("/invoke/{}", request.action);
            if let Some(agent) = &request.agent {
                path = format!("{path}/{}", agent);
            }
            let call = Call::new(self, caller, path).await?;
            let id = call.start();
            let result = async {
                let arguments: Map<String, Value> = if request.arguments.trim().is_empty() {
                    Map::new()
                } else {
                    serde_json::from_str(&request.arguments).map_err(|e| {
                        OpacaError::new(422, format!("the arguments are not a JSON object: {e}"))
                    })?
                };
                let target = Target {
                    agent: request.agent.clone(),
                    container: request.container.clone(),
                    forward: request.forward,
                };
                let value = call
                    .platform
                    .invoke(
                        &call.identity,
                        Some(caller),
                        &request.action,
                        &target,
                        arguments,
                        request.timeout,
                    )
                    .await?;
                Ok(value.to_string())
            }
            .await;
            call.finish(id, result)
        })
    }

    fn send<'a>(
        &'a self,
        caller: &'a PlatformCaller,
        request: PlatformSend,
    ) -> BackendFuture<'a, Result<Delivery, PlatformError>> {
        Box::pin(async move {
            let path = format!("/send/{}", request.agent);
            let call = Call::new(self, caller, path).await?;
            let target = Target {
                agent: None,
                container: request.container.clone(),
                forward: request.forward,
            };
            let checked = message(&request.message).and_then(|message| {
                let recipients =
                    call.platform
                        .recipients(&call.identity, &request.agent, &target)?;
                Ok((message, recipients))
            });
            let (message, recipients) = match checked {
                Ok(checked) => checked,
                Err(e) => return Err(call.refuse(e)),
            };
            let delivery: Delivery = Box::pin(async move {
                let id = call.start();
                let sent = call
                    .platform
                    .deliver(&call.identity, &request.agent, recipients, &message)
                    .await;
                if let Err(e) = call.finish(id, sent) {
                    tracing::warn!(agent = %request.agent, error = %e, "an agent's message was not taken");
                }
            });
            Ok(delivery)
        })
    }

    fn broadcast<'a>(
        &'a self,
        caller: &'a PlatformCaller,
        request: PlatformBroadcast,
    ) -> BackendFuture<'a, Result<Delivery, PlatformError>> {
        Box::pin(async move {
            let path = format!("/broadcast/{}", request.channel);
            let call = Call::new(self, caller, path).await?;
            let message = message(&request.message).map_err(|e| call.refuse(e))?;
            let target = Target {
                agent: None,
                container: None,
                forward: request.forward,
            };
            let delivery: Delivery = Box::pin(async move {
                let id = call.start();
                call.platform
                    .broadcast(&call.identity, &request.channel, &target, &message)
                    .await;
                // A broadcast always succeeds, as over HTTP.
                let _ = call.finish(id, Ok(()));
            });
            Ok(delivery)
        })
    }
}
