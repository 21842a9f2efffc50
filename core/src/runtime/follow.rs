//! Running a turn's workflow once the turn is over: side effects, a broadcast to a
//! channel's subscribers, and pipe or forward to the next actor.

use super::{ActorId, CallMode, Invocation, InvokeError, Reply, Runtime, Trigger};
use crate::types::manifest::ChannelSpec;
use crate::types::workflow::{Publish, RouteKind};

/// How many times one request may be piped or forwarded. A chain of routes that comes
/// back on itself (A pipes to B, B to A) would otherwise never answer.
pub const MAX_ROUTE_HOPS: u32 = 32;

impl Runtime {
    /// Run `reply`'s workflow for the turn `invocation` ran. With a pipe or forward, the
    /// caller gets the next actor's reply instead of this one.
    pub(super) async fn follow(
        &self,
        invocation: &Invocation,
        mut reply: Reply,
    ) -> Result<Reply, InvokeError> {
        let me = &invocation.target;
        let workflow = std::mem::take(&mut reply.workflow);
        for effect in workflow.effects {
            let runtime = self.clone();
            let me = me.clone();
            // Side effects inherit the caller's metadata; their own keys win.
            let mut metadata = invocation.metadata.clone();
            metadata.retain(|(k, _)| !effect.metadata.iter().any(|(e, _)| e == k));
            metadata.extend(effect.metadata);
            tokio::spawn(async move {
                let target = match runtime.resolve(&me.tenant, &effect.target).await {
                    Ok(target) => target,
                    Err(e) => {
                        tracing::warn!(actor = %me, error = %e, "side effect has no target");
                        return;
                    }
                };
                let cast = Invocation {
                    deadline: runtime.deadline(&me.tenant),
                    target,
                    action: effect.action,
                    payload: effect.payload,
                    metadata,
                    caller: Some(me.clone()),
                    mode: CallMode::Cast,
                    trigger: Trigger::Message,
                    reentrancy_id: None,
                    route_hops: 0,
                };
                if let Some(at_ms) = effect.at_ms {
                    if let Err(e) = runtime.schedule_call(cast, at_ms).await {
                        tracing::warn!(actor = %me, error = %e, "scheduling a side effect failed");
                    }
                } else if let Err(e) = runtime.invoke(cast).await {
                    tracing::warn!(actor = %me, error = %e, "side effect failed");
                }
            });
        }
        if let Some(publish) = workflow.broadcast {
            self.publish(&me.tenant, publish, Some(me.clone()));
        }
        let Some(route) = workflow.route else {
            return Ok(reply);
        };
        if invocation.route_hops >= MAX_ROUTE_HOPS {
            return Err(InvokeError::BadRequest(format!(
                "workflow routed more than {MAX_ROUTE_HOPS} times (pipe or forward); stopped at {me}, which routes to {:?} again",
                route.target.name
            )));
        }
        let target = self.resolve(&me.tenant, &route.target).await?;
        let payload = match route.kind {
            RouteKind::Pipe => reply.data,
            RouteKind::Forward => invocation.payload.clone(),
        };
        let next = Invocation {
            target,
            action: route.action,
            payload,
            metadata: invocation.metadata.clone(),
            caller: Some(me.clone()),
            mode: invocation.mode,
            trigger: Trigger::Message,
            reentrancy_id: invocation.reentrancy_id.clone(),
            deadline: invocation.deadline,
            route_hops: invocation.route_hops + 1,
        };
        self.invoke(next).await
    }

    /// Publish `publish` in `tenant`: every active actor of every type that listens on its
    /// channel gets its subscription's action, as a cast. A subscription that named no
    /// action runs the action the broadcast names, if it names one (old Spawn SDKs do).
    /// Returns how many actors it was sent to.
    pub fn publish(&self, tenant: &str, publish: Publish, caller: Option<ActorId>) -> usize {
        let mut sent = 0;
        for (spec, _) in self.0.catalog.registry().actor_types(tenant) {
            let Some(subscription) = spec.channels.iter().find(|c| c.topic == publish.channel)
            else {
                continue;
            };
            let action = match &publish.action {
                Some(action) if subscription.action == ChannelSpec::DEFAULT_ACTION => action,
                _ => &subscription.action,
            };
            let listeners = self
                .0
                .table
                .active(|a| &*a.tenant == tenant && *a.actor_type == *spec.name);
            for actor in listeners {
                let cast = Invocation {
                    target: actor,
                    action: action.clone(),
                    payload: publish.payload.clone(),
                    metadata: Vec::new(),
                    caller: caller.clone(),
                    mode: CallMode::Cast,
                    trigger: Trigger::Broadcast(publish.channel.clone()),
                    reentrancy_id: None,
                    deadline: self.deadline(tenant),
                    route_hops: 0,
                };
                let runtime = self.clone();
                tokio::spawn(async move {
                    let target = cast.target.clone();
                    if let Err(e) = runtime.invoke(cast).await {
                        tracing::warn!(%target, error = %e, "broadcast delivery failed");
                    }
                });
                sent += 1;
            }
        }
        sent
    }
}
