//! Failpoints in the embedded store's write path, so that tests can make a commit fail
//! at each of its steps and check what the host does. They compile to nothing unless the
//! `failpoints` feature is on (the test build turns it on).
//!
//! The host configures them at start from `FAILPOINTS` (the `fail` crate's syntax,
//! `point=actions;...`). The actions this module understands are `return(enospc)` and
//! `return(eio)`, which inject that I/O error, and `return(crash)`, which aborts the
//! process as a power cut right there would (at `sled-commit-apply` it first makes the
//! record just written durable, so that the next start has a commit to replay).
//! For example, `FAILPOINTS='sled-flush=1*return(eio)'` fails the first group flush.
//!
//! The points, in the order a commit passes them:
//! - `sled-commit-read`: reading the actor's record;
//! - `sled-commit-write`: writing the record back;
//! - `sled-commit-apply`: between the record (which carries the commit's reminder
//!   changes) and those changes applied to the reminder trees;
//! - `sled-flush`: the group flush of a `sync` store.
//!
//! PostgreSQL's commits have points that *stall* instead (`return(MS)`: wait MS
//! milliseconds there, then go on), so a test can pause or cut off a host at that moment:
//! - `postgres-commit-queued`: a batch of commits before its transaction begins;
//! - `postgres-commit-locked`: a batch of fenced commits inside its transaction, holding
//!   the shared locks of its partitions.

use super::StoreError;

/// The points a commit passes, as named in `FAILPOINTS`.
pub const POINTS: [&str; 6] = [
    "sled-commit-read",
    "sled-commit-write",
    "sled-commit-apply",
    "sled-flush",
    "postgres-commit-queued",
    "postgres-commit-locked",
];

/// Whether this build has failpoints compiled in.
pub const COMPILED_IN: bool = cfg!(feature = "failpoints");

/// Configure failpoints from a `FAILPOINTS` value; how many were set.
pub fn configure(spec: &str) -> Result<usize, String> {
    let mut set = 0;
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (point, actions) = entry
            .split_once('=')
            .ok_or_else(|| format!("failpoint {entry:?} has no `=actions`"))?;
        if !POINTS.contains(&point) {
            return Err(format!(
                "no failpoint {point:?}; there are {}",
                POINTS.join(", ")
            ));
        }
        fail::cfg(point, actions).map_err(|e| format!("failpoint {point:?}: {e}"))?;
        set += 1;
    }
    Ok(set)
}

/// Pass failpoint `point`: `Ok` unless a test configured it to fail. On `crash`,
/// `make_durable` runs before the abort.
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub fn pass(point: &str, make_durable: impl FnOnce()) -> Result<(), StoreError> {
    fail::fail_point!(point, |action: Option<String>| match action.as_deref() {
        Some("crash") => {
            make_durable();
            tracing::error!(point, "injected crash");
            std::process::abort()
        }
        Some("eio") => Err(StoreError::Io(format!(
            "Input/output error (os error 5), injected at {point}"
        ))),
        _ => Err(StoreError::Io(format!(
            "No space left on device (os error 28), injected at {point}"
        ))),
    });
    Ok(())
}

/// Pass stalling failpoint `point`: wait there as long as a test configured it to
/// (`return(MS)`), else go on at once.
pub async fn stall(point: &str) {
    if let Some(ms) = stall_ms(point) {
        tracing::warn!(point, ms, "injected stall");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
fn stall_ms(point: &str) -> Option<u64> {
    fail::fail_point!(point, |action: Option<String>| action
        .and_then(|ms| ms.parse().ok()));
    None
}
