//! The commit of actor records: each under its actor's stripe of a lock, with the
//! tenants' state counters it keeps and the store's halt once a write may have reached
//! the disk only in part.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use dashmap::DashMap;
use sled::Tree;

use crate::CLEAN;
use crate::keys::{actor_key, reminder_key};
use crate::reminders;
use warren_store::faults;
use warren_store::record::ActorRecord;
use warren_store::{ReminderChange, StateChange, StoreError};
use warren_wire::types::ActorId;

/// Stripes of the commit lock: a commit reads, checks and writes its actor's record under
/// its stripe, so two commits of one actor never both pass the version check.
const STRIPES: usize = 64;

/// Picks an actor's stripe (fixed keys: only the spread matters).
const STRIPE_HASH: std::hash::BuildHasherDefault<std::hash::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// The commit of actor records: shared by the store (`relaxed`: commits apply on the
/// caller's task) and its writer task (`sync`: commits apply in groups, one flush each).
pub(crate) struct ActorWrites {
    actors: Tree,
    /// The reminder trees, which a commit with reminder changes writes in one transaction
    /// with the record.
    reminders: Tree,
    reminders_due: Tree,
    meta: Tree,
    stripes: [Mutex<()>; STRIPES],
    /// State bytes per tenant, kept by every commit.
    pub(crate) tenant_bytes: DashMap<String, AtomicU64>,
    /// Whether `meta` still says `usage` is current (cleared by the first commit).
    pub(crate) marked_clean: AtomicBool,
    /// Why the store halted, once a write may have reached it only in part: from then on
    /// it refuses loads and writes until the host restarts (and recovers from the disk).
    halted: OnceLock<String>,
}

impl ActorWrites {
    /// Commits into `actors` and the reminder trees, from the counters `tenant_bytes`
    /// found at open; `marked_clean` when `meta` says they are current.
    pub(crate) fn new(
        actors: Tree,
        (reminders, reminders_due): (Tree, Tree),
        meta: Tree,
        tenant_bytes: DashMap<String, AtomicU64>,
        marked_clean: bool,
    ) -> Self {
        ActorWrites {
            actors,
            reminders,
            reminders_due,
            meta,
            stripes: std::array::from_fn(|_| Mutex::new(())),
            tenant_bytes,
            marked_clean: AtomicBool::new(marked_clean),
            halted: OnceLock::new(),
        }
    }

    /// Apply one commit under the actor's stripe; the new version.
    pub(crate) fn commit(
        &self,
        actor: &ActorId,
        expected: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> Result<u64, StoreError> {
        self.writable()?;
        let key = actor_key(actor);
        let _serial = self.serialize(actor);
        faults::pass("sled-commit-read", || {})?;
        let mut record = match self.actors.get(&key)? {
            Some(bytes) => ActorRecord::decode(&bytes)?,
            None => ActorRecord::default(),
        };
        if record.version != expected {
            return Err(StoreError::Conflict {
                expected,
                found: record.version,
            });
        }
        let delta = record.size_delta(&changes);
        record.apply(changes);
        record.version += 1;
        self.unmark_clean()?;
        // An empty record stays: its version must not go back to 0. The reminder changes
        // ride in the record (one atomic write) and are then applied to the reminder
        // trees; after a crash between the two, opening the store replays them.
        // (sled's multi-tree transactions measured 3-4x slower firings, RESULTS.md.)
        // A failed write of the record wrote nothing: the turn fails, the store goes on.
        faults::pass("sled-commit-write", || {})?;
        self.actors.insert(key, record.encode_with(&reminders))?;
        if !reminders.is_empty() {
            // Past the record, a failure leaves the commit half applied until the next
            // start replays it: nothing may read or write before then.
            faults::pass("sled-commit-apply", || drop(self.actors.flush()))
                .and_then(|()| {
                    reminders::apply_changes(
                        (&self.reminders, &self.reminders_due),
                        actor,
                        &reminders,
                    )
                })
                .map_err(|e| {
                    self.halt(format!(
                        "a turn's reminder changes failed after its state was written ({e}); \
                         the next start applies them"
                    ))
                })?;
        }
        let counter = self
            .tenant_bytes
            .entry(actor.tenant.to_string())
            .or_insert_with(|| AtomicU64::new(0));
        if delta >= 0 {
            counter.fetch_add(delta as u64, Ordering::AcqRel);
        } else {
            counter.fetch_sub(delta.unsigned_abs(), Ordering::AcqRel);
        }
        Ok(record.version)
    }

    /// A reminder change outside a turn (Dapr's reminder API), written to the reminder
    /// trees directly. Should the actor's record still carry reminder changes of its last
    /// commit that touch this reminder, they are dropped from it first, so a replay after
    /// a crash never undoes this change. Whether the reminder existed before.
    pub(crate) fn change_reminder(
        &self,
        actor: &ActorId,
        change: ReminderChange,
    ) -> Result<bool, StoreError> {
        self.writable()?;
        let key = actor_key(actor);
        let _serial = self.serialize(actor);
        let name = change.name();
        if let Some(bytes) = self.actors.get(&key)?
            && ActorRecord::carries_reminders(&bytes)
        {
            let (record, pending) = ActorRecord::decode_with(&bytes)?;
            if pending.iter().any(|c| c.name() == name) {
                self.actors.insert(&key, record.encode())?;
            }
        }
        let existed = self.reminders.contains_key(reminder_key(actor, name))?;
        reminders::apply_changes((&self.reminders, &self.reminders_due), actor, &[change])?;
        Ok(existed)
    }

    /// Hold `actor`'s stripe: its record's writes (commits, reminder changes) one at a time.
    fn serialize(&self, actor: &ActorId) -> std::sync::MutexGuard<'_, ()> {
        let stripe = std::hash::BuildHasher::hash_one(&STRIPE_HASH, actor) as usize % STRIPES;
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Before a record is written: sled recovers a prefix of its log, so a write that
    /// survives a crash never finds the counters marked current (and its reminder changes
    /// are replayed).
    fn unmark_clean(&self) -> Result<(), StoreError> {
        if self.marked_clean.swap(false, Ordering::AcqRel) {
            // Left in place, the mark would vouch for counters a crash made stale.
            self.meta.remove(CLEAN).map_err(|e| {
                self.halt(format!(
                    "the counters' clean mark could not be removed ({e})"
                ))
            })?;
        }
        Ok(())
    }

    /// `Err(Halted)` once the store has halted.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        match self.halted.get() {
            Some(why) => Err(StoreError::Halted(why.clone())),
            None => Ok(()),
        }
    }

    /// Halt the store after a failed flush: what was applied since the last one, the turns
    /// of a group commit included, is visible in memory but maybe not on disk.
    pub(crate) fn flush_failed(&self, e: impl std::fmt::Display) -> StoreError {
        self.halt(format!(
            "a flush to disk failed ({e}); what it carried may or may not be durable"
        ))
    }

    /// Halt the store for `why` (the first reason is kept); the error to return.
    pub(crate) fn halt(&self, why: String) -> StoreError {
        let why = self.halted.get_or_init(|| {
            tracing::error!(
                reason = %why,
                "the store halts: loads and writes are refused until the host restarts"
            );
            why
        });
        StoreError::Halted(why.clone())
    }
}
