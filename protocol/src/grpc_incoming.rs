//! How the gRPC listener takes connections, with the limits of the HTTP listeners
//! (`listener.rs`): past `max_connections` open connections new ones wait in the kernel's
//! backlog, and a connection that has not sent HTTP/2's whole preface within
//! `header_read_timeout` is closed, so silent or stalled sockets cannot hold every slot.
//! With TLS, the handshake is made here too. Tonic serves the connections this admits.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use warren_tls::ServerStream as TlsStream;

use crate::listener::{self, ConnectionLimits};
use warren_tls::ServerTls;

/// The length of HTTP/2's connection preface, which a gRPC client sends first.
const PREFACE_BYTES: usize = 24;

/// A connection admitted within the limit; its slot frees when it closes.
pub struct Admitted {
    stream: Wire,
    _slot: OwnedSemaphorePermit,
}

/// What an admitted connection carries gRPC over.
enum Wire {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Wire {
    fn tcp(&self) -> &TcpStream {
        match self {
            Wire::Plain(tcp) => tcp,
            Wire::Tls(session) => session.get_ref().0,
        }
    }
}

impl Admitted {
    /// The wire under the connection, pinned, for a poll method.
    fn wire(self: Pin<&mut Self>) -> Pin<&mut dyn AsyncReadWrite> {
        match &mut self.get_mut().stream {
            Wire::Plain(tcp) => Pin::new(tcp),
            Wire::Tls(session) => Pin::new(session.as_mut()),
        }
    }
}

/// A byte stream both ways.
trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncReadWrite for T {}

/// The connections `listener` admits within `limits`, for tonic's
/// `serve_with_incoming`. Accepting stops when tonic drops the stream.
pub fn incoming(
    listener: TcpListener,
    limits: &ConnectionLimits,
    tls: Option<ServerTls>,
) -> ReceiverStream<io::Result<Admitted>> {
    let (admit, admitted) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let wait = limits.header_read_timeout;
    tokio::spawn(async move {
        loop {
            let (stream, slot) = tokio::select! {
                admitted = listener::admit(&listener, &slots) => match admitted {
                    Some(admitted) => admitted,
                    None => break,
                },
                () = admit.closed() => break,
            };
            let admit = admit.clone();
            let tls = tls.clone();
            // Waiting for the preface (and the handshake) happens beside the accept loop,
            // so one silent client does not hold up the others.
            tokio::spawn(async move {
                if !listener::sends_within(&stream, PREFACE_BYTES, wait).await {
                    return;
                }
                let stream = match tls {
                    None => Wire::Plain(stream),
                    Some(tls) => match tls.accept(stream, wait).await {
                        Some(session) => Wire::Tls(Box::new(session)),
                        None => return,
                    },
                };
                let _ = admit
                    .send(Ok(Admitted {
                        stream,
                        _slot: slot,
                    }))
                    .await;
            });
        }
    });
    ReceiverStream::new(admitted)
}

impl Connected for Admitted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.tcp().connect_info()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.wire().poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.wire().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.wire().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Wire::Plain(tcp) => tcp.is_write_vectored(),
            Wire::Tls(session) => session.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.wire().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.wire().poll_shutdown(cx)
    }
}
