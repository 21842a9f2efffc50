//! [`StateStore`] on PostgreSQL, the store of cluster mode: every host reads and writes one
//! database. An actor's state is one row per key under one row per actor holding its
//! version, so a commit is one transaction that moves the version only if it is still the
//! one the turn read, and an operator can query state with plain SQL (the
//! `warren_actor_state` view). Warren creates and migrates its own schema (`schema.rs`).
//!
//! Each concern of the port has a module: `actors.rs` (state and commits, written in
//! groups by `group.rs` and `batch.rs`), `reminders.rs`, `components.rs`, `tenants.rs`;
//! `fencing.rs` holds cluster mode's fence and `membership.rs` its table of hosts and
//! partitions.
// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

mod actors;
mod batch;
mod components;
mod fencing;
mod group;
mod membership;
mod reminders;
mod schema;
mod sql;
mod tenants;
pub mod tls;

pub use membership::PostgresMembership;

use warren_store::fencing::Fence;
use warren_store::{StateStore, StoreError, StoreFuture};

/// Connections a host keeps open at most.
const POOL_SIZE: usize = 16;

/// The class of the advisory locks that order commits against partition moves (the
/// partition number is the lock's second key): commits take them shared, a host taking a
/// partition over takes its lock exclusively.
pub const PARTITION_LOCKS: i32 = 0x5752; // "WR"

/// A PostgreSQL error as the store reports it.
pub fn io(e: impl std::error::Error) -> StoreError {
    StoreError::Io(describe(e))
}

/// A PostgreSQL error as one line, with the server's own reason.
pub(crate) fn describe(e: impl std::error::Error) -> String {
    // The pool's and the driver's messages are generic ("db error"); the server's own
    // reason (a wrong password, a missing database) is further down the chain.
    let mut message = format!("PostgreSQL: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Server settings of every session: no session of a paused, stopped or cut-off host can
/// hold a lock much longer than a lease lasts. A transaction left idle is ended by the
/// server (a host paused mid-commit), a statement or a lock wait has a bound, and TCP
/// keepalives and the user timeout find a peer the network cut off in seconds, not hours.
const SESSION_SETTINGS: &str = "-c idle_in_transaction_session_timeout=2000 \
     -c lock_timeout=5000 -c statement_timeout=30000 -c tcp_keepalives_idle=5 \
     -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 -c tcp_user_timeout=10000";

/// Add [`SESSION_SETTINGS`] and client-side keepalives to `config`, keeping the options the
/// URL gave (a setting given there twice takes the URL's value: it comes last).
fn with_session_settings(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    let options = match config.get_options() {
        Some(given) => format!("{SESSION_SETTINGS} {given}"),
        None => SESSION_SETTINGS.to_string(),
    };
    config.options(&options);
    config.keepalives(true);
    config.keepalives_idle(std::time::Duration::from_secs(5));
    config.keepalives_interval(std::time::Duration::from_secs(2));
    config.keepalives_retries(3);
    config
}

/// [`StateStore`] on PostgreSQL.
pub struct PostgresStore {
    pool: Pool,
    /// How the pool connects, for connections of their own (the heartbeat's).
    config: tokio_postgres::Config,
    /// Commits go through here, many to one transaction (`postgres/group.rs`).
    group: group::GroupCommit,
    /// Cluster mode: the partitions this host may write.
    fence: std::sync::OnceLock<Arc<Fence>>,
    /// Plaintext or TLS, for the connections made outside the pool.
    transport: tls::Transport,
}

impl PostgresStore {
    /// Connect to the database at `url` (`postgres://user@host:port/db`) and bring its
    /// schema to the current version.
    /// The URL may ask for TLS as libpq's do (`sslmode`, `sslrootcert`; see `tls.rs`).
    pub async fn connect(url: &str) -> Result<Arc<Self>, StoreError> {
        let (config, transport) = tls::parse_url(url)?;
        Self::connect_with(config, transport).await
    }

    /// Connect in plaintext with a parsed configuration; see [`PostgresStore::connect`].
    pub async fn connect_config(config: tokio_postgres::Config) -> Result<Arc<Self>, StoreError> {
        Self::connect_with(config, tls::Transport::Plain).await
    }

    /// Connect with a parsed configuration over `transport`.
    pub async fn connect_with(
        mut config: tokio_postgres::Config,
        transport: tls::Transport,
    ) -> Result<Arc<Self>, StoreError> {
        if config.get_connect_timeout().is_none() {
            // A database that does not answer is an error at start, not a hang.
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let config = with_session_settings(config);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &transport {
            tls::Transport::Plain => Manager::from_config(config.clone(), NoTls, manager_config),
            tls::Transport::Tls(tls) => {
                Manager::from_config(config.clone(), tls.clone(), manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(io)?;
        let store = PostgresStore {
            group: group::GroupCommit::start(pool.clone()),
            pool,
            config,
            fence: std::sync::OnceLock::new(),
            transport,
        };
        store.migrate().await?;
        store.number_reminders().await?;
        Ok(Arc::new(store))
    }

    /// The connection pool, for cluster membership (which shares the database).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A connection of its own, outside the pool, with the pool's settings (the
    /// heartbeat's: never queued behind commits or claims).
    pub async fn dedicated_client(&self) -> Result<tokio_postgres::Client, StoreError> {
        let client = match &self.transport {
            tls::Transport::Plain => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(io)?;
                tokio::spawn(watch_dedicated(connection));
                client
            }
            tls::Transport::Tls(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await.map_err(io)?;
                tokio::spawn(watch_dedicated(connection));
                client
            }
        };
        Ok(client)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(io)
    }
}

/// Drive a dedicated connection until it ends.
async fn watch_dedicated<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "a dedicated PostgreSQL connection ended");
    }
}

impl StateStore for PostgresStore {
    fn flush(&self) -> StoreFuture<'_, ()> {
        // Every write is a committed transaction already.
        Box::pin(async { Ok(()) })
    }
}
