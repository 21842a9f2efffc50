//! The history checker, in the manner of Elle's list-append: every actor's list only
//! grows, so what each client saw can be held against the final list.
//!
//! Per actor:
//! - every acknowledged append is in the final list exactly once, and nothing is there
//!   that was not requested (by an append or a reminder);
//! - every list a client saw is a prefix of the final list, and an acknowledged append
//!   saw its own element last;
//! - an operation sent after another was acknowledged never sees less (real time order:
//!   linearizable per actor).
//!
//! Reminders: each acknowledged registration's element is in its actor's final list.
//! Bank: money is neither lost nor made, except by transfers whose outcome is unknown (a
//! chain of turns is not atomic: bob's deposit may have committed and alice's debit not).

use std::collections::{HashMap, HashSet};

use super::history::{Kind, Op, Reminder, Transfer};

/// How many operations around an anomaly to print.
const CONTEXT: usize = 12;

/// The anomalies found, each with the history around it.
pub fn check(
    ops: &[Op],
    reminders: &[Reminder],
    finals: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut by_actor: HashMap<&str, Vec<&Op>> = HashMap::new();
    for op in ops {
        by_actor.entry(&op.actor).or_default().push(op);
    }
    let requested = requested(ops, reminders);
    let empty = Vec::new();
    for (actor, final_list) in finals {
        let actor_ops = by_actor.get(actor.as_str()).unwrap_or(&empty);
        let requested = requested.get(actor.as_str());
        anomalies.extend(check_actor(actor, final_list, actor_ops, requested));
    }
    anomalies.extend(unfired_reminders(reminders, finals));
    anomalies
}

/// The elements requested of each actor, by an append or a reminder.
fn requested<'a>(ops: &'a [Op], reminders: &'a [Reminder]) -> HashMap<&'a str, HashSet<&'a str>> {
    let mut requested: HashMap<&str, HashSet<&str>> = HashMap::new();
    for op in ops {
        if let Kind::Append(e) = &op.kind {
            requested.entry(&op.actor).or_default().insert(e);
        }
    }
    for r in reminders {
        requested.entry(&r.actor).or_default().insert(&r.element);
    }
    requested
}

/// The anomalies of one actor: its final list against what was requested of it and what
/// its clients saw.
fn check_actor(
    actor: &str,
    final_list: &[String],
    actor_ops: &[&Op],
    requested: Option<&HashSet<&str>>,
) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut report = |what: String, near: Option<&Op>| {
        anomalies.push(format!(
            "{actor}: {what}\n{}",
            context(actor_ops, near, final_list)
        ));
    };
    let mut seen = HashSet::new();
    for e in final_list {
        if !seen.insert(e.as_str()) {
            report(format!("{e:?} is in the final list twice"), None);
        }
        if !requested.is_some_and(|r| r.contains(e.as_str())) {
            report(
                format!("{e:?} is in the final list but was never requested"),
                None,
            );
        }
    }
    for op in actor_ops {
        let Some(list) = op.seen() else { continue };
        if !final_list.starts_with(list) {
            report(
                "a client saw a list that is not a prefix of the final one".into(),
                Some(op),
            );
        }
        if let Kind::Append(e) = &op.kind {
            if !seen.contains(e.as_str()) {
                report(format!("acknowledged append {e:?} is lost"), Some(op));
            }
            if list.last() != Some(e) {
                report(
                    format!("append {e:?} answered a list that does not end with it"),
                    Some(op),
                );
            }
        }
    }
    if let Some((op, longest)) = stale_read(actor_ops) {
        report(
            format!(
                "saw {} items after an operation that had seen {longest} was acknowledged",
                op.seen().map_or(0, <[String]>::len)
            ),
            Some(op),
        );
    }
    anomalies
}

/// The acknowledged reminders whose element is not in their actor's final list.
fn unfired_reminders(reminders: &[Reminder], finals: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut anomalies = Vec::new();
    for r in reminders.iter().filter(|r| r.acknowledged) {
        let fired = finals
            .get(&r.actor)
            .is_some_and(|list| list.contains(&r.element));
        if !fired {
            anomalies.push(format!(
                "{}: reminder {:?} (due at {:.3}s) was registered but never fired",
                r.actor,
                r.element,
                r.due.as_secs_f64()
            ));
        }
    }
    anomalies
}

/// The first acknowledged operation that saw a shorter list than one acknowledged before
/// it was sent, and that longer length.
fn stale_read<'a>(ops: &[&'a Op]) -> Option<(&'a Op, usize)> {
    let mut ok: Vec<&Op> = ops.iter().copied().filter(|o| o.seen().is_some()).collect();
    let mut by_completion = ok.clone();
    by_completion.sort_by_key(|o| o.completed);
    ok.sort_by_key(|o| o.invoked);
    let mut longest = 0;
    let mut done = by_completion.iter().peekable();
    for op in ok {
        while let Some(before) = done.next_if(|b| b.completed < op.invoked) {
            longest = longest.max(before.seen().map_or(0, <[String]>::len));
        }
        if op.seen().map_or(0, <[String]>::len) < longest {
            return Some((op, longest));
        }
    }
    None
}

/// The bank's anomaly, if any: `total` against what the transfers allow.
pub fn check_bank(initial: i64, total: i64, transfers: &[Transfer]) -> Option<String> {
    let unknown: i64 = transfers
        .iter()
        .filter(|t| !t.acknowledged)
        .map(|t| t.amount)
        .sum();
    (total < initial || total > initial + unknown).then(|| {
        format!(
            "the bank holds {total}, not between {initial} and {} ({} transfers, {} of unknown outcome)",
            initial + unknown,
            transfers.len(),
            transfers.iter().filter(|t| !t.acknowledged).count()
        )
    })
}

/// The operations of one actor around `near` (or its last ones), and its final list.
fn context(ops: &[&Op], near: Option<&Op>, final_list: &[String]) -> String {
    let mut sorted: Vec<&Op> = ops.to_vec();
    sorted.sort_by_key(|o| o.invoked);
    let at = near
        .and_then(|n| sorted.iter().position(|o| std::ptr::eq(*o, n)))
        .unwrap_or(sorted.len().saturating_sub(1));
    let from = at.saturating_sub(CONTEXT / 2);
    let mut out = String::new();
    for op in sorted.iter().skip(from).take(CONTEXT) {
        let mark = if near.is_some_and(|n| std::ptr::eq(*op, n)) {
            ">>"
        } else {
            "  "
        };
        out.push_str(&format!("  {mark} {op}\n"));
    }
    out.push_str(&format!(
        "  final list ({} items): {final_list:?}\n",
        final_list.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::history::Outcome;
    use super::*;

    fn op(kind: Kind, at: (u64, u64), seen: Option<&[&str]>) -> Op {
        Op {
            client: 0,
            actor: "list/a".into(),
            kind,
            protocol: "http",
            host: 0,
            invoked: Duration::from_millis(at.0),
            completed: Duration::from_millis(at.1),
            outcome: match seen {
                Some(list) => Outcome::Ok(list.iter().map(|s| s.to_string()).collect()),
                None => Outcome::Unknown("timeout".into()),
            },
        }
    }

    fn finals(list: &[&str]) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "list/a".to_string(),
            list.iter().map(|s| s.to_string()).collect(),
        )])
    }

    #[test]
    fn a_good_history_has_no_anomaly() {
        let ops = [
            op(Kind::Append("1".into()), (0, 10), Some(&["1"])),
            op(Kind::Append("2".into()), (5, 30), None),
            op(Kind::Read, (20, 40), Some(&["1", "2"])),
            op(Kind::Append("3".into()), (50, 60), Some(&["1", "2", "3"])),
        ];
        assert_eq!(
            check(&ops, &[], &finals(&["1", "2", "3"])),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_kind_of_anomaly_is_found() {
        let found = |ops: &[Op], reminders: &[Reminder], list: &[&str], what: &str| {
            let anomalies = check(ops, reminders, &finals(list));
            assert!(
                anomalies.iter().any(|a| a.contains(what)),
                "no {what:?} in {anomalies:?}"
            );
        };
        let lost = [op(Kind::Append("1".into()), (0, 10), Some(&["1"]))];
        found(&lost, &[], &[], "is lost");
        let twice = [op(Kind::Append("1".into()), (0, 10), None)];
        found(&twice, &[], &["1", "1"], "twice");
        found(&[], &[], &["9"], "never requested");
        let stale = [
            op(Kind::Append("1".into()), (0, 10), Some(&["1"])),
            op(Kind::Read, (20, 30), Some(&[])),
        ];
        found(&stale, &[], &["1"], "after an operation");
        let forked = [op(Kind::Read, (0, 10), Some(&["2"]))];
        found(&forked, &[], &["1", "2"], "not a prefix");
        let silent = [Reminder {
            actor: "list/a".into(),
            element: "r1".into(),
            due: Duration::ZERO,
            acknowledged: true,
        }];
        found(&[], &silent, &[], "never fired");
        let made = [Transfer {
            amount: 5,
            acknowledged: true,
        }];
        assert!(check_bank(100, 105, &made).is_some());
        let unknown = [Transfer {
            amount: 5,
            acknowledged: false,
        }];
        assert!(check_bank(100, 105, &unknown).is_none());
        assert!(check_bank(100, 95, &unknown).is_some());
    }
}
