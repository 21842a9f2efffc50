//! The embedded default store: one sled database in the data dir, a state tree per tenant.

use std::path::Path;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Transactional, Tree};
use tokio::sync::{mpsc, oneshot};

use super::intents::{IntentLog, Writes};
use super::{ComponentRecord, Durability, StateChange, StateStore, StoreError, StoreFuture};
use crate::types::ActorId;

/// Separates the parts of a state key. Actor types and ids may not contain NUL.
const SEP: u8 = 0;

/// Picks an actor's stripe of the apply lock (fixed keys: only the spread matters).
const STRIPE_HASH: std::hash::BuildHasherDefault<std::hash::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// A commit waiting for the group flush.
struct PendingCommit {
    tree: Tree,
    writes: Writes,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// [`StateStore`] on sled.
pub struct SledStore {
    db: Db,
    components: Tree,
    component_wasm: Tree,
    reminders: Tree,
    tenants: Tree,
    durability: Durability,
    /// Crash-atomic application of several writes.
    intents: Arc<IntentLog>,
    /// Present in `sync` mode: the queue of the group-commit task.
    committer: Option<mpsc::UnboundedSender<PendingCommit>>,
    /// Open state trees by tenant: sled's `open_tree` takes a global lock.
    state_trees: dashmap::DashMap<String, Tree>,
}

impl SledStore {
    /// Open (or create) the store under `dir`, finishing any commit a crash interrupted.
    /// Must run inside a tokio runtime in `sync` mode, which starts the group-commit task.
    pub fn open(dir: &Path, durability: Durability) -> Result<Arc<Self>, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(200))
            .open()?;
        let components = db.open_tree("components")?;
        let component_wasm = db.open_tree("component_wasm")?;
        let reminders = db.open_tree("reminders")?;
        let tenants = db.open_tree("tenants")?;
        let intents = Arc::new(IntentLog::open(&db)?);
        let committer = (durability == Durability::Sync).then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(group_commit(db.clone(), intents.clone(), rx));
            tx
        });
        Ok(Arc::new(SledStore {
            db,
            components,
            component_wasm,
            reminders,
            tenants,
            durability,
            intents,
            committer,
            state_trees: dashmap::DashMap::new(),
        }))
    }

    /// The durability mode this store was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    fn state_tree(&self, tenant: &str) -> Result<Tree, StoreError> {
        if let Some(tree) = self.state_trees.get(tenant) {
            return Ok(tree.clone());
        }
        let tree = self.db.open_tree(format!("state/{tenant}"))?;
        self.state_trees.insert(tenant.to_string(), tree.clone());
        Ok(tree)
    }

    /// Apply `writes` of `actor` to `tree` atomically, durable per the store's mode: in
    /// `sync` through the group-commit task, in `relaxed` at once.
    fn apply(&self, actor: &ActorId, tree: Tree, writes: Writes) -> StoreFuture<'_, ()> {
        match &self.committer {
            None => {
                let stripe = std::hash::BuildHasher::hash_one(&STRIPE_HASH, actor);
                let applied = self.intents.apply(&tree, writes, stripe);
                Box::pin(async move { applied })
            }
            Some(queue) => {
                let (done, wait) = oneshot::channel();
                let sent = queue.send(PendingCommit { tree, writes, done });
                Box::pin(async move {
                    sent.map_err(|_| StoreError::Closed)?;
                    wait.await.map_err(|_| StoreError::Closed)?
                })
            }
        }
    }
}

/// Key of a reminder: tenant, actor type, actor id, name.
fn reminder_key(actor: &ActorId, name: &str) -> Vec<u8> {
    let mut k = actor.tenant.as_bytes().to_vec();
    k.push(SEP);
    k.extend_from_slice(&state_key(actor, name));
    k
}

/// The key prefix of every state key of `actor`.
fn actor_prefix(actor: &ActorId) -> Vec<u8> {
    let mut k = Vec::with_capacity(actor.actor_type.len() + actor.id.len() + 2);
    k.extend_from_slice(actor.actor_type.as_bytes());
    k.push(SEP);
    k.extend_from_slice(actor.id.as_bytes());
    k.push(SEP);
    k
}

fn state_key(actor: &ActorId, key: &str) -> Vec<u8> {
    let mut k = actor_prefix(actor);
    k.extend_from_slice(key.as_bytes());
    k
}

fn component_key(tenant: &str, name: &str) -> Vec<u8> {
    let mut k = tenant.as_bytes().to_vec();
    k.push(SEP);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Apply queued commits, then make them durable with one flush for the whole group. The
/// group's writes to each tree are applied as one atomic change set, in arrival order.
async fn group_commit(
    db: Db,
    intents: Arc<IntentLog>,
    mut rx: mpsc::UnboundedReceiver<PendingCommit>,
) {
    let mut group = Vec::new();
    while rx.recv_many(&mut group, 4096).await > 0 {
        let mut by_tree: Vec<(Tree, Writes, Vec<oneshot::Sender<_>>)> = Vec::new();
        for pending in group.drain(..) {
            let name = pending.tree.name();
            match by_tree.iter_mut().find(|(tree, ..)| tree.name() == name) {
                Some((_, writes, dones)) => {
                    writes.extend(pending.writes);
                    dones.push(pending.done);
                }
                None => by_tree.push((pending.tree, pending.writes, vec![pending.done])),
            }
        }
        let mut acks = Vec::with_capacity(by_tree.len());
        for (tree, writes, dones) in by_tree {
            // One task applies every group in turn, so no stripe lock is contended.
            acks.push((dones, intents.apply(&tree, writes, 0)));
        }
        let flushed = db.flush_async().await.map(|_| ()).map_err(StoreError::from);
        for (dones, applied) in acks {
            let outcome = applied.and_then(|()| flushed.clone());
            for done in dones {
                // The turn may have been abandoned (caller gone); nothing to tell then.
                let _ = done.send(outcome.clone());
            }
        }
    }
}

impl StateStore for SledStore {
    fn get(&self, actor: &ActorId, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tree = self.state_tree(&actor.tenant)?;
        Ok(tree.get(state_key(actor, key))?.map(|v| v.to_vec()))
    }

    fn keys(&self, actor: &ActorId, prefix: &str) -> Result<Vec<String>, StoreError> {
        let tree = self.state_tree(&actor.tenant)?;
        let base = actor_prefix(actor);
        let skip = base.len();
        tree.scan_prefix(state_key(actor, prefix))
            .keys()
            .map(|k| {
                let k = k?;
                String::from_utf8(k[skip..].to_vec())
                    .map_err(|_| StoreError::Corrupt("state key is not UTF-8".into()))
            })
            .collect()
    }

    fn commit(&self, actor: &ActorId, changes: Vec<StateChange>) -> StoreFuture<'_, ()> {
        let tree = match self.state_tree(&actor.tenant) {
            Ok(t) => t,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let writes = changes
            .into_iter()
            .map(|(key, value)| (state_key(actor, &key), value))
            .collect();
        self.apply(actor, tree, writes)
    }

    fn put_reminder(&self, actor: &ActorId, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()> {
        let writes = vec![(reminder_key(actor, name), Some(record))];
        self.apply(actor, self.reminders.clone(), writes)
    }

    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, ()> {
        let writes = vec![(reminder_key(actor, name), None)];
        self.apply(actor, self.reminders.clone(), writes)
    }

    fn reminders(&self) -> Result<Vec<(ActorId, String, Vec<u8>)>, StoreError> {
        self.reminders
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let corrupt = || StoreError::Corrupt("reminder key is malformed".into());
                let text = std::str::from_utf8(&key).map_err(|_| corrupt())?;
                let mut parts = text.splitn(4, SEP as char);
                let (Some(tenant), Some(actor_type), Some(id), Some(name)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(corrupt());
                };
                Ok((
                    ActorId::new(tenant, actor_type, id),
                    name.to_string(),
                    value.to_vec(),
                ))
            })
            .collect()
    }

    fn actor_state_size(&self, actor: &ActorId) -> Result<u64, StoreError> {
        let tree = self.state_tree(&actor.tenant)?;
        let skip = actor_prefix(actor).len() as u64;
        tree.scan_prefix(actor_prefix(actor))
            .try_fold(0, |sum, entry| {
                let (k, v) = entry?;
                Ok(sum + k.len() as u64 - skip + v.len() as u64)
            })
    }

    fn tenant_state_size(&self, tenant: &str) -> Result<u64, StoreError> {
        self.state_tree(tenant)?.iter().try_fold(0, |sum, entry| {
            let (k, v) = entry?;
            Ok(sum + (k.len() + v.len()) as u64)
        })
    }

    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            self.tenants.insert(name.as_bytes(), record)?;
            self.db.flush_async().await?;
            Ok(())
        })
    }

    fn tenants(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.tenants
            .iter()
            .values()
            .map(|v| Ok(v?.to_vec()))
            .collect()
    }

    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            let mut prefix = name.as_bytes().to_vec();
            prefix.push(SEP);
            for tree in [&self.reminders, &self.components, &self.component_wasm] {
                for key in tree.scan_prefix(&prefix).keys() {
                    tree.remove(key?)?;
                }
            }
            self.state_trees.remove(&name);
            self.db.drop_tree(format!("state/{name}"))?;
            self.tenants.remove(name.as_bytes())?;
            self.db.flush_async().await?;
            Ok(())
        })
    }

    fn put_component(&self, record: &ComponentRecord, wasm: &[u8]) -> StoreFuture<'_, ()> {
        let key = component_key(&record.tenant, &record.name);
        let json = match serde_json::to_vec(record) {
            Ok(j) => j,
            Err(e) => return Box::pin(async move { Err(StoreError::Corrupt(e.to_string())) }),
        };
        let wasm = wasm.to_vec();
        Box::pin(async move {
            (&self.components, &self.component_wasm)
                .transaction(|(records, bytes)| {
                    records.insert(key.as_slice(), json.as_slice())?;
                    bytes.insert(key.as_slice(), wasm.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.db.flush_async().await?;
            Ok(())
        })
    }

    fn components(&self) -> Result<Vec<ComponentRecord>, StoreError> {
        self.components
            .iter()
            .values()
            .map(|v| {
                let v = v?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    fn component_wasm(&self, tenant: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .component_wasm
            .get(component_key(tenant, name))?
            .map(|v| v.to_vec()))
    }

    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool> {
        let key = component_key(tenant, name);
        Box::pin(async move {
            let existed = (&self.components, &self.component_wasm)
                .transaction(|(records, bytes)| {
                    let existed = records.remove(key.as_slice())?.is_some();
                    bytes.remove(key.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(existed)
                })
                .map_err(|e: TransactionError<()>| StoreError::Io(format!("{e:?}")))?;
            self.db.flush_async().await?;
            Ok(existed)
        })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.db.flush_async().await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Two multi-key commits to one actor that race (the Dapr state transaction API runs
    /// outside the turn lock) land one after the other, never key by key interleaved.
    #[test]
    fn racing_commits_to_one_actor_do_not_interleave() {
        // `sync` mode starts its group-commit task on this runtime.
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _entered = runtime.enter();
        for durability in [Durability::Relaxed, Durability::Sync] {
            race_two_writers(durability);
        }
    }

    fn race_two_writers(durability: Durability) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), durability).unwrap();
        let actor = ActorId::new("t", "pair", "p");
        let rounds = 300;
        let barrier = Barrier::new(2);
        let failed_commits = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for writer in 0..2u8 {
                let (store, actor, barrier) = (&store, &actor, &barrier);
                let failed_commits = &failed_commits;
                s.spawn(move || {
                    // Opposite key orders, so an overlap always shows as a mix.
                    let mut keys = ["a", "b", "c", "d"];
                    if writer == 1 {
                        keys.reverse();
                    }
                    for round in 0..rounds {
                        let value = format!("{writer}-{round}").into_bytes();
                        let changes = keys
                            .map(|k| (k.to_string(), Some(value.clone())))
                            .to_vec();
                        barrier.wait();
                        // No panic between barriers but the shared check: a lone panic
                        // would leave the other writer waiting forever.
                        if futures::executor::block_on(store.commit(actor, changes)).is_err() {
                            failed_commits.fetch_add(1, Ordering::Relaxed);
                        }
                        barrier.wait();
                        let read = |k| store.get(actor, k).ok().flatten();
                        assert!(
                            ["b", "c", "d"].iter().all(|k| read(k) == read("a")),
                            "{durability:?}, round {round}: a change set was interleaved with another"
                        );
                        barrier.wait();
                    }
                });
            }
        });
        assert_eq!(failed_commits.load(Ordering::Relaxed), 0);
    }
}
