//! Density figures (issue 33): the counter in Rust, Python and JavaScript under the
//! default flags (instance kept per actor, within the kept-memory budget) and with a fresh
//! instance per turn, in process, against the Rust counter of the same run; what one kept
//! instance costs in a `warren serve` process (private dirty memory, proportional set,
//! resident set, and what the host charges it); and the deploy-memory figure.

use std::time::Duration;

use warren_bench::inproc::runtime_with;
use warren_bench::procs::{Warren, guest, rss_of};
use warren_bench::stats::Summary;
use warren_host::store::Durability;
use warren_host::wasm::WasmConfig;

use super::counter_load;

const COUNTERS: [(&str, &str); 3] = [
    ("Rust", "counter"),
    ("Python", "counter_py"),
    ("JavaScript", "counter_js"),
];

/// Actors that each make one turn, to measure what a kept instance costs.
const ACTORS: usize = 40;

/// Print the figures.
pub async fn density(duration: Duration) -> anyhow::Result<()> {
    let fresh = WasmConfig {
        pinned_instances: 0,
        ..WasmConfig::default()
    };
    for (strategy, config) in [
        ("default flags (kept)", WasmConfig::default()),
        ("fresh instance per turn", fresh),
    ] {
        let mut baseline: Option<Summary> = None;
        for (language, name) in COUNTERS {
            let dir = tempfile::tempdir()?;
            let (rt, _) =
                runtime_with(dir.path(), Durability::Relaxed, &[name], config.clone()).await?;
            let label = format!("{language} counter, {strategy}, 1 task");
            let summary = counter_load(&rt, &label, 1, duration, ("d", "get", b"")).await?;
            summary.print(baseline.as_ref());
            baseline.get_or_insert(summary);
        }
    }
    println!("what one kept instance costs ({ACTORS} actors, one turn each, `warren serve`):");
    for (language, name) in COUNTERS {
        kept_instance_cost(language, name).await?;
    }
    super::deploy_memory().await
}

/// The memory figures of a `warren` process, in bytes: private dirty, proportional set,
/// resident set.
fn memory(warren: &Warren) -> [u64; 3] {
    let rollup = format!("/proc/{}/smaps_rollup", warren.child.id());
    ["Private_Dirty:", "Pss:", "Rss:"].map(|field| rss_of(&rollup, field))
}

/// Deploy `name` to a fresh host, make one actor's turn, then `ACTORS` more: the growth of
/// each memory figure per actor, and the host's charge per kept instance.
async fn kept_instance_cost(language: &str, name: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let warren = Warren::start(dir.path(), &[])?;
    let client = reqwest::Client::new();
    let base = format!("http://{}", warren.addr);
    let response = client
        .post(format!("{base}/admin/v1/components"))
        .body(std::fs::read(guest(name))?)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 201, "deploy: {}", response.status());
    let turn = |id: String| {
        let request = client
            .post(format!("{base}/v1.0/actors/counter/{id}/method/add"))
            .body("1");
        async move {
            let response = request.send().await?;
            anyhow::ensure!(response.status() == 200, "turn: {}", response.status());
            anyhow::Ok(())
        }
    };
    turn("first".into()).await?;
    // The host gives freed memory back every 2 s: let the deploy's settle first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = memory(&warren);
    for i in 0..ACTORS {
        turn(format!("a{i}")).await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = memory(&warren);
    let status: serde_json::Value = client
        .get(format!("{base}/admin/v1/status"))
        .send()
        .await?
        .json()
        .await?;
    let kept = status["kept_instances"].as_u64().unwrap_or(0);
    let charged = status["kept_memory_bytes"].as_u64().unwrap_or(0) / kept.max(1);
    let [private, pss, rss] = [0, 1, 2].map(|i| after[i].saturating_sub(before[i]) / ACTORS as u64);
    println!(
        "  {language:<10} private dirty {:>7.0} KiB  PSS {:>7.0} KiB  RSS {:>7.0} KiB  charged {:>7.0} KiB (x{:.2} of private)  kept {kept}",
        private as f64 / 1024.0,
        pss as f64 / 1024.0,
        rss as f64 / 1024.0,
        charged as f64 / 1024.0,
        charged as f64 / private.max(1) as f64,
    );
    Ok(())
}
