//! How the HTTP listeners (Dapr and admin, OPACA) take connections: hyper's server with
//! the limits a public endpoint needs and `axum::serve` does not expose. A client that
//! trickles its headers (slow loris) is cut off after `header_read_timeout`, headers past
//! `max_header_bytes` are answered `431`, a connection that sends nothing is closed after
//! the same timeout, and past `max_connections` open connections new ones wait in the
//! kernel's backlog until one closes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use warren_tls::ServerTls;

/// Connection limits of one listener.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this long, counted from the connection's
    /// start or the end of its previous request (so it also closes idle connections).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes (at least 8 KiB).
    pub max_header_bytes: usize,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
            max_connections: 10_000,
        }
    }
}

/// What every request sends first, HTTP/1 or HTTP/2, at the least: `GET / HTTP/1.1\r\n`
/// is 16 bytes, HTTP/2's preface 24.
const FIRST_BYTES: usize = 16;

/// How long open connections may finish their requests once `shutdown` resolves.
const DRAIN: Duration = Duration::from_secs(5);

/// Serve `app` on `listener` until `shutdown` resolves, then let open connections finish
/// their requests (for a few seconds at most).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper refuses less than 8 KiB.
        .max_buf_size(limits.max_header_bytes.max(8 << 10));
    builder.http2().timer(TokioTimer::new());
    let slots = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(slots));
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, permit) = tokio::select! {
            admitted = admit(&listener, &permits) => match admitted {
                Some(admitted) => admitted,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            builder: builder.clone(),
            app: app.clone(),
            wait: limits.header_read_timeout,
            stopped: stopped.clone(),
            _permit: permit,
        };
        tokio::spawn(connection.serve(stream, tls.clone()));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends: all of them back means all ended.
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN, permits.acquire_many(all)).await;
}

/// One admitted connection and what serving it needs.
struct Connection {
    builder: Builder<TokioExecutor>,
    app: Router,
    /// How long its first bytes (and its TLS handshake) may take.
    wait: Duration,
    stopped: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    /// Serve `stream` (in a TLS session when `tls` is set) until it ends.
    async fn serve(self, stream: TcpStream, tls: Option<ServerTls>) {
        // hyper's header timeout starts with the first byte: a connection that sends
        // nothing at all is closed here, so silent sockets cannot hold every permit.
        // (Between requests of a kept-alive connection hyper's own timeout applies.)
        if !sends_within(&stream, FIRST_BYTES, self.wait).await {
            return;
        }
        match tls {
            None => self.serve_io(stream).await,
            Some(tls) => {
                if let Some(session) = tls.accept(stream, self.wait).await {
                    self.serve_io(session).await;
                }
            }
        }
    }

    /// Serve HTTP on `io` until it ends; once the listener stops, ask it to close after
    /// the request it is on.
    async fn serve_io<S>(mut self, io: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let begun = Arc::new(Notify::new());
        let service = TowerToHyperService::new(self.app.map_request(noting(begun.clone())));
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        // A connection's errors are the client's (a reset, a timeout): nothing to log.
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = self.stopped.wait_for(|s| *s) => {}
        }
        // Its first request's bytes are here, but until hyper has read which HTTP
        // version they are, a graceful shutdown drops the connection unread, and the
        // client sees a reset: let that request begin first, then close after its answer.
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = tokio::time::timeout(self.wait, begun.notified()) => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// A request passed on unchanged, noted in `begun` (which keeps the note until waited
/// for): how a connection tells that its first request has begun.
fn noting<B>(begun: Arc<Notify>) -> impl Fn(Request<B>) -> Request<B> + Clone {
    move |request| {
        begun.notify_one();
        request
    }
}

/// `app`, answering HTTP/1 requests with `Connection: close` while `closing` is set (a
/// host about to stop listening): each client's connection then ends cleanly after its
/// answer, instead of being cut while idle in the client's pool when the listener stops.
pub fn closing_connections(app: Router, closing: Arc<AtomicBool>) -> Router {
    app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let closing = closing.clone();
            async move {
                let http1 = request.version() <= axum::http::Version::HTTP_11;
                let mut response = next.run(request).await;
                if http1 && closing.load(Ordering::Acquire) {
                    response.headers_mut().insert(
                        axum::http::header::CONNECTION,
                        axum::http::HeaderValue::from_static("close"),
                    );
                }
                response
            }
        },
    ))
}

/// The next connection on `listener` once one of `slots` is free, with its slot; `None`
/// when the slots are closed. Accepting again after an error (out of file descriptors,
/// say) waits a little rather than spin.
pub(crate) async fn admit(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                return Some((stream, slot));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Whether `stream` sends its first `bytes` bytes within `wait` (one that does not is to
/// be closed). HTTP/2's handshake has no timeout of its own: a client that sent part of
/// the 24-byte preface and stopped would hold its connection for good.
pub(crate) async fn sends_within(stream: &TcpStream, bytes: usize, wait: Duration) -> bool {
    let mut head = vec![0u8; bytes.max(1)];
    let started = tokio::time::Instant::now();
    loop {
        let remaining = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, stream.peek(&mut head)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return false,
            Ok(Ok(n)) if n >= head.len() => return true,
            // Part of it so far: look again shortly.
            Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
        if started.elapsed() >= wait {
            return false;
        }
    }
}
