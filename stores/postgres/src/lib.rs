//! [`StateStore`] on PostgreSQL, the store of cluster mode: every host reads and writes one
//! database. An actor's state is one row per key under one row per actor holding its
//! version, so a commit is one transaction that moves the version only if it is still the
//! one the turn read, and an operator can query state with plain SQL (the
//! `warren_actor_state` view). Warren creates and migrates its own schema.
// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

mod batch;
mod group;

use warren_store::fencing::{Fence, is_fenced, partition_of};
use warren_store::record::ActorRecord;
use warren_store::{
    ActorStore, ComponentRecord, ComponentStore, ComponentVersion, ReminderChange, ReminderCursor,
    ReminderStore, StateChange, StateStore, StoreError, StoreFuture, StoredReminder, TenantStore,
};
use warren_wire::types::ActorId;

/// Connections a host keeps open at most.
const POOL_SIZE: usize = 16;

/// Each schema version's statements, in order; `warren_schema` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE warren_actors (
    tenant text NOT NULL,
    actor_type text NOT NULL,
    actor_id text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (tenant, actor_type, actor_id)
);
CREATE TABLE warren_state (
    tenant text NOT NULL,
    actor_type text NOT NULL,
    actor_id text NOT NULL,
    key text NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tenant, actor_type, actor_id, key)
);
CREATE TABLE warren_tenant_usage (
    tenant text PRIMARY KEY,
    bytes bigint NOT NULL
);
CREATE TABLE warren_reminders (
    tenant text NOT NULL,
    actor_type text NOT NULL,
    actor_id text NOT NULL,
    name text NOT NULL,
    due_ms bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (tenant, actor_type, actor_id, name)
);
CREATE INDEX warren_reminders_due
    ON warren_reminders (due_ms, tenant, actor_type, actor_id, name);
CREATE TABLE warren_tenants (
    name text PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE warren_components (
    tenant text NOT NULL,
    name text NOT NULL,
    sha256 text NOT NULL,
    deployed_at bigint NOT NULL,
    wasm bytea NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE VIEW warren_actor_state AS
    SELECT s.tenant, s.actor_type, s.actor_id, s.key, s.value, a.version
    FROM warren_state s
    JOIN warren_actors a USING (tenant, actor_type, actor_id);
"#,
    r#"
ALTER TABLE warren_reminders ADD COLUMN partition integer;
CREATE INDEX warren_reminders_partition_due
    ON warren_reminders (partition, due_ms, tenant, actor_type, actor_id, name);
CREATE TABLE warren_hosts (
    id text PRIMARY KEY,
    address text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    alive boolean NOT NULL DEFAULT true,
    version bigint NOT NULL DEFAULT 1
);
CREATE TABLE warren_partitions (
    partition integer PRIMARY KEY,
    owner text,
    epoch bigint NOT NULL DEFAULT 0
);
"#,
    r#"
ALTER TABLE warren_components ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE warren_components ADD COLUMN canary text;
CREATE TABLE warren_component_versions (
    tenant text NOT NULL,
    name text NOT NULL,
    version bigint NOT NULL,
    label text NOT NULL,
    sha256 text NOT NULL,
    deployed_at bigint NOT NULL,
    deployed_by text NOT NULL,
    manifest text NOT NULL,
    wasm bytea NOT NULL,
    PRIMARY KEY (tenant, name, version)
);
-- The host's own keys (the code version state was written by) start with U+0001: the
-- view shows the actors' state only.
CREATE OR REPLACE VIEW warren_actor_state AS
    SELECT s.tenant, s.actor_type, s.actor_id, s.key, s.value, a.version
    FROM warren_state s
    JOIN warren_actors a USING (tenant, actor_type, actor_id)
    WHERE left(s.key, 1) <> chr(1);
"#,
    r#"
-- A host on its way out: still alive and serving, but given no partitions.
ALTER TABLE warren_hosts ADD COLUMN leaving boolean NOT NULL DEFAULT false;
"#,
];

/// The class of the advisory locks that order commits against partition moves (the
/// partition number is the lock's second key): commits take them shared, a host taking a
/// partition over takes its lock exclusively.
pub const PARTITION_LOCKS: i32 = 0x5752; // "WR"

/// Serializes schema migrations of hosts starting at once (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x5741_5252_454e; // "WARREN"

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
}

impl PostgresStore {
    /// Connect to the database at `url` (`postgres://user@host:port/db`) and bring its
    /// schema to the current version.
    pub async fn connect(url: &str) -> Result<Arc<Self>, StoreError> {
        Self::connect_config(url.parse().map_err(io)?).await
    }

    /// Connect with a parsed configuration; see [`PostgresStore::connect`].
    pub async fn connect_config(
        mut config: tokio_postgres::Config,
    ) -> Result<Arc<Self>, StoreError> {
        if config.get_connect_timeout().is_none() {
            // A database that does not answer is an error at start, not a hang.
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let config = with_session_settings(config);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(io)?;
        let store = PostgresStore {
            group: group::GroupCommit::start(pool.clone()),
            pool,
            config,
            fence: std::sync::OnceLock::new(),
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
        let (client, connection) = self.config.connect(NoTls).await.map_err(io)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a dedicated PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// From now on, write actors only in the partitions `fence` holds, and read due
    /// reminders of those partitions only (cluster mode). Set once.
    pub fn set_fence(&self, fence: Arc<Fence>) -> Result<(), StoreError> {
        self.fence
            .set(fence)
            .map_err(|_| StoreError::Io("the store is fenced already".into()))
    }

    /// Give reminders written before partitions existed (schema 1) their partition. Run
    /// at every start (one indexed query when none is left), so a crash between the
    /// migration and this step leaves no reminder unnumbered.
    async fn number_reminders(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant, actor_type, actor_id FROM warren_reminders
                 WHERE partition IS NULL GROUP BY tenant, actor_type, actor_id",
                &[],
            )
            .await
            .map_err(io)?;
        for row in &rows {
            let actor = ActorId::new(row.get(0), row.get(1), row.get(2));
            let partition = partition_of(&actor) as i32;
            let key = actor_params(&actor);
            let [t, a, i] = &key;
            client
                .execute(
                    "UPDATE warren_reminders SET partition = $4
                     WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3",
                    &[t, a, i, &partition],
                )
                .await
                .map_err(io)?;
        }
        if !rows.is_empty() {
            tracing::info!(
                actors = rows.len(),
                "numbered the partitions of stored reminders"
            );
        }
        Ok(())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(io)
    }

    /// Run the migrations this database has not seen, under a lock, in one transaction.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(io)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(io)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS warren_schema (version integer NOT NULL)")
            .await
            .map_err(io)?;
        let row = tx
            .query_opt("SELECT version FROM warren_schema", &[])
            .await
            .map_err(io)?;
        let done = match row {
            Some(row) => row.get::<_, i32>(0) as usize,
            None => {
                tx.execute("INSERT INTO warren_schema VALUES (0)", &[])
                    .await
                    .map_err(io)?;
                0
            }
        };
        if done > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "the database has schema version {done}, newer than this Warren knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, statements) in MIGRATIONS.iter().enumerate().skip(done) {
            tx.batch_execute(statements).await.map_err(io)?;
            tracing::info!(version = i + 1, "migrated the PostgreSQL schema");
        }
        let version = MIGRATIONS.len() as i32;
        tx.execute("UPDATE warren_schema SET version = $1", &[&version])
            .await
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }
}

/// An actor's key columns: tenant, actor type, actor id.
fn actor_params(actor: &ActorId) -> [&str; 3] {
    [&actor.tenant, &actor.actor_type, &actor.id]
}

fn reminder_of(row: &tokio_postgres::Row) -> StoredReminder {
    StoredReminder {
        actor: ActorId::new(
            row.get::<_, &str>(0),
            row.get::<_, &str>(1),
            row.get::<_, &str>(2),
        ),
        name: row.get(3),
        due_ms: row.get(4),
        record: row.get(5),
    }
}

const REMINDER_COLUMNS: &str = "tenant, actor_type, actor_id, name, due_ms, record";

/// Store (or replace) a reminder with its actor's partition.
const PUT_REMINDER: &str = "INSERT INTO warren_reminders
        (tenant, actor_type, actor_id, name, due_ms, record, partition)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (tenant, actor_type, actor_id, name)
    DO UPDATE SET due_ms = EXCLUDED.due_ms, record = EXCLUDED.record";

/// Apply one reminder change of `actor` inside a commit's transaction; the rows it wrote.
async fn apply_reminder(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: &ActorId,
    change: &ReminderChange,
) -> Result<u64, StoreError> {
    let key = actor_params(actor);
    let [t, a, i] = &key;
    match change {
        ReminderChange::Put {
            name,
            due_ms,
            record,
        } => {
            let partition = partition_of(actor) as i32;
            exec(
                tx,
                PUT_REMINDER,
                &[t, a, i, name, due_ms, record, &partition],
            )
            .await
        }
        ReminderChange::Delete { name } => {
            exec(
                tx,
                "DELETE FROM warren_reminders
                 WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4",
                &[t, a, i, name],
            )
            .await
        }
        ReminderChange::Advance {
            name,
            fired_due_ms,
            next: Some((due_ms, record)),
        } => {
            exec(
                tx,
                "UPDATE warren_reminders SET due_ms = $6, record = $7
                 WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4
                   AND due_ms = $5",
                &[t, a, i, name, fired_due_ms, due_ms, record],
            )
            .await
        }
        ReminderChange::Advance {
            name,
            fired_due_ms,
            next: None,
        } => {
            exec(
                tx,
                "DELETE FROM warren_reminders
                 WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4
                   AND due_ms = $5",
                &[t, a, i, name, fired_due_ms],
            )
            .await
        }
    }
}

/// Run `sql` as a cached prepared statement (one round trip instead of two).
async fn exec(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(io)?;
    tx.execute(&statement, params).await.map_err(io)
}

async fn query(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(io)?;
    tx.query(&statement, params).await.map_err(io)
}

/// Add `delta` bytes to `tenant`'s usage counter. A batch adds its tenants' deltas last,
/// in name order, so concurrent batches lock the counters in one order (no deadlock).
pub(crate) async fn add_usage(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    delta: i64,
) -> Result<(), StoreError> {
    if delta != 0 {
        exec(
            tx,
            "INSERT INTO warren_tenant_usage VALUES ($1, $2)
             ON CONFLICT (tenant) DO UPDATE SET bytes = warren_tenant_usage.bytes + $2",
            &[&tenant, &delta],
        )
        .await?;
    }
    Ok(())
}

impl PostgresStore {
    /// The fence check of a commit of `actor`, if this store is fenced; refused at once
    /// when this host does not hold the partition.
    fn fence_check(&self, actor: &ActorId) -> Result<Option<(Arc<Fence>, u32, i64)>, StoreError> {
        self.fence_check_at(actor, None)
    }

    /// [`PostgresStore::fence_check`] at the epoch `bound` (an activation's), when given:
    /// refused at once unless the partition is still this host's at exactly that epoch.
    fn fence_check_at(
        &self,
        actor: &ActorId,
        bound: Option<i64>,
    ) -> Result<Option<(Arc<Fence>, u32, i64)>, StoreError> {
        let Some(fence) = self.fence.get().filter(|_| is_fenced(actor)) else {
            return Ok(None);
        };
        let partition = partition_of(actor);
        // An activation's commit is checked in the database at its epoch, under the
        // partition's lock: it lands only if nobody took the partition since, so a lease
        // that lapsed for a moment (a late heartbeat) need not refuse it. Other writes
        // have no epoch of their own and take the one the lease holds.
        let epoch = match bound {
            Some(bound) => fence.assigned(partition).filter(|held| *held == bound),
            None => fence.epoch(partition),
        }
        .ok_or(StoreError::Fenced { partition })?;
        Ok(Some((fence.clone(), partition, epoch)))
    }

    /// Write a reminder change of `actor` outside a turn, fenced like a commit: only while
    /// this host holds the actor's partition (a host that lost it must not overwrite the
    /// owner's progress, revive a deleted reminder or delete a live one).
    async fn write_reminder(
        &self,
        actor: &ActorId,
        change: ReminderChange,
    ) -> Result<u64, StoreError> {
        let fence = self.fence_check(actor)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(io)?;
        if let Some((fence, partition, epoch)) = &fence {
            batch::check_fence(&tx, *partition, fence.host(), *epoch).await?;
        }
        let written = apply_reminder(&tx, actor, &change).await?;
        tx.commit().await.map_err(io)?;
        Ok(written)
    }
}

impl ActorStore for PostgresStore {
    fn load(&self, actor: &ActorId) -> StoreFuture<'_, ActorRecord> {
        let actor = actor.clone();
        Box::pin(async move {
            let client = self.client().await?;
            let key = actor_params(&actor);
            let [t, a, i] = &key;
            let params: [&(dyn ToSql + Sync); 3] = [t, a, i];
            let version = client
                .query_opt(
                    "SELECT version FROM warren_actors
                     WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3",
                    &params,
                )
                .await
                .map_err(io)?
                .map_or(0, |row| row.get::<_, i64>(0) as u64);
            let rows = client
                .query(
                    "SELECT key, value FROM warren_state
                     WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3",
                    &params,
                )
                .await
                .map_err(io)?;
            let mut record = ActorRecord::default();
            record.apply(
                rows.iter()
                    .map(|row| (row.get::<_, String>(0), Some(row.get::<_, Vec<u8>>(1))))
                    .collect(),
            );
            record.version = version;
            Ok(record)
        })
    }

    fn commit_turn(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> StoreFuture<'_, u64> {
        self.commit_turn_at(actor, expected_version, changes, reminders, None)
    }

    fn commit_turn_at(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
        epoch: Option<i64>,
    ) -> StoreFuture<'_, u64> {
        let actor = actor.clone();
        Box::pin(async move {
            let fence = self.fence_check_at(&actor, epoch)?;
            self.group
                .commit(batch::Pending {
                    actor,
                    expected: expected_version,
                    changes,
                    reminders,
                    fence,
                })
                .await
        })
    }

    fn tenant_state_size(&self, tenant: &str) -> StoreFuture<'_, u64> {
        let tenant = tenant.to_string();
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT bytes FROM warren_tenant_usage WHERE tenant = $1",
                    &[&tenant],
                )
                .await
                .map_err(io)?;
            Ok(row.map_or(0, |row| row.get::<_, i64>(0).max(0) as u64))
        })
    }
}

impl ReminderStore for PostgresStore {
    fn put_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> StoreFuture<'_, ()> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let change = ReminderChange::Put {
                name,
                due_ms,
                record,
            };
            self.write_reminder(&actor, change).await.map(drop)
        })
    }

    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, bool> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let change = ReminderChange::Delete { name };
            Ok(self.write_reminder(&actor, change).await? > 0)
        })
    }

    fn advance_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        fired_due_ms: i64,
        next: Option<(i64, Vec<u8>)>,
    ) -> StoreFuture<'_, bool> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let change = ReminderChange::Advance {
                name,
                fired_due_ms,
                next,
            };
            Ok(self.write_reminder(&actor, change).await? > 0)
        })
    }

    fn reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, Option<StoredReminder>> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let key = actor_params(&actor);
            let [t, a, i] = &key;
            let row = self
                .client()
                .await?
                .query_opt(
                    &format!(
                        "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                         WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4"
                    ),
                    &[t, a, i, &name],
                )
                .await
                .map_err(io)?;
            Ok(row.as_ref().map(reminder_of))
        })
    }

    fn actor_reminders(
        &self,
        tenant: &str,
        actor_type: &str,
        id: Option<&str>,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        let (tenant, actor_type) = (tenant.to_string(), actor_type.to_string());
        let id = id.map(str::to_string);
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    &format!(
                        "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                         WHERE tenant = $1 AND actor_type = $2
                           AND ($3::text IS NULL OR actor_id = $3)
                         ORDER BY actor_id, name"
                    ),
                    &[&tenant, &actor_type, &id],
                )
                .await
                .map_err(io)?;
            Ok(rows.iter().map(reminder_of).collect())
        })
    }

    fn reminders_due(
        &self,
        after: Option<ReminderCursor>,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        Box::pin(async move {
            let limit = limit.min(i64::MAX as usize) as i64;
            // Cluster mode: only the partitions this host holds fire here.
            let held: Option<Vec<i32>> = self.fence.get().map(|f| f.held());
            if held.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
            let client = self.client().await?;
            // Row comparison follows the index's order: due time, then the reminder's key.
            let rows = match &after {
                Some((due_ms, actor, name)) => {
                    client
                        .query(
                            &format!(
                                "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                                 WHERE (due_ms, tenant, actor_type, actor_id, name)
                                       > ($1, $2, $3, $4, $5)
                                   AND due_ms <= $6
                                   AND ($8::integer[] IS NULL OR partition = ANY($8))
                                 ORDER BY due_ms, tenant, actor_type, actor_id, name
                                 LIMIT $7"
                            ),
                            &[
                                due_ms,
                                &&*actor.tenant,
                                &&*actor.actor_type,
                                &&*actor.id,
                                name,
                                &until_ms,
                                &limit,
                                &held,
                            ],
                        )
                        .await
                }
                None => {
                    client
                        .query(
                            &format!(
                                "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                                 WHERE due_ms <= $1
                                   AND ($3::integer[] IS NULL OR partition = ANY($3))
                                 ORDER BY due_ms, tenant, actor_type, actor_id, name
                                 LIMIT $2"
                            ),
                            &[&until_ms, &limit, &held],
                        )
                        .await
                }
            }
            .map_err(io)?;
            Ok(rows.iter().map(reminder_of).collect())
        })
    }
}

impl TenantStore for PostgresStore {
    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            self.client()
                .await?
                .execute(
                    "INSERT INTO warren_tenants VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record",
                    &[&name, &record],
                )
                .await
                .map_err(io)?;
            Ok(())
        })
    }

    fn tenants(&self) -> StoreFuture<'_, Vec<Vec<u8>>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query("SELECT record FROM warren_tenants ORDER BY name", &[])
                .await
                .map_err(io)?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(io)?;
            for table in [
                "warren_state",
                "warren_actors",
                "warren_reminders",
                "warren_tenant_usage",
                "warren_components",
                "warren_component_versions",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE tenant = $1"), &[&name])
                    .await
                    .map_err(io)?;
            }
            tx.execute("DELETE FROM warren_tenants WHERE name = $1", &[&name])
                .await
                .map_err(io)?;
            tx.commit().await.map_err(io)
        })
    }
}

impl ComponentStore for PostgresStore {
    fn put_component(&self, record: &ComponentRecord, wasm: Option<&[u8]>) -> StoreFuture<'_, ()> {
        let (record, wasm) = (record.clone(), wasm.map(<[u8]>::to_vec));
        Box::pin(async move {
            let deployed_at = record.deployed_at as i64;
            let number = record.number as i64;
            let canary = match &record.canary {
                Some(c) => {
                    Some(serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                }
                None => None,
            };
            let client = self.client().await?;
            let updated = match &wasm {
                Some(wasm) => {
                    client
                        .execute(
                            "INSERT INTO warren_components
                             (tenant, name, sha256, deployed_at, wasm, version, canary)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (tenant, name) DO UPDATE SET sha256 = EXCLUDED.sha256,
                             deployed_at = EXCLUDED.deployed_at, wasm = EXCLUDED.wasm,
                             version = EXCLUDED.version, canary = EXCLUDED.canary",
                            &[
                                &record.tenant,
                                &record.name,
                                &record.sha256,
                                &deployed_at,
                                wasm,
                                &number,
                                &canary,
                            ],
                        )
                        .await
                }
                None => {
                    client
                        .execute(
                            "UPDATE warren_components SET sha256 = $3, deployed_at = $4,
                             version = $5, canary = $6
                         WHERE tenant = $1 AND name = $2",
                            &[
                                &record.tenant,
                                &record.name,
                                &record.sha256,
                                &deployed_at,
                                &number,
                                &canary,
                            ],
                        )
                        .await
                }
            };
            updated.map_err(io)?;
            Ok(())
        })
    }

    fn components(&self) -> StoreFuture<'_, Vec<ComponentRecord>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT tenant, name, sha256, deployed_at, version, canary
                     FROM warren_components ORDER BY tenant, name",
                    &[],
                )
                .await
                .map_err(io)?;
            rows.iter()
                .map(|row| {
                    let canary = row
                        .get::<_, Option<String>>(5)
                        .map(|c| serde_json::from_str(&c))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok(ComponentRecord {
                        tenant: row.get(0),
                        name: row.get(1),
                        sha256: row.get(2),
                        deployed_at: row.get::<_, i64>(3).max(0) as u64,
                        number: row.get::<_, i64>(4).max(0) as u64,
                        canary,
                    })
                })
                .collect()
        })
    }

    fn component_wasm(&self, tenant: &str, name: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT wasm FROM warren_components WHERE tenant = $1 AND name = $2",
                    &[&tenant, &name],
                )
                .await
                .map_err(io)?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(io)?;
            let removed = tx
                .execute(
                    "DELETE FROM warren_components WHERE tenant = $1 AND name = $2",
                    &[&tenant, &name],
                )
                .await
                .map_err(io)?;
            tx.execute(
                "DELETE FROM warren_component_versions WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await
            .map_err(io)?;
            tx.commit().await.map_err(io)?;
            Ok(removed > 0)
        })
    }

    fn put_component_version(
        &self,
        version: &ComponentVersion,
        wasm: &[u8],
    ) -> StoreFuture<'_, ()> {
        let (v, wasm) = (version.clone(), wasm.to_vec());
        Box::pin(async move {
            let (number, deployed_at) = (v.number as i64, v.deployed_at as i64);
            self.client()
                .await?
                .execute(
                    "INSERT INTO warren_component_versions
                         (tenant, name, version, label, sha256, deployed_at, deployed_by,
                          manifest, wasm)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (tenant, name, version) DO UPDATE SET label = EXCLUDED.label,
                         sha256 = EXCLUDED.sha256, deployed_at = EXCLUDED.deployed_at,
                         deployed_by = EXCLUDED.deployed_by, manifest = EXCLUDED.manifest,
                         wasm = EXCLUDED.wasm",
                    &[
                        &v.tenant,
                        &v.name,
                        &number,
                        &v.version,
                        &v.sha256,
                        &deployed_at,
                        &v.deployed_by,
                        &v.manifest,
                        &wasm,
                    ],
                )
                .await
                .map_err(io)?;
            Ok(())
        })
    }

    fn component_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> StoreFuture<'_, Vec<ComponentVersion>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT tenant, name, version, label, sha256, deployed_at, deployed_by,
                         manifest
                     FROM warren_component_versions WHERE tenant = $1 AND name = $2
                     ORDER BY version",
                    &[&tenant, &name],
                )
                .await
                .map_err(io)?;
            Ok(rows
                .iter()
                .map(|row| ComponentVersion {
                    tenant: row.get(0),
                    name: row.get(1),
                    number: row.get::<_, i64>(2).max(0) as u64,
                    version: row.get(3),
                    sha256: row.get(4),
                    deployed_at: row.get::<_, i64>(5).max(0) as u64,
                    deployed_by: row.get(6),
                    manifest: row.get(7),
                })
                .collect())
        })
    }

    fn component_version_wasm(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, Option<Vec<u8>>> {
        let (tenant, name, version) = (tenant.to_string(), name.to_string(), number as i64);
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT wasm FROM warren_component_versions
                     WHERE tenant = $1 AND name = $2 AND version = $3",
                    &[&tenant, &name, &version],
                )
                .await
                .map_err(io)?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn remove_component_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, bool> {
        let (tenant, name, version) = (tenant.to_string(), name.to_string(), number as i64);
        Box::pin(async move {
            let removed = self
                .client()
                .await?
                .execute(
                    "DELETE FROM warren_component_versions
                     WHERE tenant = $1 AND name = $2 AND version = $3",
                    &[&tenant, &name, &version],
                )
                .await
                .map_err(io)?;
            Ok(removed > 0)
        })
    }
}

impl StateStore for PostgresStore {
    fn flush(&self) -> StoreFuture<'_, ()> {
        // Every write is a committed transaction already.
        Box::pin(async { Ok(()) })
    }
}
