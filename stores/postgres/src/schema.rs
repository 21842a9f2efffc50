//! The store's schema: the migrations a database has not seen run at connect, under a
//! lock, and the numbering of reminders stored before partitions existed.

use warren_store::StoreError;
use warren_store::fencing::partition_of;
use warren_wire::types::ActorId;

use crate::sql::actor_params;
use crate::{PostgresStore, io};

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

/// Serializes schema migrations of hosts starting at once (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x5741_5252_454e; // "WARREN"

impl PostgresStore {
    /// Give reminders written before partitions existed (schema 1) their partition. Run
    /// at every start (one indexed query when none is left), so a crash between the
    /// migration and this step leaves no reminder unnumbered.
    pub(crate) async fn number_reminders(&self) -> Result<(), StoreError> {
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

    /// Run the migrations this database has not seen, under a lock, in one transaction.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
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
