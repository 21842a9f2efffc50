//! The writer task of a `sync` store: it applies the commits waiting, then makes them
//! durable together with one flush.

use std::sync::Arc;

use sled::Db;
use tokio::sync::{mpsc, oneshot};

use crate::writes::ActorWrites;
use warren_store::faults;
use warren_store::{ReminderChange, StateChange, StoreError};
use warren_wire::types::ActorId;

/// What the writer task of a `sync` store is asked to do before its next flush.
pub(crate) enum Pending {
    Commit {
        actor: ActorId,
        expected: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Only wait for the flush (of a reminder written on the caller's task).
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

/// Make writes durable in groups: every commit waiting when a flush starts shares it.
/// The writer task of a `sync` store: apply every commit waiting, in arrival order, then
/// make the whole group durable with one flush. One task writes, so commits do not
/// contend with each other or with the flush.
pub(crate) async fn write_loop(
    db: Db,
    writes: Arc<ActorWrites>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
) {
    let mut group = Vec::new();
    let mut applied = Vec::new();
    while rx.recv_many(&mut group, 4096).await > 0 {
        for pending in group.drain(..) {
            applied.push(match pending {
                Pending::Commit {
                    actor,
                    expected,
                    changes,
                    reminders,
                    done,
                } => (
                    Some(done),
                    writes.commit(&actor, expected, changes, reminders),
                    None,
                ),
                Pending::Flush(done) => (None, Ok(0), Some(done)),
            });
        }
        // A failed flush halts the store: the group's turns are told their outcome is
        // unknown, and nothing reads past it.
        let flushed = match faults::pass("sled-flush", || {}) {
            Ok(()) => db.flush_async().await.map(drop).map_err(StoreError::from),
            Err(e) => Err(e),
        }
        .map_err(|e| writes.flush_failed(e));
        for (commit, result, flush) in applied.drain(..) {
            // A turn may have been abandoned (caller gone); nothing to tell then.
            if let Some(done) = commit {
                let _ = done.send(result.and_then(|v| flushed.clone().map(|()| v)));
            }
            if let Some(done) = flush {
                let _ = done.send(flushed.clone());
            }
        }
    }
}
