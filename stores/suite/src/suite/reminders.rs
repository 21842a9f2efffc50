//! Reminders: due order, the changes a commit carries, and a firing's progress.

use warren_store::{ReminderChange, StateStore, StoreError, StoredReminder};
use warren_wire::types::ActorId;

use super::{set, stores};

/// Reminders come back in due order, in windows that end at a time and hold at most a
/// count, each read going on after the last; moving one moves it in that order.
#[tokio::test]
async fn reminders_are_read_in_due_order_window_by_window() {
    for (name, store, _dir) in stores().await {
        for i in 0..10i64 {
            let actor = ActorId::new("t", "x", &format!("a{}", 9 - i));
            store
                .put_reminder(&actor, "r", i * 100, vec![i as u8])
                .await
                .unwrap();
        }
        let first = store.reminders_due(None, 450, 3).await.unwrap();
        let dues: Vec<i64> = first.iter().map(|r| r.due_ms).collect();
        assert_eq!(dues, [0, 100, 200], "{name}");
        let cursor = first.last().map(|r| r.cursor());
        let next = store.reminders_due(cursor, 450, 3).await.unwrap();
        let dues: Vec<i64> = next.iter().map(|r| r.due_ms).collect();
        assert_eq!(dues, [300, 400], "{name}: the window ends at 450");
        // Moving a reminder earlier takes it out of its old place.
        let moved = ActorId::new("t", "x", "a0");
        store.put_reminder(&moved, "r", 50, vec![9]).await.unwrap();
        let all = store.reminders_due(None, i64::MAX, 100).await.unwrap();
        let dues: Vec<i64> = all.iter().map(|r| r.due_ms).collect();
        assert_eq!(
            dues,
            [0, 50, 100, 200, 300, 400, 500, 600, 700, 800],
            "{name}"
        );
        let stored = store.reminder(&moved, "r").await.unwrap();
        assert_eq!(stored.map(|r| r.due_ms), Some(50), "{name}");
    }
}

/// A reminder as the checks compare it: its due time and record.
fn due(reminder: Option<StoredReminder>) -> Option<(i64, Vec<u8>)> {
    reminder.map(|r| (r.due_ms, r.record))
}

/// Put reminder `name`, due at `due_ms`, with its due time (as a byte) for its record.
fn put(name: &str, due_ms: i64) -> ReminderChange {
    ReminderChange::Put {
        name: name.into(),
        due_ms,
        record: vec![due_ms as u8],
    }
}

/// The progress of reminder `every` after it fired at `fired`: on to `next`, or out.
fn advance(fired: i64, next: Option<i64>) -> ReminderChange {
    ReminderChange::Advance {
        name: "every".into(),
        fired_due_ms: fired,
        next: next.map(|due| (due, vec![due as u8])),
    }
}

#[tokio::test]
async fn a_commit_writes_its_reminder_changes_with_its_state_or_nothing() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "x", "a");
        let v1 = a_commit_writes_reminders_and_a_stale_one_nothing(name, &*store, &actor).await;
        let v3 =
            a_firing_commits_its_progress_only_from_its_due_time(name, &*store, &actor, v1).await;
        // The last firing deletes it; a cancel deletes another.
        let delete_once = ReminderChange::Delete {
            name: "once".into(),
        };
        store
            .commit_turn(&actor, v3, vec![], vec![advance(30, None), delete_once])
            .await
            .unwrap();
        assert!(
            store
                .actor_reminders("t", "x", None)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let due_index = store.reminders_due(None, i64::MAX, 10).await.unwrap();
        assert!(due_index.is_empty(), "{name}: {due_index:?}");
    }
}

/// A commit puts reminders `every` (due at 10) and `once` with its state; a stale one
/// writes neither. The first commit's version.
async fn a_commit_writes_reminders_and_a_stale_one_nothing(
    name: &str,
    store: &dyn StateStore,
    actor: &ActorId,
) -> u64 {
    let v1 = store
        .commit_turn(
            actor,
            0,
            vec![set("k", "1")],
            vec![put("every", 10), put("once", 20)],
        )
        .await
        .unwrap();
    let loaded = store.load(actor).await.unwrap();
    assert_eq!(loaded.entries.get("k").map(|v| &v[..]), Some(&b"1"[..]));
    assert_eq!(
        due(store.reminder(actor, "every").await.unwrap()),
        Some((10, vec![10])),
        "{name}"
    );

    // A stale commit writes neither state nor reminders.
    let stale = store
        .commit_turn(actor, 0, vec![set("k", "x")], vec![put("every", 99)])
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{name}");
    assert_eq!(
        due(store.reminder(actor, "every").await.unwrap()),
        Some((10, vec![10])),
        "{name}: a refused commit moved a reminder"
    );
    v1
}

/// Reminder `every`, due at 10, fires and moves on to 30 with its turn's state (at
/// version `v1`); a later commit of the progress from 10 does not move it again. The
/// actor's version after both.
async fn a_firing_commits_its_progress_only_from_its_due_time(
    name: &str,
    store: &dyn StateStore,
    actor: &ActorId,
    v1: u64,
) -> u64 {
    // A firing's progress: applied while the reminder is still the one that fired.
    let v2 = store
        .commit_turn(actor, v1, vec![set("k", "2")], vec![advance(10, Some(30))])
        .await
        .unwrap();
    assert_eq!(
        due(store.reminder(actor, "every").await.unwrap()),
        Some((30, vec![30])),
        "{name}"
    );
    // Progress of a firing whose reminder was replaced since: the new one stands. On
    // PostgreSQL, where hosts fire across moves, the whole firing is refused (no due
    // time commits twice); a single host's stores commit the state alone.
    let late = store
        .commit_turn(
            actor,
            v2,
            vec![set("k", "late")],
            vec![advance(10, Some(40))],
        )
        .await;
    let v3 = if name == "postgres" {
        assert!(matches!(late, Err(StoreError::Fired { .. })), "{late:?}");
        let record = store.load(actor).await.unwrap();
        assert_eq!(
            record.entries["k"], b"2",
            "{name}: a refused firing wrote state"
        );
        v2
    } else {
        late.unwrap()
    };
    assert_eq!(
        due(store.reminder(actor, "every").await.unwrap()),
        Some((30, vec![30])),
        "{name}"
    );
    v3
}

/// A firing's progress written outside a turn moves a reminder on only from the due time
/// that fired: never over a newer registration, never reviving a deleted reminder.
#[tokio::test]
async fn a_reminder_moves_on_only_from_the_due_time_that_fired() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "c", "a");
        store
            .put_reminder(&actor, "r", 10, b"{}".to_vec())
            .await
            .unwrap();
        let stale = store.advance_reminder(&actor, "r", 5, None).await.unwrap();
        assert!(!stale, "{name}: moved on from a due time it no longer has");
        let moved = store
            .advance_reminder(&actor, "r", 10, Some((20, b"{}".to_vec())))
            .await
            .unwrap();
        assert!(moved, "{name}");
        let again = store.advance_reminder(&actor, "r", 10, None).await.unwrap();
        assert!(!again, "{name}: the same due time moved on twice");
        let due = store.reminder(&actor, "r").await.unwrap().map(|r| r.due_ms);
        assert_eq!(due, Some(20), "{name}");
        assert!(store.advance_reminder(&actor, "r", 20, None).await.unwrap());
        assert!(
            store.reminder(&actor, "r").await.unwrap().is_none(),
            "{name}"
        );
        let revived = store
            .advance_reminder(&actor, "r", 20, Some((30, b"{}".to_vec())))
            .await
            .unwrap();
        assert!(!revived, "{name}: a deleted reminder came back");
        assert!(
            store.reminder(&actor, "r").await.unwrap().is_none(),
            "{name}"
        );
    }
}
