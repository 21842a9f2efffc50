//! What actors send out: outbound HTTP requests per tenant, their outcome and latency, the
//! bytes they move, and the requests the tenant's egress policy refused.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// How an outbound request ended, as a label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum EgressOutcome {
    /// The response's head arrived.
    ok,
    /// The tenant's policy refused it; nothing was sent.
    refused,
    /// It failed on the way: name lookup, connection, TLS, or the server's HTTP.
    failed,
    /// It ran out of time (its own timeouts, or the turn's deadline).
    timeout,
}

/// Why the policy refused an outbound request, as a label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum RefusalReason {
    /// No pattern of `allowed_outbound_hosts` names the scheme, host and port.
    not_allowed,
    /// The name resolved only to addresses no pattern names (loopback, private, ...).
    address,
    /// The tenant had `max_outbound_requests` in flight already.
    concurrency,
    /// The request's body was over `max_outbound_request_bytes`.
    request_size,
    /// The response's body was over `max_outbound_response_bytes` (cut there).
    response_size,
    /// The request came from outside a turn (a component's `describe`).
    no_turn,
}

impl RefusalReason {
    /// The label's text.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::not_allowed => "not_allowed",
            RefusalReason::address => "address",
            RefusalReason::concurrency => "concurrency",
            RefusalReason::request_size => "request_size",
            RefusalReason::response_size => "response_size",
            RefusalReason::no_turn => "no_turn",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    tenant: String,
    outcome: EgressOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    tenant: String,
    reason: RefusalReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    tenant: String,
    direction: Direction,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum Direction {
    sent,
    received,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

type Latency = Family<TenantLabel, Histogram, fn() -> Histogram>;

/// The egress families, per tenant (a tenant the host knows: a turn's).
pub struct EgressMetrics {
    enabled: bool,
    requests: Family<OutcomeLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    bytes: Family<BytesLabels, Counter>,
    seconds: Latency,
}

impl EgressMetrics {
    /// The families, counting nothing unless `enabled`.
    pub(super) fn new(enabled: bool) -> Self {
        EgressMetrics {
            enabled,
            requests: Family::default(),
            refusals: Family::default(),
            bytes: Family::default(),
            seconds: Family::new_with_constructor(super::latency_histogram),
        }
    }

    /// Register the families in `registry`.
    pub(super) fn register(&self, registry: &mut Registry) {
        let metrics = self;
        registry.register(
            "egress_requests",
            "Outbound HTTP requests of actors, by tenant and outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "egress_refusals",
            "Outbound HTTP requests refused by the tenant's egress policy, by reason",
            metrics.refusals.clone(),
        );
        registry.register(
            "egress_bytes",
            "Body bytes of outbound HTTP requests (sent) and their responses (received)",
            metrics.bytes.clone(),
        );
        registry.register(
            "egress_seconds",
            "Outbound HTTP latency, from the request to the response's head, by tenant",
            metrics.seconds.clone(),
        );
    }

    /// One outbound request of `tenant` ended with `outcome` after `took`.
    pub fn request(&self, tenant: &str, outcome: EgressOutcome, took: Duration) {
        if !self.enabled {
            return;
        }
        let tenant = tenant.to_string();
        if outcome == EgressOutcome::ok {
            self.seconds
                .get_or_create(&TenantLabel {
                    tenant: tenant.clone(),
                })
                .observe(took.as_secs_f64());
        }
        self.requests
            .get_or_create(&OutcomeLabels { tenant, outcome })
            .inc();
    }

    /// The policy refused a request of `tenant` for `reason`.
    pub fn refused(&self, tenant: &str, reason: RefusalReason) {
        if !self.enabled {
            return;
        }
        let tenant = tenant.to_string();
        self.refusals
            .get_or_create(&RefusalLabels { tenant, reason })
            .inc();
    }

    /// `bytes` of a request body of `tenant` went out.
    pub fn sent(&self, tenant: &str, bytes: u64) {
        self.count_bytes(tenant, Direction::sent, bytes);
    }

    /// `bytes` of a response body came in for `tenant`.
    pub fn received(&self, tenant: &str, bytes: u64) {
        self.count_bytes(tenant, Direction::received, bytes);
    }

    fn count_bytes(&self, tenant: &str, direction: Direction, bytes: u64) {
        if !self.enabled || bytes == 0 {
            return;
        }
        let tenant = tenant.to_string();
        self.bytes
            .get_or_create(&BytesLabels { tenant, direction })
            .inc_by(bytes);
    }
}
