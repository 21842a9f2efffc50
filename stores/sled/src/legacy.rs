//! Opening a data dir written by the first layout: a state tree per tenant
//! (`state/{tenant}`, one entry per key under `type NUL id NUL key`) and an `intents` tree
//! of multi-key commits a crash may have left half-applied.
//!
//! Migration, at open, before anything else touches the store:
//! 1. finish every intent left (as the first layout did at start);
//! 2. write each actor's keys as one record of the `actors` tree (version 1);
//! 3. flush, then drop the old state tree, one tenant at a time.
//!
//! Every step can be repeated: a crash before a tree is dropped leaves it whole, and the
//! next start writes its records again from it; a tree is dropped only once its records
//! are on disk. So the migration is idempotent and crash-safe.

use sled::{Db, Tree};

use crate::keys::{due_key, record_key, reminder_value};
use warren_store::StoreError;
use warren_store::record::ActorRecord;

/// The prefix of the first layout's state trees.
const STATE_TREE: &str = "state/";
/// The first layout's record of a tenant's spawned instances (type and id).
const SPAWNED: &[u8] = b"$spawned";
const SPAWNED_ID: &[u8] = b"instances";

/// Migrate a data dir of the first layout into `actors`; whether there was one.
pub(crate) fn migrate(db: &Db, actors: &Tree) -> Result<bool, StoreError> {
    let replayed = finish_intents(db)?;
    let trees: Vec<Vec<u8>> = db
        .tree_names()
        .into_iter()
        .map(|n| n.to_vec())
        .filter(|n| n.starts_with(STATE_TREE.as_bytes()))
        .collect();
    if trees.is_empty() {
        return Ok(replayed > 0);
    }
    tracing::info!(
        tenants = trees.len(),
        "migrating the data dir to one record per actor"
    );
    for name in trees {
        let tenant = String::from_utf8_lossy(&name[STATE_TREE.len()..]).into_owned();
        let tree = db.open_tree(&name)?;
        let actors_written = migrate_tree(&tenant, &tree, actors)?;
        db.flush()?;
        drop(tree);
        db.drop_tree(&name)?;
        db.flush()?;
        tracing::info!(%tenant, actors = actors_written, "tenant's state migrated");
    }
    Ok(true)
}

/// Write the actors of one tenant's state tree as records; how many.
fn migrate_tree(tenant: &str, tree: &Tree, actors: &Tree) -> Result<usize, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("state key of tenant {tenant:?} is malformed"));
    let mut written = 0;
    let mut current: Option<(Vec<u8>, ActorRecord)> = None;
    for entry in tree.iter() {
        let (key, value) = entry?;
        let mut parts = key.splitn(3, |b| *b == 0);
        let (Some(actor_type), Some(id), Some(state_key)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt());
        };
        let actor_key = record_key(tenant.as_bytes(), actor_type, id);
        let state_key = String::from_utf8(state_key.to_vec()).map_err(|_| corrupt())?;
        if actor_type == SPAWNED && id == SPAWNED_ID {
            // The first layout kept a tenant's spawned instances as keys of one record;
            // now each instance has a record of its own, `parent` naming its type.
            let key = record_key(tenant.as_bytes(), SPAWNED, state_key.as_bytes());
            let record = ActorRecord {
                version: 1,
                entries: [("parent".to_string(), value.to_vec())]
                    .into_iter()
                    .collect(),
            };
            actors.insert(key, record.encode())?;
            written += 1;
            continue;
        }
        // Keys are sorted, so an actor's keys come together.
        if current.as_ref().is_none_or(|(k, _)| *k != actor_key) {
            if let Some((k, record)) = current.take() {
                actors.insert(k, record.encode())?;
                written += 1;
            }
            current = Some((
                actor_key,
                ActorRecord {
                    version: 1,
                    ..ActorRecord::default()
                },
            ));
        }
        if let Some((_, record)) = current.as_mut() {
            record.entries.insert(state_key, value.to_vec());
        }
    }
    if let Some((k, record)) = current {
        actors.insert(k, record.encode())?;
        written += 1;
    }
    Ok(written)
}

/// Finish the multi-key commits a crash interrupted; how many.
fn finish_intents(db: &Db) -> Result<usize, StoreError> {
    if !db.tree_names().iter().any(|n| &**n == b"intents") {
        return Ok(0);
    }
    let intents = db.open_tree("intents")?;
    let mut replayed = 0;
    for entry in intents.iter() {
        let (key, record) = entry?;
        let (tree_name, writes) = decode_intent(&record)?;
        let tree = db.open_tree(tree_name)?;
        for (k, v) in writes {
            match v {
                Some(v) => tree.insert(k, v)?,
                None => tree.remove(k)?,
            };
        }
        intents.remove(key)?;
        replayed += 1;
    }
    db.flush()?;
    drop(intents);
    db.drop_tree("intents")?;
    if replayed > 0 {
        tracing::info!(replayed, "finished commits interrupted by a crash");
    }
    Ok(replayed)
}

/// The `meta` key present once every reminder carries its due time and is indexed by it.
const REMINDERS_INDEXED: &[u8] = b"reminders-indexed";

/// Give every reminder of the first layout (its value the bare JSON record the runtime
/// wrote, `due_ms` in it) the due time in front of its value and an entry in the due-time
/// index. Repeatable: a value already converted is recognised and only indexed.
pub(crate) fn index_reminders(db: &Db) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    if meta.get(REMINDERS_INDEXED)?.is_some() {
        return Ok(());
    }
    let reminders = db.open_tree("reminders")?;
    let index = db.open_tree("reminders_due")?;
    let mut indexed = 0;
    for entry in reminders.iter() {
        let (key, value) = entry?;
        let due_of = |json: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(json)
                .ok()
                .and_then(|v| v.get("due_ms").and_then(serde_json::Value::as_i64))
        };
        let (due_ms, record) = match due_of(&value) {
            Some(due) => (due, value.to_vec()),
            None => match value
                .split_at_checked(8)
                .and_then(|(_, rest)| Some((due_of(rest)?, rest)))
            {
                Some((due, rest)) => (due, rest.to_vec()),
                None => {
                    tracing::warn!(key = %String::from_utf8_lossy(&key), "unreadable reminder left unindexed");
                    continue;
                }
            },
        };
        index.insert(due_key(due_ms, &key), &[])?;
        reminders.insert(&key, reminder_value(due_ms, &record))?;
        indexed += 1;
    }
    db.flush()?;
    meta.insert(REMINDERS_INDEXED, &[1])?;
    db.flush()?;
    if indexed > 0 {
        tracing::info!(
            reminders = indexed,
            "migrated reminders indexed by due time"
        );
    }
    Ok(())
}

/// Key-value writes to one tree: `Some` inserts, `None` removes.
type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// An intent: `u32` lengths, little-endian; the tree name, then per write its key, a
/// presence byte and its value.
fn decode_intent(mut record: &[u8]) -> Result<(Vec<u8>, Writes), StoreError> {
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

    fn intent(tree: &[u8], writes: &Writes) -> Vec<u8> {
        let mut out = Vec::new();
        let put = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        put(&mut out, tree);
        for (k, v) in writes {
            put(&mut out, k);
            match v {
                Some(v) => {
                    out.push(1);
                    put(&mut out, v);
                }
                None => out.push(0),
            }
        }
        out
    }

    /// A first-layout data dir with a half-applied intent: the intent is finished, every
    /// actor becomes one record, the old trees go, and a second run changes nothing.
    #[test]
    fn a_first_layout_dir_migrates_once_with_its_interrupted_commit() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let tree = db.open_tree("state/t").unwrap();
            tree.insert(b"counter\x00a\x00total", b"5".as_slice())
                .unwrap();
            tree.insert(b"counter\x00b\x00total", b"old".as_slice())
                .unwrap();
            let writes = vec![
                (b"counter\x00b\x00total".to_vec(), Some(b"7".to_vec())),
                (b"counter\x00b\x00x".to_vec(), Some(b"1".to_vec())),
            ];
            db.open_tree("intents")
                .unwrap()
                .insert(0u64.to_be_bytes(), intent(b"state/t", &writes))
                .unwrap();
            db.flush().unwrap();
        }
        let db = sled::open(dir.path()).unwrap();
        let actors = db.open_tree("actors").unwrap();
        assert!(migrate(&db, &actors).unwrap());
        let record = |id: &str| {
            let key = format!("t\0counter\0{id}");
            ActorRecord::decode(&actors.get(key).unwrap().unwrap()).unwrap()
        };
        assert_eq!(record("a").entries["total"], b"5");
        assert_eq!(record("b").entries["total"], b"7");
        assert_eq!(record("b").entries["x"], b"1");
        assert_eq!(record("b").version, 1);
        assert!(
            !db.tree_names()
                .iter()
                .any(|n| n.starts_with(b"state/") || &**n == b"intents")
        );
        assert!(!migrate(&db, &actors).unwrap());
        assert_eq!(actors.len(), 2);
    }

    /// A first-layout reminder (bare JSON) gets its due time in front and an index entry,
    /// once: a second run, even without the mark, changes nothing.
    #[test]
    fn first_layout_reminders_are_indexed_by_due_time_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let json = br#"{"kind":"Reminder","name":"r","due_ms":1234}"#;
        db.open_tree("reminders")
            .unwrap()
            .insert(b"t\0x\0a\0r", json.as_slice())
            .unwrap();
        for _ in 0..2 {
            index_reminders(&db).unwrap();
            let value = db
                .open_tree("reminders")
                .unwrap()
                .get(b"t\0x\0a\0r")
                .unwrap();
            let value = value.unwrap();
            assert_eq!(&value[..8], 1234i64.to_be_bytes());
            assert_eq!(&value[8..], json);
            assert_eq!(db.open_tree("reminders_due").unwrap().len(), 1);
            // As if a crash came before the mark: the next run meets converted values.
            db.open_tree("meta")
                .unwrap()
                .remove(REMINDERS_INDEXED)
                .unwrap();
        }
    }
}
