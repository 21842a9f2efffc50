//! The figures. In-process ones build the runtime core directly; HTTP ones start the
//! `warren` binary and drive it with the load generator.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use warren_bench::inproc::{call, empty_state, runtime, runtime_with};
use warren_bench::procs::{Warren, guest, rss_of};
use warren_bench::stats::{Summary, fmt, histogram};
use warren_host::runtime::egress::TenantEgress;
use warren_host::runtime::tenants::Limits;
use warren_host::runtime::{ActorId, Runtime, TurnState};
use warren_host::store::{ActorStore, Durability, SledStore};
use warren_host::wasm::{TurnSetting, WasmConfig};

mod cluster;
mod density;
mod deploys;
mod egress;
mod hop;
mod http;
mod languages;
mod observe;
mod reminders;
mod span_floor;
mod tls;
pub use cluster::cluster;
pub use density::density;
pub use deploys::deploy_memory;
pub use egress::egress;
pub use hop::hop_echo;
pub use http::{app, bare_server, counter_app, http};
pub use languages::languages;
pub use observe::observe;
pub use reminders::{reminder_pass_process, reminders, stored, stored_start_process};
pub use tls::tls;

/// Run `op(task)` from `tasks` tasks until `duration` passes; summarise latencies.
async fn measure<F, Fut>(
    name: &str,
    tasks: usize,
    duration: Duration,
    op: F,
) -> anyhow::Result<Summary>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let op = Arc::new(op);
    measure_until(name, tasks, move |t| {
        let op = op.clone();
        async move {
            if Instant::now() >= deadline {
                None
            } else {
                Some(op(t).await)
            }
        }
    })
    .await
}

/// Each task calls `action` on its own counter actor (`{prefix}{task}`) for `duration`.
async fn counter_load(
    rt: &Runtime,
    name: &str,
    tasks: usize,
    duration: Duration,
    (prefix, action, payload): (&'static str, &'static str, &'static [u8]),
) -> anyhow::Result<Summary> {
    let rt = rt.clone();
    measure(name, tasks, duration, move |t| {
        let rt = rt.clone();
        async move {
            let actor = ActorId::new("default", "counter", &format!("{prefix}{t}"));
            match rt.invoke(call(actor, action, payload)).await {
                Ok(_) => true,
                Err(e) => {
                    eprintln!("failed turn: {e}");
                    false
                }
            }
        }
    })
    .await
}

/// Figure 1: a warm Wasm actor doing nothing, in process.
pub async fn invoke(duration: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fresh = WasmConfig {
        pinned_instances: 0,
        ..WasmConfig::default()
    };
    let (rt, wasm) = runtime_with(dir.path(), Durability::Relaxed, &["counter"], fresh).await?;
    let kept_dir = tempfile::tempdir()?;
    let (kept_rt, _) = runtime(kept_dir.path(), Durability::Relaxed, &["counter"]).await?;
    let reuse_dir = tempfile::tempdir()?;
    let reuse = WasmConfig {
        reuse_instances: true,
        pinned_instances: 0,
        ..WasmConfig::default()
    };
    let (warm_rt, _) =
        runtime_with(reuse_dir.path(), Durability::Relaxed, &["counter"], reuse).await?;
    let (component, _) = wasm
        .load_component(Arc::new(std::fs::read(guest("counter"))?))
        .await?;
    let component = Arc::new(component);
    let limits = Limits::default();
    for tasks in [1, 2, 32] {
        let floor = {
            let (rt, wasm, component, limits) =
                (rt.clone(), wasm.clone(), component.clone(), limits.clone());
            measure(
                &format!("floor: fresh instance + call, {tasks} task(s)"),
                tasks,
                duration,
                move |t| {
                    let (rt, wasm, component, limits) =
                        (rt.clone(), wasm.clone(), component.clone(), limits.clone());
                    async move {
                        let actor = ActorId::new("default", "counter", &format!("f{t}"));
                        let state = TurnState::new(actor.clone(), empty_state());
                        let inv = call(actor, "get", b"");
                        let setting = TurnSetting {
                            limits: &limits,
                            cache: None,
                            config: None,
                            egress: TenantEgress::of("bench", limits.egress()),
                        };
                        wasm.run_turn(&component, rt, state, &inv, setting)
                            .await
                            .result
                            .is_ok()
                    }
                },
            )
            .await?
        };
        floor.print(None);
        let core = counter_load(
            &rt,
            &format!("runtime core invoke, fresh instance, {tasks} task(s)"),
            tasks,
            duration,
            ("c", "get", b""),
        )
        .await?;
        core.print(Some(&floor));
        // Each against the fresh instance.
        for (runtime, instance) in [
            (&kept_rt, "instance kept per actor"),
            (&warm_rt, "instance reused across actors"),
        ] {
            let name = format!("runtime core invoke, {instance}, {tasks} task(s)");
            counter_load(runtime, &name, tasks, duration, ("c", "get", b""))
                .await?
                .print(Some(&core));
        }
    }
    Ok(())
}

/// Start this binary as a helper process and read the address it prints.
fn helper(args: &[&str]) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let line = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("helper exited"))??;
    std::thread::spawn(move || for _ in lines {});
    Ok((child, line.trim_start_matches("listening ").to_string()))
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Figure 4: many distinct actors, each touched once with a small state.
pub async fn activation(actors: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (rt, _) = runtime(dir.path(), Durability::Relaxed, &["counter"]).await?;
    let next = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let summary = {
        let (rt, next) = (rt.clone(), next.clone());
        measure_until(
            &format!("activate {actors} actors (add 1 each), 64 tasks"),
            64,
            move |_| {
                let (rt, next) = (rt.clone(), next.clone());
                async move {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= actors {
                        return None;
                    }
                    Some(
                        rt.invoke(call(
                            ActorId::new("default", "counter", &format!("a{i}")),
                            "add",
                            b"1",
                        ))
                        .await
                        .is_ok(),
                    )
                }
            },
        )
        .await?
    };
    summary.print(None);
    println!(
        "activation: {} active actors after {:?}; peak RSS {} MiB",
        rt.stats().active_actors,
        begin.elapsed(),
        rss_of("/proc/self/status", "VmHWM:") >> 20
    );
    Ok(())
}

/// Run `op(task)` from `tasks` tasks until it returns `None`; `Some(ok)` is one operation.
async fn measure_until<F, Fut>(name: &str, tasks: usize, op: F) -> anyhow::Result<Summary>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<bool>> + Send,
{
    let op = Arc::new(op);
    let begin = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut hist = histogram();
                let mut errors = 0u64;
                loop {
                    let start = Instant::now();
                    match op(t).await {
                        None => break,
                        Some(true) => {
                            let _ = hist.record(start.elapsed().as_nanos().max(1) as u64);
                        }
                        Some(false) => errors += 1,
                    }
                }
                (hist, errors)
            })
        })
        .collect();
    let mut hist = histogram();
    let mut errors = 0;
    for h in handles {
        let (part, e) = h.await?;
        hist.add(&part)?;
        errors += e;
    }
    Ok(Summary::new(name, &hist, begin.elapsed(), errors))
}

/// Figure 6: durable turns with many concurrent actors, `sync` (group commit) vs `relaxed`.
pub async fn durable(duration: Duration) -> anyhow::Result<()> {
    let mut relaxed_sum = None;
    for (name, durability) in [("relaxed", Durability::Relaxed), ("sync", Durability::Sync)] {
        let dir = tempfile::tempdir()?;
        let (rt, _) = runtime(dir.path(), durability, &["counter"]).await?;
        let summary = counter_load(
            &rt,
            &format!("durable turns (add), {name}, 64 actors"),
            64,
            duration,
            ("d", "add", b"1"),
        )
        .await?;
        summary.print(relaxed_sum.as_ref());
        relaxed_sum.get_or_insert(summary);
    }
    // The floor under the `sync` line: the store alone (no Wasm, no runtime), one key per
    // commit, each task committing its own actor as a turn would, from 1 task (a flush
    // per commit) and from 64 (as many in flight as the figure has).
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(&dir.path().join("store"), Durability::Sync)?;
    let versions: Arc<Vec<AtomicU64>> = Arc::new((0..64).map(|_| AtomicU64::new(0)).collect());
    for tasks in [1, 64] {
        let (store, versions) = (store.clone(), versions.clone());
        measure(
            &format!("floor: sled sync commits alone, {tasks} task(s)"),
            tasks,
            duration,
            move |t| {
                let (store, versions) = (store.clone(), versions.clone());
                async move {
                    let actor = ActorId::new("default", "floor", &format!("a{t}"));
                    let version = versions[t].load(Ordering::Relaxed);
                    let value = Some(version.to_le_bytes().to_vec());
                    let committed = store
                        .commit(&actor, version, vec![("n".to_string(), value)])
                        .await
                        .is_ok();
                    if committed {
                        versions[t].store(version + 1, Ordering::Relaxed);
                    }
                    committed
                }
            },
        )
        .await?
        .print(None);
    }
    Ok(())
}

/// Figure 7: host start to first served request with a warm artifact cache; idle RSS.
pub async fn startup() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let counter = guest("counter");
    let args = ["--deploy", counter.to_str().unwrap_or_default()];
    drop(Warren::start(dir.path(), &args)?); // compiles and caches
    let mut firsts = Vec::new();
    let mut rss = 0;
    for _ in 0..5 {
        let begin = Instant::now();
        let warren = Warren::start(dir.path(), &args)?;
        let url = format!("http://{}/v1.0/actors/counter/s/method/get", warren.addr);
        let client = reqwest::Client::new();
        while client
            .post(&url)
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {}
        firsts.push(begin.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss = warren.rss();
    }
    firsts.sort();
    println!(
        "startup with a warm cache: spawn to first served invoke, median {} (min {}, max {}) over 5; idle RSS {} MiB",
        fmt(firsts[2]),
        fmt(firsts[0]),
        fmt(firsts[4]),
        rss >> 20
    );
    Ok(())
}
