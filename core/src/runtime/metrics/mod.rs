//! What the host counts, in Prometheus' terms: turns by tenant, actor type, trigger and
//! outcome, their latency and the wait for the actor's turn, activations, firings and their
//! lateness, store commits, and protocol requests. Labels are bounded: tenants and actor
//! types the host knows, never actor ids. `GET /metrics` on the admin side encodes them.

mod egress;
mod gauges;

pub use egress::{EgressMetrics, EgressOutcome, RefusalReason};

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Runtime;
use crate::types::{ActorId, CallMode, Invocation, InvokeError, Trigger};

/// Why a turn ran, as a label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum TriggerLabel {
    /// A message whose sender waits for the reply.
    call,
    /// A message sent without waiting for a reply.
    cast,
    /// A timer firing.
    timer,
    /// A reminder firing.
    reminder,
    /// A message published on a channel the actor's type listens on.
    broadcast,
    /// The activation hook, run as the actor is activated.
    activate,
}

impl TriggerLabel {
    /// The label's text.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerLabel::call => "call",
            TriggerLabel::cast => "cast",
            TriggerLabel::timer => "timer",
            TriggerLabel::reminder => "reminder",
            TriggerLabel::broadcast => "broadcast",
            TriggerLabel::activate => "activate",
        }
    }

    /// The label of `invocation`'s trigger.
    pub fn of(invocation: &Invocation) -> Self {
        match (&invocation.trigger, invocation.mode) {
            (Trigger::Message, CallMode::Call) => TriggerLabel::call,
            (Trigger::Message, CallMode::Cast) => TriggerLabel::cast,
            (Trigger::Timer(_), _) => TriggerLabel::timer,
            (Trigger::Reminder(_), _) => TriggerLabel::reminder,
            (Trigger::Broadcast(_), _) => TriggerLabel::broadcast,
            (Trigger::Activate, _) => TriggerLabel::activate,
        }
    }
}

/// How a turn ended, as a label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// It ran and committed.
    ok,
    /// It ran and failed (the actor's own error, a store error, a downstream failure).
    error,
    /// The guest trapped or ran out of fuel.
    trap,
    /// It did not finish (or start) before its deadline.
    deadline,
    /// The guest hit its memory limit.
    memory,
    /// It never ran: a limit, a call cycle, an unknown actor type or tenant.
    refused,
}

impl Outcome {
    /// The label's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::ok => "ok",
            Outcome::error => "error",
            Outcome::trap => "trap",
            Outcome::deadline => "deadline",
            Outcome::memory => "memory",
            Outcome::refused => "refused",
        }
    }

    /// The outcome of a turn's result.
    pub fn of(result: &Result<crate::types::Reply, InvokeError>) -> Self {
        let Err(e) = result else { return Outcome::ok };
        match e {
            InvokeError::Trapped { .. } | InvokeError::FuelExhausted { .. } => Outcome::trap,
            InvokeError::DeadlineExceeded { .. } => Outcome::deadline,
            InvokeError::MemoryLimit { .. } => Outcome::memory,
            InvokeError::LimitExceeded { .. }
            | InvokeError::CallCycle { .. }
            | InvokeError::StackDepth { .. }
            | InvokeError::Overloaded
            | InvokeError::TenantNotFound { .. }
            | InvokeError::ActorTypeNotFound { .. }
            | InvokeError::BadRequest(_) => Outcome::refused,
            _ => Outcome::error,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TurnLabels {
    tenant: String,
    actor_type: String,
    trigger: TriggerLabel,
    outcome: Outcome,
}

/// What [`Metrics::turn_counters`] is keyed by.
type TurnKey = (Arc<str>, Arc<str>, TriggerLabel, Outcome);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: TriggerLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForwardLabels {
    outcome: ForwardOutcome,
}

/// How a forward to another host ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ForwardOutcome {
    /// The owner answered (with the turn's reply or its error).
    answered,
    /// The owner could not be reached or no longer owned the actor.
    unavailable,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: String,
    status: u16,
}

/// Seconds, from 10 µs up by fours (to ~45 min at the top bucket).
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_01, 4.0, 14)
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

/// The host's metrics. Cheap to share: every family is reference-counted inside.
pub struct Metrics {
    /// Whether anything is counted (`RuntimeConfig::metrics`).
    enabled: bool,
    registry: Registry,
    turns: Family<TurnLabels, Counter>,
    /// Each (tenant, type, trigger, outcome)'s counter of `turns`, resolved once: a turn
    /// then hashes two shared names instead of building the family's `String` labels and
    /// taking its lock (RESULTS.md, "What the metrics cost"). Only for known types.
    turn_counters: DashMap<TurnKey, Counter>,
    turn_seconds: Histogram,
    queue_wait_seconds: Histogram,
    activations: Counter,
    deactivations: Counter,
    firings: Family<KindLabel, Counter>,
    firing_lateness_seconds: Histogram,
    commit_seconds: Histogram,
    commit_bytes: Counter,
    component_load_seconds: Histogram,
    requests: Family<RequestLabels, Counter>,
    /// Each (protocol, status)'s counter of `requests`, resolved once (as `turn_counters`).
    request_counters: DashMap<(&'static str, u16), Counter>,
    forwards: Family<ForwardLabels, Counter>,
    forward_seconds: Histogram,
    /// What the host holds now, set as the metrics are encoded.
    gauges: gauges::Gauges,
    /// The last minute, for the console and `warren status`.
    activity: super::activity::Activity,
    /// Actors' outbound HTTP requests.
    egress: EgressMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(true)
    }
}

impl Metrics {
    /// The host's metric families, registered; counting nothing unless `enabled`.
    pub fn new(enabled: bool) -> Self {
        let mut metrics = Metrics {
            enabled,
            registry: Registry::with_prefix("warren"),
            egress: EgressMetrics::new(enabled),
            turns: Family::default(),
            turn_counters: DashMap::new(),
            turn_seconds: latency_histogram(),
            queue_wait_seconds: latency_histogram(),
            activations: Counter::default(),
            deactivations: Counter::default(),
            firings: Family::default(),
            firing_lateness_seconds: latency_histogram(),
            commit_seconds: latency_histogram(),
            commit_bytes: Counter::default(),
            component_load_seconds: latency_histogram(),
            requests: Family::default(),
            request_counters: DashMap::new(),
            forwards: Family::default(),
            forward_seconds: latency_histogram(),
            gauges: Default::default(),
            activity: Default::default(),
        };
        // In this order, the order `GET /metrics` lists them in.
        metrics.register_turns();
        metrics.register_activations();
        metrics.register_firings();
        metrics.register_commits();
        metrics.register_component_loads();
        metrics.register_requests();
        metrics.register_forwards();
        metrics.egress.register(&mut metrics.registry);
        metrics.gauges.register(&mut metrics.registry);
        metrics
    }

    /// Turns by labels, their latency, and their wait for the actor.
    fn register_turns(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "turns",
            "Turns by tenant, actor type, trigger and outcome",
            self.turns.clone(),
        );
        // One histogram each, not one per tenant: a labelled lookup per turn costs about a
        // microsecond (RESULTS.md, "What the metrics cost").
        registry.register(
            "turn_seconds",
            "Turn latency, from arrival to reply, including the wait for the actor",
            self.turn_seconds.clone(),
        );
        registry.register(
            "turn_queue_wait_seconds",
            "How long turns waited for their actor's previous turn",
            self.queue_wait_seconds.clone(),
        );
    }

    /// Actors activated and deactivated.
    fn register_activations(&mut self) {
        let registry = &mut self.registry;
        registry.register("activations", "Actors activated", self.activations.clone());
        registry.register(
            "deactivations",
            "Actors deactivated after their idle timeout",
            self.deactivations.clone(),
        );
    }

    /// Timer and reminder firings, and how late they started.
    fn register_firings(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "firings",
            "Timer and reminder firings",
            self.firings.clone(),
        );
        registry.register(
            "firing_lateness_seconds",
            "How late firings started after their due time",
            self.firing_lateness_seconds.clone(),
        );
    }

    /// State commits: their latency and the bytes they write.
    fn register_commits(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "store_commit_seconds",
            "Latency of state commits, until durable per the store's mode",
            self.commit_seconds.clone(),
        );
        registry.register(
            "store_commit_bytes",
            "Bytes of keys and values written by state commits",
            self.commit_bytes.clone(),
        );
    }

    /// How long deployed components take to load.
    fn register_component_loads(&mut self) {
        self.registry.register(
            "component_load_seconds",
            "Time to load a deployed component: compile it (or read its artifact from the cache) and read its manifest",
            self.component_load_seconds.clone(),
        );
    }

    /// Protocol requests, by protocol and status.
    fn register_requests(&mut self) {
        self.registry.register(
            "requests",
            "Protocol requests by protocol and HTTP status",
            self.requests.clone(),
        );
    }

    /// Invocations forwarded to the actor's owner (cluster mode), and their latency.
    fn register_forwards(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "forwards",
            "Invocations forwarded to the owning host (cluster mode), by outcome",
            self.forwards.clone(),
        );
        registry.register(
            "forward_seconds",
            "Latency of invocations forwarded to the owning host, reply included",
            self.forward_seconds.clone(),
        );
    }
}

/// A label value for a tenant or type that may not exist: a caller must not be able to
/// grow the label set with names it makes up.
const UNKNOWN: &str = "(unknown)";

impl Metrics {
    /// Count one turn (or refusal) of `target` that took `took`.
    pub fn turn(
        &self,
        target: &ActorId,
        trigger: TriggerLabel,
        result: &Result<crate::types::Reply, InvokeError>,
        took: Duration,
    ) {
        if !self.enabled {
            return;
        }
        self.turn_seconds.observe(took.as_secs_f64());
        self.activity.turn(result.is_ok(), took);
        let outcome = Outcome::of(result);
        // A caller must not be able to grow the label set with names it makes up.
        match result {
            Err(InvokeError::TenantNotFound { .. }) => {
                self.turn_counter(UNKNOWN, UNKNOWN, trigger, outcome).inc();
            }
            Err(InvokeError::ActorTypeNotFound { .. }) => {
                self.turn_counter(&target.tenant, UNKNOWN, trigger, outcome)
                    .inc();
            }
            _ => {
                let key = (
                    target.tenant.clone(),
                    target.actor_type.clone(),
                    trigger,
                    outcome,
                );
                count_resolved(&self.turn_counters, key, || {
                    self.turn_counter(&target.tenant, &target.actor_type, trigger, outcome)
                });
            }
        }
    }

    /// The family's counter for these labels.
    fn turn_counter(
        &self,
        tenant: &str,
        actor_type: &str,
        trigger: TriggerLabel,
        outcome: Outcome,
    ) -> Counter {
        self.turns
            .get_or_create(&TurnLabels {
                tenant: tenant.to_string(),
                actor_type: actor_type.to_string(),
                trigger,
                outcome,
            })
            .clone()
    }

    /// Whether anything is counted.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Actors' outbound HTTP requests.
    pub fn egress(&self) -> &EgressMetrics {
        &self.egress
    }

    /// The last minute of turns and the last failed ones.
    pub fn activity(&self) -> &super::activity::Activity {
        &self.activity
    }

    /// A turn waited `waited` for its actor.
    pub fn queue_wait(&self, waited: Duration) {
        if !self.enabled {
            return;
        }
        self.queue_wait_seconds.observe(waited.as_secs_f64());
    }

    /// An actor was activated.
    pub fn activated(&self) {
        if !self.enabled {
            return;
        }
        self.activations.inc();
    }

    /// An actor was deactivated.
    pub fn deactivated(&self) {
        if !self.enabled {
            return;
        }
        self.deactivations.inc();
    }

    /// A timer (`reminder` false) or reminder fired `late_ms` after its due time.
    pub fn fired(&self, reminder: bool, late_ms: i64) {
        if !self.enabled {
            return;
        }
        let kind = if reminder {
            TriggerLabel::reminder
        } else {
            TriggerLabel::timer
        };
        self.firings.get_or_create(&KindLabel { kind }).inc();
        self.firing_lateness_seconds
            .observe(late_ms.max(0) as f64 / 1000.0);
    }

    /// A state commit of `bytes` took `took`.
    pub fn committed(&self, bytes: u64, took: Duration) {
        if !self.enabled {
            return;
        }
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_bytes.inc_by(bytes);
    }

    /// A component took `took` to load.
    pub fn component_loaded(&self, took: Duration) {
        if !self.enabled {
            return;
        }
        self.component_load_seconds.observe(took.as_secs_f64());
    }

    /// An invocation forwarded to its owner ended so, after `took`.
    pub fn forwarded(&self, outcome: ForwardOutcome, took: Duration) {
        if !self.enabled {
            return;
        }
        self.forwards
            .get_or_create(&ForwardLabels { outcome })
            .inc();
        self.forward_seconds.observe(took.as_secs_f64());
    }

    /// A request of `protocol` ("dapr-http", "opaca", ...) answered with `status`.
    pub fn request(&self, protocol: &'static str, status: u16) {
        if !self.enabled {
            return;
        }
        count_resolved(&self.request_counters, (protocol, status), || {
            self.requests
                .get_or_create(&RequestLabels {
                    protocol: protocol.to_string(),
                    status,
                })
                .clone()
        });
    }
}

/// Count one in the counter `resolved` holds for `key`, made by `make` (from the family)
/// the first time. The read path takes the map's shared lock only.
fn count_resolved<K: std::hash::Hash + Eq>(
    resolved: &DashMap<K, Counter>,
    key: K,
    make: impl FnOnce() -> Counter,
) {
    if let Some(counter) = resolved.get(&key) {
        counter.inc();
        return;
    }
    resolved.entry(key).or_insert_with(make).inc();
}

impl Runtime {
    /// The host's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The metrics in Prometheus' text exposition format, with the gauges read now.
    pub fn encode_metrics(&self) -> String {
        let metrics = &self.0.metrics;
        metrics
            .gauges
            .set(&self.stats(), self.0.catalog.loader().kept());
        metrics.encode()
    }
}

impl Metrics {
    /// The families in Prometheus' text exposition format, gauges as last set.
    fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests;
