//! Instances kept for their actors between turns, within a memory budget: one for the
//! host and one per tenant. Each kept instance is charged what it made resident (see
//! [`crate::residency`]); when a newly kept one would not fit, the least recently used
//! kept instances, of its tenant first, are dropped, and their actors' next turns start
//! fresh.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use warren_core::runtime::{KeptUsage, TenantKept};

/// Where a kept instance waits for its actor's next turn. The ledger reaches it there to
/// evict it; the actor's cache holds it through a [`Pinned`].
type Slot<T> = Mutex<Option<T>>;

/// The kept instances of one engine and what they are charged.
pub(crate) struct KeptInstances<T> {
    budget: u64,
    max_count: usize,
    ledger: Mutex<Ledger<T>>,
    next_id: AtomicU64,
    evictions: AtomicU64,
}

/// Kept instances in order of last use, and the sums charged.
struct Ledger<T> {
    /// Last use (a tick of `clock`) to entry id: the first is the least recently used.
    order: BTreeMap<u64, u64>,
    entries: HashMap<u64, Entry<T>>,
    clock: u64,
    used: u64,
    /// Per tenant: instances kept and bytes charged.
    tenants: HashMap<Arc<str>, TenantKept>,
}

struct Entry<T> {
    tick: u64,
    bytes: u64,
    tenant: Arc<str>,
    slot: Arc<Slot<T>>,
}

/// An actor's handle on its kept instance: what its activation cache holds. Dropping it
/// (the actor deactivated) gives back the instance and its charge.
pub(crate) struct Pinned<T> {
    id: u64,
    slot: Arc<Slot<T>>,
    /// What the instance is of (a component's hash): a redeployed type must not run the
    /// old code.
    pub(crate) owner: String,
    kept: Arc<KeptInstances<T>>,
}

impl<T> Drop for Pinned<T> {
    fn drop(&mut self) {
        drop(self.kept.uncharge(self.id));
    }
}

/// Why an instance was not kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotKept {
    /// It alone costs more than its tenant's budget or the host's.
    TooLarge,
    /// The host keeps no instances.
    Disabled,
}

impl<T> KeptInstances<T> {
    /// A ledger keeping at most `max_count` instances charged at most `budget` bytes.
    pub(crate) fn new(budget: u64, max_count: usize) -> Arc<Self> {
        Arc::new(KeptInstances {
            budget,
            max_count,
            ledger: Mutex::new(Ledger {
                order: BTreeMap::new(),
                entries: HashMap::new(),
                clock: 0,
                used: 0,
                tenants: HashMap::new(),
            }),
            next_id: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    /// Whether any instance can be kept at all.
    pub(crate) fn enabled(&self) -> bool {
        self.max_count > 0 && self.budget > 0
    }

    /// What is kept now.
    pub(crate) fn usage(&self) -> KeptUsage {
        let ledger = self.lock();
        KeptUsage {
            instances: ledger.entries.len() as u64,
            bytes: ledger.used,
            budget_bytes: self.budget,
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// What `tenant`'s kept instances hold now.
    pub(crate) fn usage_of(&self, tenant: &str) -> TenantKept {
        self.lock().tenants.get(tenant).copied().unwrap_or_default()
    }

    /// Take the actor's kept instance out for a turn; its charge ends until it is kept
    /// again. `None` when it was evicted meanwhile.
    pub(crate) fn take(&self, pinned: &Pinned<T>) -> Option<T> {
        drop(self.uncharge(pinned.id));
        lock(&pinned.slot).take()
    }

    /// Keep `item`, charged `bytes` to `tenant`, evicting the least recently used kept
    /// instances (the tenant's own first) until it fits both budgets. `pinned` is the
    /// actor's handle when it already had one; the handle to cache is returned.
    pub(crate) fn keep(
        self: &Arc<Self>,
        item: T,
        charge: Charge,
        pinned: Option<Pinned<T>>,
        owner: &str,
    ) -> Result<Pinned<T>, NotKept> {
        if !self.enabled() {
            return Err(NotKept::Disabled);
        }
        if charge.bytes > charge.tenant_budget.min(self.budget) {
            return Err(NotKept::TooLarge);
        }
        let pinned = pinned.unwrap_or_else(|| Pinned {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            slot: Arc::new(Mutex::new(None)),
            owner: owner.to_string(),
            kept: self.clone(),
        });
        *lock(&pinned.slot) = Some(item);
        let victims = {
            let mut ledger = self.lock();
            let mut victims = Vec::new();
            victims.extend(ledger.remove(pinned.id));
            while ledger.tenant_use(&charge.tenant) + charge.bytes > charge.tenant_budget {
                let Some(id) = ledger.oldest_of(&charge.tenant) else {
                    break;
                };
                victims.extend(ledger.remove(id));
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
            while ledger.used + charge.bytes > self.budget || ledger.entries.len() >= self.max_count
            {
                let Some(id) = ledger.order.first_key_value().map(|(_, id)| *id) else {
                    break;
                };
                victims.extend(ledger.remove(id));
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
            ledger.insert(pinned.id, charge, pinned.slot.clone());
            victims
        };
        // The evicted instances are dropped outside the ledger's lock (tearing down a
        // store takes a while), the one just kept excepted: it was only re-charged.
        for victim in victims {
            if !Arc::ptr_eq(&victim.slot, &pinned.slot) {
                drop(lock(&victim.slot).take());
            }
        }
        Ok(pinned)
    }

    /// End an entry's charge, returning it to be dropped outside the lock.
    fn uncharge(&self, id: u64) -> Option<Entry<T>> {
        self.lock().remove(id)
    }

    fn lock(&self) -> MutexGuard<'_, Ledger<T>> {
        lock(&self.ledger)
    }
}

/// What a kept instance is charged, and to whom.
pub(crate) struct Charge {
    /// The tenant whose budget it counts in.
    pub tenant: Arc<str>,
    /// That tenant's budget, in bytes.
    pub tenant_budget: u64,
    /// Its cost, in bytes.
    pub bytes: u64,
}

impl<T> Ledger<T> {
    fn tenant_use(&self, tenant: &str) -> u64 {
        self.tenants.get(tenant).map_or(0, |t| t.bytes)
    }

    /// The tenant's least recently used entry.
    fn oldest_of(&self, tenant: &str) -> Option<u64> {
        self.order
            .values()
            .copied()
            .find(|id| self.entries.get(id).is_some_and(|e| &*e.tenant == tenant))
    }

    fn insert(&mut self, id: u64, charge: Charge, slot: Arc<Slot<T>>) {
        self.clock += 1;
        self.order.insert(self.clock, id);
        self.used += charge.bytes;
        let sum = self.tenants.entry(charge.tenant.clone()).or_default();
        sum.instances += 1;
        sum.bytes += charge.bytes;
        let entry = Entry {
            tick: self.clock,
            bytes: charge.bytes,
            tenant: charge.tenant,
            slot,
        };
        self.entries.insert(id, entry);
    }

    fn remove(&mut self, id: u64) -> Option<Entry<T>> {
        let entry = self.entries.remove(&id)?;
        self.order.remove(&entry.tick);
        self.used -= entry.bytes;
        if let Some(sum) = self.tenants.get_mut(&entry.tenant) {
            sum.instances -= 1;
            sum.bytes -= entry.bytes;
            if sum.instances == 0 {
                self.tenants.remove(&entry.tenant);
            }
        }
        Some(entry)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(tenant: &str, budget: u64, bytes: u64) -> Charge {
        Charge {
            tenant: tenant.into(),
            tenant_budget: budget,
            bytes,
        }
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_budget_holds() {
        let kept = KeptInstances::new(100, 10);
        let a = kept.keep("a", charge("t", 100, 40), None, "c").unwrap();
        let b = kept.keep("b", charge("t", 100, 40), None, "c").unwrap();
        // a is used again, so b is now the oldest.
        assert_eq!(kept.take(&a), Some("a"));
        let a = kept.keep("a", charge("t", 100, 40), Some(a), "c").unwrap();
        let c = kept.keep("c", charge("t", 100, 40), None, "c").unwrap();
        assert_eq!(kept.take(&b), None, "b was evicted");
        assert_eq!(kept.usage().bytes, 80);
        assert_eq!(kept.usage().evictions, 1);
        assert_eq!(kept.take(&a), Some("a"));
        assert_eq!(kept.take(&c), Some("c"));
        assert_eq!(kept.usage().bytes, 0);
    }

    #[test]
    fn a_tenant_over_its_budget_evicts_its_own_instances_only() {
        let kept = KeptInstances::new(1000, 10);
        let other = kept
            .keep("o", charge("other", 1000, 30), None, "c")
            .unwrap();
        let first = kept.keep("1", charge("t", 50, 30), None, "c").unwrap();
        let second = kept.keep("2", charge("t", 50, 30), None, "c").unwrap();
        assert_eq!(kept.take(&first), None, "the tenant's older instance went");
        assert_eq!(
            kept.usage_of("t"),
            TenantKept {
                instances: 1,
                bytes: 30
            }
        );
        assert_eq!(kept.usage_of("other").instances, 1);
        assert_eq!(kept.take(&other), Some("o"), "another tenant's stayed");
        assert_eq!(kept.take(&second), Some("2"));
        assert_eq!(
            kept.keep("big", charge("t", 50, 60), None, "c").err(),
            Some(NotKept::TooLarge)
        );
    }

    #[test]
    fn the_count_is_capped_and_a_dropped_handle_gives_its_charge_back() {
        let kept = KeptInstances::new(1000, 2);
        let a = kept.keep(1, charge("t", 1000, 10), None, "c").unwrap();
        let b = kept.keep(2, charge("t", 1000, 10), None, "c").unwrap();
        let c = kept.keep(3, charge("t", 1000, 10), None, "c").unwrap();
        assert_eq!(kept.usage().instances, 2);
        assert_eq!(kept.take(&a), None);
        drop(b);
        assert_eq!(kept.usage().bytes, 10);
        drop(c);
        assert_eq!(
            kept.usage(),
            KeptUsage {
                budget_bytes: 1000,
                evictions: 1,
                ..KeptUsage::default()
            }
        );
        let none = KeptInstances::new(1000, 0);
        assert_eq!(
            none.keep(1, charge("t", 1000, 10), None, "c").err(),
            Some(NotKept::Disabled)
        );
    }
}
