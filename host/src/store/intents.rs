//! Atomic multi-key writes on sled without `apply_batch`.
//!
//! sled's batches and transactions take a process-wide write lock and roll the log buffer
//! twice, forcing two log writes with `sync_file_range` each: under load that made a
//! two-key commit several times dearer than two single writes. An intent gives the same
//! crash atomicity with plain writes:
//!
//! 1. insert the whole change set as one value into the `intents` tree (one atomic write);
//! 2. apply the writes one by one;
//! 3. remove the intent.
//!
//! sled recovers a prefix of its log (recovery stops at the first gap), so after a crash
//! either the intent is there, and replaying it completes a half-applied change set, or it
//! is not, and the change set was applied whole or not at all. Readers outside the writing
//! actor's turn may see a change set half-applied for the microseconds step 2 takes; the
//! runtime serializes an actor's turns, so its own reads never do.
//!
//! Two change sets of one actor can still race: the Dapr state transaction API writes
//! outside the turn lock. Every write of an actor holds its stripe lock (a change set from
//! step 1 to step 3), so such sets apply one after the other, as `apply_batch` used to.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sled::{Db, Tree};

use super::StoreError;

/// Key-value writes to one tree: `Some` inserts, `None` removes.
pub(super) type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Stripes of the per-actor apply lock: enough that unrelated actors rarely share one.
const STRIPES: usize = 64;

/// The intents tree, the number of the next intent, and the apply locks.
pub(super) struct IntentLog {
    intents: Tree,
    next: AtomicU64,
    stripes: [Mutex<()>; STRIPES],
    /// Set when a change set failed half-way (see [`IntentLog::apply`]).
    halted: AtomicBool,
    /// Tests make state writes fail with this.
    #[cfg(test)]
    failing_writes: AtomicBool,
}

impl IntentLog {
    /// Open the intents tree and finish every change set a crash interrupted.
    pub(super) fn open(db: &Db) -> Result<Self, StoreError> {
        let intents = db.open_tree("intents")?;
        let mut replayed = 0;
        for entry in intents.iter() {
            let (key, record) = entry?;
            let (tree_name, writes) = decode(&record)?;
            let tree = db.open_tree(tree_name)?;
            for (k, v) in writes {
                write_one(&tree, k, v)?;
            }
            intents.remove(key)?;
            replayed += 1;
        }
        if replayed > 0 {
            db.flush()?;
            tracing::info!(replayed, "finished commits interrupted by a crash");
        }
        Ok(IntentLog {
            intents,
            next: AtomicU64::new(0),
            stripes: std::array::from_fn(|_| Mutex::new(())),
            halted: AtomicBool::new(false),
            #[cfg(test)]
            failing_writes: AtomicBool::new(false),
        })
    }

    /// Apply `writes` to `tree`, atomically with respect to crashes, and one after the
    /// other with the writes of the same `stripe` (a hash of the writing actor).
    ///
    /// If a write fails after the intent was recorded, the change set is in doubt: the next
    /// start finishes it. Any later write could then be overwritten by that replay, so the
    /// log refuses every write from then on ([`StoreError::Halted`]) until a restart.
    pub(super) fn apply(
        &self,
        tree: &Tree,
        mut writes: Writes,
        stripe: u64,
    ) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let _serial = self.stripes[(stripe % STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Checked under the lock, so no write of this actor slips past a change set that
        // fails while it waits.
        if self.halted.load(Ordering::Acquire) {
            return Err(StoreError::Halted);
        }
        match writes.len() {
            1 => {
                let (key, value) = writes.pop().expect("one write");
                self.write_one(tree, key, value)
            }
            _ => {
                // Big-endian, so replay after a crash follows the order of the commits.
                let id = self.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
                self.intents.insert(id, encode(&tree.name(), &writes))?;
                let finished = writes
                    .into_iter()
                    .try_for_each(|(key, value)| self.write_one(tree, key, value))
                    .and_then(|()| self.intents.remove(id).map(drop).map_err(StoreError::from));
                if let Err(e) = &finished {
                    self.halted.store(true, Ordering::Release);
                    tracing::error!(
                        error = %e,
                        "a commit failed after its intent was recorded: writes are refused \
                         until a restart finishes it"
                    );
                }
                finished
            }
        }
    }

    fn write_one(
        &self,
        tree: &Tree,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.failing_writes.load(Ordering::Relaxed) {
            return Err(StoreError::Io("injected write failure".into()));
        }
        write_one(tree, key, value)
    }
}

fn write_one(tree: &Tree, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), StoreError> {
    match value {
        Some(v) => tree.insert(key, v)?,
        None => tree.remove(key)?,
    };
    Ok(())
}

/// `u32` lengths, little-endian: tree name, then per write its key, a presence byte and
/// its value.
fn encode(tree_name: &[u8], writes: &Writes) -> Vec<u8> {
    let size = writes
        .iter()
        .map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, Vec::len))
        .sum::<usize>();
    let mut out = Vec::with_capacity(4 + tree_name.len() + size);
    put(&mut out, tree_name);
    for (key, value) in writes {
        put(&mut out, key);
        match value {
            Some(v) => {
                out.push(1);
                put(&mut out, v);
            }
            None => out.push(0),
        }
    }
    out
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn decode(mut record: &[u8]) -> Result<(Vec<u8>, Writes), StoreError> {
    let corrupt = || StoreError::Corrupt("commit intent is malformed".into());
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        *rest = tail;
        Some(head)
    }
    fn bytes(rest: &mut &[u8]) -> Option<Vec<u8>> {
        let len = u32::from_le_bytes(take(rest, 4)?.try_into().ok()?) as usize;
        take(rest, len).map(<[u8]>::to_vec)
    }
    let tree_name = bytes(&mut record).ok_or_else(corrupt)?;
    let mut writes = Vec::new();
    while !record.is_empty() {
        let key = bytes(&mut record).ok_or_else(corrupt)?;
        let value = match take(&mut record, 1).ok_or_else(corrupt)? {
            [1] => Some(bytes(&mut record).ok_or_else(corrupt)?),
            [0] => None,
            _ => return Err(corrupt()),
        };
        writes.push((key, value));
    }
    Ok((tree_name, writes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let writes = vec![
            (b"a".to_vec(), Some(b"1".to_vec())),
            (b"b".to_vec(), None),
            (Vec::new(), Some(Vec::new())),
        ];
        let record = encode(b"state/t", &writes);
        assert_eq!(decode(&record).unwrap(), (b"state/t".to_vec(), writes));
        assert!(decode(&record[..record.len() - 1]).is_err());
        assert!(decode(&[9, 0, 0, 0]).is_err());
    }

    #[test]
    fn an_interrupted_commit_is_finished_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let tree = db.open_tree("state/t").unwrap();
            tree.insert("b", "old").unwrap();
            // A crash after the intent and the first of its two writes.
            let writes = vec![
                (b"a".to_vec(), Some(b"new".to_vec())),
                (b"b".to_vec(), None),
            ];
            let intents = db.open_tree("intents").unwrap();
            intents
                .insert(0u64.to_be_bytes(), encode(b"state/t", &writes))
                .unwrap();
            tree.insert("a", "new").unwrap();
            db.flush().unwrap();
        }
        let db = sled::open(dir.path()).unwrap();
        let log = IntentLog::open(&db).unwrap();
        let tree = db.open_tree("state/t").unwrap();
        assert_eq!(tree.get("a").unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(tree.get("b").unwrap(), None);
        assert!(log.intents.is_empty());

        // A commit applies every write and leaves no intent behind.
        let writes = vec![(b"c".to_vec(), Some(b"3".to_vec())), (b"a".to_vec(), None)];
        log.apply(&tree, writes, 0).unwrap();
        assert_eq!(tree.get("c").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(tree.get("a").unwrap(), None);
        assert!(log.intents.is_empty());
    }

    #[test]
    fn a_commit_failing_half_way_halts_writes_until_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let log = IntentLog::open(&db).unwrap();
            let tree = db.open_tree("state/t").unwrap();
            log.failing_writes.store(true, Ordering::Relaxed);
            let writes = vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"b".to_vec(), Some(b"1".to_vec())),
            ];
            assert!(matches!(
                log.apply(&tree, writes, 0),
                Err(StoreError::Io(_))
            ));
            log.failing_writes.store(false, Ordering::Relaxed);
            // A later write to the same key would be overwritten by the replay: refused.
            let later = vec![(b"a".to_vec(), Some(b"2".to_vec()))];
            assert!(matches!(
                log.apply(&tree, later, 0),
                Err(StoreError::Halted)
            ));
            db.flush().unwrap();
        }
        // The restart finishes the change set in doubt and accepts writes again.
        let db = sled::open(dir.path()).unwrap();
        let log = IntentLog::open(&db).unwrap();
        let tree = db.open_tree("state/t").unwrap();
        assert_eq!(tree.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(tree.get("b").unwrap().as_deref(), Some(&b"1"[..]));
        let later = vec![(b"a".to_vec(), Some(b"2".to_vec()))];
        log.apply(&tree, later, 0).unwrap();
        assert_eq!(tree.get("a").unwrap().as_deref(), Some(&b"2"[..]));
    }
}
