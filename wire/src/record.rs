//! An actor's state as one record: every key with its value, and a version that grows
//! with each commit. The encoding is Warren's own (a record is read and written whole on
//! every load and commit, so it is kept plain and fast).

use crate::types::{ReminderChange, StateChange, StoreError};

/// The first byte of an encoded record: the layout of what follows.
const FORMAT: u8 = 2;
/// A record followed by the reminder changes of the commit that wrote it.
const FORMAT_WITH_REMINDERS: u8 = 3;

/// An actor's stored state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActorRecord {
    /// The version of the last commit; 0 for an actor never written.
    pub version: u64,
    /// Every state key with its value.
    pub entries: Entries,
}

/// An actor's keys and values, sorted by key. A sorted vector rather than a `BTreeMap`:
/// most actors hold a few keys, and an active actor's record stays in memory, where a
/// tree node would cost hundreds of bytes for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entries(Vec<(String, Vec<u8>)>);

impl Entries {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Vec<u8>> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Set `key` to `value`; the value it had.
    pub fn insert(&mut self, key: String, value: Vec<u8>) -> Option<Vec<u8>> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Delete `key`; the value it had.
    pub fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<u8>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl std::ops::Index<&str> for Entries {
    type Output = Vec<u8>;

    fn index(&self, key: &str) -> &Vec<u8> {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no key {key:?}"),
        }
    }
}

impl IntoIterator for Entries {
    type Item = (String, Vec<u8>);
    type IntoIter = std::vec::IntoIter<(String, Vec<u8>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(String, Vec<u8>)> for Entries {
    fn from_iter<I: IntoIterator<Item = (String, Vec<u8>)>>(iter: I) -> Self {
        let mut entries = Entries::default();
        for (k, v) in iter {
            entries.insert(k, v);
        }
        entries
    }
}

/// The first character of the host's own state keys: a control character (U+0001) no
/// caller has reason to start a key with, and that PostgreSQL's `text` takes (NUL it
/// does not).
pub const RESERVED_PREFIX: char = '\u{1}';

/// The state key under which the host records which version of an actor's code (the
/// manifest's `version`) last committed a turn, so the first turn under another version
/// can run the component's `on-upgrade` first. Keys starting with [`RESERVED_PREFIX`]
/// belong to the host: guests and callers can neither see nor write them, and they do
/// not count against quotas.
pub const CODE_VERSION_KEY: &str = "\u{1}warren.code-version";

/// Whether `key` is one of the host's own (see [`CODE_VERSION_KEY`]).
pub fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX)
}

/// The bytes a key and its value count for against quotas (none for the host's own).
pub fn entry_size(key: &str, value: &[u8]) -> u64 {
    entry_len(key, value.len() as u64)
}

/// [`entry_size`] of a value known only by its length (a store that reads lengths, not
/// values).
pub fn entry_len(key: &str, value_len: u64) -> u64 {
    if is_reserved(key) {
        return 0;
    }
    key.len() as u64 + value_len
}

impl ActorRecord {
    /// Bytes (keys plus values) of the state.
    pub fn size(&self) -> u64 {
        self.entries.iter().map(|(k, v)| entry_size(k, v)).sum()
    }

    /// How many bytes the state grows (or shrinks, negative) by applying `changes`.
    pub fn size_delta(&self, changes: &[StateChange]) -> i64 {
        let mut delta = 0i64;
        let mut seen = std::collections::HashMap::new();
        for (key, value) in changes {
            // A key changed twice in one set counts from its last value.
            let before = seen
                .get(key.as_str())
                .cloned()
                .unwrap_or_else(|| self.entries.get(key).map(|v| entry_size(key, v)));
            let after = value.as_ref().map(|v| entry_size(key, v));
            delta += after.unwrap_or(0) as i64 - before.unwrap_or(0) as i64;
            seen.insert(key.as_str(), after);
        }
        delta
    }

    /// Apply `changes` in order: `Some` writes a key, `None` deletes it.
    pub fn apply(&mut self, changes: Vec<StateChange>) {
        for (key, value) in changes {
            match value {
                Some(value) => {
                    self.entries.insert(key, value);
                }
                None => {
                    self.entries.remove(&key);
                }
            }
        }
    }

    /// The keys starting with `prefix`, in order, without the host's own.
    pub fn keys_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> {
        let start = self.entries.find(prefix).unwrap_or_else(|i| i);
        self.entries.0[start..]
            .iter()
            .map(|(k, _)| k)
            .take_while(move |k| k.starts_with(prefix))
            .filter(|k| !is_reserved(k))
    }

    /// The keys and values a caller sees: all but the host's own.
    pub fn visible(&self) -> impl Iterator<Item = (&String, &Vec<u8>)> {
        self.entries.iter().filter(|(k, _)| !is_reserved(k))
    }

    /// The version of the actor's code that last committed a turn, if one was recorded.
    pub fn code_version(&self) -> Option<&str> {
        self.entries
            .get(CODE_VERSION_KEY)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The stored form: format byte, version (`u64`), entry count (`u32`), then each key
    /// and value with a `u32` length, all little-endian.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(&[])
    }

    /// [`ActorRecord::encode`], followed by the reminder changes of the commit that writes
    /// it (a count, then each change), so one write carries both: a store whose writes
    /// are atomic one key at a time (sled) replays them after a crash.
    pub fn encode_with(&self, reminders: &[ReminderChange]) -> Vec<u8> {
        let body: usize = self
            .entries
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum();
        let mut out = Vec::with_capacity(13 + body);
        out.push(if reminders.is_empty() {
            FORMAT
        } else {
            FORMAT_WITH_REMINDERS
        });
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (key, value) in self.entries.iter() {
            put(&mut out, key.as_bytes());
            put(&mut out, value);
        }
        if !reminders.is_empty() {
            out.extend_from_slice(&(reminders.len() as u32).to_le_bytes());
            for change in reminders {
                encode_change(&mut out, change);
            }
        }
        out
    }

    /// Whether a stored record carries reminder changes (without decoding it).
    pub fn carries_reminders(bytes: &[u8]) -> bool {
        bytes.first() == Some(&FORMAT_WITH_REMINDERS)
    }

    /// Read a stored record back (the reminder changes written with it are skipped).
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        Self::decode_inner(bytes, None)
    }

    /// Read a stored record back with the reminder changes written with it.
    pub fn decode_with(bytes: &[u8]) -> Result<(Self, Vec<ReminderChange>), StoreError> {
        let mut reminders = Vec::new();
        let record = Self::decode_inner(bytes, Some(&mut reminders))?;
        Ok((record, reminders))
    }

    fn decode_inner(
        bytes: &[u8],
        reminders: Option<&mut Vec<ReminderChange>>,
    ) -> Result<Self, StoreError> {
        let mut rest = bytes;
        let with_reminders = match take(&mut rest, 1) {
            Some([FORMAT]) => false,
            Some([FORMAT_WITH_REMINDERS]) => true,
            Some(other) => return Err(corrupt(&format!("unknown format {other:?}"))),
            None => return Err(corrupt("empty")),
        };
        let version = take(&mut rest, 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| corrupt("truncated version"))?;
        let count = take(&mut rest, 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| corrupt("truncated count"))?;
        let mut entries = Vec::with_capacity((count as usize).min(rest.len() / 8));
        for _ in 0..count {
            let key = field(&mut rest).ok_or_else(|| corrupt("truncated key"))?;
            let key = String::from_utf8(key.to_vec()).map_err(|_| corrupt("key is not UTF-8"))?;
            let value = field(&mut rest).ok_or_else(|| corrupt("truncated value"))?;
            entries.push((key, value.to_vec()));
        }
        match (with_reminders, reminders) {
            (true, Some(reminders)) => *reminders = decode_changes(&mut rest)?,
            // Loads do not need them: the store applied them after the write.
            (true, None) => rest = &[],
            (false, _) => {}
        }
        if !rest.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        // Written in key order, so read back in key order; a record not so is damaged.
        if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(corrupt("keys out of order"));
        }
        Ok(ActorRecord {
            version,
            entries: Entries(entries),
        })
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("actor record: {what}"))
}

const PUT: u8 = 0;
const DELETE: u8 = 1;
const ADVANCE: u8 = 2;

/// A reminder change: a tag, the name, then the change's fields.
fn encode_change(out: &mut Vec<u8>, change: &ReminderChange) {
    match change {
        ReminderChange::Put {
            name,
            due_ms,
            record,
        } => {
            out.push(PUT);
            put(out, name.as_bytes());
            out.extend_from_slice(&due_ms.to_le_bytes());
            put(out, record);
        }
        ReminderChange::Delete { name } => {
            out.push(DELETE);
            put(out, name.as_bytes());
        }
        ReminderChange::Advance {
            name,
            fired_due_ms,
            next,
        } => {
            out.push(ADVANCE);
            put(out, name.as_bytes());
            out.extend_from_slice(&fired_due_ms.to_le_bytes());
            match next {
                Some((due_ms, record)) => {
                    out.push(1);
                    out.extend_from_slice(&due_ms.to_le_bytes());
                    put(out, record);
                }
                None => out.push(0),
            }
        }
    }
}

fn decode_changes(rest: &mut &[u8]) -> Result<Vec<ReminderChange>, StoreError> {
    let truncated = || corrupt("truncated reminder change");
    let count = take(rest, 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(truncated)?;
    let mut changes = Vec::with_capacity((count as usize).min(rest.len()));
    for _ in 0..count {
        let tag = take(rest, 1).ok_or_else(truncated)?[0];
        let name = field(rest).ok_or_else(truncated)?;
        let name =
            String::from_utf8(name.to_vec()).map_err(|_| corrupt("reminder name is not UTF-8"))?;
        let millis = |rest: &mut &[u8]| {
            take(rest, 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_le_bytes)
                .ok_or_else(truncated)
        };
        changes.push(match tag {
            PUT => {
                let due_ms = millis(rest)?;
                let record = field(rest).ok_or_else(truncated)?.to_vec();
                ReminderChange::Put {
                    name,
                    due_ms,
                    record,
                }
            }
            DELETE => ReminderChange::Delete { name },
            ADVANCE => {
                let fired_due_ms = millis(rest)?;
                let next = match take(rest, 1).ok_or_else(truncated)? {
                    [0] => None,
                    [1] => {
                        let due_ms = millis(rest)?;
                        Some((due_ms, field(rest).ok_or_else(truncated)?.to_vec()))
                    }
                    _ => return Err(corrupt("reminder change: bad next marker")),
                };
                ReminderChange::Advance {
                    name,
                    fired_due_ms,
                    next,
                }
            }
            other => return Err(corrupt(&format!("unknown reminder change {other}"))),
        });
    }
    Ok(changes)
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_at_checked(n)?;
    *rest = tail;
    Some(head)
}

fn field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_le_bytes(take(rest, 4)?.try_into().ok()?) as usize;
    take(rest, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, &str)], version: u64) -> ActorRecord {
        ActorRecord {
            version,
            entries: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn records_round_trip_and_refuse_damage() {
        for r in [
            ActorRecord::default(),
            record(&[("a", "1"), ("", ""), ("é", "x")], 7),
        ] {
            let bytes = r.encode();
            assert_eq!(ActorRecord::decode(&bytes).unwrap(), r);
            for cut in 0..bytes.len() {
                assert!(ActorRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(ActorRecord::decode(&longer).is_err());
        }
        assert!(ActorRecord::decode(&[1, 0, 0]).is_err());
    }

    #[test]
    fn reminder_changes_ride_with_the_record() {
        let r = record(&[("a", "1")], 3);
        let changes = vec![
            ReminderChange::Put {
                name: "p".into(),
                due_ms: -5,
                record: b"{}".to_vec(),
            },
            ReminderChange::Delete { name: "d".into() },
            ReminderChange::Advance {
                name: "x".into(),
                fired_due_ms: 10,
                next: Some((20, b"r".to_vec())),
            },
            ReminderChange::Advance {
                name: "y".into(),
                fired_due_ms: 11,
                next: None,
            },
        ];
        let bytes = r.encode_with(&changes);
        assert_eq!(
            ActorRecord::decode_with(&bytes).unwrap(),
            (r.clone(), changes)
        );
        assert_eq!(ActorRecord::decode(&bytes).unwrap(), r);
        for cut in 0..bytes.len() {
            assert!(
                ActorRecord::decode_with(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // Without changes the format is the one every earlier record has.
        assert_eq!(r.encode_with(&[]), r.encode());
        assert_eq!(r.encode()[0], FORMAT);
    }

    #[test]
    fn the_hosts_own_keys_are_hidden_and_weigh_nothing() {
        let mut r = ActorRecord::default();
        r.apply(vec![
            (CODE_VERSION_KEY.to_string(), Some(b"1.0.0".to_vec())),
            ("a".to_string(), Some(b"1".to_vec())),
        ]);
        assert_eq!(r.size(), 2);
        assert_eq!(r.code_version(), Some("1.0.0"));
        assert_eq!(r.keys_with_prefix("").collect::<Vec<_>>(), ["a"]);
        assert_eq!(r.visible().count(), 1);
        assert_eq!(r.size_delta(&[(CODE_VERSION_KEY.to_string(), None)]), 0);
    }

    #[test]
    fn size_deltas_follow_the_changes_in_order() {
        let r = record(&[("ab", "123")], 1);
        assert_eq!(r.size(), 5);
        let set = |k: &str, v: &str| (k.to_string(), Some(v.as_bytes().to_vec()));
        let del = |k: &str| (k.to_string(), None);
        assert_eq!(r.size_delta(&[set("ab", "1")]), -2);
        assert_eq!(r.size_delta(&[del("ab")]), -5);
        assert_eq!(r.size_delta(&[set("c", "xy")]), 3);
        assert_eq!(
            r.size_delta(&[set("c", "xy"), set("c", "x"), del("ab")]),
            -3
        );
        assert_eq!(r.size_delta(&[del("missing")]), 0);
        let mut applied = r.clone();
        applied.apply(vec![set("c", "xy"), set("c", "x"), del("ab")]);
        assert_eq!(applied.size() as i64, r.size() as i64 - 3);
        let keys: Vec<_> = record(&[("a/1", ""), ("a/2", ""), ("b", "")], 0)
            .keys_with_prefix("a/")
            .cloned()
            .collect();
        assert_eq!(keys, ["a/1", "a/2"]);
    }
}
