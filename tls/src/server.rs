//! A server certificate read from PEM files and served to new connections (the public
//! listeners'). It is read again when its files change (looked at every few
//! seconds) or when asked ([`ServerTls::reload`], on SIGHUP): connections already open
//! keep the session they made.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::{TlsError, TlsFiles, provider, read_certs, read_key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The certificate and key in `files`, checked to belong together.
fn certified_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let mismatch = |e: rustls::Error| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    };
    let certified = CertifiedKey::from_der(certs, key, &provider()).map_err(mismatch)?;
    Ok(Arc::new(certified))
}

/// When `files` last changed, as far as their modification times tell.
fn stamp(files: &TlsFiles) -> Option<(SystemTime, SystemTime)> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((modified(&files.cert)?, modified(&files.key)?))
}

/// The certificate served now; swapped whole on reload.
#[derive(Debug)]
struct Served {
    files: TlsFiles,
    key: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last read.
    stamp: Mutex<Option<(SystemTime, SystemTime)>>,
}

impl ResolvesServerCert for Served {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// TLS for a listener: the acceptor, and the certificate it serves. Cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    served: Arc<Served>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.served.files)
            .finish()
    }
}

/// How often the certificate files are looked at for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

impl ServerTls {
    /// TLS serving the certificate in `files`, offering HTTP/2 and HTTP/1.1 by ALPN.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let served = Arc::new(Served {
            key: RwLock::new(certified_key(&files)?),
            stamp: Mutex::new(stamp(&files)),
            files,
        });
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(served.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            served,
        })
    }

    /// Read the files again and serve what they hold to new connections. A broken pair
    /// is refused and the certificate served so far stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = &self.served.files;
        let stamp_before = stamp(files);
        let key = certified_key(files)?;
        *self.served.key.write().unwrap_or_else(|p| p.into_inner()) = key;
        *self.served.stamp.lock().unwrap_or_else(|p| p.into_inner()) = stamp_before;
        tracing::info!(cert = %files.cert.display(), "TLS certificate loaded");
        Ok(())
    }

    /// Reload when the files' modification times moved since they were last read.
    fn reload_if_changed(&self) {
        let now = stamp(&self.served.files);
        let last = *self.served.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if now.is_none() || now == last {
            return;
        }
        if let Err(e) = self.reload() {
            // Remembered, so a half-written pair is tried again only once it changes.
            *self.served.stamp.lock().unwrap_or_else(|p| p.into_inner()) = now;
            tracing::error!(error = %e, "TLS certificate not reloaded; the previous one is still served");
        }
    }

    /// Look at the files every `every` and reload them when they changed, until
    /// `stopped` resolves.
    pub fn watch(&self, every: Duration, stopped: impl Future<Output = ()> + Send + 'static) {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    _ = tick.tick() => tls.reload_if_changed(),
                    () = &mut stopped => break,
                }
            }
        });
    }

    /// The TLS session of `stream`, within `wait`; `None` (the connection closed) when
    /// the client does not complete a handshake. A client that speaks plain HTTP gets
    /// an answer that says this port wants TLS, rather than a hang or a reset.
    pub async fn accept(&self, stream: TcpStream, wait: Duration) -> Option<TlsStream<TcpStream>> {
        if speaks_plaintext(&stream).await {
            refuse_plaintext(stream).await;
            return None;
        }
        match tokio::time::timeout(wait, self.acceptor.accept(stream)).await {
            Ok(Ok(session)) => Some(session),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => None,
        }
    }
}

/// Whether the first byte the client sent is not a TLS handshake record's (0x16).
async fn speaks_plaintext(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0] != 0x16)
}

/// Answer a plaintext request with `400` and a sentence, then close. The request's head
/// is read first (briefly): closing a socket with unread bytes resets it, and the client
/// would see the reset instead of the answer.
async fn refuse_plaintext(mut stream: TcpStream) {
    let mut head = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let mut buf = [0u8; 4096];
        while head.len() < 64 << 10 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    const BODY: &str = "this port speaks TLS: connect with https:// (or a TLS channel)\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
