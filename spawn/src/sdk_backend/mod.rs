//! Actors hosted by an external Spawn SDK process: Warren holds each actor's state and
//! tags, and runs a turn as `POST {user function}/api/v1/actors/actions` with an
//! `ActorInvocation`, reading the `ActorInvocationResponse` from the body.
//!
//! State is written behind, as Spawn does: an actor's changed state becomes a new stored
//! revision every snapshot interval, at once when the SDK asks for a checkpoint, when the
//! actor is deactivated, and when the host shuts down. The last [`KEPT_REVISIONS`]
//! revisions are kept.

mod held_state;
mod user_function;

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;

use self::held_state::HeldActor;
use crate::runtime::{
    ActorBackend, BackendFuture, HeldState, HeldStateError, Runtime, Turn, TurnOutcome,
};
use crate::types::ActorId;
use crate::types::manifest::{ActorKind, Manifest};
pub use crate::wire::spawn_registration::{DEFAULT_SNAPSHOT_INTERVAL, SdkActorType};
use warren_protocol::answer;

/// Actions Spawn answers itself with the actor's state, unless the actor declares them.
pub const GET_ACTIONS: [&str; 5] = ["get", "Get", "get_state", "getState", "GetState"];
/// How many of an actor's latest revisions stay restorable; writing revision N deletes
/// revision N - `KEPT_REVISIONS`, so an actor's history cannot grow without bound.
pub const KEPT_REVISIONS: i64 = 100;

/// An SDK process that registered actor types of one system.
pub struct SpawnApp {
    /// The user function's `/api/v1/actors/actions` URL.
    url: String,
    client: reqwest::Client,
    /// The registered actor types, by name.
    types: HashMap<String, SdkActorType>,
    /// The actors whose state this app holds now.
    held: DashMap<ActorId, Arc<HeldActor>>,
}

impl SpawnApp {
    /// An SDK whose user function listens at `base` (e.g. `http://127.0.0.1:8090`).
    pub fn new(base: &str, types: HashMap<String, SdkActorType>) -> Arc<Self> {
        Arc::new(SpawnApp {
            url: format!("{}/api/v1/actors/actions", base.trim_end_matches('/')),
            client: reqwest::Client::new(),
            types,
            held: DashMap::new(),
        })
    }

    /// Whether actors of `actor_type` are stateful (their state is written to the store).
    pub fn is_stateful(&self, actor_type: &str) -> bool {
        self.types.get(actor_type).is_some_and(|t| t.stateful)
    }

    /// Whether `actor`'s type is stateful.
    fn stateful(&self, actor: &ActorId) -> bool {
        self.is_stateful(&actor.actor_type)
    }

    /// Now registered in place of `previous` (the same system's earlier registration, if
    /// any, which [`SpawnApp::adopt`] took over before): start writing state behind;
    /// write what `previous` still holds (the actors of types this one dropped were not
    /// adopted); and, like Spawn, activate the NAMED stateful actors in the background.
    pub fn started(
        self: Arc<Self>,
        runtime: &Runtime,
        tenant: &str,
        manifest: &Manifest,
        previous: Option<Arc<SpawnApp>>,
    ) {
        self.start_snapshots(runtime.clone());
        if let Some(previous) = previous {
            let runtime = runtime.clone();
            tokio::spawn(async move { previous.write_all(&runtime).await });
        }
        for spec in &manifest.actor_types {
            if spec.kind != ActorKind::Named || !self.is_stateful(&spec.name) {
                continue;
            }
            let runtime = runtime.clone();
            let actor = ActorId::new(tenant, &spec.name, &spec.name);
            tokio::spawn(async move {
                if let Err(e) = runtime.warm(&actor).await {
                    tracing::warn!(%actor, error = %e, "warming a Spawn actor failed");
                }
            });
        }
    }
}

impl ActorBackend for SpawnApp {
    fn run_turn<'a>(&'a self, turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
        Box::pin(async move {
            TurnOutcome::unstaged(
                self.run_turn(
                    turn.runtime,
                    turn.invocation,
                    answer::reply_and_state_cap(turn.limits),
                )
                .await,
            )
        })
    }

    fn deactivated(self: Arc<Self>, runtime: &Runtime, actor: ActorId) {
        let runtime = runtime.clone();
        tokio::spawn(async move { self.deactivate(&runtime, &actor).await });
    }

    fn held_state(&self) -> Option<&dyn HeldState> {
        Some(self)
    }
}

impl HeldState for SpawnApp {
    fn restore_revision<'a>(
        &'a self,
        runtime: &'a Runtime,
        actor: &'a ActorId,
        revision: i64,
    ) -> BackendFuture<'a, Result<(), HeldStateError>> {
        Box::pin(self.restore(runtime, actor, revision))
    }

    fn flush_held_state<'a>(&'a self, runtime: &'a Runtime) -> BackendFuture<'a, ()> {
        Box::pin(self.write_all(runtime))
    }
}
