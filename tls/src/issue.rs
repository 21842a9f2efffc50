//! The cluster CA and its host certificates, as `warren cluster ca init` and
//! `warren cluster cert NAME` make them: ECDSA P-256 keys, the CA's key written readable by
//! its owner only, and each host certificate naming its host (a DNS name, plus the
//! addresses it is reached at) for both ends of a connection.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

/// Why a CA or certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA is there already (a new one would orphan every certificate it issued).
    #[error("{0} exists: a cluster CA is there already")]
    Exists(PathBuf),
    /// A host name that cannot be a certificate's DNS name.
    #[error("{0:?} cannot name a host: use letters, digits, '-' and '.'")]
    BadName(String),
    /// rcgen refused (a broken CA file, a bad address).
    #[error("{0}")]
    Certificate(#[from] rcgen::Error),
}

/// The CA's certificate and key in `dir`.
pub fn ca_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("ca.pem"), dir.join("ca-key.pem"))
}

/// Write a new cluster CA into `dir` (`ca.pem`, `ca-key.pem`); refuses to replace one.
pub fn init_ca(dir: &Path) -> Result<PathBuf, IssueError> {
    let (cert_path, key_path) = ca_files(dir);
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(IssueError::Exists(path.clone()));
        }
    }
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, "Warren cluster CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_after = rcgen::date_time_ymd(2046, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
    write_private(&key_path, &key.serialize_pem())?;
    std::fs::write(&cert_path, cert.pem()).map_err(|source| io(&cert_path, source))?;
    Ok(cert_path)
}

/// Issue host `name` a certificate from the CA in `ca_dir`, also naming `addresses` (IP
/// addresses or DNS names it is reached at); written as `NAME.pem` and `NAME-key.pem`
/// into `out`. Returns both paths.
pub fn issue_host(
    ca_dir: &Path,
    name: &str,
    addresses: &[String],
    out: &Path,
) -> Result<(PathBuf, PathBuf), IssueError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
    };
    if name.is_empty() || !name.split('.').all(label_ok) || name.parse::<std::net::IpAddr>().is_ok()
    {
        return Err(IssueError::BadName(name.to_string()));
    }
    let (ca_cert, ca_key) = ca_files(ca_dir);
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|source| io(path, source));
    let ca_key = KeyPair::from_pem(&read(&ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&read(&ca_cert)?, ca_key)?;
    let mut names = vec![name.to_string()];
    names.extend(addresses.iter().cloned());
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_after = rcgen::date_time_ymd(2046, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::create_dir_all(out).map_err(|source| io(out, source))?;
    let cert_path = out.join(format!("{name}.pem"));
    let key_path = out.join(format!("{name}-key.pem"));
    write_private(&key_path, &key.serialize_pem())?;
    std::fs::write(&cert_path, cert.pem()).map_err(|source| io(&cert_path, source))?;
    Ok((cert_path, key_path))
}

/// The first DNS name `cert` holds, if it parses and holds one.
pub fn dns_name(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    let names = parsed.subject_alternative_name().ok()??;
    names.value.general_names.iter().find_map(|n| match n {
        GeneralName::DNSName(name) => Some(name.to_string()),
        _ => None,
    })
}

fn io(path: &Path, source: std::io::Error) -> IssueError {
    IssueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `text` to a new file at `path` that only its owner may read.
fn write_private(path: &Path, text: &str) -> Result<(), IssueError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| io(path, source))?;
    file.write_all(text.as_bytes())
        .map_err(|source| io(path, source))
}
