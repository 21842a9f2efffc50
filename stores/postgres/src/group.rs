//! Group commit on PostgreSQL: the commits that arrive while earlier ones are being
//! written go to the database together in one transaction, as set-based statements
//! (`batch.rs`), so a batch costs a few statements and one WAL flush instead of several
//! of each per turn. A commit refused (a moved version, a fence) writes nothing and the
//! others stand; if the transaction itself fails, every commit of the batch fails and
//! none is acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::actors::add_usage;
use crate::batch::{Pending, write_round};
use crate::{describe, io};
use warren_store::StoreError;
use warren_wire::types::ActorId;

/// Batches written at once, each on its own connection.
const WRITERS: usize = 4;
/// Commits in one batch at most.
const MAX_BATCH: usize = 256;

type Queued = (Pending, oneshot::Sender<Result<u64, StoreError>>);

/// The queue of commits and the task that batches them.
pub(crate) struct GroupCommit {
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

/// One transaction for the whole batch, written in rounds that hold each actor once (an
/// actor's second commit in a batch goes in the next round, after its first); the results
/// once the transaction commits.
async fn write_all(
    pool: &Pool,
    pending: &[Pending],
) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
    warren_store::faults::stall("postgres-commit-queued").await;
    let mut client = pool.get().await.map_err(io)?;
    let tx = client.transaction().await.map_err(io)?;
    let mut results: Vec<Option<Result<u64, StoreError>>> = vec![None; pending.len()];
    let mut usage = BTreeMap::<&str, i64>::new();
    for round in rounds(pending) {
        let commits: Vec<&Pending> = round.iter().map(|&n| &pending[n]).collect();
        for (n, written) in round.into_iter().zip(write_round(&tx, &commits).await?) {
            results[n] = Some(written.map(|(version, delta)| {
                *usage.entry(&pending[n].actor.tenant).or_default() += delta;
                version
            }));
        }
    }
    for (tenant, delta) in usage {
        add_usage(&tx, tenant, delta).await?;
    }
    // A COMMIT whose answer never came may have landed or not: say so, so the caller
    // knows not to take the turn for undone.
    tx.commit().await.map_err(|e| {
        StoreError::Io(format!(
            "the commit's outcome is unknown (the database did not confirm it): {}",
            describe(e)
        ))
    })?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(StoreError::Closed)))
        .collect())
}

/// The positions of `pending` in rounds: the n-th commit of each actor goes in round n.
fn rounds(pending: &[Pending]) -> Vec<Vec<usize>> {
    let mut seen = HashMap::<&ActorId, usize>::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (n, p) in pending.iter().enumerate() {
        let count = seen.entry(&p.actor).or_default();
        if rounds.len() <= *count {
            rounds.push(Vec::new());
        }
        rounds[*count].push(n);
        *count += 1;
    }
    rounds
}
