//! The store a host opens: sled in its data dir, or a cluster's PostgreSQL database.

use std::sync::Arc;

use anyhow::Context;
use warren_host::store::{PostgresStore, SledStore, StateStore, faults};

use super::args::ServeArgs;

/// The store a host runs on: sled in the data dir, or a cluster's PostgreSQL database.
pub enum Store {
    Sled(Arc<SledStore>),
    Cluster(Arc<PostgresStore>),
}

impl Store {
    pub fn state_store(&self) -> Arc<dyn StateStore> {
        match self {
            Store::Sled(s) => s.clone(),
            Store::Cluster(s) => s.clone(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Store::Sled(s) => format!("sled ({:?})", s.durability()).to_lowercase(),
            Store::Cluster(_) => "postgresql (cluster)".into(),
        }
    }
}

/// The store's failpoints from `FAILPOINTS`, in a build that has them (tests); elsewhere
/// the variable is refused rather than silently ignored.
pub fn configure_failpoints() -> anyhow::Result<()> {
    let Ok(spec) = std::env::var("FAILPOINTS") else {
        return Ok(());
    };
    if !faults::COMPILED_IN {
        anyhow::bail!("FAILPOINTS is set, but this build has no failpoints (feature `failpoints`)");
    }
    let set = faults::configure(&spec).map_err(anyhow::Error::msg)?;
    tracing::warn!(failpoints = %spec, set, "store failpoints configured: faults will be injected");
    Ok(())
}

pub async fn open_store(args: &ServeArgs) -> anyhow::Result<Store> {
    let Some(url) = &args.cluster else {
        let store = SledStore::open(&args.data_dir.join("store"), args.durability)
            .with_context(|| format!("cannot open the store in {}", args.data_dir.display()))?;
        return Ok(Store::Sled(store));
    };
    let secret = args.cluster_secret.as_deref().unwrap_or_default();
    // Mutual TLS keeps strangers off the host-to-host listener; without it the secret does.
    anyhow::ensure!(
        !secret.is_empty() || args.cluster_ca.is_some(),
        "cluster mode needs --cluster-secret (or WARREN_CLUSTER_SECRET), shared by every host, or mutual TLS between the hosts (--cluster-ca, --cluster-cert, --cluster-key)"
    );
    if !secret.is_empty() {
        warren_host::cluster::check_secret(secret)?;
    }
    // libpq's `sslmode` and `sslrootcert` in the URL ask for TLS.
    let (config, transport) = warren_store_postgres::tls::parse_url(url).context(
        "--cluster is not a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB[?sslmode=verify-full&sslrootcert=CA.pem])",
    )?;
    let store = PostgresStore::connect_with(config, transport)
        .await
        .context("cannot open the cluster database")?;
    Ok(Store::Cluster(store))
}
