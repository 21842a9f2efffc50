//! Warren's TLS: PEM files read into rustls' types, a server certificate reloaded when
//! its files change ([`ServerTls`], the public listeners), mutual TLS between the hosts
//! of a cluster ([`MutualTls`]), and the cluster CA and host certificates
//! `warren cluster ca init` and `warren cluster cert` issue ([`issue`]).

#![warn(missing_docs)]

pub mod issue;
mod mutual;
mod server;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use mutual::{MutualTls, MutualTlsFiles};
pub use server::{RELOAD_EVERY, ServerTls};
pub use tokio_rustls::{client::TlsStream as ClientStream, server::TlsStream as ServerStream};

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file holds no PEM item of the kind expected, or a broken one.
    #[error("{path} holds no usable PEM {what}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What it should hold: `certificate` or `private key`.
        what: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// The key is of a kind rustls cannot sign with, or does not belong to the
    /// certificate.
    #[error("the key in {key} cannot serve the certificate in {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(#[from] rustls::Error),
}

/// Where a listener's certificate chain and private key are (PEM).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The cryptography every TLS endpoint of Warren uses: ring, which the build has anyway
/// (JWTs). rustls 0.23.48 deprecated it for offering no post-quantum key exchange; the
/// alternative, aws-lc-rs, is a C build of minutes on CI's two cores. Classical X25519
/// and P-256 key exchange it is, until ring or rustls offers a hybrid.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read the certificate chain in `path`.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let pem = |reason: String| TlsError::Pem {
        path: path.to_path_buf(),
        what: "certificate",
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("none found".into()));
    }
    Ok(certs)
}

/// Read the private key in `path`.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        what: "private key",
        reason: e.to_string(),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}
