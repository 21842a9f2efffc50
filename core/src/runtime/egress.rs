//! A tenant's egress policy: which outbound HTTP requests its actors may make, to which
//! addresses, and within which limits. The Wasm backend sends the requests; what is
//! allowed is decided here, once, from the tenant's limits.
//!
//! A pattern is `scheme://host[:port]`:
//! - scheme: `http`, `https` or `*`;
//! - host: a name (`api.example.com`), names under a domain (`*.example.com`), any
//!   name (`*`), an address (`127.0.0.1`, `[::1]`) or a range (`10.0.0.0/8`,
//!   `[fd00::]/8`);
//! - port: a number or `*`; without one, the scheme's own (80 or 443).
//!
//! Names are checked where the request goes, and the addresses they resolve to are
//! checked again: loopback, private, link-local (metadata services) and other special
//! ranges are reached only through a pattern that names the address or its range.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipnet::IpNet;

/// The scheme of an outbound request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboundScheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl OutboundScheme {
    /// The scheme's port when a URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            OutboundScheme::Http => 80,
            OutboundScheme::Https => 443,
        }
    }
}

/// Which hosts a pattern lets through.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// Any name, and any address outside the special ranges.
    Any,
    /// Exactly this name (lowercase, without a trailing dot).
    Name(String),
    /// Any name under this domain (stored with its leading dot).
    Under(String),
    /// Addresses in this range, special or not.
    Range(IpNet),
}

/// Which ports a pattern lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortPattern {
    Any,
    Default,
    Port(u16),
}

/// One entry of `allowed_outbound_hosts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundPattern {
    /// `None`: either scheme.
    scheme: Option<OutboundScheme>,
    host: HostPattern,
    port: PortPattern,
}

/// A pattern of `allowed_outbound_hosts` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound host pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for OutboundPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, PatternError> {
        let fail = |reason| PatternError {
            pattern: text.to_string(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| fail("needs a scheme: http://, https:// or *://"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Some(OutboundScheme::Http),
            "https" => Some(OutboundScheme::Https),
            "*" => None,
            _ => return Err(fail("the scheme must be http, https or *")),
        };
        if rest.contains(['?', '#', '@']) || rest.ends_with('/') {
            return Err(fail("takes a scheme, a host and a port, nothing else"));
        }
        let (host, port) = split_port(rest).map_err(fail)?;
        Ok(OutboundPattern {
            scheme,
            host: host_pattern(host).map_err(fail)?,
            port,
        })
    }
}

/// Split `host[:port]`, where host may be a bracketed IPv6 address or range.
fn split_port(rest: &str) -> Result<(&str, PortPattern), &'static str> {
    let host_end = match rest.strip_prefix('[') {
        Some(inner) => {
            // Past the `]`, and past a range's `/prefix` if one follows.
            let close = inner
                .find(']')
                .ok_or("an IPv6 address needs its closing ]")?
                + 2;
            close + rest[close..].find(':').unwrap_or(rest.len() - close)
        }
        None => rest.find(':').unwrap_or(rest.len()),
    };
    let (host, port) = rest.split_at(host_end);
    let port = match port.strip_prefix(':') {
        None => PortPattern::Default,
        Some("*") => PortPattern::Any,
        Some(p) => PortPattern::Port(p.parse().map_err(|_| "the port must be a number or *")?),
    };
    Ok((host, port))
}

fn host_pattern(host: &str) -> Result<HostPattern, &'static str> {
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return Err("names no host");
    }
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    let unbracketed = host.replace(['[', ']'], "");
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(HostPattern::Range(IpNet::from(ip)));
    }
    if let Ok(net) = unbracketed.parse::<IpNet>() {
        return Ok(HostPattern::Range(net.trunc()));
    }
    if let Some(domain) = host.strip_prefix("*.") {
        check_name(domain)?;
        return Ok(HostPattern::Under(format!(".{domain}")));
    }
    check_name(&host)?;
    Ok(HostPattern::Name(host.trim_end_matches('.').to_string()))
}

fn check_name(name: &str) -> Result<(), &'static str> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid {
        Ok(())
    } else {
        Err("the host must be a name, *.name, *, an address or an address range")
    }
}

impl OutboundPattern {
    fn admits(&self, scheme: OutboundScheme, port: u16) -> bool {
        self.scheme.is_none_or(|s| s == scheme)
            && match self.port {
                PortPattern::Any => true,
                PortPattern::Default => port == scheme.default_port(),
                PortPattern::Port(p) => p == port,
            }
    }

    fn names(&self, host: &str) -> bool {
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Name(name) => name == host,
            HostPattern::Under(domain) => host.ends_with(domain.as_str()),
            HostPattern::Range(_) => false,
        }
    }

    fn covers(&self, ip: IpAddr) -> bool {
        match &self.host {
            HostPattern::Range(net) => net.contains(&canonical(ip)),
            _ => false,
        }
    }
}

impl fmt::Display for OutboundScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutboundScheme::Http => "http",
            OutboundScheme::Https => "https",
        })
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`), as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether `ip` is in a range a name must not lead to unless a pattern names the range:
/// loopback, private, link-local (cloud metadata services), shared, benchmarking,
/// documentation, multicast, reserved, and IPv6 forms that embed such an IPv4 address.
pub fn is_special_address(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded_v4 = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                ))
            };
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_special_address(embedded_v4(s[6], s[7])))
                || (s[0] == 0x2002 && is_special_address(embedded_v4(s[1], s[2])))
                // Documentation (2001:db8::/32) and the IPv4-compatible ::/96.
                || (s[0] == 0x2001 && s[1] == 0xdb8)
                || s[..6] == [0; 6]
        }
    }
}

/// Check a list of patterns as a tenant's limits give it.
pub fn check_patterns(patterns: &[String]) -> Result<(), PatternError> {
    patterns
        .iter()
        .try_for_each(|p| p.parse::<OutboundPattern>().map(drop))
}

/// The limits of a tenant's outbound requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressLimits {
    /// Outbound requests of the tenant in flight at once, on this host.
    pub max_concurrent: u64,
    /// Bytes of one request's body.
    pub max_request_bytes: u64,
    /// Bytes of one response's body; a longer body is cut here.
    pub max_response_bytes: u64,
    /// Longest wait to resolve and connect (never past the turn's deadline).
    pub connect_timeout: Duration,
    /// Longest wait for the response's head, and between its body's chunks (never past
    /// the turn's deadline).
    pub first_byte_timeout: Duration,
}

/// A tenant's egress policy, parsed from its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    patterns: Vec<OutboundPattern>,
    /// The limits of each request.
    pub limits: EgressLimits,
}

impl EgressPolicy {
    /// The policy of these patterns under `limits` (patterns that do not parse, which the
    /// admin API refuses, let nothing through).
    pub fn new(patterns: &[String], limits: EgressLimits) -> Self {
        EgressPolicy {
            patterns: patterns.iter().filter_map(|p| p.parse().ok()).collect(),
            limits,
        }
    }

    /// Whether a request may go to `host` (a name, or an address literal) on `port`.
    /// The addresses a name resolves to are checked next, with [`Self::allows_address`].
    pub fn allows_host(&self, scheme: OutboundScheme, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let literal = host.trim_matches(['[', ']']).parse::<IpAddr>();
        self.patterns
            .iter()
            .filter(|p| p.admits(scheme, port))
            .any(|p| match literal {
                Ok(ip) => p.covers(ip) || (p.host == HostPattern::Any && !is_special_address(ip)),
                Err(_) => p.names(&host),
            })
    }

    /// Whether a request may connect to `ip`: any address outside the special ranges, and
    /// special ones only when a pattern names them.
    pub fn allows_address(&self, scheme: OutboundScheme, ip: IpAddr, port: u16) -> bool {
        !is_special_address(ip)
            || self
                .patterns
                .iter()
                .any(|p| p.admits(scheme, port) && p.covers(ip))
    }
}

/// What a turn needs to make outbound requests for its tenant.
#[derive(Clone, Debug)]
pub struct TenantEgress {
    /// The tenant's name.
    pub tenant: Arc<str>,
    /// Its policy.
    pub policy: Arc<EgressPolicy>,
    /// Its requests in flight on this host, shared by every version of the tenant.
    pub(super) in_flight: Arc<AtomicU64>,
}

impl TenantEgress {
    /// The egress of `tenant` under `policy`, counting in `in_flight`.
    pub fn new(tenant: Arc<str>, policy: Arc<EgressPolicy>, in_flight: Arc<AtomicU64>) -> Self {
        TenantEgress {
            tenant,
            policy,
            in_flight,
        }
    }

    /// The egress of `tenant` under `policy`, with a count of its own (for a turn run
    /// outside the runtime's tenants, as a benchmark runs one).
    pub fn of(tenant: &str, policy: EgressPolicy) -> Self {
        TenantEgress::new(Arc::from(tenant), Arc::new(policy), Arc::default())
    }

    /// One request in flight for as long as the permit lives, or `None` at the limit.
    pub fn permit(&self) -> Option<EgressPermit> {
        let max = self.policy.limits.max_concurrent;
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(EgressPermit(self.in_flight.clone()))
    }
}

/// One outbound request in flight; released on drop.
#[derive(Debug)]
pub struct EgressPermit(Arc<AtomicU64>);

impl Drop for EgressPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutboundScheme::{Http, Https};

    fn limits(max_concurrent: u64) -> EgressLimits {
        EgressLimits {
            max_concurrent,
            max_request_bytes: 1 << 20,
            max_response_bytes: 1 << 20,
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
        }
    }

    fn policy(patterns: &[&str]) -> EgressPolicy {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        check_patterns(&patterns).expect("patterns parse");
        EgressPolicy::new(&patterns, limits(8))
    }

    #[test]
    fn names_schemes_and_ports_are_matched() {
        let p = policy(&[
            "https://api.example.com",
            "*://*.example.org:*",
            "http://svc:8080",
        ]);
        assert!(p.allows_host(Https, "api.example.com", 443));
        assert!(p.allows_host(Https, "API.Example.com.", 443));
        assert!(!p.allows_host(Http, "api.example.com", 80));
        assert!(!p.allows_host(Https, "api.example.com", 8443));
        assert!(!p.allows_host(Https, "evil-api.example.com", 443));
        assert!(p.allows_host(Http, "a.b.example.org", 9000));
        assert!(!p.allows_host(Http, "example.org", 80));
        assert!(p.allows_host(Http, "svc", 8080));
        assert!(!p.allows_host(Http, "svc", 80));
        assert!(!policy(&[]).allows_host(Https, "api.example.com", 443));
    }

    #[test]
    fn special_addresses_need_a_pattern_naming_them() {
        let any = policy(&["*://*:*"]);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert!(!any.allows_address(Http, ip, 80), "{ip} is special");
            assert!(
                !any.allows_host(Http, &ip.to_string(), 80),
                "{ip} as a literal"
            );
        }
        let public: IpAddr = "93.184.215.14".parse().expect("address");
        assert!(any.allows_address(Https, public, 443));
        let named = policy(&[
            "http://127.0.0.1:8080",
            "https://10.0.0.0/8",
            "http://[fd00::]/8:*",
        ]);
        let lo: IpAddr = "127.0.0.1".parse().expect("address");
        assert!(named.allows_address(Http, lo, 8080));
        assert!(named.allows_host(Http, "127.0.0.1", 8080));
        assert!(!named.allows_address(Http, lo, 8081));
        assert!(named.allows_address(Https, "10.9.8.7".parse().expect("address"), 443));
        assert!(named.allows_address(Http, "fd00::5".parse().expect("address"), 1));
        assert!(named.allows_host(Http, "[fd00::5]", 1));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "api.example.com",
            "ftp://x",
            "http://",
            "http://a b",
            "http://x:port",
            "http://x/path",
            "http://user@x",
            "http://x:99999",
        ] {
            assert!(bad.parse::<OutboundPattern>().is_err(), "{bad} parses");
        }
        assert!(check_patterns(&["https://ok.example".into(), "nope".into()]).is_err());
    }

    #[test]
    fn the_permit_counts_requests_in_flight() {
        let egress = TenantEgress::of("t", EgressPolicy::new(&[], limits(1)));
        let first = egress.permit().expect("first");
        assert!(egress.permit().is_none());
        drop(first);
        assert!(egress.permit().is_some());
    }
}
