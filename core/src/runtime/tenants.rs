//! Tenants: the unit of isolation. Each has hashed tokens, limits, and usage counters that
//! the runtime core checks on the way into and out of every turn.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::{ComponentConfig, TenantConfig};
use super::egress::{EgressLimits, EgressPolicy, TenantEgress};

/// Effective limits of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory of one Wasm instance.
    pub max_memory_bytes: u64,
    /// Memory its actors' instances kept between turns may hold on one host, charged as
    /// each made it resident; past it, its least recently used kept instance is dropped.
    #[serde(default = "default_max_kept_memory_bytes")]
    pub max_kept_memory_bytes: u64,
    /// Wall-clock deadline of a request, enforced inside guests by epochs.
    pub turn_timeout_ms: u64,
    /// Fuel (roughly, Wasm instructions) one turn may burn; needs `--enable-fuel`.
    pub fuel_per_turn: Option<u64>,
    /// Turns running at once.
    pub max_concurrent_turns: u64,
    /// Actors active at once.
    pub max_active_actors: u64,
    /// State of one actor, keys plus values.
    pub max_state_bytes_per_actor: u64,
    /// State of the whole tenant, keys plus values.
    pub max_state_bytes: u64,
    /// Components registered at once, deployed or from outside.
    pub max_components: u64,
    /// Request payload and reply size.
    pub max_payload_bytes: u64,
    /// Where its actors may send HTTP requests (`scheme://host[:port]` patterns, see
    /// [`super::egress`]); none by default.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Outbound requests in flight at once, on one host.
    pub max_outbound_requests: u64,
    /// Body of one outbound request.
    pub max_outbound_request_bytes: u64,
    /// Body of one response to an outbound request; a longer one is cut here.
    pub max_outbound_response_bytes: u64,
    /// Longest wait to resolve a name and connect (never past the turn's deadline).
    pub outbound_connect_timeout_ms: u64,
    /// Longest wait for a response's head and between its body's chunks (never past the
    /// turn's deadline).
    pub outbound_first_byte_timeout_ms: u64,
}

/// The kept-instance budget of a tenant whose limits were recorded before there was one.
fn default_max_kept_memory_bytes() -> u64 {
    Limits::default().max_kept_memory_bytes
}

impl Limits {
    /// The egress policy these limits give.
    pub fn egress(&self) -> EgressPolicy {
        EgressPolicy::new(
            &self.allowed_outbound_hosts,
            EgressLimits {
                max_concurrent: self.max_outbound_requests,
                max_request_bytes: self.max_outbound_request_bytes,
                max_response_bytes: self.max_outbound_response_bytes,
                connect_timeout: Duration::from_millis(self.outbound_connect_timeout_ms),
                first_byte_timeout: Duration::from_millis(self.outbound_first_byte_timeout_ms),
            },
        )
    }
}

/// Overrides of a tenant's limits; absent fields take the host's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Linear memory of one Wasm instance, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_bytes: Option<u64>,
    /// Memory its instances kept between turns may hold on one host, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kept_memory_bytes: Option<u64>,
    /// Wall-clock deadline of a request, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_timeout_ms: Option<u64>,
    /// Fuel one turn may burn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_per_turn: Option<u64>,
    /// Turns running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_turns: Option<u64>,
    /// Actors active at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_actors: Option<u64>,
    /// State of one actor, keys plus values, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_state_bytes_per_actor: Option<u64>,
    /// State of the whole tenant, keys plus values, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_state_bytes: Option<u64>,
    /// Components registered at once, deployed or from outside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_components: Option<u64>,
    /// Request payload and reply size, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<u64>,
    /// Where its actors may send HTTP requests; replaces the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_outbound_hosts: Option<Vec<String>>,
    /// Outbound requests in flight at once, on one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_outbound_requests: Option<u64>,
    /// Body of one outbound request, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_outbound_request_bytes: Option<u64>,
    /// Body of one response to an outbound request, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_outbound_response_bytes: Option<u64>,
    /// Longest wait to resolve and connect, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_connect_timeout_ms: Option<u64>,
    /// Longest wait for a response's head and between its chunks, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_first_byte_timeout_ms: Option<u64>,
}

impl LimitOverrides {
    /// `self` with every field `other` sets replaced.
    pub fn merged(&self, other: &LimitOverrides) -> LimitOverrides {
        macro_rules! pick {
            ($($f:ident),*) => {
                LimitOverrides { $($f: other.$f.clone().or_else(|| self.$f.clone())),* }
            };
        }
        pick!(
            max_memory_bytes,
            max_kept_memory_bytes,
            turn_timeout_ms,
            fuel_per_turn,
            max_concurrent_turns,
            max_active_actors,
            max_state_bytes_per_actor,
            max_state_bytes,
            max_components,
            max_payload_bytes,
            allowed_outbound_hosts,
            max_outbound_requests,
            max_outbound_request_bytes,
            max_outbound_response_bytes,
            outbound_connect_timeout_ms,
            outbound_first_byte_timeout_ms
        )
    }

    /// The effective limits over `defaults`.
    pub fn apply(&self, defaults: &Limits) -> Limits {
        Limits {
            max_memory_bytes: self.max_memory_bytes.unwrap_or(defaults.max_memory_bytes),
            max_kept_memory_bytes: self
                .max_kept_memory_bytes
                .unwrap_or(defaults.max_kept_memory_bytes),
            turn_timeout_ms: self.turn_timeout_ms.unwrap_or(defaults.turn_timeout_ms),
            fuel_per_turn: self.fuel_per_turn.or(defaults.fuel_per_turn),
            max_concurrent_turns: self
                .max_concurrent_turns
                .unwrap_or(defaults.max_concurrent_turns),
            max_active_actors: self.max_active_actors.unwrap_or(defaults.max_active_actors),
            max_state_bytes_per_actor: self
                .max_state_bytes_per_actor
                .unwrap_or(defaults.max_state_bytes_per_actor),
            max_state_bytes: self.max_state_bytes.unwrap_or(defaults.max_state_bytes),
            max_components: self.max_components.unwrap_or(defaults.max_components),
            max_payload_bytes: self.max_payload_bytes.unwrap_or(defaults.max_payload_bytes),
            allowed_outbound_hosts: self
                .allowed_outbound_hosts
                .clone()
                .unwrap_or_else(|| defaults.allowed_outbound_hosts.clone()),
            max_outbound_requests: self
                .max_outbound_requests
                .unwrap_or(defaults.max_outbound_requests),
            max_outbound_request_bytes: self
                .max_outbound_request_bytes
                .unwrap_or(defaults.max_outbound_request_bytes),
            max_outbound_response_bytes: self
                .max_outbound_response_bytes
                .unwrap_or(defaults.max_outbound_response_bytes),
            outbound_connect_timeout_ms: self
                .outbound_connect_timeout_ms
                .unwrap_or(defaults.outbound_connect_timeout_ms),
            outbound_first_byte_timeout_ms: self
                .outbound_first_byte_timeout_ms
                .unwrap_or(defaults.outbound_first_byte_timeout_ms),
        }
    }
}

/// A token as stored: only its hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's id, which the admin API shows in its place.
    pub id: String,
    /// Hex SHA-256 of the token ([`token_hash`]).
    pub sha256: String,
    /// When it was created, seconds since the Unix epoch.
    pub created_at: u64,
}

/// A tenant as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantRecord {
    /// The tenant's name.
    pub name: String,
    /// The limits it overrides.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Its tokens, hashed.
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
    /// When it was created, seconds since the Unix epoch.
    pub created_at: u64,
    /// Its components' configuration values and secrets (absent from records written
    /// before there were any, and left out while empty).
    #[serde(default, skip_serializing_if = "TenantConfig::is_empty")]
    pub config: TenantConfig,
}

/// Hex SHA-256 of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A tenant with its live usage counters.
pub struct Tenant {
    /// The tenant as stored.
    pub record: TenantRecord,
    /// Its effective limits: its overrides over the host's defaults.
    pub limits: Limits,
    /// Its turns running on this host now. The counters are shared with the tenant's
    /// next version (a limit changed), so a turn that started before the change still
    /// counts, and is released, in the same counter.
    pub running_turns: Arc<AtomicU64>,
    /// Its actors active on this host now.
    pub active_actors: Arc<AtomicU64>,
    /// Bytes of its actors' stored state, keys plus values.
    pub state_bytes: Arc<AtomicU64>,
    /// What its actors may send out, and its requests in flight.
    pub egress: TenantEgress,
    /// What each of its components' turns see of the configuration, by component.
    config: HashMap<String, Arc<ComponentConfig>>,
}

impl Tenant {
    /// The configuration the turns of `component` see; `None` when it has no values.
    pub fn config_of(&self, component: &str) -> Option<Arc<ComponentConfig>> {
        self.config.get(component).cloned()
    }

    /// A usage counter taken for as long as the guard lives, or `None` past `max`.
    pub fn take(counter: &AtomicU64, max: u64) -> Option<Usage<'_>> {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Usage(counter))
    }
}

/// One unit of a usage counter; released on drop.
pub struct Usage<'a>(&'a AtomicU64);

impl Drop for Usage<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every tenant, and the index from token hash to tenant.
#[derive(Default)]
pub struct Tenants {
    by_name: RwLock<HashMap<String, Arc<Tenant>>>,
    by_token: RwLock<HashMap<String, String>>,
}

impl Tenants {
    /// A tenant by name.
    pub fn get(&self, name: &str) -> Option<Arc<Tenant>> {
        self.by_name
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The tenant a token belongs to.
    pub fn by_token(&self, token: &str) -> Option<String> {
        let hash = token_hash(token);
        self.by_token
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .cloned()
    }

    /// Every tenant, sorted by name.
    pub fn list(&self) -> Vec<Arc<Tenant>> {
        let mut list: Vec<_> = self
            .by_name
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        list.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        list
    }

    /// Add or replace a tenant, keeping the usage counters of the one it replaces.
    pub fn put(&self, record: TenantRecord, defaults: &Limits, state_bytes: u64) -> Arc<Tenant> {
        let mut by_name = self.by_name.write().unwrap_or_else(|p| p.into_inner());
        let old = by_name.get(&record.name).cloned();
        let counter = |f: fn(&Tenant) -> &Arc<AtomicU64>, init: u64| {
            old.as_deref()
                .map(|t| f(t).clone())
                .unwrap_or_else(|| Arc::new(AtomicU64::new(init)))
        };
        let limits = record.limits.apply(defaults);
        let in_flight = old
            .as_deref()
            .map(|t| t.egress.in_flight.clone())
            .unwrap_or_default();
        let tenant = Arc::new(Tenant {
            egress: TenantEgress::new(
                Arc::from(record.name.as_str()),
                Arc::new(limits.egress()),
                in_flight,
            ),
            limits,
            running_turns: counter(|t| &t.running_turns, 0),
            active_actors: counter(|t| &t.active_actors, 0),
            state_bytes: counter(|t| &t.state_bytes, state_bytes),
            config: record
                .config
                .iter()
                .map(|(c, values)| (c.clone(), Arc::new(ComponentConfig::of(values))))
                .collect(),
            record,
        });
        let mut by_token = self.by_token.write().unwrap_or_else(|p| p.into_inner());
        by_token.retain(|_, name| *name != tenant.record.name);
        for token in &tenant.record.tokens {
            by_token.insert(token.sha256.clone(), tenant.record.name.clone());
        }
        by_name.insert(tenant.record.name.clone(), tenant.clone());
        tenant
    }

    /// Remove a tenant; returns it if it existed.
    pub fn remove(&self, name: &str) -> Option<Arc<Tenant>> {
        let removed = self
            .by_name
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.by_token
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, n| n != name);
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(max_concurrent_turns: u64) -> TenantRecord {
        TenantRecord {
            name: "t".into(),
            limits: LimitOverrides {
                max_concurrent_turns: Some(max_concurrent_turns),
                ..Default::default()
            },
            tokens: Vec::new(),
            created_at: 0,
            config: Default::default(),
        }
    }

    /// A turn that started before a limit changed is released from the count the new
    /// version of the tenant checks, not from a copy that nothing reads any more.
    #[test]
    fn a_limit_change_keeps_the_counts_of_turns_in_flight() {
        let tenants = Tenants::default();
        let before = tenants.put(record(1), &Limits::default(), 0);
        let running = Tenant::take(&before.running_turns, 1).expect("room for one turn");
        let after = tenants.put(record(2), &Limits::default(), 0);
        assert_eq!(after.running_turns.load(Ordering::Acquire), 1);
        drop(running);
        assert_eq!(after.running_turns.load(Ordering::Acquire), 0);
        let one = Tenant::take(&after.running_turns, 2);
        let two = Tenant::take(&after.running_turns, 2);
        assert!(one.is_some() && two.is_some());
        assert!(Tenant::take(&after.running_turns, 2).is_none());
    }
}
