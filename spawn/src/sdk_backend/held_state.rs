//! The actor state an SDK app holds between turns, and its write-behind: each changed
//! state becomes a new stored revision (and the latest snapshot), written by the snapshot
//! loop, a checkpoint, a deactivation, a restore or the shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use prost::Message;
use prost_types::Any;

use super::{DEFAULT_SNAPSHOT_INTERVAL, KEPT_REVISIONS, SpawnApp};
use crate::runtime::{HeldStateError, Runtime, StateError};
use crate::types::{ActorId, InvokeError};
use crate::wire::spawn::pb;

/// The store key of an actor's latest snapshot.
const SNAPSHOT_KEY: &str = "spawn/snapshot";

/// The store key of one stored revision, zero-padded so keys sort by revision.
fn revision_key(revision: i64) -> String {
    format!("spawn/revision/{revision:020}")
}

/// One actor's state as Warren holds it between turns.
pub(super) struct Held {
    /// The actor's state, as the SDK last returned it (Spawn's `Context.state`).
    pub(super) state: Option<Any>,
    /// The actor's tags (Spawn's `Context.tags`).
    pub(super) tags: HashMap<String, String>,
    /// The latest stored revision.
    revision: i64,
    /// The state and tags last stored (or loaded). Compared by value, not by encoding: the
    /// encoding of a protobuf map varies in order from one run to the next.
    stored_state: Option<Any>,
    stored_tags: HashMap<String, String>,
    /// When a write last ran for this actor, or its state was loaded: the snapshot loop
    /// waits its type's interval from then.
    last_write: Instant,
}

impl Held {
    /// The held state and tags as Spawn's `ActorState`.
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
pub(super) struct HeldActor {
    held: Mutex<Held>,
    /// Held across a whole write (read the revision and state, store them, record what was
    /// stored), so two writers (the snapshot loop, a checkpoint, a deactivation, a restore)
    /// never store the same revision.
    writing: tokio::sync::Mutex<()>,
}

impl HeldActor {
    /// An actor holding `held`, with no write under way.
    fn new(held: Held) -> Self {
        HeldActor {
            held: Mutex::new(held),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// The held state. Never kept across an `.await`.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SpawnApp {
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
    pub(super) async fn held(
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

    /// The state the actor's type registered, for an actor with no snapshot.
    fn initial(&self, actor: &ActorId) -> pb::ActorState {
        self.types
            .get(&*actor.actor_type)
            .map(|t| t.initial.clone())
            .unwrap_or_default()
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

    /// Store `actor`'s held state as a new revision if it changed; nothing for an actor
    /// not held.
    pub(super) async fn try_write(
        &self,
        runtime: &Runtime,
        actor: &ActorId,
    ) -> Result<(), HeldStateError> {
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
