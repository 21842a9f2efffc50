//! Mutual TLS between the hosts of a cluster. Each host presents the certificate the
//! cluster CA issued it (`warren cluster cert NAME`), as a server and as a client, and
//! accepts only peers whose certificate chains to that CA. A client also checks that
//! the server's certificate names the host it means to reach, so a host cannot answer
//! for another.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::{ClientStream, ServerStream, TlsError, provider, read_certs, read_key};

/// Where a cluster host's certificate, its key, and the cluster CA's certificate are.
#[derive(Clone, Debug)]
pub struct MutualTlsFiles {
    /// The cluster CA's certificate (PEM): peers must chain to it.
    pub ca: PathBuf,
    /// This host's certificate chain (PEM), naming the host.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// Mutual TLS of one cluster host. Cheap to clone.
#[derive(Clone)]
pub struct MutualTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    name: String,
}

impl std::fmt::Debug for MutualTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutualTls")
            .field("name", &self.name)
            .finish()
    }
}

impl MutualTls {
    /// Mutual TLS with the certificate and CA in `files`; the host's name is the first
    /// DNS name its certificate holds.
    pub fn load(files: &MutualTlsFiles) -> Result<Self, TlsError> {
        let certs = read_certs(&files.cert)?;
        let name = crate::issue::dns_name(&certs[0]).ok_or_else(|| TlsError::Pem {
            path: files.cert.clone(),
            what: "certificate",
            reason: "it names no host (no DNS name): issue it with `warren cluster cert NAME`"
                .into(),
        })?;
        let roots = Arc::new(roots(&files.ca)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), read_key(&files.key)?)
            .map_err(|e| mismatch(files, e))?;
        server.alpn_protocols = vec![b"h2".to_vec()];
        let mut client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, read_key(&files.key)?)
            .map_err(|e| mismatch(files, e))?;
        client.alpn_protocols = vec![b"h2".to_vec()];
        Ok(MutualTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            name,
        })
    }

    /// The host's name, as its certificate gives it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TLS session of a peer connecting from `peer`, within `wait`; `None` when the
    /// handshake fails, which is logged: a peer without a certificate of the cluster CA
    /// is refused here, before it can send anything.
    pub async fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        wait: Duration,
    ) -> Option<ServerStream<TcpStream>> {
        match tokio::time::timeout(wait, self.acceptor.accept(stream)).await {
            Ok(Ok(session)) => Some(session),
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "cluster peer refused at the TLS handshake");
                None
            }
            Err(_) => {
                tracing::warn!(%peer, "cluster peer refused: no TLS handshake in time");
                None
            }
        }
    }

    /// A TLS session over `stream` with the host named `host`, whose certificate must
    /// name it.
    pub async fn connect(
        &self,
        stream: TcpStream,
        host: &str,
    ) -> io::Result<ClientStream<TcpStream>> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.connector.connect(name, stream).await
    }
}

/// The roots in the CA file at `path`.
fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            what: "certificate",
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn mismatch(files: &MutualTlsFiles, e: rustls::Error) -> TlsError {
    TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    }
}
