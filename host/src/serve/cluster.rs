//! Cluster mode of `warren serve`: joining (with the host-to-host listener), handing
//! the partitions over at a clean stop, and leaving.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use warren_host::cluster::{Cluster, ClusterConfig, ClusterService};
use warren_host::runtime::Runtime;
use warren_host::store::{PostgresMembership, PostgresStore};
use warren_protocol::tls::{MutualTls, MutualTlsFiles};

use super::args::ServeArgs;
use warren_protocol::base_url;

use super::wait_for;

/// A joined cluster and its host-to-host listener.
pub struct Joined {
    member: Cluster,
    stop: tokio::sync::watch::Sender<bool>,
    serving: tokio::task::JoinHandle<()>,
}

pub async fn join_cluster(
    args: &ServeArgs,
    runtime: &Runtime,
    store: &Arc<PostgresStore>,
) -> anyhow::Result<Joined> {
    let listener = tokio::net::TcpListener::bind(args.cluster_listen)
        .await
        .with_context(|| format!("cannot listen on {} for the cluster", args.cluster_listen))?;
    let tls = mutual_tls(args)?;
    let address = match &args.cluster_advertise {
        Some(url) => url.clone(),
        None => base_url(listener.local_addr()?, tls.is_some()),
    };
    let secret = args.cluster_secret.clone().unwrap_or_default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Serving first: the other hosts forward here as soon as this host holds partitions.
    let serving = tokio::spawn({
        let serving = warren_host::cluster::serve(
            ClusterService::new(runtime.clone(), &secret),
            listener,
            tls.clone(),
            wait_for(stopped),
        );
        async move {
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the cluster listener failed");
            }
        }
    });
    let name = tls.as_ref().map_or("host", |t| t.name()).to_string();
    let member = Cluster::join(
        ClusterConfig {
            host_id: format!("{name}-{}", uuid::Uuid::new_v4().simple()),
            address,
            secret,
            tls,
            heartbeat: args.heartbeat,
            host_timeout: args.host_timeout,
        },
        runtime,
        Arc::new(PostgresMembership::new(store.clone())),
    )
    .await
    .context("cannot join the cluster")?;
    Ok(Joined {
        member,
        stop,
        serving,
    })
}

/// The first step of a clean leave: hand the partitions over (at most `within`) while
/// every listener still serves, so what arrives meanwhile is forwarded to the new owners;
/// HTTP/1 answers say `Connection: close` meanwhile. The listeners stop after it.
pub async fn hand_over(
    cluster: &Joined,
    closing: &std::sync::atomic::AtomicBool,
    within: Duration,
) {
    closing.store(true, std::sync::atomic::Ordering::Release);
    let started = std::time::Instant::now();
    let handed = cluster.member.hand_over(within).await;
    tracing::info!(
        handed_over = handed,
        took_ms = started.elapsed().as_millis() as u64,
        "partitions handed over"
    );
}

impl Joined {
    /// Leave the cluster and close the host-to-host listener (for a bounded time).
    pub async fn leave(mut self) {
        if let Err(e) = self.member.leave().await {
            tracing::error!(error = %e, "leaving the cluster failed; the others will declare this host dead");
        }
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.serving).await;
    }
}

/// Mutual TLS between the hosts, when `--cluster-ca` (and this host's certificate) is
/// given.
fn mutual_tls(args: &ServeArgs) -> anyhow::Result<Option<MutualTls>> {
    let (Some(ca), Some(cert), Some(key)) =
        (&args.cluster_ca, &args.cluster_cert, &args.cluster_key)
    else {
        return Ok(None);
    };
    let files = MutualTlsFiles {
        ca: ca.clone(),
        cert: cert.clone(),
        key: key.clone(),
    };
    let tls = MutualTls::load(&files).context("cannot set up mutual TLS between the hosts")?;
    tracing::info!(host = %tls.name(), ca = %ca.display(), "hosts speak mutual TLS");
    Ok(Some(tls))
}
