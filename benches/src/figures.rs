//! The figures. In-process ones build the runtime core directly; HTTP ones start the
//! `warren` binary and drive it with the load generator.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use warren_bench::inproc::{call, empty_state, runtime, runtime_with};
use warren_bench::load::{self, LoadSpec};
use warren_bench::procs::{Warren, guest, rss_of};
use warren_bench::stats::{Summary, fmt, histogram};
use warren_host::runtime::tenants::Limits;
use warren_host::runtime::{ActorId, Runtime, TurnState};
use warren_host::store::{ActorStore, Durability, SledStore};
use warren_host::wasm::WasmConfig;

mod cluster;
mod hop;
mod languages;
mod observe;
mod reminders;
mod span_floor;
pub use cluster::cluster;
pub use hop::hop_echo;
pub use languages::languages;
pub use observe::observe;
pub use reminders::{reminder_pass_process, reminders, stored, stored_start_process};

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
                        wasm.run_turn(&component, rt, state, &inv, &limits, None)
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

/// The baseline for HTTP figures: an axum handler returning the bytes Warren returns.
pub fn bare_server() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = axum::Router::new()
            .fallback(|| async { ([("content-type", "application/json")], "0") });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
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

/// Figure 2: Dapr HTTP invoke vs a bare axum handler, same load generator.
pub async fn http(duration: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let counter = guest("counter");
    let warren = Warren::start(
        dir.path(),
        &[
            "--deploy",
            counter.to_str().unwrap_or_default(),
            "--durability",
            "relaxed",
        ],
    )?;
    let (bare, bare_addr) = helper(&["bare-server"])?;
    let _bare = Killed(bare);
    let path = "/v1.0/actors/counter/c{c}/method/get";
    let bare_sum = load::run(load::post(
        "bare axum handler, 32 conns",
        &bare_addr,
        path,
        "",
        32,
        duration,
    ))
    .await?;
    bare_sum.print(None);
    let warren_sum = load::run(load::post(
        "warren Dapr invoke, 32 conns",
        &warren.addr,
        path,
        "",
        32,
        duration,
    ))
    .await?;
    warren_sum.print(Some(&bare_sum));
    // Warren's HTTP path without a turn (auth, routing, extractors, one sled read of a
    // stored "0", the bytes the bare handler returns): what the turn adds is the
    // difference to the invoke line.
    let client = reqwest::Client::new();
    for c in 0..32 {
        let url = format!("http://{}/v1.0/actors/counter/c{c}/method/add", warren.addr);
        client
            .post(url)
            .body("0")
            .send()
            .await?
            .error_for_status()?;
    }
    load::run(load::get(
        "warren Dapr state GET (no turn), 32 conns",
        &warren.addr,
        "/v1.0/actors/counter/c{c}/state/total",
        32,
        duration,
    ))
    .await?
    .print(Some(&bare_sum));
    let fresh_dir = tempfile::tempdir()?;
    let fresh = Warren::start(
        fresh_dir.path(),
        &[
            "--deploy",
            counter.to_str().unwrap_or_default(),
            "--durability",
            "relaxed",
            "--pinned-instances",
            "0",
        ],
    )?;
    load::run(load::post(
        "warren Dapr invoke, fresh instance per turn, 32 conns",
        &fresh.addr,
        path,
        "",
        32,
        duration,
    ))
    .await?
    .print(Some(&bare_sum));
    drop(fresh);
    for (name, addr) in [
        ("bare axum handler at 10k req/s", &bare_addr),
        ("warren Dapr invoke at 10k req/s", &warren.addr),
    ] {
        let spec = LoadSpec {
            rate: Some(10_000.0),
            ..load::post(name, addr, path, "", 32, duration)
        };
        load::run(spec).await?.print(None);
    }
    Ok(())
}

/// A Dapr actor app (app-callback mode) with the counter's logic, keeping its state in
/// Warren through the Dapr state API as a Dapr app does.
pub fn counter_app(warren: String) -> anyhow::Result<()> {
    use axum::extract::{Path as UrlPath, State};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let add = |State((client, warren)): State<(reqwest::Client, String)>,
                   UrlPath((t, id)): UrlPath<(String, String)>,
                   body: axum::body::Bytes| async move {
            let base = format!("http://{warren}/v1.0/actors/{t}/{id}/state");
            let current = client.get(format!("{base}/total")).send().await.ok();
            let total: i64 = match current {
                Some(r) if r.status() == 200 => r
                    .text()
                    .await
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
                _ => 0,
            };
            let n: i64 = std::str::from_utf8(&body)
                .ok()
                .and_then(|b| b.trim().parse().ok())
                .unwrap_or(0);
            let total = total + n;
            let ops = format!(
                r#"[{{"operation":"upsert","request":{{"key":"total","value":{total}}}}}]"#
            );
            let _ = client.post(base).body(ops).send().await;
            total.to_string()
        };
        let app = axum::Router::new()
            .route(
                "/dapr/config",
                axum::routing::get(|| async {
                    axum::Json(serde_json::json!({"entities": ["appcounter"]}))
                }),
            )
            .route("/actors/{t}/{id}/method/add", axum::routing::put(add))
            .with_state((client, warren));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Figure 3: the counter as a Wasm actor vs as an app-hosted actor, same host and load.
pub async fn app(duration: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let counter = guest("counter");
    // Each side needs the other's address: fix Warren's port first.
    let http = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .to_string();
    let (app, app_addr) = helper(&["counter-app", &http])?;
    let _app = Killed(app);
    let app_port = app_addr.rsplit(':').next().unwrap_or_default().to_string();
    let warren = Warren::start_at(
        dir.path(),
        &http,
        &[
            "--deploy",
            counter.to_str().unwrap_or_default(),
            "--durability",
            "relaxed",
            "--app-port",
            &app_port,
        ],
    )?;
    anyhow::ensure!(
        wait_for_types(&warren.addr).await,
        "the app's actor type was never hosted"
    );
    let hosted = load::run(load::post(
        "app-hosted counter add, 16 conns",
        &warren.addr,
        "/v1.0/actors/appcounter/a{c}/method/add",
        "1",
        16,
        duration,
    ))
    .await?;
    hosted.print(None);
    let wasm = load::run(load::post(
        "wasm counter add, 16 conns",
        &warren.addr,
        "/v1.0/actors/counter/w{c}/method/add",
        "1",
        16,
        duration,
    ))
    .await?;
    wasm.print(Some(&hosted));
    // One connection: latency without queueing. The hop every request pays (load
    // generator -> Warren -> reply, auth and routing) is measured as a state GET, which
    // runs no turn; subtracting it leaves the callback of each side.
    let one = |name: &str, path: &str| load::post(name, &warren.addr, path, "1", 1, duration);
    let hop = load::run(load::get(
        "warren state GET (the hop, no turn), 1 conn",
        &warren.addr,
        "/v1.0/actors/counter/w0/state/total",
        1,
        duration,
    ))
    .await?;
    hop.print(None);
    let hosted = load::run(one(
        "app-hosted counter add, 1 conn",
        "/v1.0/actors/appcounter/a0/method/add",
    ))
    .await?;
    hosted.print(Some(&hop));
    let wasm = load::run(one(
        "wasm counter add, 1 conn",
        "/v1.0/actors/counter/w0/method/add",
    ))
    .await?;
    wasm.print(Some(&hosted));
    let callback = |s: &Summary| s.p50.saturating_sub(hop.p50);
    let (app_cb, wasm_cb) = (callback(&hosted), callback(&wasm));
    let ratio = if wasm_cb.is_zero() {
        "n/a (the wasm p50 is not above the hop's)".to_string()
    } else {
        format!("x{:.1}", app_cb.as_secs_f64() / wasm_cb.as_secs_f64())
    };
    println!(
        "callback alone (p50 minus the hop's p50): app-hosted {app_cb:?}, wasm {wasm_cb:?}: wasm lower by {ratio}"
    );
    Ok(())
}

async fn wait_for_types(addr: &str) -> bool {
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("http://{addr}/admin/v1/actor-types")).await
            && let Ok(text) = r.text().await
            && text.contains("appcounter")
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
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
