//! A turn's view of its actor's state: reads see staged writes; writes stay staged until
//! the turn succeeds.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::scheduler::Job;
use super::{ActorId, Delivery, Invocation};
use crate::store::ActorRecord;
use crate::store::record::{CODE_VERSION_KEY, is_reserved};
use crate::types::workflow::Workflow;
use crate::types::{StateChange, StoreError};

/// A timer or reminder change staged by a turn.
#[derive(Debug)]
pub enum ScheduleOp {
    /// Start (or replace) a timer.
    SetTimer(Job),
    /// Stop the timer of this name.
    CancelTimer(String),
    /// Register (or replace) a reminder, stored with the turn's commit.
    SetReminder(Job),
    /// Delete the reminder of this name, with the turn's commit.
    CancelReminder(String),
}

/// An actor's committed state as its activation holds it: loaded on first use, replaced
/// by each commit. Turns read it live, so a turn that re-entered the actor and committed
/// is seen by the turn it re-entered, as a store read would see it.
///
/// The activation's turns commit on the version held here and nowhere else: a turn never
/// commits on state another activation loaded. Once the activation ends (its partition
/// moved, a commit failed) the record is *dropped*: it still answers the reads of turns
/// running on it, but none of them commits.
#[derive(Default)]
pub struct HeldRecord {
    current: std::sync::Mutex<Option<Arc<ActorRecord>>>,
    /// Held across a commit, so an actor's commits run one after the other.
    pub(super) commits: tokio::sync::Mutex<()>,
    /// Cluster mode: the partition epoch this activation loaded under (`None` outside a
    /// cluster); its commits are fenced at this epoch.
    epoch: std::sync::OnceLock<Option<i64>>,
    /// The activation ended: no more commits on this record.
    dropped: std::sync::atomic::AtomicBool,
}

impl HeldRecord {
    /// A cell already holding `record` (for a turn run outside the actor table).
    pub fn loaded(record: ActorRecord) -> Arc<Self> {
        let held = HeldRecord::default();
        held.set(Some(Arc::new(record)));
        Arc::new(held)
    }

    /// The record, if loaded.
    pub fn get(&self) -> Option<Arc<ActorRecord>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace the record (`None`: load it again on next use).
    pub fn set(&self, record: Option<Arc<ActorRecord>>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = record;
    }

    /// Bind the activation to `epoch` (the first binding stays).
    pub(super) fn bind_epoch(&self, epoch: Option<i64>) {
        let _ = self.epoch.set(epoch);
    }

    /// The partition epoch the activation is bound to (`None`: not bound, or no cluster).
    pub(super) fn epoch(&self) -> Option<i64> {
        self.epoch.get().copied().flatten()
    }

    /// End the activation this record belongs to: turns still running on it may read it,
    /// none may commit.
    pub(super) fn drop_activation(&self) {
        self.dropped
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the activation ended.
    pub(super) fn is_dropped(&self) -> bool {
        self.dropped.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Apply a commit's `changes` at `version`, in place when no reader holds the record.
    pub(super) fn apply(&self, changes: Vec<StateChange>, version: u64) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = current.as_mut() {
            let record = Arc::make_mut(record);
            record.apply(changes);
            record.version = version;
        }
    }
}

/// State staged by one turn, plus the timers, reminders and casts it sets if it commits.
pub struct TurnState {
    actor: ActorId,
    /// The actor's committed state, read live.
    committed: Arc<HeldRecord>,
    staged: BTreeMap<String, Option<Vec<u8>>>,
    schedule: Vec<ScheduleOp>,
    casts: Vec<Invocation>,
    deferred: Vec<Delivery>,
    workflow: Workflow,
    /// The version of the code running the turn, recorded with the state it commits.
    code_version: Option<Arc<str>>,
}

/// What a finished turn hands to the runtime to commit and run.
pub struct TurnParts {
    /// The state writes and removals to commit, by key.
    pub changes: Vec<StateChange>,
    /// Timer and reminder changes, applied once the state is committed.
    pub schedule: Vec<ScheduleOp>,
    /// Messages to send once the state is committed.
    pub casts: Vec<Invocation>,
    /// Platform deliveries (messages, broadcasts) to run once the state is committed.
    pub deferred: Vec<Delivery>,
    /// Spawn's workflow (broadcast, pipe, forward), run after the turn.
    pub workflow: Workflow,
}

impl TurnState {
    /// An empty turn of `actor`, whose committed state `committed` holds (loaded).
    pub fn new(actor: ActorId, committed: Arc<HeldRecord>) -> Self {
        TurnState {
            actor,
            committed,
            staged: BTreeMap::new(),
            schedule: Vec::new(),
            casts: Vec::new(),
            deferred: Vec::new(),
            workflow: Workflow::default(),
            code_version: None,
        }
    }

    /// The version of the code that last committed a turn of this actor, if one is
    /// recorded and it is not `version` (allocating only then: this runs every turn).
    pub fn written_by_other(&self, version: &str) -> Option<String> {
        let committed = self.committed.get()?;
        committed
            .code_version()
            .filter(|recorded| *recorded != version)
            .map(str::to_string)
    }

    /// Record `version` as the code running this turn: when the turn commits and the
    /// actor has state, the record names it, so the next version knows what to migrate.
    pub fn run_by(&mut self, version: Arc<str>) {
        self.code_version = Some(version);
    }

    /// The actor this turn runs for.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// The value of `key` as this turn sees it.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.staged.get(key) {
            Some(staged) => Ok(staged.clone()),
            None => Ok(self
                .committed
                .get()
                .and_then(|r| r.entries.get(key).cloned())),
        }
    }

    /// Stage a write.
    pub fn set(&mut self, key: String, value: Vec<u8>) {
        self.staged.insert(key, Some(value));
    }

    /// Stage a removal.
    pub fn delete(&mut self, key: String) {
        self.staged.insert(key, None);
    }

    /// Keys starting with `prefix` as this turn sees them, sorted.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys: std::collections::BTreeSet<String> = match self.committed.get() {
            Some(record) => record.keys_with_prefix(prefix).cloned().collect(),
            None => Default::default(),
        };
        for (key, value) in self.staged.range(prefix.to_string()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if is_reserved(key) {
                continue;
            }
            match value {
                Some(_) => keys.insert(key.clone()),
                None => keys.remove(key),
            };
        }
        Ok(keys.into_iter().collect())
    }

    /// Queue a cast to send once this turn has committed.
    pub fn push_cast(&mut self, invocation: Invocation) {
        self.casts.push(invocation);
    }

    /// Queue a platform delivery to run once this turn has committed.
    pub fn defer(&mut self, delivery: Delivery) {
        self.deferred.push(delivery);
    }

    /// Stage a timer or reminder change.
    pub fn push_schedule(&mut self, op: ScheduleOp) {
        self.schedule.push(op);
    }

    /// The workflow steps (broadcast, pipe, forward) the turn asks for once it commits.
    pub fn workflow_mut(&mut self) -> &mut Workflow {
        &mut self.workflow
    }

    /// Everything the turn staged, consuming it.
    pub fn into_parts(mut self) -> TurnParts {
        if let Some(version) = self.code_version.take() {
            let committed = self.committed.get();
            let recorded = committed.as_ref().and_then(|r| r.code_version());
            // An actor without state gets no record just to name a version.
            let has_state = !self.staged.is_empty()
                || committed.as_ref().is_some_and(|r| !r.entries.is_empty());
            if has_state && recorded != Some(&*version) {
                self.staged.insert(
                    CODE_VERSION_KEY.to_string(),
                    Some(version.as_bytes().to_vec()),
                );
            }
        }
        TurnParts {
            changes: self.staged.into_iter().collect(),
            schedule: self.schedule,
            casts: self.casts,
            deferred: self.deferred,
            workflow: self.workflow,
        }
    }
}
