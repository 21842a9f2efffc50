//! What a new version of a component would break: an actor type it drops that still has
//! active actors, stored reminders or timers, and an action it drops that reminders or
//! timers still call. A deploy that would break something is refused unless forced, with
//! every such thing named.

use std::collections::HashSet;

use super::Runtime;
use super::catalog::Breakage;
use super::reminder_records::decode_job;
use super::scheduler::{Job, JobKind};
use crate::types::ActorId;
use crate::types::StoreError;
use crate::types::manifest::{ActorTypeSpec, Manifest};

/// How many of a thing, with its noun in the right number.
fn count(n: usize, noun: &str) -> Option<String> {
    match n {
        0 => None,
        1 => Some(format!("1 {noun}")),
        n => Some(format!("{n} {noun}s")),
    }
}

impl Runtime {
    /// What replacing component `name` of `tenant` by one with `manifest` would break.
    pub(super) async fn upgrade_breakage(
        &self,
        tenant: &str,
        name: &str,
        manifest: &Manifest,
    ) -> Result<Breakage, StoreError> {
        let mut breakage = Breakage::default();
        for (old, component) in self.0.catalog.registry().actor_types(tenant) {
            if component != name {
                continue;
            }
            let of_type = |a: &ActorId| &*a.tenant == tenant && *a.actor_type == *old.name;
            let reminders: Vec<Job> = self
                .0
                .store
                .actor_reminders(tenant, &old.name, None)
                .await?
                .iter()
                .filter_map(decode_job)
                .collect();
            let timers: Vec<Job> = self
                .0
                .scheduler
                .list_matching(JobKind::Timer, of_type)
                .into_iter()
                .map(|(_, job)| job)
                .collect();
            let new = manifest.actor_types.iter().find(|t| t.name == old.name);
            let active = match new {
                None => self.0.table.active(of_type).len(),
                Some(_) => 0,
            };
            breakage
                .0
                .extend(broken(&old, new, active, &reminders, &timers));
        }
        Ok(breakage)
    }
}

/// What replacing actor type `old` by `new` (`None`: dropped) breaks, given its `active`
/// actors and the `reminders` and `timers` of its actors.
fn broken(
    old: &ActorTypeSpec,
    new: Option<&ActorTypeSpec>,
    active: usize,
    reminders: &[Job],
    timers: &[Job],
) -> Vec<String> {
    let Some(new) = new else {
        let uses: Vec<String> = [
            count(active, "active actor"),
            count(reminders.len(), "reminder"),
            count(timers.len(), "timer"),
        ]
        .into_iter()
        .flatten()
        .collect();
        return match uses.is_empty() {
            true => Vec::new(),
            false => vec![format!(
                "actor type {:?} is dropped but has {}",
                old.name,
                uses.join(", ")
            )],
        };
    };
    // A type that declares no actions says nothing of which it handles.
    if new.actions.is_empty() {
        return Vec::new();
    }
    let kept: HashSet<&str> = new.actions.iter().map(|a| a.name.as_str()).collect();
    let mut broken = Vec::new();
    for action in old.actions.iter().map(|a| a.name.as_str()) {
        if kept.contains(action) {
            continue;
        }
        let calling = |jobs: &[Job]| jobs.iter().filter(|j| j.action() == action).count();
        let uses: Vec<String> = [
            count(calling(reminders), "reminder"),
            count(calling(timers), "timer"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !uses.is_empty() {
            broken.push(format!(
                "action {action:?} of actor type {:?} is dropped but {} call it",
                old.name,
                uses.join(", ")
            ));
        }
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::scheduler::{FailurePolicy, JobRequest};
    use crate::types::manifest::{ActionSpec, ActorKind};

    fn spec(actions: &[&str]) -> ActorTypeSpec {
        let mut spec = ActorTypeSpec::external("counter", std::time::Duration::from_secs(60), None);
        spec.kind = ActorKind::Named;
        spec.actions = actions
            .iter()
            .map(|name| ActionSpec {
                name: name.to_string(),
                description: None,
                parameters: None,
                result: None,
            })
            .collect();
        spec
    }

    fn job(kind: JobKind, name: &str, callback: Option<&str>) -> Job {
        let request = JobRequest {
            kind,
            name,
            due_time: "1h",
            period: "",
            ttl: "",
            data: Vec::new(),
            callback: callback.map(str::to_string),
            failure_policy: FailurePolicy::default(),
        };
        Job::new(request, chrono::Utc::now()).unwrap()
    }

    #[test]
    fn a_dropped_action_breaks_only_what_calls_it() {
        let old = spec(&["add", "get", "reset"]);
        let new = spec(&["get"]);
        let reminders = [job(JobKind::Reminder, "add", None)];
        let timers = [
            job(JobKind::Timer, "t1", Some("add")),
            job(JobKind::Timer, "t2", Some("get")),
        ];
        let broken = broken(&old, Some(&new), 3, &reminders, &timers);
        assert_eq!(
            broken,
            ["action \"add\" of actor type \"counter\" is dropped but 1 reminder, 1 timer call it"]
        );
        // Nothing calls `reset`, and active actors do not hold an action.
        assert!(super::broken(&old, Some(&old), 3, &reminders, &timers).is_empty());
        // A version that declares no actions says nothing of which it handles.
        assert!(super::broken(&old, Some(&spec(&[])), 3, &reminders, &timers).is_empty());
    }

    #[test]
    fn a_dropped_type_breaks_if_anything_uses_it() {
        let old = spec(&["add"]);
        assert!(broken(&old, None, 0, &[], &[]).is_empty());
        assert_eq!(
            broken(&old, None, 2, &[job(JobKind::Reminder, "r", None)], &[]),
            ["actor type \"counter\" is dropped but has 2 active actors, 1 reminder"]
        );
    }
}
