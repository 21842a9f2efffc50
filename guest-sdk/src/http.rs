//! Outbound HTTP from an actor, through `wasi:http/outgoing-handler` (the `wasip2`
//! crate's bindings). The host lets a request out only where the tenant's
//! `allowed_outbound_hosts` allow it, within its limits and the turn's deadline.
//!
//! A failed turn does not undo a request it already sent: for a call that must not happen
//! twice, send an idempotency key the server keeps (see the README).
//!
//! ```ignore
//! let quote = warren_guest::http::get("https://api.example.com/quote")?;
//! let text = quote.text()?;
//! ```

use std::fmt;
use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// Redirects followed at most (each one is a new request, checked by the host again).
const MAX_REDIRECTS: usize = 5;

/// An outbound request.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body (empty: none).
    pub body: Vec<u8>,
    /// How long to wait for the response's head (the host's limit and the turn's deadline
    /// still apply).
    pub timeout: Option<Duration>,
    /// Follow `3xx` answers with a `Location`, up to 5 hops.
    pub follow_redirects: bool,
}

impl Request {
    /// A request of `method` to `url`, without headers or body, following redirects.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            follow_redirects: true,
        }
    }

    /// The request with a header added.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The request with `body`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Send it; see [`fetch`].
    pub fn send(&self) -> Result<Response, FetchError> {
        fetch(self)
    }
}

/// A response, its body read whole.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, FetchError> {
        std::str::from_utf8(&self.body).map_err(|_| FetchError::Body {
            received: self.body.len(),
            reason: "the body is not UTF-8".into(),
        })
    }
}

/// Why a request got no (whole) response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The URL is not `http(s)://host[:port][/path]`.
    BadUrl(String),
    /// The host refused or could not complete the request. The text is the WASI HTTP
    /// error code: `HttpRequestDenied` (no allowed pattern names the host),
    /// `DestinationIpProhibited` (it resolved to an address the tenant may not reach),
    /// `ConnectionLimitReached`, `ConnectionTimeout`, `ConnectionReadTimeout`, ...
    Http(String),
    /// The response's body broke off after `received` bytes (past the tenant's limit, a
    /// silent server, the turn's deadline).
    Body {
        /// Bytes of the body read before it broke off.
        received: usize,
        /// Why, as the host said.
        reason: String,
    },
    /// More than 5 redirects.
    TooManyRedirects,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::BadUrl(url) => write!(f, "not an http(s) URL: {url}"),
            FetchError::Http(code) => write!(f, "request failed: {code}"),
            FetchError::Body { received, reason } => {
                write!(
                    f,
                    "response body broke off after {received} bytes: {reason}"
                )
            }
            FetchError::TooManyRedirects => write!(f, "more than {MAX_REDIRECTS} redirects"),
        }
    }
}

impl std::error::Error for FetchError {}

impl From<FetchError> for crate::Error {
    fn from(e: FetchError) -> Self {
        crate::Error::Failed(e.to_string())
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, FetchError> {
    fetch(&Request::new("GET", url))
}

/// Send `request` and read its response whole; follows redirects when it asks to (a
/// `303`, or a `301`/`302` to a `POST`, goes on as a `GET` without body).
pub fn fetch(request: &Request) -> Result<Response, FetchError> {
    let mut current = request.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = send_once(&current)?;
        let location = response.header("location").map(str::to_string);
        match (request.follow_redirects, response.status, location) {
            (true, 301 | 302 | 303 | 307 | 308, Some(location)) => {
                current.url = resolve(&current.url, &location)?;
                let keeps_method = matches!(response.status, 307 | 308)
                    || matches!(current.method.as_str(), "GET" | "HEAD");
                if !keeps_method {
                    current.method = "GET".into();
                    current.body.clear();
                }
            }
            _ => return Ok(response),
        }
    }
    Err(FetchError::TooManyRedirects)
}

/// The parts of a URL a request names.
struct Url<'a> {
    scheme: Scheme,
    authority: &'a str,
    path: &'a str,
}

fn parse(url: &str) -> Result<Url<'_>, FetchError> {
    let bad = || FetchError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad()),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(bad());
    }
    Ok(Url {
        scheme,
        authority,
        path: if path.is_empty() { "/" } else { path },
    })
}

/// Where a `Location` points from `base`: an absolute URL, or a path on the same origin.
fn resolve(base: &str, location: &str) -> Result<String, FetchError> {
    if location.contains("://") {
        return Ok(location.to_string());
    }
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| FetchError::BadUrl(base.to_string()))?;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if location.starts_with('/') {
        Ok(format!("{scheme}://{authority}{location}"))
    } else {
        Err(FetchError::BadUrl(location.to_string()))
    }
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    }
}

fn code(e: ErrorCode) -> FetchError {
    // The variant's name, with its details when it has some.
    let text = format!("{e:?}");
    FetchError::Http(
        text.strip_prefix("ErrorCode::")
            .unwrap_or(&text)
            .to_string(),
    )
}

/// One request, no redirects.
fn send_once(request: &Request) -> Result<Response, FetchError> {
    let url = parse(&request.url)?;
    let headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers)
        .map_err(|e| FetchError::Http(format!("header refused: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let invalid = |what: &str| FetchError::BadUrl(format!("{what} of {}", request.url));
    outgoing
        .set_method(&method(&request.method))
        .map_err(|_| invalid("method"))?;
    outgoing
        .set_scheme(Some(&url.scheme))
        .map_err(|_| invalid("scheme"))?;
    outgoing
        .set_authority(Some(url.authority))
        .map_err(|_| invalid("host"))?;
    outgoing
        .set_path_with_query(Some(url.path))
        .map_err(|_| invalid("path"))?;
    // A request without a body takes none: the host then sends it as complete at once,
    // rather than chunked and open until the guest finishes the body.
    let body = match request.body.is_empty() {
        true => None,
        false => Some(
            outgoing
                .body()
                .map_err(|_| FetchError::Http("the request body was taken".into()))?,
        ),
    };
    let options = request.timeout.map(|t| {
        let options = RequestOptions::new();
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        let _ = options.set_first_byte_timeout(Some(nanos));
        options
    });
    let pending = outgoing_handler::handle(outgoing, options).map_err(code)?;
    if let Some(body) = body {
        write_body(body, &request.body)?;
    }
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(code(e)),
        _ => return Err(FetchError::Http("no response".into())),
    };
    let status = response.status();
    let headers = response.headers().entries();
    let incoming = response
        .consume()
        .map_err(|_| FetchError::Http("the response body was taken".into()))?;
    let body = read_body(incoming)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), FetchError> {
    let failed = |why: String| FetchError::Http(format!("sending the body failed: {why}"));
    {
        let stream = body.write().map_err(|_| failed("no stream".into()))?;
        // The stream takes at most 4096 bytes per blocking write.
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| failed(stream_error(e)))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(code)
}

fn read_body(incoming: IncomingBody) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    {
        let stream = incoming.stream().map_err(|_| FetchError::Body {
            received: 0,
            reason: "no stream".into(),
        })?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => {
                    return Err(FetchError::Body {
                        received: body.len(),
                        reason: stream_error(e),
                    });
                }
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(body)
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::Closed => "closed".into(),
        StreamError::LastOperationFailed(io) => match wasip2::http::types::http_error_code(&io) {
            Some(code) => format!("{code:?}"),
            None => io.to_debug_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_locations_are_read() {
        let url = parse("https://api.example.com:8443/v1/q?x=1").expect("parses");
        assert_eq!(url.authority, "api.example.com:8443");
        assert_eq!(url.path, "/v1/q?x=1");
        assert_eq!(parse("http://h").expect("parses").path, "/");
        assert!(parse("ftp://h/").is_err());
        assert!(parse("http:///x").is_err());
        assert_eq!(
            resolve("http://a:1/x?y", "/z").expect("resolves"),
            "http://a:1/z"
        );
        assert_eq!(
            resolve("http://a/x", "https://b/").expect("resolves"),
            "https://b/"
        );
    }
}
