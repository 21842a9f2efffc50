//! The embedded default store: one sled database in the data dir.
//!
//! Layout: tree `actors` holds one [`ActorRecord`] per actor (key: tenant, type, id), so a
//! load is one read and a commit one read and one write, atomic across a crash by sled's
//! single-key writes; `reminders`, `tenants`, `components` and `component_wasm` hold one
//! entry each, `component_versions` and `component_version_wasm` one per kept version;
//! `usage` holds each tenant's state bytes, written at a clean shutdown, and `meta` the
//! mark that it is current. A commit that changes reminders writes the changes
//! into the record too, then applies them to `reminders`: sled recovers a prefix of its
//! log, so after a crash the record's changes are replayed (idempotently), and a firing's
//! progress is never kept apart from its turn's state. A data dir of the earlier layout
//! (a state tree per tenant, one entry per key) is migrated when it opens (`legacy.rs`).
//!
//! Each concern of the port has a module: `actors.rs` (committed through `writes.rs`, in
//! groups by the writer task of `writer.rs` in `sync` mode), `reminders.rs`,
//! `components.rs`, `tenants.rs`; `keys.rs` lays out the keys they share, and
//! `recovery.rs` is what opening the store recovers after a crash.
// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sled::{Db, Tree};
use tokio::sync::{mpsc, oneshot};

use warren_store::{StateStore, StoreError, StoreFuture};
use writer::Pending;
use writes::ActorWrites;

/// The `meta` key present while `usage` matches the records (between a clean shutdown and
/// the next commit).
const CLEAN: &[u8] = b"usage-is-current";

mod actors;
mod components;
mod keys;
mod legacy;
mod recovery;
mod reminders;
mod tenants;
mod writer;
mod writes;

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
        let tenant_bytes = recovery::tenant_bytes(
            migrated,
            (&meta, &usage),
            &actors,
            (&reminders, &reminders_due),
        )?;
        let writes = Arc::new(ActorWrites::new(
            actors.clone(),
            (reminders.clone(), reminders_due.clone()),
            meta.clone(),
            tenant_bytes,
            meta.get(CLEAN)?.is_some(),
        ));
        let writer = (durability == Durability::Sync).then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer::write_loop(db.clone(), writes.clone(), rx));
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
    use crate::keys::actor_key;
    use warren_store::record::ActorRecord;
    use warren_store::{ActorStore, ReminderChange, ReminderStore};
    use warren_wire::types::ActorId;

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

    /// A crash after a commit's record but before its reminder changes reached the
    /// reminder trees: the next open applies them from the record. And a replay never
    /// undoes a later change: a reminder deleted through the API after a turn put it stays
    /// deleted.
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
