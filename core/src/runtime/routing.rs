//! The port through which the core sends work for an actor another host owns (cluster
//! mode). The core asks the installed [`ActorRouter`] where an actor lives before it runs a
//! turn or changes a timer or reminder; the cluster module implements the port with its
//! partition table and its host-to-host gRPC service. Without a router every actor is
//! local, as on a single host.

use std::sync::Arc;

use super::metrics::ForwardOutcome;
use super::scheduler::{Job, JobKind};
use super::{BackendFuture, Invocation, InvokeError, InvokeFuture, Reply, Runtime, ScheduleError};
use crate::types::ActorId;

/// Where an actor lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On this host.
    Here,
    /// On another host, reached at this internal address.
    Remote(Arc<str>),
    /// Nobody holds its partition at the moment (a move in progress).
    Moving,
}

/// A timer or reminder change, as sent to the actor's owner.
#[derive(Clone, Debug)]
pub enum ScheduleChange {
    /// Start (or replace) a timer.
    SetTimer(Job),
    /// Register a reminder.
    SetReminder {
        /// The reminder, with its schedule and data.
        job: Job,
        /// Whether it replaces one of the same name (without, an existing one is an error).
        overwrite: bool,
    },
    /// Delete the timer or reminder of this name.
    Delete(JobKind, String),
}

/// What the core needs from a cluster.
pub trait ActorRouter: Send + Sync + 'static {
    /// Where `actor` lives now, as this host last saw the partition table.
    fn placement(&self, actor: &ActorId) -> Placement;

    /// The epoch at which this host holds `actor`'s partition, if it holds it now under
    /// a live lease and is not handing it over. An activation is bound to the epoch it
    /// loaded under, and serves only while this is still that epoch.
    fn held_epoch(&self, actor: &ActorId) -> Option<i64>;

    /// Whether this host still holds `actor`'s partition at `epoch` (the epoch an
    /// activation loaded under): at once under a live lease; after a lapse, once a
    /// heartbeat lands again, waiting a bounded time. With `new_work`, a partition being
    /// handed over is not held (it takes no new turns); without, the turns already running
    /// finish under it.
    fn holds_at(&self, actor: &ActorId, epoch: i64, new_work: bool) -> BackendFuture<'_, bool>;

    /// Wait (at most until `deadline`) for the partition table to change after a call to
    /// an owner failed or refused: the next placement may differ.
    fn refreshed(&self, deadline: std::time::Instant) -> BackendFuture<'_, ()>;

    /// Run `invocation` on the host at `address`.
    fn forward(&self, address: &str, invocation: Invocation) -> InvokeFuture;

    /// Apply a timer or reminder change of `actor` on the host at `address`; for a delete,
    /// whether it existed.
    fn forward_schedule(
        &self,
        address: &str,
        actor: &ActorId,
        change: ScheduleChange,
    ) -> BackendFuture<'_, Result<bool, ScheduleError>>;
}

/// Whether a failed turn may be sent again to the owner the table names next: it was
/// refused before any of its code ran (the host was unreachable, or did not hold the
/// actor). A turn that ran is never sent again, even if its commit was refused: the calls
/// it made to other actors may have taken effect.
fn retryable(result: &Result<Reply, InvokeError>) -> bool {
    matches!(result, Err(InvokeError::Unavailable { ran: false, .. }))
}

impl Runtime {
    /// Install the cluster's router (once, at start; a second one is ignored).
    pub fn set_router(&self, router: Arc<dyn ActorRouter>) {
        if self.0.router.set(router).is_err() {
            tracing::warn!("a router is installed already; keeping it");
        }
    }

    pub(super) fn router(&self) -> Option<Arc<dyn ActorRouter>> {
        self.0.router.get().cloned()
    }

    /// Where `actor` lives; always here without a cluster, and for the host's own
    /// records.
    pub fn placement(&self, actor: &ActorId) -> Placement {
        match self.router() {
            Some(router) if crate::store::fencing::is_fenced(actor) => router.placement(actor),
            _ => Placement::Here,
        }
    }

    /// Run `invocation` on the owner of its target: here, or forwarded in one hop. A
    /// forward that finds the owner gone or moved (the turn did not take effect) is
    /// retried on the owner the refreshed table names, until the invocation's deadline:
    /// during a move the table can name the new owner a moment before that host has
    /// taken the partition, and a loaded host takes longer.
    pub(super) async fn route(
        &self,
        router: Arc<dyn ActorRouter>,
        invocation: Invocation,
    ) -> Result<Reply, InvokeError> {
        loop {
            let owner = self
                .owner_address(&router, &invocation.target, invocation.deadline)
                .await
                .map_err(|()| InvokeError::Unavailable {
                    actor: invocation.target.clone(),
                    message: "its partition has no owner yet".into(),
                    ran: false,
                })?;
            let result = match owner {
                // Kept for a retry: the partition may move while the turn runs here.
                None => Box::pin(self.run_here(invocation.clone())).await,
                Some(address) => {
                    let started = std::time::Instant::now();
                    let result = router.forward(&address, invocation.clone()).await;
                    let outcome = if retryable(&result) {
                        ForwardOutcome::unavailable
                    } else {
                        ForwardOutcome::answered
                    };
                    self.0.metrics.forwarded(outcome, started.elapsed());
                    result
                }
            };
            if !retryable(&result) || std::time::Instant::now() >= invocation.deadline {
                return result;
            }
            router.refreshed(invocation.deadline).await;
        }
    }

    /// The address of the host that owns `actor` (`None`: this one), waiting out a move
    /// in progress until `deadline`; an error when the move outlasts it.
    async fn owner_address(
        &self,
        router: &Arc<dyn ActorRouter>,
        actor: &ActorId,
        deadline: std::time::Instant,
    ) -> Result<Option<Arc<str>>, ()> {
        loop {
            match router.placement(actor) {
                Placement::Moving if std::time::Instant::now() < deadline => {
                    router.refreshed(deadline).await;
                }
                Placement::Moving => return Err(()),
                Placement::Here => return Ok(None),
                Placement::Remote(address) => return Ok(Some(address)),
            }
        }
    }

    /// Run an invocation forwarded by another host: only if this host owns the target
    /// (else the sender retries on the owner it finds next).
    pub fn invoke_forwarded(&self, invocation: Invocation) -> InvokeFuture {
        let runtime = self.clone();
        Box::pin(async move {
            if runtime.placement(&invocation.target) != Placement::Here {
                return Err(InvokeError::Unavailable {
                    actor: invocation.target.clone(),
                    message: "this host does not own the actor".into(),
                    ran: false,
                });
            }
            let target = invocation.target.clone();
            let action = invocation.action.clone();
            // Detached, as `invoke_detached`: a sender that gives up must not cut the turn
            // off mid-commit.
            let turn = {
                let runtime = runtime.clone();
                async move { runtime.run_here(invocation).await }
            };
            super::execute::detached(target, action, turn).await
        })
    }

    /// Send a timer or reminder change to the owner of `actor`, if that is another host;
    /// `None` when the change is this host's to make. Retried like a forward, until the
    /// deadline.
    pub(super) async fn route_schedule(
        &self,
        actor: &ActorId,
        change: &ScheduleChange,
    ) -> Option<Result<bool, ScheduleError>> {
        let router = self.router()?;
        if !crate::store::fencing::is_fenced(actor) {
            return None;
        }
        let deadline = self.deadline(&actor.tenant);
        loop {
            let address = match self.owner_address(&router, actor, deadline).await {
                Ok(None) => return None,
                Ok(Some(address)) => address,
                Err(()) => {
                    return Some(Err(ScheduleError::Unavailable(format!(
                        "the partition of {actor} has no owner yet"
                    ))));
                }
            };
            match router
                .forward_schedule(&address, actor, change.clone())
                .await
            {
                // Retried as `route` retries a turn, for the same reason.
                Err(ScheduleError::Unavailable(_)) if std::time::Instant::now() < deadline => {
                    router.refreshed(deadline).await;
                }
                other => return Some(other),
            }
        }
    }
}

impl Runtime {
    /// Hand over the actors `lost` selects (their partition is moving to another host):
    /// wait up to `drain` for each one's running turn, deactivate it, and drop its timers
    /// and the reminders memory holds for it.
    pub async fn release_actors(
        &self,
        lost: impl Fn(&ActorId) -> bool,
        drain: std::time::Duration,
    ) {
        let actors = self.0.table.active(&lost);
        let until = tokio::time::Instant::now() + drain;
        for actor in &actors {
            if let Some(slot) = self.0.table.get(actor) {
                // A turn that outlives the drain fails at its commit: the fence refuses it.
                let _ = tokio::time::timeout_at(until, slot.turn.lock()).await;
            }
            if self.0.table.remove(actor) {
                self.deactivated(actor.clone());
            }
        }
        self.0.scheduler.remove_where(&lost);
    }

    /// This host just gained partitions: read due reminders from the start of the due
    /// order again (the gained partitions' may be due before where the last read
    /// stopped), and activate the eager actors that now live here.
    pub async fn partitions_gained(&self) {
        *self.0.reminder_cursor.lock().await = None;
        if let Err(e) = self.load_reminders().await {
            tracing::warn!(error = %e, "reading the gained partitions' reminders failed; will retry");
        }
        self.warm_eager();
    }
}
