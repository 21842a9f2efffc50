//! The gauges: what the host holds now, read when the metrics are encoded.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::runtime::{KeptUsage, Stats};

/// The gauges, set from the runtime's figures just before each encoding.
#[derive(Default)]
pub(super) struct Gauges {
    active_actors: Gauge,
    kept_instances: Gauge,
    kept_memory_bytes: Gauge,
    kept_memory_budget_bytes: Gauge,
    kept_evictions: Gauge,
    components_compiled: Gauge,
    artifact_cache_hits: Gauge,
}

impl Gauges {
    /// Register each gauge in `registry`.
    pub(super) fn register(&self, registry: &mut Registry) {
        let gauges = [
            ("active_actors", "Actors active now", &self.active_actors),
            (
                "kept_instances",
                "Guest instances kept warm between turns",
                &self.kept_instances,
            ),
            (
                "kept_memory_bytes",
                "Memory charged to the kept instances (the pages each made resident)",
                &self.kept_memory_bytes,
            ),
            (
                "kept_memory_budget_bytes",
                "The host's budget for kept instances (--kept-memory-mib)",
                &self.kept_memory_budget_bytes,
            ),
            (
                "kept_evictions",
                "Kept instances dropped since start to fit a budget",
                &self.kept_evictions,
            ),
            (
                "components_compiled",
                "Components compiled since start",
                &self.components_compiled,
            ),
            (
                "artifact_cache_hits",
                "Components loaded from the compiled-artifact cache since start",
                &self.artifact_cache_hits,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
    }

    /// Set every gauge from the runtime's figures.
    pub(super) fn set(&self, stats: &Stats, kept: KeptUsage) {
        let value = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.active_actors.set(value(stats.active_actors as u64));
        self.kept_instances.set(value(kept.instances));
        self.kept_memory_bytes.set(value(kept.bytes));
        self.kept_memory_budget_bytes.set(value(kept.budget_bytes));
        self.kept_evictions.set(value(kept.evictions));
        self.components_compiled
            .set(value(stats.components_compiled));
        self.artifact_cache_hits
            .set(value(stats.artifact_cache_hits));
    }
}
