//! Host side of `warren:actor/platform`: OPACA's agent-to-platform calls, through the
//! platform the runtime holds. Messages and broadcasts are checked at once and delivered
//! only when the turn commits.

use std::sync::Arc;
use std::time::Duration;

use super::TurnView;
use crate::bindings::warren::actor::platform::{Host, PlatformError};
use warren_core::runtime::{
    AgentPlatform, PlatformBroadcast, PlatformCaller, PlatformError as CallError, PlatformInvoke,
    PlatformSend,
};

/// OPACA's default: ask connected platforms too.
const FORWARD_BY_DEFAULT: bool = true;

/// The calling turn and the platform it reaches.
type Reached = (PlatformCaller, Arc<dyn AgentPlatform>);

fn to_guest(e: CallError) -> PlatformError {
    PlatformError {
        status: e.status,
        message: e.message,
        cause: e.cause,
    }
}

fn no_platform() -> PlatformError {
    PlatformError {
        status: 503,
        message: "this host runs no agent platform".into(),
        cause: None,
    }
}

impl TurnView<'_> {
    /// Who calls (this turn's actor, chain and deadline) and the platform it calls; an
    /// error for the guest when the host runs none.
    fn platform(&mut self) -> wasmtime::Result<Result<Reached, PlatformError>> {
        let turn = self.turn()?;
        let caller = PlatformCaller {
            actor: turn.state.actor().clone(),
            reentrancy_id: turn.reentrancy_id.clone(),
            deadline: turn.deadline,
        };
        Ok(turn
            .runtime
            .agent_platform()
            .map(|platform| (caller, platform))
            .ok_or_else(no_platform))
    }
}

impl Host for TurnView<'_> {
    async fn invoke(
        &mut self,
        action: String,
        arguments: String,
        agent: Option<String>,
        container: Option<String>,
        forward: Option<bool>,
        timeout_secs: Option<u32>,
    ) -> wasmtime::Result<Result<String, PlatformError>> {
        let (caller, platform) = match self.platform()? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let request = PlatformInvoke {
            action,
            arguments,
            agent,
            container,
            forward: forward.unwrap_or(FORWARD_BY_DEFAULT),
            timeout: timeout_secs
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s.into())),
        };
        Ok(platform.invoke(&caller, request).await.map_err(to_guest))
    }

    async fn send(
        &mut self,
        agent: String,
        message: String,
        container: Option<String>,
        forward: Option<bool>,
    ) -> wasmtime::Result<Result<(), PlatformError>> {
        let (caller, platform) = match self.platform()? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let request = PlatformSend {
            agent,
            message,
            container,
            forward: forward.unwrap_or(FORWARD_BY_DEFAULT),
        };
        let delivery = match platform.send(&caller, request).await {
            Ok(delivery) => delivery,
            Err(e) => return Ok(Err(to_guest(e))),
        };
        self.turn()?.state.defer(delivery);
        Ok(Ok(()))
    }

    async fn broadcast(
        &mut self,
        channel: String,
        message: String,
        forward: Option<bool>,
    ) -> wasmtime::Result<Result<(), PlatformError>> {
        let (caller, platform) = match self.platform()? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let request = PlatformBroadcast {
            channel,
            message,
            forward: forward.unwrap_or(FORWARD_BY_DEFAULT),
        };
        let delivery = match platform.broadcast(&caller, request).await {
            Ok(delivery) => delivery,
            Err(e) => return Ok(Err(to_guest(e))),
        };
        self.turn()?.state.defer(delivery);
        Ok(Ok(()))
    }
}
