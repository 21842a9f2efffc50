//! Tests of the runtime core on the in-memory store, with a backend written here: the
//! core needs no disk, no Wasm and no protocol to keep its promises.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::scheduler::{FailurePolicy, Job, JobKind, JobRequest};
use super::*;
use crate::store::{ActorStore, MemoryStore, ReminderStore};
use crate::types::manifest::{ActorTypeSpec, Manifest};

/// A backend whose actions say what a turn does: `set` stages `k=v` pairs from the
/// payload, `fail` stages a write and then fails, `incr` adds one to `n`, `incr-gated`
/// reads `n`, then waits for a permit of `gate` before it writes `n + 1`, anything else
/// takes 20 ms.
struct Scripted {
    running: AtomicUsize,
    most_running: AtomicUsize,
    turns: AtomicUsize,
    /// A permit for each `incr-gated` turn that has read `n`.
    read: tokio::sync::Semaphore,
    /// A permit lets one `incr-gated` turn go on to its write.
    gate: tokio::sync::Semaphore,
}

impl Default for Scripted {
    fn default() -> Self {
        Scripted {
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
            turns: AtomicUsize::new(0),
            read: tokio::sync::Semaphore::new(0),
            gate: tokio::sync::Semaphore::new(0),
        }
    }
}

/// The number under `n`, as a turn sees it.
fn counter(state: &TurnState) -> u64 {
    state
        .get("n")
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

impl ActorBackend for Scripted {
    fn run_turn<'a>(&'a self, mut turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
        Box::pin(async move {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            let invocation = turn.invocation;
            let result = match invocation.action.as_str() {
                "set" => {
                    let text = String::from_utf8_lossy(&invocation.payload).into_owned();
                    for pair in text.split(',') {
                        if let Some((k, v)) = pair.split_once('=') {
                            turn.state.set(k.to_string(), v.as_bytes().to_vec());
                        }
                    }
                    Ok(Reply::default())
                }
                "incr" | "incr-gated" => {
                    let n = counter(&turn.state);
                    if invocation.action == "incr-gated" {
                        self.read.add_permits(1);
                        self.gate.acquire().await.map(|p| p.forget()).ok();
                    }
                    turn.state.set("n".into(), (n + 1).to_string().into_bytes());
                    Ok(Reply::default())
                }
                "remind" => {
                    // A write and a reminder registration: one commit.
                    turn.state.set("reminded".into(), b"yes".to_vec());
                    turn.state
                        .push_schedule(ScheduleOp::SetReminder(reminder("later", "1h")));
                    Ok(Reply::default())
                }
                "fail" => {
                    turn.state.set("c".into(), b"3".to_vec());
                    Err(InvokeError::Failed {
                        actor: invocation.target.clone(),
                        action: "fail".into(),
                        message: "asked to".into(),
                    })
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Reply::default())
                }
            };
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.turns.fetch_add(1, Ordering::SeqCst);
            TurnOutcome {
                result,
                staged: Some(turn.state),
                output: Vec::new(),
            }
        })
    }
}

/// This runtime deploys no components.
struct NoComponents;

impl ComponentLoader for NoComponents {
    fn load(
        self: Arc<Self>,
        _: Arc<Vec<u8>>,
    ) -> BackendFuture<'static, Result<LoadedComponent, LoadError>> {
        Box::pin(async { Err(LoadError::Invalid("no components here".into())) })
    }

    fn cache_counts(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// A runtime on a memory store, hosting type `scripted` by a [`Scripted`] backend.
async fn runtime(config: RuntimeConfig) -> (Runtime, Arc<MemoryStore>, Arc<Scripted>) {
    let store = Arc::new(MemoryStore::new());
    let runtime = Runtime::new(config, store.clone(), Arc::new(NoComponents));
    runtime.load_tenants().await.unwrap();
    let backend = Arc::new(Scripted::default());
    let manifest = Manifest {
        name: "scripted".into(),
        version: String::new(),
        actor_types: vec![ActorTypeSpec::external(
            "scripted",
            Duration::from_secs(60),
            None,
        )],
    };
    runtime
        .register_external(DEFAULT_TENANT, manifest, backend.clone())
        .unwrap();
    (runtime, store, backend)
}

fn call(id: &str, action: &str, payload: &str) -> Invocation {
    Invocation::call(
        ActorId::new(DEFAULT_TENANT, "scripted", id),
        action,
        payload.as_bytes().to_vec(),
        Instant::now() + Duration::from_secs(10),
    )
}

#[tokio::test]
async fn a_turn_commits_all_its_writes_as_one_version_or_none() {
    let (runtime, store, _) = runtime(RuntimeConfig::default()).await;
    let actor = ActorId::new(DEFAULT_TENANT, "scripted", "a");
    runtime.invoke(call("a", "set", "a=1,b=2")).await.unwrap();
    let record = store.load(&actor).await.unwrap();
    assert_eq!(record.version, 1);
    assert_eq!(record.entries.len(), 2);

    assert!(runtime.invoke(call("a", "fail", "")).await.is_err());
    let record = store.load(&actor).await.unwrap();
    assert_eq!(record.version, 1, "a failed turn commits nothing");
    assert!(!record.entries.contains_key("c"));
    assert_eq!(
        runtime.get_state(&actor, "b").await.unwrap(),
        Some(b"2".to_vec())
    );
}

/// The committed `n` of `actor`.
async fn stored_n(store: &MemoryStore, actor: &ActorId) -> String {
    let record = store.load(actor).await.unwrap();
    String::from_utf8_lossy(record.entries.get("n").map_or(&b""[..], |v| v)).into_owned()
}

#[tokio::test]
async fn a_turn_whose_version_moved_elsewhere_fails_and_is_not_applied_on_newer_state() {
    let (runtime, store, backend) = runtime(RuntimeConfig::default()).await;
    let actor = ActorId::new(DEFAULT_TENANT, "scripted", "a");
    runtime.invoke(call("a", "incr", "")).await.unwrap();
    let stale = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.invoke(call("a", "incr-gated", "")).await }
    });
    backend.read.acquire().await.unwrap().forget();
    // Another writer (another host, after a move) commits while the turn holds n = 1.
    let outside = vec![("n".to_string(), Some(b"10".to_vec()))];
    store.commit(&actor, 1, outside).await.unwrap();
    backend.gate.add_permits(1);
    let stale = stale.await.unwrap();
    assert!(
        stale.is_err(),
        "a turn on a moved version committed: {stale:?}"
    );
    assert_eq!(
        stored_n(&store, &actor).await,
        "10",
        "the newer write stands"
    );
    // The activation ended with its failed commit: the next turn reads the newer state.
    runtime.invoke(call("a", "incr", "")).await.unwrap();
    assert_eq!(stored_n(&store, &actor).await, "11");
}

#[tokio::test]
async fn a_turn_of_an_activation_released_mid_turn_never_commits_over_a_newer_one() {
    let (runtime, store, backend) = runtime(RuntimeConfig::default()).await;
    let actor = ActorId::new(DEFAULT_TENANT, "scripted", "a");
    let stale = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.invoke(call("a", "incr-gated", "")).await }
    });
    backend.read.acquire().await.unwrap().forget();
    // The actor's partition moves away with no drain (a rejoin) and back: the turn that
    // read n = 0 is still running when a new activation commits n = 1.
    runtime.release_actors(|_| true, Duration::ZERO).await;
    runtime.invoke(call("a", "incr", "")).await.unwrap();
    backend.gate.add_permits(1);
    let stale = stale.await.unwrap();
    let acknowledged = 1 + usize::from(stale.is_ok());
    assert_eq!(
        stored_n(&store, &actor).await,
        acknowledged.to_string(),
        "{acknowledged} increments acknowledged (the stale turn: {stale:?})"
    );
    assert!(
        matches!(&stale, Err(InvokeError::Unavailable { ran: true, .. })),
        "the stale turn's error says it ran and may have had effects: {stale:?}"
    );
}

/// Releasing partitions waits one drain for all their running turns together, never one
/// drain per actor: the drain is what keeps a release inside the lease. Checked on a
/// paused clock, so the figure is exact and the machine's load does not matter.
#[tokio::test(start_paused = true)]
async fn a_release_drains_every_actor_within_one_drain_and_their_late_turns_never_commit() {
    let (runtime, store, backend) = runtime(RuntimeConfig::default()).await;
    let count = 8;
    let mut stuck = Vec::new();
    for i in 0..count {
        let runtime = runtime.clone();
        let id = format!("a{i}");
        stuck.push(tokio::spawn(async move {
            runtime.invoke(call(&id, "incr-gated", "")).await
        }));
    }
    for _ in 0..count {
        backend.read.acquire().await.unwrap().forget();
    }
    let drain = Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    runtime.release_actors(|_| true, drain).await;
    let took = started.elapsed();
    assert!(
        took >= drain && took < drain * 2,
        "{count} actors released in {took:?} with a drain of {drain:?}"
    );
    backend.gate.add_permits(count);
    for turn in stuck {
        let outcome = turn.await.unwrap();
        assert!(
            matches!(&outcome, Err(InvokeError::Unavailable { ran: true, .. })),
            "a turn that outlived the drain: {outcome:?}"
        );
    }
    for i in 0..count {
        let actor = ActorId::new(DEFAULT_TENANT, "scripted", &format!("a{i}"));
        assert_eq!(stored_n(&store, &actor).await, "", "{actor} committed late");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_reminders_queue_behind_the_cap_of_firings_in_flight() {
    let config = RuntimeConfig {
        max_firing_turns: 3,
        ..RuntimeConfig::default()
    };
    let (runtime, _, backend) = runtime(config).await;
    let count = 30;
    for i in 0..count {
        let job = reminder("wake", "0s");
        let actor = ActorId::new(DEFAULT_TENANT, "scripted", &format!("r{i}"));
        runtime.set_reminder(&actor, job, true).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.turns.load(Ordering::SeqCst) < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(backend.turns.load(Ordering::SeqCst), count);
    let most = backend.most_running.load(Ordering::SeqCst);
    assert!(most <= 3, "{most} firings ran at once");
}

fn reminder(name: &str, due_time: &str) -> Job {
    Job::new(
        JobRequest {
            kind: JobKind::Reminder,
            name,
            due_time,
            period: "",
            ttl: "",
            data: Vec::new(),
            callback: None,
            failure_policy: FailurePolicy::default(),
        },
        chrono::Utc::now(),
    )
    .unwrap()
}

/// Reminders due later than the window stay in the store only: none of them costs
/// memory, each reads back through the API, and one due now still fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_due_later_stay_in_the_store_until_their_window() {
    let (runtime, store, backend) = runtime(RuntimeConfig::default()).await;
    for i in 0..500 {
        let actor = ActorId::new(DEFAULT_TENANT, "scripted", &format!("later{i}"));
        runtime
            .set_reminder(&actor, reminder("wake", "1h"), true)
            .await
            .unwrap();
    }
    let now = ActorId::new(DEFAULT_TENANT, "scripted", "now");
    runtime
        .set_reminder(&now, reminder("wake", "0s"), true)
        .await
        .unwrap();
    let later = ActorId::new(DEFAULT_TENANT, "scripted", "later7");
    let job = runtime
        .get_job(JobKind::Reminder, &later, "wake")
        .await
        .unwrap();
    assert!(job.is_some(), "a reminder due later reads from the store");
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend.turns.load(Ordering::SeqCst) < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(backend.turns.load(Ordering::SeqCst), 1, "the due one fired");
    // The firing ends after its turn: the one-shot reminder leaves the store, then memory.
    while runtime.0.scheduler.count(JobKind::Reminder) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.reminder(&now, "wake").await.unwrap().is_none());
    runtime.load_reminders().await.unwrap();
    assert_eq!(
        runtime.0.scheduler.count(JobKind::Reminder),
        0,
        "none of the later ones is held in memory"
    );
    assert_eq!(
        store
            .actor_reminders(DEFAULT_TENANT, "scripted", None)
            .await
            .unwrap()
            .len(),
        500
    );
}

/// Reminders a store holds when the runtime starts are read as they come due and fire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_reminders_fire_after_a_start() {
    let (runtime, store, backend) = runtime(RuntimeConfig::default()).await;
    for i in 0..20 {
        let actor = ActorId::new(DEFAULT_TENANT, "scripted", &format!("s{i}"));
        let job = reminder("wake", "0s");
        let record = serde_json::to_vec(&job).unwrap();
        store
            .put_reminder(&actor, "wake", job.due_ms, record)
            .await
            .unwrap();
    }
    runtime.load_reminders().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend.turns.load(Ordering::SeqCst) < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(backend.turns.load(Ordering::SeqCst), 20);
}

/// A reminder that calls `set` with `data` when it fires, every `period` ("" for once).
fn setting_reminder(name: &str, period: &str, data: &str) -> Job {
    Job::new(
        JobRequest {
            kind: JobKind::Reminder,
            name,
            due_time: "0s",
            period,
            ttl: "",
            data: data.as_bytes().to_vec(),
            callback: Some("set".into()),
            failure_policy: FailurePolicy::default(),
        },
        chrono::Utc::now(),
    )
    .unwrap()
}

/// Wait until `check` holds (5 s at most); whether it did.
async fn until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// A firing's progress is written by its turn's commit, with the turn's state: a periodic
/// reminder moves to its next period and a one-shot one leaves the store, with no write
/// of the reminder apart from the commit; a turn that registers a reminder stores it in
/// the commit of its state too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_commits_its_reminder_progress_with_its_state() {
    let (runtime, store, backend) = runtime(RuntimeConfig::default()).await;
    let periodic = ActorId::new(DEFAULT_TENANT, "scripted", "periodic");
    let once = ActorId::new(DEFAULT_TENANT, "scripted", "once");
    let every_hour = setting_reminder("tick", "1h", "ticked=1");
    let first_due = every_hour.due_ms;
    runtime
        .set_reminder(&periodic, every_hour, true)
        .await
        .unwrap();
    runtime
        .set_reminder(&once, setting_reminder("ring", "", "rang=1"), true)
        .await
        .unwrap();
    let written_apart = store.reminder_writes();
    assert!(until(|| backend.turns.load(Ordering::SeqCst) >= 2).await);
    assert!(until(|| runtime.0.scheduler.count(JobKind::Reminder) == 0).await);

    let record = store.load(&periodic).await.unwrap();
    assert_eq!(record.version, 1, "one commit");
    assert_eq!(
        record.entries.get("ticked").map(|v| &v[..]),
        Some(&b"1"[..])
    );
    let next = store.reminder(&periodic, "tick").await.unwrap().unwrap();
    assert_eq!(
        next.due_ms,
        first_due + 3_600_000,
        "moved to its next period"
    );
    assert!(store.reminder(&once, "ring").await.unwrap().is_none());
    assert_eq!(store.load(&once).await.unwrap().version, 1);
    assert_eq!(
        store.reminder_writes(),
        written_apart,
        "a firing wrote its reminder apart from its turn's commit"
    );

    let actor = ActorId::new(DEFAULT_TENANT, "scripted", "registers");
    runtime
        .invoke(call("registers", "remind", ""))
        .await
        .unwrap();
    assert_eq!(store.load(&actor).await.unwrap().version, 1);
    assert!(store.reminder(&actor, "later").await.unwrap().is_some());
    assert_eq!(store.reminder_writes(), written_apart);
}
