//! Host side of `warren:actor/workflow`: Spawn's workflow steps, staged in the turn and
//! run by the runtime core after it commits.

use super::StagedView;
use crate::bindings::types::ActorRef;
use crate::bindings::warren::actor::workflow::Host;
use warren_core::types::workflow::{Address, Publish, Route, RouteKind};

impl StagedView<'_> {
    fn route(&mut self, kind: RouteKind, target: ActorRef, action: String) -> wasmtime::Result<()> {
        let route = Route {
            kind,
            target: Address::typed(&target.actor_type, &target.id),
            action,
        };
        self.staged()?.workflow_mut().route = Some(route);
        Ok(())
    }
}

impl Host for StagedView<'_> {
    async fn broadcast(&mut self, channel: String, payload: Vec<u8>) -> wasmtime::Result<()> {
        self.staged()?.workflow_mut().broadcast = Some(Publish {
            channel,
            payload,
            action: None,
        });
        Ok(())
    }

    async fn pipe(&mut self, target: ActorRef, action: String) -> wasmtime::Result<()> {
        self.route(RouteKind::Pipe, target, action)
    }

    async fn forward(&mut self, target: ActorRef, action: String) -> wasmtime::Result<()> {
        self.route(RouteKind::Forward, target, action)
    }
}
