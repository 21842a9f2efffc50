//! Mutual TLS on the host-to-host service: the connections the listener admits after a
//! handshake with a peer of the cluster CA, and the connector that dials a peer and
//! checks that its certificate names the host the partition table says it is.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use warren_tls::{ClientStream, MutualTls, ServerStream};

/// How long a peer has to complete its handshake.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// The name of the host whose id is `id` (`NAME-<random>`): what its certificate names.
pub fn host_name(id: &str) -> &str {
    id.rsplit_once('-').map_or(id, |(name, _)| name)
}

/// A peer's connection, its handshake made.
pub struct PeerConnection(ServerStream<TcpStream>);

/// The connections `listener` accepts whose peers complete a handshake under `tls`;
/// accepting stops when tonic drops the stream.
pub fn incoming(
    listener: TcpListener,
    tls: MutualTls,
) -> ReceiverStream<io::Result<PeerConnection>> {
    let (admit, admitted) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = admit.closed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a cluster connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (admit, tls) = (admit.clone(), tls.clone());
            // Beside the accept loop, so a peer that stalls its handshake holds up no other.
            tokio::spawn(async move {
                if let Some(session) = tls.accept(stream, peer, HANDSHAKE).await {
                    let _ = admit.send(Ok(PeerConnection(session))).await;
                }
            });
        }
    });
    ReceiverStream::new(admitted)
}

impl Connected for PeerConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl AsyncRead for PeerConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Dials the peer host `host` (by the address in the request's URI) over mutual TLS.
#[derive(Clone)]
pub struct PeerConnector {
    /// This host's TLS.
    pub tls: MutualTls,
    /// The name the peer's certificate must hold.
    pub host: String,
}

type Connecting =
    Pin<Box<dyn Future<Output = io::Result<TokioIo<ClientStream<TcpStream>>>> + Send>>;

impl tower_service::Service<tonic::codegen::http::Uri> for PeerConnector {
    type Response = TokioIo<ClientStream<TcpStream>>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: tonic::codegen::http::Uri) -> Self::Future {
        let (tls, host) = (self.tls.clone(), self.host.clone());
        Box::pin(async move {
            let address = uri
                .authority()
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no peer address"))?;
            let tcp = TcpStream::connect(&address).await?;
            let _ = tcp.set_nodelay(true);
            Ok(TokioIo::new(tls.connect(tcp, &host).await?))
        })
    }
}
