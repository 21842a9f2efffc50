//! Reminders as a commit writes them: a job's stored record, the reminder changes among
//! a turn's staged ops, and a firing's progress. Pure translations, shared by the turn
//! (which commits them) and the firing loop (which reads them back).

use super::ScheduleOp;
use super::scheduler::Job;
use crate::store::{StoreError, StoredReminder};
use crate::types::ReminderChange;

/// A job as the store keeps it.
pub(super) fn encode_job(job: &Job) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(job).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The reminder changes among a turn's staged ops, to commit with its state.
pub(super) fn reminder_changes(ops: &[ScheduleOp]) -> Result<Vec<ReminderChange>, StoreError> {
    let mut changes = Vec::new();
    for op in ops {
        match op {
            ScheduleOp::SetReminder(job) => changes.push(ReminderChange::Put {
                name: job.name.clone(),
                due_ms: job.due_ms,
                record: encode_job(job)?,
            }),
            ScheduleOp::CancelReminder(name) => {
                changes.push(ReminderChange::Delete { name: name.clone() })
            }
            ScheduleOp::SetTimer(_) | ScheduleOp::CancelTimer(_) => {}
        }
    }
    Ok(changes)
}

/// A firing's progress as its turn commits it: the next due time, or none when the turn
/// cancelled the reminder.
pub(super) fn progress_after(progress: ReminderChange, cancelled: bool) -> ReminderChange {
    match progress {
        ReminderChange::Advance {
            name, fired_due_ms, ..
        } if cancelled => ReminderChange::Advance {
            name,
            fired_due_ms,
            next: None,
        },
        other => other,
    }
}

/// A stored reminder's job, if its record reads.
pub(super) fn decode_job(stored: &StoredReminder) -> Option<Job> {
    serde_json::from_slice(&stored.record).ok()
}
