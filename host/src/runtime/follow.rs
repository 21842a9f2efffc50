//! Running a turn's workflow once the turn is over: side effects, a broadcast to a
//! channel's subscribers, and pipe or forward to the next actor.

use super::workflow::RouteKind;
use super::{ActorId, CallMode, Invocation, InvokeError, Reply, Runtime, Trigger};

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
                };
                if let Err(e) = runtime.invoke(cast).await {
                    tracing::warn!(actor = %me, error = %e, "side effect failed");
                }
            });
        }
        if let Some(publish) = workflow.broadcast {
            self.publish(
                &me.tenant,
                &publish.channel,
                publish.payload,
                Some(me.clone()),
            );
        }
        let Some(route) = workflow.route else {
            return Ok(reply);
        };
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
        };
        self.invoke(next).await
    }

    /// Publish `payload` on `channel` of `tenant`: every active actor of every type that
    /// listens on the channel gets its subscription's action, as a cast. Returns how many
    /// actors it was sent to.
    pub fn publish(
        &self,
        tenant: &str,
        channel: &str,
        payload: Vec<u8>,
        caller: Option<ActorId>,
    ) -> usize {
        let mut sent = 0;
        for (spec, _) in self.0.registry.actor_types(tenant) {
            let Some(subscription) = spec.channels.iter().find(|c| c.topic == channel) else {
                continue;
            };
            let listeners = self
                .0
                .table
                .active(|a| &*a.tenant == tenant && *a.actor_type == *spec.name);
            for actor in listeners {
                let cast = Invocation {
                    target: actor,
                    action: subscription.action.clone(),
                    payload: payload.clone(),
                    metadata: Vec::new(),
                    caller: caller.clone(),
                    mode: CallMode::Cast,
                    trigger: Trigger::Broadcast(channel.to_string()),
                    reentrancy_id: None,
                    deadline: self.deadline(tenant),
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
