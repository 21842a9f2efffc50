//! Group commit on PostgreSQL: the commits that arrive while earlier ones are being
//! written go to the database together, each in a savepoint of one transaction, so a
//! batch costs one WAL flush instead of one per turn. A commit refused inside its
//! savepoint (a moved version, a fence) is rolled back alone; if the transaction itself
//! fails, every commit of the batch fails and none is acknowledged.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{add_usage, io, write_turn};
use crate::store::{Fence, ReminderChange, StateChange, StoreError};
use crate::types::ActorId;

/// Batches written at once, each on its own connection.
const WRITERS: usize = 4;
/// Commits in one batch at most.
const MAX_BATCH: usize = 256;

/// One commit waiting for its batch.
pub(super) struct Pending {
    pub actor: ActorId,
    pub expected: u64,
    pub changes: Vec<StateChange>,
    pub reminders: Vec<ReminderChange>,
    /// The fence to check: this host's fence, the partition, the epoch it holds.
    pub fence: Option<(Arc<Fence>, u32, i64)>,
}

type Queued = (Pending, oneshot::Sender<Result<u64, StoreError>>);

/// The queue of commits and the task that batches them.
pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<Queued>,
}

impl GroupCommit {
    pub fn start(pool: Pool) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(batches(pool, waiting));
        GroupCommit { queue }
    }

    /// Write one commit with whatever batch it joins; its new version once durable.
    pub async fn commit(&self, pending: Pending) -> Result<u64, StoreError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send((pending, reply))
            .map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
    }
}

/// Take a writer slot, then everything queued by then as one batch.
async fn batches(pool: Pool, mut waiting: mpsc::UnboundedReceiver<Queued>) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    loop {
        let Ok(slot) = writers.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = waiting.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write_batch(&pool, batch).await;
            drop(slot);
        });
    }
}

async fn write_batch(pool: &Pool, batch: Vec<Queued>) {
    let (pending, replies): (Vec<Pending>, Vec<_>) = batch.into_iter().unzip();
    let results = match write_all(pool, &pending).await {
        Ok(results) => results,
        Err(e) => pending.iter().map(|_| Err(e.clone())).collect(),
    };
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result);
    }
}

/// One transaction, a savepoint per commit; the results once the transaction commits.
async fn write_all(
    pool: &Pool,
    pending: &[Pending],
) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
    let mut client = pool.get().await.map_err(io)?;
    let mut tx = client.transaction().await.map_err(io)?;
    let mut results = Vec::with_capacity(pending.len());
    let mut usage = std::collections::BTreeMap::<&str, i64>::new();
    for p in pending {
        let fence = p
            .fence
            .as_ref()
            .map(|(f, partition, epoch)| (f.host(), *partition, *epoch));
        let savepoint = tx.savepoint("turn").await.map_err(io)?;
        match write_turn(
            &savepoint,
            fence,
            &p.actor,
            p.expected,
            &p.changes,
            &p.reminders,
        )
        .await
        {
            Ok((version, delta)) => {
                savepoint.commit().await.map_err(io)?;
                *usage.entry(&p.actor.tenant).or_default() += delta;
                results.push(Ok(version));
            }
            Err(e @ (StoreError::Conflict { .. } | StoreError::Fenced { .. })) => {
                savepoint.rollback().await.map_err(io)?;
                results.push(Err(e));
            }
            // An I/O error leaves the transaction unusable: the batch fails.
            Err(e) => return Err(e),
        }
    }
    for (tenant, delta) in usage {
        add_usage(&tx, tenant, delta).await?;
    }
    tx.commit().await.map_err(io)?;
    Ok(results)
}
