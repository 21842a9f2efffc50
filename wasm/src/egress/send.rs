//! How an allowed request goes out: the name resolved once, each address checked against
//! the policy, a connection to a checked address only (so a name cannot resolve to one
//! address for the check and another for the connection), TLS for https, then HTTP/1.1.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HOST, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

use super::EgressNet;
use warren_core::runtime::egress::{EgressPolicy, OutboundScheme};

/// How long past the turn's deadline a request may still wait: long enough for the turn
/// to fail on its deadline first, which ends the request with it.
pub const DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// Where a request goes, as the policy sees it.
pub struct Target {
    pub scheme: OutboundScheme,
    /// The host as the URL names it (brackets stripped from an IPv6 literal).
    pub host: String,
    pub port: u16,
}

impl Target {
    /// The target of `uri` (which wasi-http always gives a scheme and an authority).
    pub fn of(uri: &Uri) -> Result<Self, Error> {
        let scheme = match uri.scheme_str() {
            Some("http") => OutboundScheme::Http,
            Some("https") => OutboundScheme::Https,
            _ => return Err(Error::HttpProtocolError),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or(Error::HttpRequestUriInvalid)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(scheme.default_port());
        Ok(Target { scheme, host, port })
    }

    /// `scheme://host:port`, for logs (never the path or query, which may hold secrets).
    pub fn origin(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("{}://[{ip}]:{}", self.scheme, self.port),
            _ => format!("{}://{}:{}", self.scheme, self.host, self.port),
        }
    }
}

/// How long each step may take: the policy's limit, the guest's own (when shorter), and
/// never past the turn's deadline.
#[derive(Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between: Duration,
    pub deadline: Instant,
}

impl Timeouts {
    /// The timeouts of a request under `policy`, with the guest's `options`.
    pub fn new(
        policy: &EgressPolicy,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        deadline: Instant,
    ) -> Self {
        let options = options.unwrap_or_default();
        let limits = &policy.limits;
        let pick = |guest: Option<Duration>, max: Duration| guest.map_or(max, |g| g.min(max));
        Timeouts {
            connect: pick(options.connect_timeout, limits.connect_timeout),
            first_byte: pick(options.first_byte_timeout, limits.first_byte_timeout),
            between: pick(options.between_bytes_timeout, limits.first_byte_timeout),
            deadline,
        }
    }

    /// `limit`, cut to what is left of the turn (and a little more: the turn's own
    /// deadline ends it first, as a deadline failure rather than the guest's error).
    fn within(&self, limit: Duration) -> Duration {
        let left = (self.deadline + DEADLINE_GRACE).saturating_duration_since(Instant::now());
        limit.min(left)
    }
}

/// Why a request was not sent: refused by the policy, or failed.
pub enum NotSent {
    /// Every address the name resolved to is one the policy keeps the tenant from.
    Address(Vec<IpAddr>),
    /// It failed on the way.
    Failed(Error),
}

impl From<Error> for NotSent {
    fn from(e: Error) -> Self {
        NotSent::Failed(e)
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// The connection a request went out on, to be driven until its response's body is read.
pub type Connection = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// Resolve, check, connect and send `request`; the response's body is hyper's, read as
/// the returned connection is driven.
pub async fn send(
    net: &EgressNet,
    policy: &EgressPolicy,
    target: &Target,
    mut request: Request<WasiBody>,
    timeouts: Timeouts,
) -> Result<(Response<hyper::body::Incoming>, Connection), NotSent> {
    let addresses = resolve(net, target, timeouts).await?;
    let allowed: Vec<SocketAddr> = addresses
        .iter()
        .filter(|a| policy.allows_address(target.scheme, a.ip(), target.port))
        .copied()
        .collect();
    if allowed.is_empty() {
        return Err(NotSent::Address(addresses.iter().map(|a| a.ip()).collect()));
    }
    let connect_within = timeouts.within(timeouts.connect);
    let tcp = tokio::time::timeout(connect_within, TcpStream::connect(&allowed[..]))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(connect_error)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = match target.scheme {
        OutboundScheme::Http => Box::new(tcp),
        OutboundScheme::Https => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            let tls = tokio_rustls::TlsConnector::from(net.tls.clone());
            let within = timeouts.within(timeouts.connect);
            let stream = tokio::time::timeout(within, tls.connect(name, tcp))
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(tls_error)?;
            Box::new(stream)
        }
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    origin_form(&mut request)?;
    // The connection is driven here, beside the request, until the response's head is
    // in; then it goes back to wasmtime-wasi-http, which drives it in a task of its own
    // while the guest reads the body. Spawning it here too cost a task and a wake-up.
    let mut connection: Connection = Box::pin(connection);
    let mut connection_ended = false;
    let mut exchange = std::pin::pin!(sender.send_request(request));
    let exchange = std::future::poll_fn(|cx| {
        // A connection that ends early fails the exchange, which is then answered.
        if !connection_ended && connection.as_mut().poll(cx).is_ready() {
            connection_ended = true;
        }
        exchange.as_mut().poll(cx)
    });
    let within = timeouts.within(timeouts.first_byte);
    let response = tokio::time::timeout(within, exchange)
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let connection: Connection = match connection_ended {
        true => Box::pin(async { Ok(()) }),
        false => connection,
    };
    Ok((response, connection))
}

/// The addresses of the target: its literal address, the host's override for its name,
/// or what the system resolver answers.
async fn resolve(
    net: &EgressNet,
    target: &Target,
    timeouts: Timeouts,
) -> Result<Vec<SocketAddr>, NotSent> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    if let Some(ips) = net.resolve.get(&target.host) {
        return Ok(ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, target.port))
            .collect());
    }
    let within = timeouts.within(timeouts.connect);
    let found = tokio::time::timeout(
        within,
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| Error::DnsTimeout)?
    .map_err(|_| Error::DestinationNotFound)?;
    let found: Vec<SocketAddr> = found.collect();
    if found.is_empty() {
        return Err(Error::DestinationNotFound.into());
    }
    Ok(found)
}

/// The request line names only the path and query (the `Host` header names the rest),
/// and a `Host` header is there even if the guest's library left it out.
fn origin_form(request: &mut Request<WasiBody>) -> Result<(), Error> {
    let uri = request.uri().clone();
    if !request.headers().contains_key(HOST) {
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let value =
            HeaderValue::from_str(authority.as_str()).map_err(|_| Error::HttpRequestUriInvalid)?;
        request.headers_mut().insert(HOST, value);
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    Ok(())
}

fn connect_error(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        std::io::ErrorKind::TimedOut => Error::ConnectionTimeout,
        _ => Error::Connect(e),
    }
}

fn tls_error(e: std::io::Error) -> Error {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    if certificate {
        Error::TlsCertificateError
    } else {
        Error::Tls(e)
    }
}

/// The TLS settings of outbound https: the system's roots plus the host's extra ones,
/// HTTP/1.1 only.
pub fn client_config(
    extra_roots: &[std::path::PathBuf],
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for e in &system.errors {
        tracing::debug!(error = %e, "a system root certificate could not be read");
    }
    roots.add_parsable_certificates(system.certs);
    for path in extra_roots {
        for cert in warren_tls::read_certs(path)? {
            roots.add(cert)?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(warren_tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The body type the guest's response is read through.
pub fn boxed(
    body: impl http_body::Body<Data = bytes::Bytes, Error = Error> + Send + 'static,
) -> WasiBody {
    body.boxed_unsync()
}
