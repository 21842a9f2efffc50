//! Actors hosted by an external Spawn SDK process: Warren holds each actor's state and
//! tags, and runs a turn as `POST {user function}/api/v1/actors/actions` with an
//! `ActorInvocation`, reading the `ActorInvocationResponse` from the body.
//!
//! State is written behind, as Spawn does: an actor's changed state becomes a new stored
//! revision every snapshot interval, at once when the SDK asks for a checkpoint, when the
//! actor is deactivated, and when the host shuts down. The last [`KEPT_REVISIONS`]
//! revisions are kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use prost::Message;
use prost_types::Any;

use crate::runtime::{
    ActorBackend, BackendFuture, HeldState, HeldStateError, Runtime, StateError, Turn, TurnOutcome,
};
use crate::types::manifest::{ActorKind, Manifest};
use crate::types::{ActorId, Invocation, InvokeError, Reply, Trigger};
use crate::wire::spawn::{JSON_TYPE_URL, payload_any, payload_bytes, pb, spawn_id, workflow_of};
pub use crate::wire::spawn_registration::{DEFAULT_SNAPSHOT_INTERVAL, SdkActorType};
use warren_protocol::answer::{self, BodyError};

/// Actions Spawn answers itself with the actor's state, unless the actor declares them.
pub const GET_ACTIONS: [&str; 5] = ["get", "Get", "get_state", "getState", "GetState"];
/// The store key of an actor's latest snapshot.
const SNAPSHOT_KEY: &str = "spawn/snapshot";
/// How many of an actor's latest revisions stay restorable; writing revision N deletes
/// revision N - `KEPT_REVISIONS`, so an actor's history cannot grow without bound.
pub const KEPT_REVISIONS: i64 = 100;

fn revision_key(revision: i64) -> String {
    format!("spawn/revision/{revision:020}")
}

/// One actor's state as Warren holds it between turns.
struct Held {
    state: Option<Any>,
    tags: HashMap<String, String>,
    /// The latest stored revision.
    revision: i64,
    /// The state and tags last stored (or loaded). Compared by value, not by encoding: the
    /// encoding of a protobuf map varies in order from one run to the next.
    stored_state: Option<Any>,
    stored_tags: HashMap<String, String>,
    last_write: Instant,
}

impl Held {
    fn actor_state(&self) -> pb::ActorState {
        pb::ActorState {
            tags: self.tags.clone(),
            state: self.state.clone(),
        }
    }

    /// Whether the state or tags differ from what was last stored.
    fn changed(&self) -> bool {
        self.state != self.stored_state || self.tags != self.stored_tags
    }
}

/// One held actor, and the lock of its snapshot writes.
struct HeldActor {
    held: Mutex<Held>,
    /// Held across a whole write (read the revision and state, store them, record what was
    /// stored), so two writers (the snapshot loop, a checkpoint, a deactivation, a restore)
    /// never store the same revision.
    writing: tokio::sync::Mutex<()>,
}

impl HeldActor {
    fn new(held: Held) -> Self {
        HeldActor {
            held: Mutex::new(held),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// The held state. Never kept across an `.await`.
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An SDK process that registered actor types of one system.
pub struct SpawnApp {
    url: String,
    client: reqwest::Client,
    types: HashMap<String, SdkActorType>,
    held: DashMap<ActorId, Arc<HeldActor>>,
}

/// Why one callback to the SDK produced no answer.
fn describe(e: reqwest::Error) -> String {
    if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
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

    /// Write changed state behind, every type's snapshot interval, for as long as the app
    /// is registered.
    pub fn start_snapshots(self: &Arc<Self>, runtime: Runtime) {
        let every = self
            .types
            .values()
            .map(|t| t.snapshot_interval)
            .min()
            .unwrap_or(DEFAULT_SNAPSHOT_INTERVAL)
            .clamp(Duration::from_millis(20), Duration::from_secs(1));
        let app: Weak<SpawnApp> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { break };
                let due: Vec<ActorId> = app
                    .held
                    .iter()
                    .filter(|entry| {
                        let interval = app
                            .types
                            .get(&*entry.key().actor_type)
                            .map_or(DEFAULT_SNAPSHOT_INTERVAL, |t| t.snapshot_interval);
                        entry.value().lock().last_write.elapsed() >= interval
                    })
                    .map(|entry| entry.key().clone())
                    .collect();
                for actor in due {
                    // An actor whose deactivation could not write its state is still held;
                    // once written, it can go.
                    if app.write(&runtime, &actor).await {
                        app.forget_if_idle(&runtime, &actor);
                    }
                }
            }
        });
    }

    /// The held state of `actor`, loading its latest snapshot (or the type's initial
    /// state) on first use.
    async fn held(
        &self,
        runtime: &Runtime,
        actor: &ActorId,
    ) -> Result<Arc<HeldActor>, InvokeError> {
        if let Some(held) = self.held.get(actor) {
            return Ok(held.clone());
        }
        let stored = stored(runtime, actor, SNAPSHOT_KEY).await?;
        let (revision, state) = match stored.as_deref().map(pb::Checkpoint::decode) {
            Some(Ok(c)) => (
                c.revision.map_or(0, |r| r.value),
                c.state.unwrap_or_default(),
            ),
            Some(Err(e)) => {
                tracing::error!(%actor, error = %e, "stored Spawn snapshot is unreadable; starting from the initial state");
                (0, self.initial(actor))
            }
            None => (0, self.initial(actor)),
        };
        let held = Held {
            stored_state: state.state.clone(),
            stored_tags: state.tags.clone(),
            state: state.state,
            tags: state.tags,
            revision,
            last_write: Instant::now(),
        };
        Ok(self
            .held
            .entry(actor.clone())
            .or_insert_with(|| Arc::new(HeldActor::new(held)))
            .clone())
    }

    fn initial(&self, actor: &ActorId) -> pb::ActorState {
        self.types
            .get(&*actor.actor_type)
            .map(|t| t.initial.clone())
            .unwrap_or_default()
    }

    fn stateful(&self, actor: &ActorId) -> bool {
        self.is_stateful(&actor.actor_type)
    }

    /// Whether actors of `actor_type` are stateful (their state is written to the store).
    pub fn is_stateful(&self, actor_type: &str) -> bool {
        self.types.get(actor_type).is_some_and(|t| t.stateful)
    }

    /// Store `actor`'s held state as a new revision if it changed since the last write.
    /// Returns whether the held state is now stored; a failure is logged, and the snapshot
    /// loop tries again.
    async fn write(&self, runtime: &Runtime, actor: &ActorId) -> bool {
        match self.try_write(runtime, actor).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(%actor, error = %e, "writing a Spawn snapshot failed; will retry");
                false
            }
        }
    }

    async fn try_write(&self, runtime: &Runtime, actor: &ActorId) -> Result<(), HeldStateError> {
        let Some(held) = self.held.get(actor).map(|h| h.clone()) else {
            return Ok(());
        };
        let _writing = held.writing.lock().await;
        self.write_locked(runtime, actor, &held).await
    }

    /// Store `held` as a new revision if it changed since the last write. The caller holds
    /// `held.writing`.
    async fn write_locked(
        &self,
        runtime: &Runtime,
        actor: &ActorId,
        held: &HeldActor,
    ) -> Result<(), HeldStateError> {
        if !self.stateful(actor) {
            return Ok(());
        }
        let (revision, state, tags, encoded) = {
            let mut held = held.lock();
            held.last_write = Instant::now();
            if !held.changed() {
                return Ok(());
            }
            let revision = held.revision + 1;
            let checkpoint = pb::Checkpoint {
                revision: Some(pb::Revision { value: revision }),
                state: Some(held.actor_state()),
            };
            (
                revision,
                held.state.clone(),
                held.tags.clone(),
                checkpoint.encode_to_vec(),
            )
        };
        let mut changes = vec![
            (SNAPSHOT_KEY.to_string(), Some(encoded.clone())),
            (revision_key(revision), Some(encoded)),
        ];
        let expired = revision - KEPT_REVISIONS;
        if expired > 0 {
            changes.push((revision_key(expired), None));
        }
        runtime.store_held_state(actor, changes).await?;
        // What was stored, not what is held now: a turn may have changed it meanwhile, and
        // that change is still to be written.
        let mut held = held.lock();
        held.revision = revision;
        held.stored_state = state;
        held.stored_tags = tags;
        Ok(())
    }

    /// Make stored revision `revision` the actor's state again, stored as a new revision.
    /// The caller holds the actor's turn, so no turn overwrites the restored state.
    pub async fn restore(
        &self,
        runtime: &Runtime,
        actor: &ActorId,
        revision: i64,
    ) -> Result<(), HeldStateError> {
        let stored = stored(runtime, actor, &revision_key(revision))
            .await?
            .ok_or_else(|| HeldStateError::NoRevision {
                actor: actor.clone(),
                revision,
            })?;
        let checkpoint =
            pb::Checkpoint::decode(&stored[..]).map_err(|e| HeldStateError::Unreadable {
                actor: actor.clone(),
                revision,
                message: e.to_string(),
            })?;
        let state = checkpoint.state.unwrap_or_default();
        let held = self.held(runtime, actor).await?;
        let _writing = held.writing.lock().await;
        {
            let mut held = held.lock();
            held.state = state.state;
            held.tags = state.tags;
        }
        self.write_locked(runtime, actor, &held).await
    }

    /// The actor was deactivated: store its state and forget it. If the write failed, the
    /// state stays held and the snapshot loop tries again.
    pub async fn deactivate(&self, runtime: &Runtime, actor: &ActorId) {
        if self.write(runtime, actor).await {
            self.forget_if_idle(runtime, actor);
        }
    }

    /// Forget `actor`'s held state if the actor is not active and nothing of it is left to
    /// write. A turn activates its actor before it reads the held state, so an inactive
    /// actor's entry has no reader; one activated again keeps the state it holds.
    fn forget_if_idle(&self, runtime: &Runtime, actor: &ActorId) {
        let stateful = self.stateful(actor);
        self.held.remove_if(actor, |_, held| {
            !runtime.is_active(actor) && (!stateful || !held.lock().changed())
        });
    }

    /// Store the changed state of every actor held (at shutdown, and for a registration
    /// that was replaced). Failures are logged.
    pub async fn write_all(&self, runtime: &Runtime) {
        let actors: Vec<ActorId> = self.held.iter().map(|e| e.key().clone()).collect();
        for actor in actors {
            self.write(runtime, &actor).await;
        }
    }

    /// Take over the actors `previous` holds, when the same SDK registers again, so no
    /// state waiting to be written is lost and no turn loads an older snapshot.
    pub fn adopt(&self, previous: &SpawnApp) {
        for entry in previous.held.iter() {
            if self.types.contains_key(&*entry.key().actor_type) {
                self.held
                    .entry(entry.key().clone())
                    .or_insert_with(|| entry.value().clone());
            }
        }
    }

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

/// Why one POST to the user function gave no answer.
enum PostError {
    /// Worth another try within the deadline (Spawn retries such answers).
    Retry(String),
    /// An answer past the cap: never retried.
    TooLarge(BodyError),
}

/// A committed state key of `actor`, as a turn's error.
async fn stored(
    runtime: &Runtime,
    actor: &ActorId,
    key: &str,
) -> Result<Option<Vec<u8>>, InvokeError> {
    runtime.get_state(actor, key).await.map_err(|e| match e {
        StateError::Store(source) => InvokeError::Store {
            actor: actor.clone(),
            source,
        },
        _ => InvokeError::ActorTypeNotFound {
            tenant: actor.tenant.to_string(),
            actor_type: actor.actor_type.to_string(),
        },
    })
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

impl SpawnApp {
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
