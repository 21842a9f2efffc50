//! The counter in Rust, Python and JavaScript: the size of each component, its compile
//! time (an empty artifact cache), its cached start (a new engine loading the artifact the
//! first one stored), and figure 1 with an instance kept per actor (the default, within
//! the kept-memory budget) and with a fresh instance per turn, each against the Rust
//! counter measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use warren_bench::inproc::runtime_with;
use warren_bench::procs::guest;
use warren_host::store::Durability;
use warren_host::wasm::{WasmConfig, WasmEngine};

use super::counter_load;
use warren_bench::stats::Summary;

pub(super) const COUNTERS: [(&str, &str); 3] = [
    ("Rust", "counter"),
    ("Python", "counter_py"),
    ("JavaScript", "counter_js"),
];

/// Compile `wasm` with an empty cache in `dir`, then load it again in a new engine on the
/// same cache: the two times.
async fn compile_and_cached_start(
    dir: &std::path::Path,
    wasm: &[u8],
) -> anyhow::Result<(Duration, Duration)> {
    let wasm = Arc::new(wasm.to_vec());
    let cold = WasmEngine::new(WasmConfig::default(), dir)?;
    let started = Instant::now();
    cold.load_component(wasm.clone()).await?;
    let compile = started.elapsed();
    drop(cold);
    let warm = WasmEngine::new(WasmConfig::default(), dir)?;
    let started = Instant::now();
    warm.load_component(wasm).await?;
    Ok((compile, started.elapsed()))
}

/// Print the figures.
pub async fn languages(duration: Duration) -> anyhow::Result<()> {
    println!("component sizes, compile (empty artifact cache) and cached start:");
    for (language, name) in COUNTERS {
        let wasm = std::fs::read(guest(name))?;
        let dir = tempfile::tempdir()?;
        let (compile, cached) = compile_and_cached_start(dir.path(), &wasm).await?;
        println!(
            "  {language:<10} {:>6.1} MB  compile {:>7.0} ms  cached start {:>6.1} ms",
            wasm.len() as f64 / 1e6,
            compile.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3,
        );
    }
    for (strategy, config) in [
        ("instance kept per actor", WasmConfig::default()),
        (
            "fresh instance per turn",
            WasmConfig {
                pinned_instances: 0,
                ..WasmConfig::default()
            },
        ),
    ] {
        for tasks in [1, 2] {
            counter_rows(
                &format!("{strategy}, {tasks} task(s)"),
                &config,
                tasks,
                duration,
            )
            .await?;
        }
    }
    Ok(())
}

/// `get` on the counter of each language under `config` from `tasks` tasks, one line each,
/// against the Rust counter of the same run.
pub(super) async fn counter_rows(
    setting: &str,
    config: &WasmConfig,
    tasks: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let mut baseline: Option<Summary> = None;
    for (language, name) in COUNTERS {
        let dir = tempfile::tempdir()?;
        let (rt, _) =
            runtime_with(dir.path(), Durability::Relaxed, &[name], config.clone()).await?;
        let label = format!("figure 1, {language}, {setting}");
        let summary = counter_load(&rt, &label, tasks, duration, ("c", "get", b"")).await?;
        summary.print(baseline.as_ref());
        baseline.get_or_insert(summary);
    }
    Ok(())
}
