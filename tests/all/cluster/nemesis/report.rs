//! The run's report: operations, faults and what they cost, anomalies, and what the
//! hosts logged about the reminders an anomaly names.

use std::time::Duration;

use super::FAULTS;
use super::history::{Fault, History, Op, Outcome, Reminder, Transfer};
use super::workload::{self, LISTS};
use crate::support::Host;

/// What the run recorded, copied out of the history once the clients stopped.
pub struct Recorded {
    pub ops: Vec<Op>,
    pub reminders: Vec<Reminder>,
    pub transfers: Vec<Transfer>,
    pub faults: Vec<Fault>,
}

impl Recorded {
    pub fn of(history: &History) -> Recorded {
        Recorded {
            ops: history.ops.lock().unwrap().clone(),
            reminders: history.reminders.lock().unwrap().clone(),
            transfers: history.transfers.lock().unwrap().clone(),
            faults: history.faults.lock().unwrap().clone(),
        }
    }
}

/// Print the operations, faults and what they cost, and the anomalies' count.
pub fn print(history: &History, recorded: &Recorded, total: i64, anomalies: &[String]) {
    let Recorded {
        ops,
        reminders,
        transfers,
        faults,
    } = recorded;
    for protocol in ["http", "grpc", "spawn"] {
        let of: Vec<_> = ops.iter().filter(|o| o.protocol == protocol).collect();
        let ok = of.iter().filter(|o| o.seen().is_some()).count();
        println!(
            "nemesis: {protocol}: {} operations, {ok} acknowledged",
            of.len()
        );
    }
    println!(
        "nemesis: {} reminders ({} acknowledged), {} transfers ({} acknowledged), bank total {total}",
        reminders.len(),
        reminders.iter().filter(|r| r.acknowledged).count(),
        transfers.len(),
        transfers.iter().filter(|t| t.acknowledged).count(),
    );
    for kind in FAULTS {
        let mut costs: Vec<f64> = faults
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| unavailability(history, f))
            .collect();
        let count = costs.len();
        let (p50, max) = summary(&mut costs);
        println!("nemesis: {kind}: {count} times, unavailability p50 {p50:.1} s, max {max:.1} s");
    }
    for fault in faults {
        println!(
            "nemesis: {} on host {:?} from {:.1}s to {:.1}s",
            fault.kind,
            fault.host,
            fault.start.as_secs_f64(),
            fault.end.as_secs_f64()
        );
    }
    println!("nemesis: {} anomalies", anomalies.len());
}

/// Print what `hosts` logged about each reminder an anomaly says is in a list twice.
pub fn print_reminder_logs<'a>(
    reminders: &[Reminder],
    anomalies: &[String],
    hosts: impl Iterator<Item = &'a Host> + Clone,
) {
    for r in reminders {
        let quoted = format!("{:?} is in the final list twice", r.element);
        if !anomalies.iter().any(|a| a.contains(&quoted)) {
            continue;
        }
        println!(
            "nemesis: reminder {} of {} due at {:.1}s, acknowledged {}",
            r.element,
            r.actor,
            r.due.as_secs_f64(),
            r.acknowledged
        );
        let name = format!("r-{}", r.element);
        for (n, host) in hosts.clone().enumerate() {
            for line in host.log().lines().filter(|l| {
                l.split_whitespace()
                    .any(|w| w.trim_matches('"').ends_with(&name))
            }) {
                println!("nemesis:   host {n}: {line}");
            }
        }
    }
}

/// How long after each fault's start until every list actor that was asked for answered
/// again, in seconds: the unavailability the fault caused.
fn unavailability(history: &History, fault: &Fault) -> f64 {
    let ops = history.ops.lock().unwrap();
    let mut worst = Duration::ZERO;
    for n in 0..LISTS {
        let actor = format!("list/{}", workload::list_id(n));
        let after = ops
            .iter()
            .filter(|o| o.actor == actor && o.invoked >= fault.start);
        let first_ok = after
            .filter(|o| matches!(o.outcome, Outcome::Ok(_)))
            .map(|o| o.completed)
            .min();
        if let Some(done) = first_ok {
            worst = worst.max(done.saturating_sub(fault.start));
        }
    }
    worst.as_secs_f64()
}

/// p50 and max of `values`.
fn summary(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let p50 = values.get(values.len() / 2).copied().unwrap_or(0.0);
    (p50, values.last().copied().unwrap_or(0.0))
}
