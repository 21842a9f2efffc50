//! Cluster mode: many hosts, one actor space, on one PostgreSQL database. Every host is
//! equal. The database holds what must be agreed on (state, reminders, tenants,
//! components, membership and partition leases); hosts run the turns.
//!
//! - `membership.rs`: heartbeats, declaring silent hosts dead, partition leases with
//!   epochs.
//! - `router.rs`: the core's [`warren_core::runtime::ActorRouter`]: where an actor lives, and
//!   forwarding to its owner.
//! - `service.rs`: the host-to-host gRPC service that runs forwarded work.
//! - `wire.rs`: the service's messages; `failure.rs`: turn errors in them, kind by kind.
//!
//! Single activation is enforced by the database: the store commits an actor's turn only
//! while this host holds its partition at the epoch the database has
//! ([`warren_core::store::Fence`]).
// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

mod failure;
mod membership;
mod proto;
mod router;
mod service;
pub mod tls;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

pub use membership::TickOutcome;
pub use router::{ClusterRouter, Owner};
pub use service::{ClusterService, serve};

use membership::Membership;
use warren_core::runtime::Runtime;
use warren_core::store::{Fence, MembershipStore, StoreError};

/// The metadata key of the cluster secret on host-to-host calls.
pub const SECRET_HEADER: &str = "x-warren-cluster-secret";

/// Settings of one host in a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// This host's id, unique per process start.
    pub host_id: String,
    /// Where the other hosts reach this host's internal service (`http://ip:port`).
    pub address: String,
    /// Shared by every host; host-to-host calls without it are refused. May be empty
    /// with `tls`, whose certificates then keep other callers out.
    pub secret: String,
    /// Mutual TLS between the hosts (a certificate of the cluster CA each), if set up.
    pub tls: Option<warren_tls::MutualTls>,
    /// How often this host heartbeats and reads the partition table.
    pub heartbeat: Duration,
    /// A host silent this long is declared dead and its partitions move.
    pub host_timeout: Duration,
}

/// Why a host could not join.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A setting is wrong (the secret, the timeouts); the message says which.
    #[error("{0}")]
    Config(String),
    /// The database refused or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuse a cluster secret too short to keep other hosts' calls out.
pub fn check_secret(secret: &str) -> Result<(), ClusterError> {
    if secret.len() < 16 {
        return Err(ClusterError::Config(
            "the cluster secret must be at least 16 characters".into(),
        ));
    }
    Ok(())
}

/// A running member of the cluster.
pub struct Cluster {
    membership: Arc<Membership>,
    runtime: Runtime,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Cluster {
    /// Join: fence `store`, install the router in `runtime`, register this host, take a
    /// first share of partitions, and keep doing so every heartbeat. Call before the
    /// runtime reads reminders or serves requests.
    pub async fn join(
        config: ClusterConfig,
        runtime: &Runtime,
        store: Arc<dyn MembershipStore>,
    ) -> Result<Cluster, ClusterError> {
        if config.tls.is_none() || !config.secret.is_empty() {
            check_secret(&config.secret)?;
        }
        if config.host_timeout < config.heartbeat * 2 {
            return Err(ClusterError::Config(
                "the host timeout must be at least two heartbeats".into(),
            ));
        }
        let fence = Arc::new(Fence::new(&config.host_id));
        store.set_fence(fence.clone())?;
        let router = Arc::new(
            ClusterRouter::new(
                fence.clone(),
                &config.secret,
                config.tls.clone(),
                config.heartbeat,
                config.host_timeout,
            )
            .map_err(ClusterError::Config)?,
        );
        runtime.set_router(router.clone());
        let membership = Arc::new(Membership {
            store,
            host: config.host_id.clone(),
            address: config.address.clone(),
            host_timeout: config.host_timeout,
            fence,
            router,
            declared_dead: std::sync::atomic::AtomicBool::new(false),
        });
        membership.register().await?;
        let first = membership.tick(runtime).await?;
        tracing::info!(host = %config.host_id, address = %config.address, partitions = first.gained.len(), "joined the cluster");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(run(
            membership.clone(),
            runtime.clone(),
            config.heartbeat,
            stopped,
        ));
        Ok(Cluster {
            membership,
            runtime: runtime.clone(),
            stop,
        })
    }

    /// The first step of a clean shutdown, while this host still listens: hand its
    /// partitions over to the hosts that stay (at most `within`); requests that reach
    /// this host meanwhile are served or forwarded to the new owners. Whether every
    /// partition was handed over (not, when no other host stays).
    pub async fn hand_over(&self, within: Duration) -> bool {
        match self.membership.hand_over(within).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "handing partitions over failed; leaving without");
                false
            }
        }
    }

    /// Leave at a clean shutdown: this host's partitions are freed at once.
    pub async fn leave(&self) -> Result<(), StoreError> {
        let _ = self.stop.send(true);
        self.membership.leave(&self.runtime).await
    }
}

/// Every heartbeat: a heartbeat, one membership round, and a follow of the tenants and
/// components other hosts changed.
async fn run(
    membership: Arc<Membership>,
    runtime: Runtime,
    every: Duration,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    // Three loops: the heartbeat (which keeps the lease) must never wait for a round
    // that claims partitions, nor for a follow that compiles a component another host
    // deployed.
    let heartbeats = each(every, stopped.clone(), || async {
        if let Err(e) = membership.beat().await {
            tracing::warn!(error = %e, "heartbeat failed; retrying");
        }
    });
    let rounds = each(every, stopped.clone(), || async {
        match membership.tick(&runtime).await {
            Ok(outcome) => {
                if outcome.rejoined {
                    tracing::warn!(
                        "this host had been declared dead; it dropped its actors and rejoined"
                    );
                }
                if !outcome.gained.is_empty() || !outcome.released.is_empty() {
                    tracing::info!(gained = ?outcome.gained, released = ?outcome.released, "partitions moved");
                }
            }
            Err(e) => tracing::error!(error = %e, "cluster round failed; retrying"),
        }
    });
    let follows = each(every, stopped, || async {
        if let Err(e) = runtime.follow_store().await {
            tracing::error!(error = %e, "reading shared tenants and components failed; retrying");
        }
    });
    tokio::join!(heartbeats, rounds, follows);
}

/// Run `round` every `every` (a late round delays the next) until `stopped` turns true.
async fn each<F, Fut>(
    every: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        round().await;
    }
}
