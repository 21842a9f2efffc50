//! One round of a group commit as set-based statements: whatever the number of turns in
//! it, a round costs the same few statements (the fences, the versions, the old sizes,
//! the upserts, the deletes), each over arrays of the round's rows. A round holds each
//! actor once; `group.rs` splits a batch into rounds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Transaction;

use crate::PARTITION_LOCKS;
use crate::reminders::apply_reminder;
use crate::sql::{exec, query};
use warren_store::record::{entry_len, entry_size};
use warren_store::{Fence, ReminderChange, StateChange, StoreError};
use warren_wire::types::ActorId;

/// One commit waiting for its batch.
pub(crate) struct Pending {
    pub actor: ActorId,
    pub expected: u64,
    pub changes: Vec<StateChange>,
    pub reminders: Vec<ReminderChange>,
    /// The fence to check: this host's fence, the partition, the epoch it holds.
    pub fence: Option<(Arc<Fence>, u32, i64)>,
}

/// What one commit of a round came to: its new version and the bytes its state grew by,
/// or why it was refused (a moved version, a fence).
pub(crate) type Written = Result<(u64, i64), StoreError>;

/// An actor as the tables key it.
type Key = (String, String, String);

fn key(p: &Pending) -> Key {
    (
        p.actor.tenant.to_string(),
        p.actor.actor_type.to_string(),
        p.actor.id.to_string(),
    )
}

/// The actor columns of the commits `which` of `round`, as statement parameters.
fn columns<'a>(round: &[&'a Pending], which: &[usize]) -> [Vec<&'a str>; 3] {
    let pick = |f: fn(&'a Pending) -> &'a str| which.iter().map(|&n| f(round[n])).collect();
    [
        pick(|p| &p.actor.tenant),
        pick(|p| &p.actor.actor_type),
        pick(|p| &p.actor.id),
    ]
}

/// Write `round` (each actor at most once) inside `tx`; a result per commit, in order.
/// An error is the transaction's: nothing of the round (or its batch) stands.
pub(crate) async fn write_round(
    tx: &Transaction<'_>,
    round: &[&Pending],
) -> Result<Vec<Written>, StoreError> {
    let mut refused: Vec<Option<StoreError>> = vec![None; round.len()];
    check_fences(tx, round, &mut refused).await?;
    check_progress(tx, round, &mut refused).await?;
    move_versions(tx, round, &mut refused).await?;
    let live: Vec<usize> = (0..round.len()).filter(|&n| refused[n].is_none()).collect();
    let deltas = write_state(tx, round, &live).await?;
    for &n in &live {
        for change in &round[n].reminders {
            apply_reminder(tx, &round[n].actor, change).await?;
        }
    }
    let mut deltas = live.iter().copied().zip(deltas).collect::<HashMap<_, _>>();
    Ok(refused
        .into_iter()
        .enumerate()
        .map(|(n, refusal)| match refusal {
            Some(e) => Err(e),
            None => Ok((round[n].expected + 1, deltas.remove(&n).unwrap_or(0))),
        })
        .collect())
}

/// Refuse the commits whose host no longer holds their partition at the epoch it
/// believes. Shared locks first, taken in partition order (a claim takes one of them
/// exclusively, so it waits for the commits that passed), then the check in a statement
/// of its own, which sees a fresh snapshot: every commit after a move sees the new owner.
/// An advisory lock, not a row lock: `FOR SHARE` on the partitions' rows would make
/// concurrent commits create multixacts.
async fn check_fences(
    tx: &Transaction<'_>,
    round: &[&Pending],
    refused: &mut [Option<StoreError>],
) -> Result<(), StoreError> {
    let fences: Vec<(usize, u32, &str, i64)> = round
        .iter()
        .enumerate()
        .filter_map(|(n, p)| {
            let (fence, partition, epoch) = p.fence.as_ref()?;
            Some((n, *partition, fence.host(), *epoch))
        })
        .collect();
    if fences.is_empty() {
        return Ok(());
    }
    let mut partitions: Vec<i32> = fences.iter().map(|f| f.1 as i32).collect();
    partitions.sort_unstable();
    partitions.dedup();
    // The array's order is the order the locks are taken in.
    exec(
        tx,
        "SELECT pg_advisory_xact_lock_shared($1, p) FROM unnest($2::integer[]) AS p",
        &[&PARTITION_LOCKS, &partitions],
    )
    .await?;
    // Tests stall a commit here, holding the locks, as a host paused mid-commit would.
    warren_store::faults::stall("postgres-commit-locked").await;
    let wanted: HashSet<(i32, &str, i64)> = fences
        .iter()
        .map(|&(_, partition, host, epoch)| (partition as i32, host, epoch))
        .collect();
    let (mut parts, mut hosts, mut epochs) = (Vec::new(), Vec::new(), Vec::new());
    for (partition, host, epoch) in &wanted {
        parts.push(*partition);
        hosts.push(*host);
        epochs.push(*epoch);
    }
    let held: HashSet<(i32, String, i64)> = query(
        tx,
        "SELECT p.partition, p.owner, p.epoch FROM warren_partitions p
         JOIN unnest($1::integer[], $2::text[], $3::bigint[]) AS u(partition, owner, epoch)
           ON p.partition = u.partition AND p.owner = u.owner AND p.epoch = u.epoch",
        &[&parts, &hosts, &epochs],
    )
    .await?
    .iter()
    .map(|row| (row.get(0), row.get(1), row.get(2)))
    .collect();
    for (n, partition, host, epoch) in fences {
        if !held.contains(&(partition as i32, host.to_string(), epoch)) {
            refused[n] = Some(StoreError::Fenced { partition });
        }
    }
    Ok(())
}

/// Refuse the firings whose reminder no longer stands at the due time that fired: the
/// turn of a firing commits with its progress, or not at all. The rows checked stay
/// locked until the transaction ends, so no other writer moves them meanwhile.
async fn check_progress(
    tx: &Transaction<'_>,
    round: &[&Pending],
    refused: &mut [Option<StoreError>],
) -> Result<(), StoreError> {
    for (n, pending) in round.iter().enumerate() {
        if refused[n].is_some() {
            continue;
        }
        for change in &pending.reminders {
            let ReminderChange::Advance {
                name, fired_due_ms, ..
            } = change
            else {
                continue;
            };
            let actor = &pending.actor;
            let standing = query(
                tx,
                "SELECT 1 FROM warren_reminders
                 WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4
                   AND due_ms = $5
                 FOR UPDATE",
                &[
                    &&*actor.tenant,
                    &&*actor.actor_type,
                    &&*actor.id,
                    name,
                    fired_due_ms,
                ],
            )
            .await?;
            if standing.is_empty() {
                refused[n] = Some(StoreError::Fired { name: name.clone() });
                break;
            }
        }
    }
    Ok(())
}

/// Move each live commit's version from the one its turn read, or refuse it with the
/// version found. The row locks taken here hold any other writer of these actors until
/// the transaction ends.
async fn move_versions(
    tx: &Transaction<'_>,
    round: &[&Pending],
    refused: &mut [Option<StoreError>],
) -> Result<(), StoreError> {
    let live = (0..round.len()).filter(|&n| refused[n].is_none());
    let (fresh, known): (Vec<usize>, Vec<usize>) = live.partition(|&n| round[n].expected == 0);
    let mut moved: HashSet<Key> = HashSet::new();
    let keys = |rows: Vec<tokio_postgres::Row>| {
        rows.into_iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect::<Vec<Key>>()
    };
    if !fresh.is_empty() {
        let [t, a, i] = columns(round, &fresh);
        let rows = query(
            tx,
            "INSERT INTO warren_actors
             SELECT t, a, i, 1 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, a, i)
             ON CONFLICT DO NOTHING
             RETURNING tenant, actor_type, actor_id",
            &[&t, &a, &i],
        )
        .await?;
        moved.extend(keys(rows));
    }
    if !known.is_empty() {
        let [t, a, i] = columns(round, &known);
        let versions: Vec<i64> = known.iter().map(|&n| round[n].expected as i64).collect();
        let rows = query(
            tx,
            "UPDATE warren_actors w SET version = w.version + 1
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(t, a, i, v)
             WHERE w.tenant = u.t AND w.actor_type = u.a AND w.actor_id = u.i
               AND w.version = u.v
             RETURNING w.tenant, w.actor_type, w.actor_id",
            &[&t, &a, &i, &versions],
        )
        .await?;
        moved.extend(keys(rows));
    }
    let missed: Vec<usize> = fresh
        .into_iter()
        .chain(known)
        .filter(|&n| !moved.contains(&key(round[n])))
        .collect();
    if missed.is_empty() {
        return Ok(());
    }
    let [t, a, i] = columns(round, &missed);
    let found: HashMap<Key, i64> = query(
        tx,
        "SELECT w.tenant, w.actor_type, w.actor_id, w.version FROM warren_actors w
         JOIN unnest($1::text[], $2::text[], $3::text[]) AS u(t, a, i)
           ON w.tenant = u.t AND w.actor_type = u.a AND w.actor_id = u.i",
        &[&t, &a, &i],
    )
    .await?
    .iter()
    .map(|row| ((row.get(0), row.get(1), row.get(2)), row.get(3)))
    .collect();
    for n in missed {
        refused[n] = Some(StoreError::Conflict {
            expected: round[n].expected,
            found: found.get(&key(round[n])).map_or(0, |v| *v as u64),
        });
    }
    Ok(())
}

/// A commit's state changes as they land: per key, its last change.
type Landing<'a> = BTreeMap<&'a str, Option<&'a [u8]>>;

/// A state row as the table keys it: tenant, actor type, actor id, key.
type StateKey = (String, String, String, String);

/// The rows a round's state changes touch, as statement parameters (one array per
/// column): every key changed, for the old sizes; the keys written, with their values;
/// the keys deleted.
#[derive(Default)]
struct StateRows<'a> {
    touched: [Vec<&'a str>; 4],
    upserts: [Vec<&'a str>; 4],
    values: Vec<&'a [u8]>,
    deletes: [Vec<&'a str>; 4],
}

impl<'a> StateRows<'a> {
    /// The rows of the commits `live` of `round`, whose changes land as `landings` say.
    fn of(round: &[&'a Pending], live: &[usize], landings: &[Landing<'a>]) -> Self {
        let mut rows = StateRows::default();
        for (&n, changes) in live.iter().zip(landings) {
            let actor = &round[n].actor;
            for (key, value) in changes {
                let row = [&*actor.tenant, &*actor.actor_type, &*actor.id, *key];
                push_row(&mut rows.touched, row);
                match value {
                    Some(bytes) => {
                        rows.values.push(*bytes);
                        push_row(&mut rows.upserts, row);
                    }
                    None => push_row(&mut rows.deletes, row),
                }
            }
        }
        rows
    }
}

fn push_row<'a>(columns: &mut [Vec<&'a str>; 4], row: [&'a str; 4]) {
    for (column, value) in columns.iter_mut().zip(row) {
        column.push(value);
    }
}

/// Write the state changes of the commits `live` of `round`: one statement for the old
/// sizes, one upsert, one delete. Returns how many bytes each one's state grew by.
async fn write_state(
    tx: &Transaction<'_>,
    round: &[&Pending],
    live: &[usize],
) -> Result<Vec<i64>, StoreError> {
    // Per commit, the last change of each key is the one that lands.
    let landings: Vec<Landing> = live
        .iter()
        .map(|&n| {
            round[n]
                .changes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect()
        })
        .collect();
    let rows = StateRows::of(round, live, &landings);
    if rows.touched[0].is_empty() {
        return Ok(vec![0; live.len()]);
    }
    let before = sizes_before(tx, &rows.touched).await?;
    upsert_state(tx, &rows).await?;
    delete_state(tx, &rows.deletes).await?;
    Ok(growth(round, live, &landings, &before))
}

/// The stored size of each value of the rows `touched`, before the round writes.
async fn sizes_before(
    tx: &Transaction<'_>,
    touched: &[Vec<&str>; 4],
) -> Result<HashMap<StateKey, i64>, StoreError> {
    let [t, a, i, k] = touched;
    Ok(query(
        tx,
        "SELECT s.tenant, s.actor_type, s.actor_id, s.key, octet_length(s.value)::bigint
         FROM warren_state s
         JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, a, i, k)
           ON s.tenant = u.t AND s.actor_type = u.a AND s.actor_id = u.i AND s.key = u.k",
        &[t, a, i, k],
    )
    .await?
    .iter()
    .map(|row| ((row.get(0), row.get(1), row.get(2), row.get(3)), row.get(4)))
    .collect())
}

/// Write the round's new values, if it has any, in one statement.
async fn upsert_state(tx: &Transaction<'_>, rows: &StateRows<'_>) -> Result<(), StoreError> {
    if rows.values.is_empty() {
        return Ok(());
    }
    let [t, a, i, k] = &rows.upserts;
    exec(
        tx,
        "INSERT INTO warren_state
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
         ON CONFLICT (tenant, actor_type, actor_id, key)
         DO UPDATE SET value = EXCLUDED.value",
        &[t, a, i, k, &rows.values],
    )
    .await?;
    Ok(())
}

/// Delete the round's deleted keys, if it has any, in one statement.
async fn delete_state(tx: &Transaction<'_>, deletes: &[Vec<&str>; 4]) -> Result<(), StoreError> {
    if deletes[0].is_empty() {
        return Ok(());
    }
    let [t, a, i, k] = deletes;
    exec(
        tx,
        "DELETE FROM warren_state s
         USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, a, i, k)
         WHERE s.tenant = u.t AND s.actor_type = u.a AND s.actor_id = u.i AND s.key = u.k",
        &[t, a, i, k],
    )
    .await?;
    Ok(())
}

/// How many bytes each commit `live` of `round` grew its state by, from the sizes its
/// keys had `before` and the values that land.
fn growth(
    round: &[&Pending],
    live: &[usize],
    landings: &[Landing],
    before: &HashMap<StateKey, i64>,
) -> Vec<i64> {
    live.iter()
        .zip(landings)
        .map(|(&n, changes)| {
            let actor = &round[n].actor;
            changes
                .iter()
                .map(|(key, value)| {
                    let row = (
                        actor.tenant.to_string(),
                        actor.actor_type.to_string(),
                        actor.id.to_string(),
                        key.to_string(),
                    );
                    let old = before
                        .get(&row)
                        .map_or(0, |len| entry_len(key, len.unsigned_abs()) as i64);
                    let new = value.map_or(0, |v| entry_size(key, v) as i64);
                    new - old
                })
                .sum()
        })
        .collect()
}
