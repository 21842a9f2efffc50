//! What every protocol request passes through on its way in, HTTP and gRPC alike: a span
//! of the request under the caller's `traceparent` (whose context the handler passes on to
//! the turns it starts, and the response returns, as Dapr does), and a count by protocol
//! and status in the metrics.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use crate::runtime::Runtime;
use crate::runtime::trace::{self, OpenSpan, TRACEPARENT, TRACESTATE};

/// The layer: spans and counts each request as one of `protocol` ("dapr-http", ...).
#[derive(Clone)]
pub struct Observe {
    runtime: Runtime,
    protocol: &'static str,
}

impl Observe {
    /// Observe requests of `protocol`.
    pub fn new(runtime: Runtime, protocol: &'static str) -> Self {
        Observe { runtime, protocol }
    }
}

impl<S> tower::Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            observe: self.clone(),
        }
    }
}

/// A service whose requests are observed.
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    observe: Observe,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Replace the trace headers of `headers` with `trace`.
fn set_trace_headers(headers: &mut HeaderMap, trace: &[(String, String)]) {
    headers.remove(TRACESTATE);
    for (name, value) in trace {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
}

/// The status a response is counted under, and whether it is the server's failure: its
/// gRPC status for gRPC (0, OK, unless an error was sent in the headers), its HTTP status
/// otherwise.
fn status_of<R>(response: &Response<R>) -> (u16, bool) {
    let headers = response.headers();
    let grpc = header(headers, "content-type").is_some_and(|c| c.starts_with("application/grpc"));
    if grpc {
        let code = header(headers, "grpc-status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // Unknown, deadline exceeded, unimplemented, internal, unavailable, data loss.
        (code, matches!(code, 2 | 4 | 12 | 13 | 14 | 15))
    } else {
        let status = response.status();
        (status.as_u16(), status.is_server_error())
    }
}

/// The span of a request: named by its route (bounded, unlike its path).
fn request_span<B>(observe: &Observe, request: &Request<B>) -> Option<OpenSpan> {
    let headers = request.headers();
    observe.runtime.tracing().start(
        || {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or(request.uri().path(), MatchedPath::as_str);
            match route.strip_prefix('/') {
                // gRPC: the method's full name is the span's name.
                Some(method) if observe.protocol.ends_with("grpc") => Cow::Owned(method.into()),
                _ => Cow::Owned(format!("{} {route}", request.method())),
            }
        },
        SpanKind::Server,
        header(headers, TRACEPARENT),
        header(headers, TRACESTATE),
    )
}

impl<S, B, R> tower::Service<Request<B>> for Observed<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
    B: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; the ready one serves this request (tower's idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let observe = self.observe.clone();
        let span = request_span(&observe, &request);
        let trace = span.as_ref().map(OpenSpan::headers);
        let method = span
            .as_ref()
            .filter(|span| span.is_recording())
            .map(|_| request.method().to_string());
        Box::pin(async move {
            let result = match &trace {
                Some(trace) => {
                    set_trace_headers(request.headers_mut(), trace);
                    trace::within_request(trace.clone(), inner.call(request)).await
                }
                None => inner.call(request).await,
            };
            let (status, failed) = match &result {
                Ok(response) => status_of(response),
                Err(_) => (500, true),
            };
            observe.runtime.metrics().request(observe.protocol, status);
            let Some(mut span) = span else { return result };
            span.set_attributes([
                KeyValue::new("warren.protocol", observe.protocol),
                KeyValue::new("http.request.method", method.unwrap_or_default()),
                KeyValue::new("warren.status", i64::from(status)),
            ]);
            match result {
                Ok(mut response) => {
                    set_trace_headers(response.headers_mut(), trace.as_deref().unwrap_or(&[]));
                    span.end(failed.then(|| format!("answered with status {status}")));
                    Ok(response)
                }
                Err(e) => {
                    span.end(Some(e.to_string()));
                    Err(e)
                }
            }
        })
    }
}
