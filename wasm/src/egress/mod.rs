//! Outbound HTTP for guests (`wasi:http/outgoing-handler`), under their tenant's egress
//! policy: the hooks wasmtime-wasi-http calls for each request a guest sends decide
//! whether it may go ([`warren_core::runtime::egress`]), send it with Warren's own
//! connection code ([`send`]), and bound its bodies ([`body`]). Every request is counted
//! per tenant; every refusal is logged with the tenant and the actor.

mod body;
mod send;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use http::{HeaderName, HeaderValue, Request, Response};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use body::{Counting, RequestBody, ResponseBody};
use send::{NotSent, Target, Timeouts};
use warren_core::runtime::Runtime;
use warren_core::runtime::egress::TenantEgress;
use warren_core::runtime::metrics::{EgressOutcome, RefusalReason};

/// How the host reaches the outside, for every tenant alike.
#[derive(Clone, Debug, Default)]
pub struct EgressSettings {
    /// Names answered without asking the resolver (as curl's `--resolve`): pinned
    /// addresses for names the host's resolver does not know or must not be asked.
    pub resolve: HashMap<String, Vec<IpAddr>>,
    /// CA certificates (PEM) trusted for outbound https besides the system's roots.
    pub extra_roots: Vec<PathBuf>,
}

/// The host-wide part of egress, built once: the resolver overrides and the TLS client.
pub struct EgressNet {
    resolve: HashMap<String, Vec<IpAddr>>,
    tls: Arc<rustls::ClientConfig>,
}

impl EgressNet {
    /// Read the settings' certificates and build the TLS client.
    pub fn new(settings: &EgressSettings) -> anyhow::Result<Self> {
        Ok(EgressNet {
            resolve: settings
                .resolve
                .iter()
                .map(|(name, ips)| (name.trim_end_matches('.').to_ascii_lowercase(), ips.clone()))
                .collect(),
            tls: send::client_config(&settings.extra_roots)?,
        })
    }
}

/// What one turn's requests go out under.
#[derive(Clone)]
pub struct TurnEgress {
    /// The tenant's policy and in-flight count.
    pub egress: TenantEgress,
    /// For the metrics.
    pub runtime: Runtime,
    /// The actor, for the log of refusals.
    pub actor: String,
    /// The turn's trace context, sent on as `traceparent` (and `tracestate`).
    pub trace: Vec<(String, String)>,
    /// The turn's deadline: no request waits past it.
    pub deadline: Instant,
    /// Refusals of this turn logged so far.
    pub refusals_logged: Arc<AtomicU32>,
}

/// Refusals logged at `warn` per turn; later ones are only counted (and logged at
/// `debug`), so a guest refused in a loop cannot flood the host's log.
const REFUSALS_LOGGED_PER_TURN: u32 = 8;

/// The wasi-http hooks of one instance: the current turn's egress (none in `describe`,
/// where every request is refused).
pub struct EgressHooks {
    net: Arc<EgressNet>,
    /// The turn the instance runs now.
    pub turn: Option<TurnEgress>,
}

impl EgressHooks {
    /// Hooks for an instance of `net`'s host, running `turn`.
    pub fn new(net: Arc<EgressNet>, turn: Option<TurnEgress>) -> Self {
        EgressHooks { net, turn }
    }
}

/// A request's future, as wasmtime-wasi-http takes it back.
type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                Response<WasiBody>,
                Box<dyn Future<Output = Result<(), Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        let Some(turn) = self.turn.clone() else {
            tracing::warn!(
                target: "warren::egress",
                "outbound request refused: a component's `describe` may not send requests"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        Box::new(outbound(self.net.clone(), turn, request, options))
    }
}

/// The response wasmtime-wasi-http hands the guest, and the task driving its connection.
type Answered = (
    Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// Why a request got no response.
enum Failure {
    /// The policy refused it: why (for the counter and the log), and the guest's error.
    Refused(RefusalReason, String, Error),
    /// It failed on the way.
    Failed(Error),
}

/// One outbound request of a turn, counted once however it ends: with its response's
/// head, refused, failed, or dropped with its turn (a timeout).
async fn outbound(
    net: Arc<EgressNet>,
    turn: TurnEgress,
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Answered, Error> {
    let mut pending = Pending {
        runtime: turn.runtime.clone(),
        tenant: turn.egress.tenant.clone(),
        started: Instant::now(),
        settled: false,
    };
    let target = match Target::of(request.uri()) {
        Ok(target) => target,
        Err(error) => {
            pending.settle(EgressOutcome::failed);
            return Err(error);
        }
    };
    let failure = match attempt(&net, &turn, &target, request, options).await {
        Ok(answered) => {
            pending.settle(EgressOutcome::ok);
            return Ok(answered);
        }
        Err(failure) => failure,
    };
    let metrics = turn.runtime.metrics().egress();
    let tenant = &turn.egress.tenant;
    match failure {
        Failure::Refused(reason, detail, error) => {
            pending.settle(EgressOutcome::refused);
            metrics.refused(tenant, reason);
            // tracing takes a level known at compile time: one event, at either level.
            macro_rules! refusal {
                ($level:expr) => {
                    tracing::event!(
                        target: "warren::egress",
                        $level,
                        tenant = %tenant,
                        actor = %turn.actor,
                        to = %target.origin(),
                        reason = reason.as_str(),
                        "outbound request refused: {detail}"
                    )
                };
            }
            let logged = turn.refusals_logged.fetch_add(1, Ordering::Relaxed);
            if logged < REFUSALS_LOGGED_PER_TURN {
                refusal!(tracing::Level::WARN);
            } else {
                refusal!(tracing::Level::DEBUG);
            }
            Err(error)
        }
        Failure::Failed(error) => {
            pending.settle(match error {
                Error::DnsTimeout
                | Error::ConnectionTimeout
                | Error::ConnectionReadTimeout
                | Error::HttpResponseTimeout => EgressOutcome::timeout,
                _ => EgressOutcome::failed,
            });
            tracing::debug!(
                target: "warren::egress",
                tenant = %tenant,
                actor = %turn.actor,
                to = %target.origin(),
                "outbound request failed: {error:?}"
            );
            Err(error)
        }
    }
}

/// Check `request` against the turn's policy and send it.
async fn attempt(
    net: &EgressNet,
    turn: &TurnEgress,
    target: &Target,
    mut request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Answered, Failure> {
    let policy = &turn.egress.policy;
    if !policy.allows_host(target.scheme, &target.host, target.port) {
        let detail = "no pattern of the tenant's allowed_outbound_hosts names it".to_string();
        return Err(Failure::Refused(
            RefusalReason::not_allowed,
            detail,
            Error::HttpRequestDenied,
        ));
    }
    let max_request = policy.limits.max_request_bytes;
    if declared_length(&request).is_some_and(|n| n > max_request) {
        let detail = format!("its body is over the tenant's {max_request} bytes");
        let error = Error::HttpRequestBodySize(Some(max_request));
        return Err(Failure::Refused(RefusalReason::request_size, detail, error));
    }
    let Some(permit) = turn.egress.permit() else {
        let detail = format!(
            "the tenant has {} outbound requests in flight already",
            policy.limits.max_concurrent
        );
        let error = Error::ConnectionLimitReached;
        return Err(Failure::Refused(RefusalReason::concurrency, detail, error));
    };
    let counting = Counting {
        runtime: turn.runtime.clone(),
        tenant: turn.egress.tenant.clone(),
    };
    for (name, value) in &turn.trace {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            request.headers_mut().insert(name, value);
        }
    }
    let body = |b| send::boxed(RequestBody::new(b, max_request, counting.clone()));
    let request = request.map(body);
    let timeouts = Timeouts::new(policy, options, turn.deadline);
    let (response, connection) = match send::send(net, policy, target, request, timeouts).await {
        Ok(sent) => sent,
        Err(NotSent::Address(ips)) => {
            let detail = format!(
                "{} resolved to {ips:?}, which no pattern names (loopback, private, link-local and other special ranges must be named)",
                target.host
            );
            let error = Error::DestinationIpProhibited;
            return Err(Failure::Refused(RefusalReason::address, detail, error));
        }
        Err(NotSent::Failed(error)) => return Err(Failure::Failed(error)),
    };
    let max = policy.limits.max_response_bytes;
    let response = response.map(|incoming| {
        let deadline = turn.deadline + send::DEADLINE_GRACE;
        let body = ResponseBody::new(incoming, max, timeouts.between, deadline, counting, permit);
        send::boxed(body)
    });
    let io = async move { connection.await.map_err(Error::from) };
    Ok((response, Box::new(io)))
}

/// Counts a request once: as it ends, or as a timeout when its turn ends first (the
/// turn's deadline drops the request with the instance).
struct Pending {
    runtime: Runtime,
    tenant: Arc<str>,
    started: Instant,
    settled: bool,
}

impl Pending {
    fn settle(&mut self, outcome: EgressOutcome) {
        self.settled = true;
        let egress = self.runtime.metrics().egress();
        egress.request(&self.tenant, outcome, self.started.elapsed());
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(EgressOutcome::timeout);
        }
    }
}

/// The request's `Content-Length`, if it declares one.
fn declared_length(request: &Request<WasiBody>) -> Option<u64> {
    request
        .headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
