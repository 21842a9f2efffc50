//! The embedded default store: one sled database in the data dir.
//!
//! Layout: tree `actors` holds one [`ActorRecord`] per actor (key: tenant, type, id), so a
//! load is one read and a commit one read and one write, atomic across a crash by sled's
//! single-key writes; `reminders`, `tenants`, `components` and `component_wasm` hold one
//! entry each, `component_versions` and `component_version_wasm` one per kept version; `usage` holds each tenant's state bytes, written at a clean shutdown, and
//! `meta` the mark that it is current. A commit that changes reminders writes the changes
//! into the record too, then applies them to `reminders`: sled recovers a prefix of its
//! log, so after a crash the record's changes are replayed (idempotently), and a firing's
//! progress is never kept apart from its turn's state. A data dir of the earlier layout
//! (a state tree per tenant, one entry per key) is migrated when it opens (`legacy.rs`).
// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use dashmap::DashMap;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Transactional, Tree};
use tokio::sync::{mpsc, oneshot};

use keys::{SEP, actor_key, component_key, due_key, reminder_key, split_reminder};
use reminders::stored_reminder;
use warren_store::faults;
use warren_store::record::ActorRecord;
use warren_store::{
    ActorStore, ComponentRecord, ComponentStore, ComponentVersion, ReminderChange, ReminderCursor,
    ReminderStore, StateChange, StateStore, StoreError, StoreFuture, StoredReminder, TenantStore,
};
use warren_wire::types::ActorId;

/// Stripes of the commit lock: a commit reads, checks and writes its actor's record under
/// its stripe, so two commits of one actor never both pass the version check.
const STRIPES: usize = 64;

/// Picks an actor's stripe (fixed keys: only the spread matters).
const STRIPE_HASH: std::hash::BuildHasherDefault<std::hash::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// The `meta` key present while `usage` matches the records (between a clean shutdown and
/// the next commit).
const CLEAN: &[u8] = b"usage-is-current";

mod keys;
mod legacy;
mod reminders;

/// When a commit is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// A commit is acknowledged only once it is on disk. Concurrent commits share one flush.
    Sync,
    /// A commit is acknowledged once applied in memory; the store flushes periodically.
    Relaxed,
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "sync" => Ok(Durability::Sync),
            "relaxed" => Ok(Durability::Relaxed),
            other => Err(format!(
                "no durability {other:?}: it is `sync` or `relaxed`"
            )),
        }
    }
}

/// [`StateStore`] on sled.
pub struct SledStore {
    db: Db,
    actors: Tree,
    components: Tree,
    component_wasm: Tree,
    /// Kept versions (key: tenant, name, big-endian number) and their bytes.
    component_versions: Tree,
    component_version_wasm: Tree,
    reminders: Tree,
    /// Reminders by due time (`due_key`), read in windows as they come due.
    reminders_due: Tree,
    tenants: Tree,
    usage: Tree,
    meta: Tree,
    durability: Durability,
    /// Commits of actor records, and the counters they keep.
    writes: Arc<ActorWrites>,
    /// Present in `sync` mode: the queue of the writer task, which applies the commits
    /// waiting and makes them durable with one flush.
    writer: Option<mpsc::UnboundedSender<Pending>>,
}

/// The commit of actor records: shared by the store (`relaxed`: commits apply on the
/// caller's task) and its writer task (`sync`: commits apply in groups, one flush each).
struct ActorWrites {
    actors: Tree,
    /// The reminder trees, which a commit with reminder changes writes in one transaction
    /// with the record.
    reminders: Tree,
    reminders_due: Tree,
    meta: Tree,
    stripes: [Mutex<()>; STRIPES],
    /// State bytes per tenant, kept by every commit.
    tenant_bytes: DashMap<String, AtomicU64>,
    /// Whether `meta` still says `usage` is current (cleared by the first commit).
    marked_clean: AtomicBool,
    /// Why the store halted, once a write may have reached it only in part: from then on
    /// it refuses loads and writes until the host restarts (and recovers from the disk).
    halted: OnceLock<String>,
}

/// What the writer task of a `sync` store is asked to do before its next flush.
enum Pending {
    Commit {
        actor: ActorId,
        expected: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Only wait for the flush (of a reminder written on the caller's task).
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

impl SledStore {
    /// Open (or create) the store under `dir`, migrating a data dir of the earlier layout.
    /// Must run inside a tokio runtime in `sync` mode, which starts the flush task.
    pub fn open(dir: &Path, durability: Durability) -> Result<Arc<Self>, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(200))
            .open()?;
        let actors = db.open_tree("actors")?;
        let meta = db.open_tree("meta")?;
        let usage = db.open_tree("usage")?;
        let migrated = legacy::migrate(&db, &actors)?;
        legacy::index_reminders(&db)?;
        let reminders = db.open_tree("reminders")?;
        let reminders_due = db.open_tree("reminders_due")?;
        let tenant_bytes = DashMap::new();
        if !migrated && meta.get(CLEAN)?.is_some() {
            for entry in usage.iter() {
                let (tenant, bytes) = entry?;
                let bytes = <[u8; 8]>::try_from(&*bytes)
                    .map_err(|_| StoreError::Corrupt("usage counter".into()))?;
                tenant_bytes.insert(
                    String::from_utf8_lossy(&tenant).into_owned(),
                    AtomicU64::new(u64::from_le_bytes(bytes)),
                );
            }
        } else {
            // After a crash the counters may be behind, and the reminder changes of the
            // last commits may be: count and replay once, from the records.
            for (tenant, bytes) in recover(&actors, (&reminders, &reminders_due))? {
                tenant_bytes.insert(tenant, AtomicU64::new(bytes));
            }
        }
        let writes = Arc::new(ActorWrites {
            marked_clean: AtomicBool::new(meta.get(CLEAN)?.is_some()),
            actors: actors.clone(),
            reminders: reminders.clone(),
            reminders_due: reminders_due.clone(),
            meta: meta.clone(),
            stripes: std::array::from_fn(|_| Mutex::new(())),
            tenant_bytes,
            halted: OnceLock::new(),
        });
        let writer = (durability == Durability::Sync).then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_loop(db.clone(), writes.clone(), rx));
            tx
        });
        Ok(Arc::new(SledStore {
            components: db.open_tree("components")?,
            component_wasm: db.open_tree("component_wasm")?,
            component_versions: db.open_tree("component_versions")?,
            component_version_wasm: db.open_tree("component_version_wasm")?,
            reminders,
            reminders_due,
            tenants: db.open_tree("tenants")?,
            db,
            actors,
            usage,
            meta,
            durability,
            writes,
            writer,
        }))
    }

    /// Flush the whole database; a failure halts the store (what was applied since the
    /// last flush, commits included, may or may not be on disk).
    async fn flush_or_halt(&self) -> Result<(), StoreError> {
        self.db
            .flush_async()
            .await
            .map(drop)
            .map_err(|e| self.writes.flush_failed(e))
    }

    /// The durability mode this store was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Resolves once what was written before is durable per the store's mode: at the
    /// next shared flush in `sync`, at once in `relaxed`.
    fn durable(&self) -> StoreFuture<'_, ()> {
        match &self.writer {
            None => Box::pin(async { Ok(()) }),
            Some(queue) => {
                let (done, wait) = oneshot::channel();
                let sent = queue.send(Pending::Flush(done));
                Box::pin(async move {
                    sent.map_err(|_| StoreError::Closed)?;
                    wait.await.map_err(|_| StoreError::Closed)?
                })
            }
        }
    }
}

impl ActorWrites {
    /// Apply one commit under the actor's stripe; the new version.
    fn commit(
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
    fn change_reminder(&self, actor: &ActorId, change: ReminderChange) -> Result<bool, StoreError> {
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
    fn writable(&self) -> Result<(), StoreError> {
        match self.halted.get() {
            Some(why) => Err(StoreError::Halted(why.clone())),
            None => Ok(()),
        }
    }

    /// Halt the store after a failed flush: what was applied since the last one, the turns
    /// of a group commit included, is visible in memory but maybe not on disk.
    fn flush_failed(&self, e: impl std::fmt::Display) -> StoreError {
        self.halt(format!(
            "a flush to disk failed ({e}); what it carried may or may not be durable"
        ))
    }

    /// Halt the store for `why` (the first reason is kept); the error to return.
    fn halt(&self, why: String) -> StoreError {
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

/// After an unclean stop: state bytes per tenant, counted from every record, and the
/// reminder changes each record carries applied again (idempotent: the ones applied
/// before the crash change nothing), so none is lost between its record and the trees.
fn recover(
    actors: &Tree,
    reminder_trees: (&Tree, &Tree),
) -> Result<HashMap<String, u64>, StoreError> {
    let mut usage = HashMap::new();
    let mut replayed = 0usize;
    for entry in actors.iter() {
        let (key, bytes) = entry?;
        let mut parts = key.split(|b| *b == SEP);
        let tenant = parts.next().unwrap_or_default();
        let (record, changes) = ActorRecord::decode_with(&bytes)?;
        *usage
            .entry(String::from_utf8_lossy(tenant).into_owned())
            .or_insert(0) += record.size();
        if !changes.is_empty() {
            let (Some(actor_type), Some(id)) = (parts.next(), parts.next()) else {
                return Err(StoreError::Corrupt("actor record key is malformed".into()));
            };
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let actor = ActorId::new(&text(tenant), &text(actor_type), &text(id));
            reminders::apply_changes(reminder_trees, &actor, &changes)?;
            replayed += 1;
        }
    }
    if replayed > 0 {
        tracing::info!(
            actors = replayed,
            "reminder changes of the last commits applied again after an unclean stop"
        );
    }
    Ok(usage)
}

/// Make writes durable in groups: every commit waiting when a flush starts shares it.
/// The writer task of a `sync` store: apply every commit waiting, in arrival order, then
/// make the whole group durable with one flush. One task writes, so commits do not
/// contend with each other or with the flush.
async fn write_loop(db: Db, writes: Arc<ActorWrites>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut group = Vec::new();
    let mut applied = Vec::new();
    while rx.recv_many(&mut group, 4096).await > 0 {
        for pending in group.drain(..) {
            applied.push(match pending {
                Pending::Commit {
                    actor,
                    expected,
                    changes,
                    reminders,
                    done,
                } => (
                    Some(done),
                    writes.commit(&actor, expected, changes, reminders),
                    None,
                ),
                Pending::Flush(done) => (None, Ok(0), Some(done)),
            });
        }
        // A failed flush halts the store: the group's turns are told their outcome is
        // unknown, and nothing reads past it.
        let flushed = match faults::pass("sled-flush", || {}) {
            Ok(()) => db.flush_async().await.map(drop).map_err(StoreError::from),
            Err(e) => Err(e),
        }
        .map_err(|e| writes.flush_failed(e));
        for (commit, result, flush) in applied.drain(..) {
            // A turn may have been abandoned (caller gone); nothing to tell then.
            if let Some(done) = commit {
                let _ = done.send(result.and_then(|v| flushed.clone().map(|()| v)));
            }
            if let Some(done) = flush {
                let _ = done.send(flushed.clone());
            }
        }
    }
}

/// The prefix of a component's kept versions.
fn versions_prefix(tenant: &str, name: &str) -> Vec<u8> {
    let mut k = component_key(tenant, name);
    k.push(SEP);
    k
}

/// Big-endian, so a component's versions scan in order.
fn version_key(tenant: &str, name: &str, number: u64) -> Vec<u8> {
    let mut k = versions_prefix(tenant, name);
    k.extend_from_slice(&number.to_be_bytes());
    k
}

impl ActorStore for SledStore {
    fn load(&self, actor: &ActorId) -> StoreFuture<'_, ActorRecord> {
        let loaded = self
            .writes
            .writable()
            .and_then(|()| Ok(self.actors.get(actor_key(actor))?));
        Box::pin(async move {
            match loaded? {
                Some(bytes) => ActorRecord::decode(&bytes),
                None => Ok(ActorRecord::default()),
            }
        })
    }

    fn commit_turn(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> StoreFuture<'_, u64> {
        match &self.writer {
            None => {
                let committed = self
                    .writes
                    .commit(actor, expected_version, changes, reminders);
                Box::pin(async move { committed })
            }
            Some(queue) => {
                let (done, wait) = oneshot::channel();
                let sent = queue.send(Pending::Commit {
                    actor: actor.clone(),
                    expected: expected_version,
                    changes,
                    reminders,
                    done,
                });
                Box::pin(async move {
                    sent.map_err(|_| StoreError::Closed)?;
                    wait.await.map_err(|_| StoreError::Closed)?
                })
            }
        }
    }

    fn tenant_state_size(&self, tenant: &str) -> StoreFuture<'_, u64> {
        let bytes = self
            .writes
            .tenant_bytes
            .get(tenant)
            .map_or(0, |c| c.load(Ordering::Acquire));
        Box::pin(async move { Ok(bytes) })
    }
}

impl ReminderStore for SledStore {
    fn put_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> StoreFuture<'_, ()> {
        let written = self.put_reminder_now(actor, name, due_ms, record);
        Box::pin(async move {
            written?;
            self.durable().await
        })
    }

    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, bool> {
        let deleted = self.delete_reminder_now(actor, name);
        Box::pin(async move {
            let existed = deleted?;
            self.durable().await?;
            Ok(existed)
        })
    }

    fn reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, Option<StoredReminder>> {
        let found = self.reminders.get(reminder_key(actor, name));
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            self.writes.writable()?;
            let Some(value) = found? else { return Ok(None) };
            let (due_ms, record) = split_reminder(&value)?;
            Ok(Some(StoredReminder {
                actor,
                name,
                due_ms,
                record: record.to_vec(),
            }))
        })
    }

    fn actor_reminders(
        &self,
        tenant: &str,
        actor_type: &str,
        id: Option<&str>,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        let mut prefix = component_key(tenant, actor_type);
        prefix.push(SEP);
        if let Some(id) = id {
            prefix.extend_from_slice(id.as_bytes());
            prefix.push(SEP);
        }
        Box::pin(async move {
            self.writes.writable()?;
            self.reminders
                .scan_prefix(&prefix)
                .map(|entry| {
                    let (key, value) = entry?;
                    stored_reminder(&key, &value)
                })
                .collect()
        })
    }

    fn reminders_due(
        &self,
        after: Option<ReminderCursor>,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        // Halted, nothing fires: a firing's turn could not store its progress, and would
        // run again at every read of the window until the restart.
        let due = self
            .writes
            .writable()
            .and_then(|()| self.reminders_due_now(after, until_ms, limit));
        Box::pin(async move { due })
    }
}

impl TenantStore for SledStore {
    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            self.writes.writable()?;
            self.tenants.insert(name.as_bytes(), record)?;
            self.flush_or_halt().await?;
            Ok(())
        })
    }

    fn tenants(&self) -> StoreFuture<'_, Vec<Vec<u8>>> {
        Box::pin(async move {
            self.tenants
                .iter()
                .values()
                .map(|v| Ok(v?.to_vec()))
                .collect()
        })
    }

    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            self.writes.writable()?;
            let mut prefix = name.as_bytes().to_vec();
            prefix.push(SEP);
            for (key, value) in self.reminders.scan_prefix(&prefix).flatten() {
                if let Ok((due_ms, _)) = split_reminder(&value) {
                    self.reminders_due.remove(due_key(due_ms, &key))?;
                }
            }
            for tree in [
                &self.actors,
                &self.reminders,
                &self.components,
                &self.component_wasm,
                &self.component_versions,
                &self.component_version_wasm,
            ] {
                for key in tree.scan_prefix(&prefix).keys() {
                    tree.remove(key?)?;
                }
            }
            self.writes.tenant_bytes.remove(&name);
            self.usage.remove(name.as_bytes())?;
            self.tenants.remove(name.as_bytes())?;
            self.flush_or_halt().await?;
            Ok(())
        })
    }
}

impl ComponentStore for SledStore {
    fn put_component(&self, record: &ComponentRecord, wasm: Option<&[u8]>) -> StoreFuture<'_, ()> {
        let key = component_key(&record.tenant, &record.name);
        let json = match serde_json::to_vec(record) {
            Ok(j) => j,
            Err(e) => return Box::pin(async move { Err(StoreError::Corrupt(e.to_string())) }),
        };
        let wasm = wasm.map(<[u8]>::to_vec);
        Box::pin(async move {
            self.writes.writable()?;
            (&self.components, &self.component_wasm)
                .transaction(|(records, bytes)| {
                    records.insert(key.as_slice(), json.as_slice())?;
                    if let Some(wasm) = &wasm {
                        bytes.insert(key.as_slice(), wasm.as_slice())?;
                    }
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.flush_or_halt().await?;
            Ok(())
        })
    }

    fn components(&self) -> StoreFuture<'_, Vec<ComponentRecord>> {
        Box::pin(async move {
            self.components
                .iter()
                .values()
                .map(|v| {
                    let v = v?;
                    serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .collect()
        })
    }

    fn component_wasm(&self, tenant: &str, name: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let found = self.component_wasm.get(component_key(tenant, name));
        Box::pin(async move { Ok(found?.map(|v| v.to_vec())) })
    }

    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool> {
        let key = component_key(tenant, name);
        Box::pin(async move {
            self.writes.writable()?;
            let existed = (&self.components, &self.component_wasm)
                .transaction(|(records, bytes)| {
                    let existed = records.remove(key.as_slice())?.is_some();
                    bytes.remove(key.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(existed)
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            // Versions go after the record: a crash in between leaves versions of no
            // component, which a deploy of the same name numbers past.
            let mut prefix = key;
            prefix.push(SEP);
            for tree in [&self.component_versions, &self.component_version_wasm] {
                for k in tree.scan_prefix(&prefix).keys() {
                    tree.remove(k?)?;
                }
            }
            self.flush_or_halt().await?;
            Ok(existed)
        })
    }

    fn put_component_version(
        &self,
        version: &ComponentVersion,
        wasm: &[u8],
    ) -> StoreFuture<'_, ()> {
        let key = version_key(&version.tenant, &version.name, version.number);
        let json = match serde_json::to_vec(version) {
            Ok(j) => j,
            Err(e) => return Box::pin(async move { Err(StoreError::Corrupt(e.to_string())) }),
        };
        let wasm = wasm.to_vec();
        Box::pin(async move {
            self.writes.writable()?;
            (&self.component_versions, &self.component_version_wasm)
                .transaction(|(records, bytes)| {
                    records.insert(key.as_slice(), json.as_slice())?;
                    bytes.insert(key.as_slice(), wasm.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.flush_or_halt().await
        })
    }

    fn component_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> StoreFuture<'_, Vec<ComponentVersion>> {
        let prefix = versions_prefix(tenant, name);
        Box::pin(async move {
            self.component_versions
                .scan_prefix(&prefix)
                .values()
                .map(|v| {
                    let v = v?;
                    serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .collect()
        })
    }

    fn component_version_wasm(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, Option<Vec<u8>>> {
        let found = self
            .component_version_wasm
            .get(version_key(tenant, name, number));
        Box::pin(async move { Ok(found?.map(|v| v.to_vec())) })
    }

    fn remove_component_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, bool> {
        let key = version_key(tenant, name, number);
        Box::pin(async move {
            self.writes.writable()?;
            let existed = (&self.component_versions, &self.component_version_wasm)
                .transaction(|(records, bytes)| {
                    let existed = records.remove(key.as_slice())?.is_some();
                    bytes.remove(key.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(existed)
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.flush_or_halt().await?;
            Ok(existed)
        })
    }
}

impl StateStore for SledStore {
    /// Flush everything, with the tenants' counters marked current for the next start
    /// (never once halted: the next start must then recover as after a crash).
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.writes.writable()?;
            for entry in self.writes.tenant_bytes.iter() {
                let bytes = entry.value().load(Ordering::Acquire);
                self.usage
                    .insert(entry.key().as_bytes(), &bytes.to_le_bytes())?;
            }
            self.flush_or_halt().await?;
            // Only once the counters are on disk may they be marked current, and never
            // once a write halted the store meanwhile.
            self.writes.writable()?;
            self.meta.insert(CLEAN, &[1])?;
            self.writes.marked_clean.store(true, Ordering::Release);
            self.flush_or_halt().await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counters survive a clean shutdown as written, and are counted again from the
    /// records after an unclean one. (Relaxed: a `sync` store's flush task would hold the
    /// database open past the drop on this single-threaded test runtime.)
    #[tokio::test]
    async fn tenant_counters_survive_restarts_clean_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let actor = ActorId::new("t", "c", "1");
        let set = |v: &str| vec![("k".to_string(), Some(v.as_bytes().to_vec()))];
        {
            let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
            store.commit(&actor, 0, set("12345")).await.unwrap();
            store.flush().await.unwrap();
        }
        {
            let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
            assert_eq!(store.tenant_state_size("t").await.unwrap(), 6);
            // A commit after the clean mark, then no clean shutdown.
            store.commit(&actor, 1, set("1")).await.unwrap();
            assert_eq!(store.tenant_state_size("t").await.unwrap(), 2);
        }
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        assert_eq!(store.tenant_state_size("t").await.unwrap(), 2);
        assert_eq!(store.load(&actor).await.unwrap().version, 2);
    }

    /// A crash after a commit's record but before its reminder changes reached the
    /// reminder trees: the next open applies them from the record. And a replay never
    /// undoes a later change: a reminder deleted through the API after a turn put it stays
    /// deleted.
    /// A halted store fires nothing: a firing's turn could not store its progress and
    /// would run again at every read of the window (found in review).
    #[tokio::test]
    async fn a_halted_store_refuses_reminder_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let actor = ActorId::new("t", "c", "1");
        store
            .put_reminder(&actor, "r", 0, b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(store.reminders_due(None, 10, 10).await.unwrap().len(), 1);
        store.writes.halt("injected".into());
        let halted = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Halted(_)));
        assert!(halted(store.reminders_due(None, 10, 10).await.map(drop)));
        assert!(halted(store.reminder(&actor, "r").await.map(drop)));
        assert!(halted(
            store.actor_reminders("t", "c", None).await.map(drop)
        ));
        assert!(halted(store.load(&actor).await.map(drop)));
        assert!(halted(
            store
                .put_reminder(&actor, "s", 0, Vec::new())
                .await
                .map(drop)
        ));
        assert!(halted(store.flush().await));
    }

    #[tokio::test]
    async fn reminder_changes_in_a_record_are_replayed_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let actor = ActorId::new("t", "c", "1");
        let other = ActorId::new("t", "c", "2");
        let put = |name: &str, due_ms: i64| ReminderChange::Put {
            name: name.into(),
            due_ms,
            record: format!("{{\"due_ms\":{due_ms}}}").into_bytes(),
        };
        {
            let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
            store
                .commit_turn(&actor, 0, Vec::new(), vec![put("fires", 100)])
                .await
                .unwrap();
            store
                .commit_turn(&other, 0, Vec::new(), vec![put("gone", 50)])
                .await
                .unwrap();
            store.delete_reminder(&other, "gone").await.unwrap();
            // What a crash inside the next commit leaves: its record (state, version and
            // the firing's progress) without the progress in the reminder trees.
            let mut record = ActorRecord {
                version: 1,
                ..ActorRecord::default()
            };
            record.apply(vec![("n".into(), Some(b"1".to_vec()))]);
            let progress = ReminderChange::Advance {
                name: "fires".into(),
                fired_due_ms: 100,
                next: Some((200, b"{\"due_ms\":200}".to_vec())),
            };
            store
                .actors
                .insert(actor_key(&actor), record.encode_with(&[progress]))
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let fired = store.reminder(&actor, "fires").await.unwrap().unwrap();
        assert_eq!(fired.due_ms, 200);
        let due = store.reminders_due(None, 1000, 10).await.unwrap();
        assert_eq!(due.len(), 1, "the old due entry was replaced: {due:?}");
        assert_eq!(store.load(&actor).await.unwrap().version, 1);
        assert_eq!(store.tenant_state_size("t").await.unwrap(), 2);
        assert!(store.reminder(&other, "gone").await.unwrap().is_none());
    }
}
