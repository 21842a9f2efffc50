//! One HTTP/2 connection to another host's internal service, as a tonic transport.
//! tonic's own `Channel` puts a buffer task in front of the connection, so every
//! forwarded call would cross one more task (on two cores, one more thread wakeup) each
//! way; hyper's `SendRequest` hands the request straight to the connection's task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http::{Request, Response, Uri};

/// How long opening a connection to another host may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A live HTTP/2 connection to one host. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct Connection(SendRequest<Body>);

impl Connection {
    /// Connect to the host at `address` (`http://HOST:PORT`).
    pub async fn open(address: &str) -> Result<Connection, String> {
        let uri: Uri = address
            .parse()
            .map_err(|e| format!("bad host address {address:?}: {e}"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("host address {address:?} names no host and port"))?
            .as_str()
            .to_string();
        let stream =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&authority))
                .await
                .map_err(|_| format!("connecting to {address} timed out"))?
                .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY on {address}: {e}"))?;
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/2 handshake with {address} failed: {e}"))?;
        let address = address.to_string();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%address, error = %e, "connection to a cluster host ended");
            }
        });
        Ok(Connection(sender))
    }

    /// Whether the connection is gone (the other host closed it, or it failed).
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl Service<Request<Body>> for Connection {
    type Response = Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}
