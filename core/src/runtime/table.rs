//! The actor table: which actors are active, their turn locks, and idle deactivation.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::Mutex;

use super::ActorId;
use super::turn::HeldRecord;

/// A backend's object kept for an activation's next turn (the Wasm backend keeps the
/// actor's instance here); dropped with the activation.
#[derive(Default)]
pub struct ActivationCache(std::sync::Mutex<Option<Box<dyn Any + Send>>>);

impl ActivationCache {
    /// Take the kept object out, for the turn now running.
    pub fn take(&self) -> Option<Box<dyn Any + Send>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Keep `object` for the next turn (replacing one a re-entered turn kept meanwhile).
    pub fn put(&self, object: Box<dyn Any + Send>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(object);
    }
}

/// One active actor.
pub struct ActorSlot {
    /// The turn lock. tokio's mutex is fair, so waiting turns run in FIFO order.
    pub turn: Mutex<()>,
    /// The call chain holding the turn, and how many of its turns are nested in it.
    holder: std::sync::Mutex<Option<(String, u32)>>,
    idle_timeout: Duration,
    /// Milliseconds since the table's epoch when the last turn ended.
    last_active_ms: AtomicU64,
    /// Whether the activation's start (hook, timer actions) has run.
    started: AtomicBool,
    /// What the actor's backend keeps between its turns.
    pub cache: ActivationCache,
    /// The actor's committed state, loaded at its first turn (or read), updated by each
    /// commit.
    pub record: Arc<HeldRecord>,
}

/// Marks a turn of a call chain as running on an actor; undone on drop.
pub struct ChainEntry<'a>(&'a ActorSlot);

impl ActorSlot {
    /// True exactly once per activation: for the turn that must start it.
    pub fn take_start(&self) -> bool {
        !self.started.swap(true, Ordering::AcqRel)
    }

    fn holder(&self) -> std::sync::MutexGuard<'_, Option<(String, u32)>> {
        self.holder.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How deep `chain` is already inside this actor's turns, if it holds the turn.
    pub fn chain_depth(&self, chain: &str) -> Option<u32> {
        match &*self.holder() {
            Some((id, depth)) if id == chain => Some(*depth),
            _ => None,
        }
    }

    /// Record one more turn of `chain` on this actor: the first after taking the turn
    /// lock, further ones when the chain re-enters.
    pub fn enter(&self, chain: &str) -> ChainEntry<'_> {
        let mut holder = self.holder();
        match &mut *holder {
            Some((id, depth)) if id == chain => *depth += 1,
            other => *other = Some((chain.to_string(), 1)),
        }
        ChainEntry(self)
    }
}

impl Drop for ChainEntry<'_> {
    fn drop(&mut self) {
        let mut holder = self.0.holder();
        if let Some((_, depth)) = &mut *holder {
            *depth -= 1;
            if *depth == 0 {
                *holder = None;
            }
        }
    }
}

/// All active actors of the process.
pub struct ActorTable {
    slots: DashMap<ActorId, Arc<ActorSlot>>,
    epoch: Instant,
}

impl ActorTable {
    /// An empty table, its clock starting now.
    pub fn new() -> Self {
        ActorTable {
            slots: DashMap::new(),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The slot of `actor`, activating it if needed. Returns whether it was just activated.
    pub fn activate(&self, actor: &ActorId, idle_timeout: Duration) -> (Arc<ActorSlot>, bool) {
        if let Some(slot) = self.slots.get(actor) {
            return (slot.clone(), false);
        }
        let mut created = false;
        let slot = self
            .slots
            .entry(actor.clone())
            .or_insert_with(|| {
                created = true;
                Arc::new(ActorSlot {
                    turn: Mutex::new(()),
                    holder: std::sync::Mutex::new(None),
                    idle_timeout,
                    last_active_ms: AtomicU64::new(self.now_ms()),
                    started: AtomicBool::new(false),
                    cache: ActivationCache::default(),
                    record: Arc::default(),
                })
            })
            .clone();
        (slot, created)
    }

    /// The slot of `actor` if it is active, without activating it.
    pub fn get(&self, actor: &ActorId) -> Option<Arc<ActorSlot>> {
        self.slots.get(actor).map(|s| s.clone())
    }

    /// Record that a turn of `slot` just ended.
    pub fn touch(&self, slot: &ActorSlot) {
        slot.last_active_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Whether `actor` is active.
    pub fn is_active(&self, actor: &ActorId) -> bool {
        self.slots.contains_key(actor)
    }

    /// How many actors are active.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The active actors matching `filter`.
    pub fn active(&self, filter: impl Fn(&ActorId) -> bool) -> Vec<ActorId> {
        self.slots
            .iter()
            .filter(|e| filter(e.key()))
            .map(|e| e.key().clone())
            .collect()
    }

    /// Remove `actor` whoever holds it (its partition moved away): a turn still running
    /// on it cannot commit. Returns whether it was active.
    pub fn remove(&self, actor: &ActorId) -> bool {
        match self.slots.remove(actor) {
            Some((_, slot)) => {
                slot.record.drop_activation();
                true
            }
            None => false,
        }
    }

    /// End the activation `slot` of `actor` (a commit of it failed, or its partition is
    /// no longer held at the epoch it loaded under): no turn commits on it any more, and
    /// the next message activates the actor afresh. Returns whether `slot` was still the
    /// actor's activation in the table.
    pub fn end(&self, actor: &ActorId, slot: &ActorSlot) -> bool {
        slot.record.drop_activation();
        drop(slot.cache.take());
        self.slots
            .remove_if(actor, |_, current| std::ptr::eq(&**current, slot))
            .is_some()
    }

    /// Remove a just-activated actor nobody uses yet; returns whether it was removed.
    pub fn discard(&self, actor: &ActorId) -> bool {
        self.slots
            .remove_if(actor, |_, slot| Arc::strong_count(slot) == 1)
            .is_some()
    }

    /// Deactivate every actor idle past its timeout that nobody holds or waits for.
    /// Returns the deactivated actors.
    pub fn sweep(&self) -> Vec<ActorId> {
        let now = self.now_ms();
        let idle: Vec<ActorId> = self
            .slots
            .iter()
            .filter(|e| {
                let slot = e.value();
                now.saturating_sub(slot.last_active_ms.load(Ordering::Relaxed))
                    >= slot.idle_timeout.as_millis() as u64
            })
            .map(|e| e.key().clone())
            .collect();
        idle.into_iter()
            .filter(|actor| {
                // Under the shard lock nobody can clone the slot, so a strong count of 1
                // means no turn holds or awaits it.
                self.slots
                    .remove_if(actor, |_, slot| {
                        Arc::strong_count(slot) == 1 && slot.turn.try_lock().is_ok()
                    })
                    .is_some()
            })
            .collect()
    }
}

impl Default for ActorTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(id: &str) -> ActorId {
        ActorId::new("t", "counter", id)
    }

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn an_actor_is_activated_once_and_a_new_unused_one_can_be_discarded() {
        let table = ActorTable::new();
        let (first, activated) = table.activate(&actor("a"), LONG);
        assert!(activated);
        let (again, activated) = table.activate(&actor("a"), LONG);
        assert!(!activated && Arc::ptr_eq(&first, &again));
        // Still held here: not discarded.
        assert!(!table.discard(&actor("a")));
        drop((first, again));
        assert!(table.discard(&actor("a")));
        assert!(!table.is_active(&actor("a")));
    }

    #[test]
    fn ending_an_activation_drops_it_and_never_a_newer_one() {
        let table = ActorTable::new();
        let (old, _) = table.activate(&actor("a"), LONG);
        assert!(table.end(&actor("a"), &old));
        assert!(old.record.is_dropped());
        let (new, activated) = table.activate(&actor("a"), LONG);
        assert!(activated);
        // A late end of the old activation leaves the new one alone.
        assert!(!table.end(&actor("a"), &old));
        assert!(table.is_active(&actor("a")) && !new.record.is_dropped());
        assert!(table.remove(&actor("a")));
        assert!(new.record.is_dropped());
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_sweep_deactivates_idle_actors_nobody_holds() {
        let table = ActorTable::new();
        let (held, _) = table.activate(&actor("held"), Duration::ZERO);
        let (free, _) = table.activate(&actor("free"), Duration::ZERO);
        drop(free);
        let (_busy, _) = table.activate(&actor("busy"), LONG);
        assert_eq!(table.sweep(), vec![actor("free")]);
        drop(held);
        assert_eq!(table.sweep(), vec![actor("held")]);
        assert_eq!(table.active(|_| true), vec![actor("busy")]);
    }

    #[test]
    fn a_call_chain_holding_the_actor_is_seen_with_its_depth() {
        let table = ActorTable::new();
        let (slot, _) = table.activate(&actor("a"), LONG);
        assert_eq!(slot.chain_depth("chain"), None);
        let outer = slot.enter("chain");
        assert_eq!(slot.chain_depth("chain"), Some(1));
        assert_eq!(slot.chain_depth("other"), None);
        {
            let _inner = slot.enter("chain");
            assert_eq!(slot.chain_depth("chain"), Some(2));
        }
        assert_eq!(slot.chain_depth("chain"), Some(1));
        drop(outer);
        assert_eq!(slot.chain_depth("chain"), None);
        // The first turn of an activation starts it, once.
        assert!(slot.take_start());
        assert!(!slot.take_start());
    }
}
