//! Figure 5: reminders registered, then fired as they come due, each pass in a process
//! of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use warren_bench::inproc::runtime_with;
use warren_bench::procs::rss_of;
use warren_bench::stats::fmt;
use warren_host::runtime::ActorId;
use warren_host::runtime::scheduler::{FailurePolicy, Job, JobKind, JobRequest};
use warren_host::store::{Durability, ReminderStore, SledStore, StateStore};
use warren_host::wasm::WasmConfig;

use super::measure_until;

/// Figure 5: register many reminders, fire them, and measure how late they fire. The goal's
/// schedule asks for 50k firings/s; a second pass asks for a fifth of that, within what two
/// cores serve, to show how late a firing is when it does not wait in a queue; a third runs
/// the goal's schedule with instances reused across actors, to show the fresh instance's
/// share. Each pass runs in a process of its own: in one process a later pass ran up to a
/// third slower than the same pass run first.
pub async fn reminders(count: u64) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    for (count, per_second, instances) in [
        (count, 50_000, "fresh"),
        ((count / 5).max(1), 10_000, "fresh"),
        (count, 50_000, "reuse"),
    ] {
        let status = tokio::process::Command::new(&me)
            .args([
                "reminder-pass",
                &count.to_string(),
                &per_second.to_string(),
                instances,
            ])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "the reminder pass failed: {status}");
    }
    Ok(())
}

/// One pass of figure 5, in a process of its own: `reminder-pass COUNT PER_SECOND fresh|reuse`.
pub fn reminder_pass_process(mut args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut number = |what: &str| -> anyhow::Result<u64> {
        args.next()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("reminder-pass needs {what}"))
    };
    let (count, per_second) = (number("a count")?, number("a rate")?);
    anyhow::ensure!(
        count > 0 && per_second > 0,
        "reminder-pass needs a count and a rate above 0"
    );
    let config = match args.next().as_deref() {
        Some("fresh") => WasmConfig::default(),
        Some("reuse") => WasmConfig {
            reuse_instances: true,
            pinned_instances: 0,
            ..WasmConfig::default()
        },
        other => anyhow::bail!("reminder-pass needs `fresh` or `reuse`, not {other:?}"),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(reminder_pass(count, per_second, config))
}

/// Register `count` reminders of distinct actors, due evenly at `per_second` from 20 s on
/// (registration must be done by then), and wait for them to fire.
async fn reminder_pass(count: u64, per_second: u64, config: WasmConfig) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let instances = if config.reuse_instances {
        "instances reused across actors"
    } else {
        "fresh instance per actor, the default"
    };
    let (rt, _) = runtime_with(dir.path(), Durability::Relaxed, &["hostile"], config).await?;
    let spread_ms = (count * 1000 / per_second).max(1);
    let base = chrono::Utc::now() + chrono::Duration::seconds(20);
    let next = Arc::new(AtomicU64::new(0));
    let reg = {
        let (rt, next) = (rt.clone(), next.clone());
        measure_until(
            &format!("register {count} reminders, 32 tasks"),
            32,
            move |_| {
                let (rt, next) = (rt.clone(), next.clone());
                async move {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return None;
                    }
                    let due = base + chrono::Duration::milliseconds((i * spread_ms / count) as i64);
                    let due = due.to_rfc3339();
                    let job = one_shot("tick", &due).ok()?;
                    let actor = ActorId::new("default", "ticker", &format!("t{i}"));
                    Some(rt.set_reminder(&actor, job, true).await.is_ok())
                }
            },
        )
        .await?
    };
    reg.print(None);
    let until_base = (base - chrono::Utc::now()).to_std();
    anyhow::ensure!(
        until_base.is_ok(),
        "registration took longer than the 20 s head start"
    );
    tokio::time::sleep(until_base.unwrap_or_default()).await;
    let start = Instant::now();
    while rt.stats().firings.fired < count && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = start.elapsed();
    let stats = rt.stats().firings;
    println!(
        "reminders ({instances}): {} of {count} fired in {} from the first due time (scheduled at {per_second}/s over {spread_ms} ms) = {:.0}/s; lateness p50 <= {} ms, p99 <= {} ms (power-of-two buckets)",
        stats.fired,
        fmt(took),
        stats.fired as f64 / took.as_secs_f64(),
        stats.late_p50_ms,
        stats.late_p99_ms
    );
    Ok(())
}

/// A one-shot reminder `name` due at `due` (RFC 3339), with data `1`.
fn one_shot(name: &str, due: &str) -> anyhow::Result<Job> {
    let request = JobRequest {
        kind: JobKind::Reminder,
        name,
        due_time: due,
        period: "",
        ttl: "",
        data: b"1".to_vec(),
        callback: None,
        failure_policy: FailurePolicy::default(),
    };
    Ok(Job::new(request, chrono::Utc::now())?)
}

/// Figure 5's start: the RSS of a host that starts on `count` stored reminders due in an
/// hour, against one that starts on an empty store, each in a process of its own.
pub async fn stored(count: u64) -> anyhow::Result<()> {
    let empty = tempfile::tempdir()?;
    let full = tempfile::tempdir()?;
    {
        let store = SledStore::open(&full.path().join("store"), Durability::Relaxed)?;
        let due = chrono::Utc::now() + chrono::Duration::hours(1);
        let job = one_shot("later", &due.to_rfc3339())?;
        let record = serde_json::to_vec(&job)?;
        for i in 0..count {
            let actor = ActorId::new("default", "ticker", &format!("t{i}"));
            store
                .put_reminder(&actor, "later", job.due_ms, record.clone())
                .await?;
        }
        store.flush().await?;
    }
    let me = std::env::current_exe()?;
    let mut rss = Vec::new();
    for dir in [empty.path(), full.path()] {
        let out = tokio::process::Command::new(&me)
            .arg("stored-start")
            .arg(dir)
            .output()
            .await?;
        anyhow::ensure!(out.status.success(), "stored-start failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        rss.push(text.trim().parse::<u64>()?);
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "start on {count} stored reminders due in 1 h: RSS {:.0} MiB; on an empty store: {:.0} MiB; +{:.0} MiB",
        mib(rss[1]),
        mib(rss[0]),
        mib(rss[1].saturating_sub(rss[0]))
    );
    Ok(())
}

/// The helper process of [`stored`]: start on the store in `dir`, read the reminders due
/// within the window, let the window loader run, and print the RSS in bytes.
pub fn stored_start_process(mut args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("stored-start needs a data dir"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let (rt, _) = runtime_with(
                std::path::Path::new(&dir),
                Durability::Relaxed,
                &[],
                WasmConfig::default(),
            )
            .await?;
            rt.load_reminders().await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            println!("{}", rss_of("/proc/self/status", "VmRSS:"));
            Ok(())
        })
}
