//! A store that keeps everything in memory: for tests of the runtime core without a disk,
//! and the proof that the core needs nothing of sled. It passes the same suite as the
//! sled store. Nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use super::record::ActorRecord;
use super::{
    ActorStore, ComponentRecord, ComponentStore, ComponentVersion, ReminderChange, ReminderCursor,
    ReminderStore, StateChange, StateStore, StoreError, StoreFuture, StoredReminder, TenantStore,
};
use warren_wire::types::ActorId;

#[derive(Default)]
struct Data {
    actors: HashMap<ActorId, ActorRecord>,
    tenant_bytes: HashMap<String, u64>,
    reminders: BTreeMap<(ActorId, String), (i64, Vec<u8>)>,
    /// Reminders by due time.
    due: BTreeSet<ReminderCursor>,
    tenants: BTreeMap<String, Vec<u8>>,
    components: BTreeMap<(String, String), (ComponentRecord, Vec<u8>)>,
    versions: BTreeMap<(String, String, u64), (ComponentVersion, Vec<u8>)>,
}

impl Data {
    fn put_reminder(&mut self, actor: &ActorId, name: String, due_ms: i64, record: Vec<u8>) {
        let key = (actor.clone(), name);
        if let Some((old, _)) = self.reminders.insert(key.clone(), (due_ms, record)) {
            self.due.remove(&(old, key.0.clone(), key.1.clone()));
        }
        self.due.insert((due_ms, key.0, key.1));
    }

    fn delete_reminder(&mut self, actor: &ActorId, name: &str) -> bool {
        let key = (actor.clone(), name.to_string());
        match self.reminders.remove(&key) {
            Some((due, _)) => {
                self.due.remove(&(due, key.0, key.1));
                true
            }
            None => false,
        }
    }

    fn apply_reminder(&mut self, actor: &ActorId, change: ReminderChange) {
        match change {
            ReminderChange::Put {
                name,
                due_ms,
                record,
            } => self.put_reminder(actor, name, due_ms, record),
            ReminderChange::Delete { name } => {
                self.delete_reminder(actor, &name);
            }
            ReminderChange::Advance {
                name,
                fired_due_ms,
                next,
            } => {
                let key = (actor.clone(), name);
                if self.reminders.get(&key).map(|(due, _)| *due) != Some(fired_due_ms) {
                    return;
                }
                match next {
                    Some((due_ms, record)) => self.put_reminder(actor, key.1, due_ms, record),
                    None => {
                        self.delete_reminder(actor, &key.1);
                    }
                }
            }
        }
    }
}

/// [`StateStore`] in memory.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
    /// Reminder writes outside a commit (`put_reminder`, `delete_reminder`), so tests can
    /// tell a change committed with a turn from one written apart.
    reminder_writes: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// How many reminder writes were made outside a commit.
    pub fn reminder_writes(&self) -> usize {
        self.reminder_writes
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count_reminder_write(&self) {
        self.reminder_writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        f(&mut self.data.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A future that is ready at once.
fn ready<'a, T: Send + 'a>(value: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(async move { value })
}

impl ActorStore for MemoryStore {
    fn load(&self, actor: &ActorId) -> StoreFuture<'_, ActorRecord> {
        ready(Ok(
            self.with(|d| d.actors.get(actor).cloned().unwrap_or_default())
        ))
    }

    fn commit_turn(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> StoreFuture<'_, u64> {
        ready(self.with(|d| {
            let record = d.actors.entry(actor.clone()).or_default();
            if record.version != expected_version {
                return Err(StoreError::Conflict {
                    expected: expected_version,
                    found: record.version,
                });
            }
            let delta = record.size_delta(&changes);
            record.apply(changes);
            record.version += 1;
            let version = record.version;
            let bytes = d.tenant_bytes.entry(actor.tenant.to_string()).or_default();
            *bytes = bytes.saturating_add_signed(delta);
            for change in reminders {
                d.apply_reminder(actor, change);
            }
            Ok(version)
        }))
    }

    fn tenant_state_size(&self, tenant: &str) -> StoreFuture<'_, u64> {
        ready(Ok(
            self.with(|d| d.tenant_bytes.get(tenant).copied().unwrap_or(0))
        ))
    }
}

impl ReminderStore for MemoryStore {
    fn put_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> StoreFuture<'_, ()> {
        self.count_reminder_write();
        self.with(|d| d.put_reminder(actor, name.to_string(), due_ms, record));
        ready(Ok(()))
    }

    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, bool> {
        self.count_reminder_write();
        ready(Ok(self.with(|d| d.delete_reminder(actor, name))))
    }

    fn reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, Option<StoredReminder>> {
        let key = (actor.clone(), name.to_string());
        ready(Ok(self.with(|d| {
            d.reminders
                .get(&key)
                .map(|(due_ms, record)| StoredReminder {
                    actor: key.0.clone(),
                    name: key.1.clone(),
                    due_ms: *due_ms,
                    record: record.clone(),
                })
        })))
    }

    fn actor_reminders(
        &self,
        tenant: &str,
        actor_type: &str,
        id: Option<&str>,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        ready(Ok(self.with(|d| {
            d.reminders
                .iter()
                .filter(|((a, _), _)| {
                    *a.tenant == *tenant
                        && *a.actor_type == *actor_type
                        && id.is_none_or(|id| *a.id == *id)
                })
                .map(|((actor, name), (due_ms, record))| StoredReminder {
                    actor: actor.clone(),
                    name: name.clone(),
                    due_ms: *due_ms,
                    record: record.clone(),
                })
                .collect()
        })))
    }

    fn reminders_due(
        &self,
        after: Option<ReminderCursor>,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        use std::ops::Bound;
        ready(Ok(self.with(|d| {
            let from = match after {
                Some(cursor) => Bound::Excluded(cursor),
                None => Bound::Unbounded,
            };
            d.due
                .range((from, Bound::Unbounded))
                .take_while(|(due, _, _)| *due <= until_ms)
                .take(limit)
                .filter_map(|(due_ms, actor, name)| {
                    let (_, record) = d.reminders.get(&(actor.clone(), name.clone()))?;
                    Some(StoredReminder {
                        actor: actor.clone(),
                        name: name.clone(),
                        due_ms: *due_ms,
                        record: record.clone(),
                    })
                })
                .collect()
        })))
    }
}

impl TenantStore for MemoryStore {
    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        self.with(|d| {
            d.tenants.insert(name, record);
        });
        ready(Ok(()))
    }

    fn tenants(&self) -> StoreFuture<'_, Vec<Vec<u8>>> {
        ready(Ok(self.with(|d| d.tenants.values().cloned().collect())))
    }

    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        self.with(|d| {
            d.actors.retain(|a, _| *a.tenant != *name);
            d.reminders.retain(|(a, _), _| *a.tenant != *name);
            d.due.retain(|(_, a, _)| *a.tenant != *name);
            d.components.retain(|(t, _), _| *t != name);
            d.versions.retain(|(t, _, _), _| *t != name);
            d.tenant_bytes.remove(&name);
            d.tenants.remove(&name);
        });
        ready(Ok(()))
    }
}

impl ComponentStore for MemoryStore {
    fn put_component(&self, record: &ComponentRecord, wasm: Option<&[u8]>) -> StoreFuture<'_, ()> {
        let key = (record.tenant.clone(), record.name.clone());
        self.with(|d| {
            let bytes = match (wasm, d.components.get(&key)) {
                (Some(wasm), _) => wasm.to_vec(),
                (None, Some((_, kept))) => kept.clone(),
                (None, None) => Vec::new(),
            };
            d.components.insert(key, (record.clone(), bytes));
        });
        ready(Ok(()))
    }

    fn components(&self) -> StoreFuture<'_, Vec<ComponentRecord>> {
        ready(Ok(self.with(|d| {
            d.components.values().map(|(r, _)| r.clone()).collect()
        })))
    }

    fn component_wasm(&self, tenant: &str, name: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = (tenant.to_string(), name.to_string());
        ready(Ok(
            self.with(|d| d.components.get(&key).map(|(_, w)| w.clone()))
        ))
    }

    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool> {
        let key = (tenant.to_string(), name.to_string());
        ready(Ok(self.with(|d| {
            d.versions
                .retain(|(t, n, _), _| (t.as_str(), n.as_str()) != (tenant, name));
            d.components.remove(&key).is_some()
        })))
    }

    fn put_component_version(
        &self,
        version: &ComponentVersion,
        wasm: &[u8],
    ) -> StoreFuture<'_, ()> {
        let key = (version.tenant.clone(), version.name.clone(), version.number);
        let value = (version.clone(), wasm.to_vec());
        self.with(|d| d.versions.insert(key, value));
        ready(Ok(()))
    }

    fn component_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> StoreFuture<'_, Vec<ComponentVersion>> {
        ready(Ok(self.with(|d| {
            d.versions
                .values()
                .filter(|(v, _)| v.tenant == tenant && v.name == name)
                .map(|(v, _)| v.clone())
                .collect()
        })))
    }

    fn component_version_wasm(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = (tenant.to_string(), name.to_string(), number);
        ready(Ok(
            self.with(|d| d.versions.get(&key).map(|(_, w)| w.clone()))
        ))
    }

    fn remove_component_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, bool> {
        let key = (tenant.to_string(), name.to_string(), number);
        ready(Ok(self.with(|d| d.versions.remove(&key).is_some())))
    }
}

impl StateStore for MemoryStore {
    fn flush(&self) -> StoreFuture<'_, ()> {
        ready(Ok(()))
    }
}
