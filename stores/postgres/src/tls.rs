//! TLS to PostgreSQL, set in the URL as libpq sets it: `sslmode` (`disable`, `prefer`,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert` (the CA file). `require`
//! encrypts without checking the server's certificate, unless a root certificate is
//! given (then it checks the chain, as libpq does); `verify-ca` checks the chain;
//! `verify-full` also checks that the certificate names the host in the URL.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use warren_store::StoreError;

/// How the store's connections travel.
#[derive(Clone, Default)]
pub enum Transport {
    /// In plaintext (`sslmode=disable`, or none given).
    #[default]
    Plain,
    /// Over TLS, checked as the URL's `sslmode` says.
    Tls(MakeRustlsConnect),
}

/// What a server certificate is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Nothing: the connection is encrypted, the server not authenticated.
    Nothing,
    /// That it chains to the root certificate.
    Chain,
    /// That it chains to the root, and names the host connected to.
    ChainAndName,
}

/// Parse a `postgres://` URL whose query may carry libpq's `sslmode` and `sslrootcert`,
/// which tokio-postgres does not take in full: the configuration and the transport.
pub fn parse_url(url: &str) -> Result<(tokio_postgres::Config, Transport), StoreError> {
    let bad = |m: String| StoreError::Io(m);
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root) = (None, None);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.to_string()),
            Some(("sslrootcert", value)) => root = Some(value.to_string()),
            _ => rest.push(pair),
        }
    }
    let url = match rest.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", rest.join("&")),
    };
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| bad(format!("{e}")))?;
    let (ssl_mode, check) = match mode.as_deref().unwrap_or("disable") {
        "disable" => {
            config.ssl_mode(SslMode::Disable);
            return Ok((config, Transport::Plain));
        }
        "prefer" => (SslMode::Prefer, Check::Nothing),
        "require" if root.is_some() => (SslMode::Require, Check::Chain),
        "require" => (SslMode::Require, Check::Nothing),
        "verify-ca" => (SslMode::Require, Check::Chain),
        "verify-full" => (SslMode::Require, Check::ChainAndName),
        other => {
            return Err(bad(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    config.ssl_mode(ssl_mode);
    let roots = match (&root, check) {
        (_, Check::Nothing) => None,
        (Some(path), _) => Some(roots(path)?),
        (None, _) => {
            return Err(bad(format!(
                "sslmode={} needs sslrootcert=PATH, the CA that signed the server's certificate",
                mode.unwrap_or_default()
            )));
        }
    };
    let provider = warren_tls::provider();
    let chain = match roots {
        None => None,
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| bad(format!("sslrootcert: {e}")))?,
        ),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (chain, check) {
        (Some(chain), Check::ChainAndName) => chain,
        (chain, _) => Arc::new(Lenient {
            chain,
            provider: provider.clone(),
        }),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((config, Transport::Tls(MakeRustlsConnect::new(tls))))
}

/// The certificates in the PEM file at `path`.
fn roots(path: &str) -> Result<RootCertStore, StoreError> {
    let bad = |m: String| StoreError::Io(format!("sslrootcert={path}: {m}"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(roots)
}

/// A server certificate checked for less than `verify-full`: `verify-ca` (the chain, not
/// the name) with `chain`, or nothing at all without (`require` without a root: encrypted,
/// not authenticated, as libpq does). Either way the handshake's signatures are checked
/// against the certificate sent.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
