//! `warren cluster`: the cluster CA and host certificates for mutual TLS between hosts.
//! Made here, offline: no host is called.

use std::path::PathBuf;

use anyhow::Context;
use warren_tls::issue;

/// What to do for a cluster's TLS.
#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// The cluster's certificate authority.
    Ca {
        /// What to do with the CA.
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Issue host NAME a certificate from the cluster CA, for `warren serve
    /// --cluster-cert NAME.pem --cluster-key NAME-key.pem --cluster-ca ca.pem`.
    Cert(CertArgs),
}

/// What to do with the cluster CA.
#[derive(clap::Subcommand)]
pub enum CaCommand {
    /// Write a new cluster CA (`ca.pem`, and `ca-key.pem` readable by you only); refuses
    /// to replace one.
    Init {
        /// Where to write it.
        #[arg(long, default_value = "./warren-ca")]
        dir: PathBuf,
    },
}

/// `warren cluster cert NAME`.
#[derive(clap::Args)]
pub struct CertArgs {
    /// The host's name (letters, digits, '-', '.'): its certificate names it, and its
    /// host id starts with it.
    name: String,
    /// The cluster CA's directory (`warren cluster ca init --dir`).
    #[arg(long, default_value = "./warren-ca")]
    ca_dir: PathBuf,
    /// An address the host is also reached at, an IP or a DNS name (repeatable).
    #[arg(long = "address")]
    addresses: Vec<String>,
    /// Where to write `NAME.pem` and `NAME-key.pem`; the CA's directory by default.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Run a `warren cluster` command.
pub fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Ca {
            command: CaCommand::Init { dir },
        } => {
            let cert = issue::init_ca(&dir).context("cannot make the cluster CA")?;
            println!("cluster CA written: {}", cert.display());
            println!(
                "keep {} secret: it issues host certificates",
                issue::ca_files(&dir).1.display()
            );
        }
        ClusterCommand::Cert(args) => {
            let out = args.out.as_ref().unwrap_or(&args.ca_dir);
            let (cert, key) = issue::issue_host(&args.ca_dir, &args.name, &args.addresses, out)
                .with_context(|| format!("cannot issue a certificate for {}", args.name))?;
            println!("{}: {} and {}", args.name, cert.display(), key.display());
        }
    }
    Ok(())
}
