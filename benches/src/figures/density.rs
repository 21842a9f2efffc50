//! Density figures (issue 33): the counter in Rust, Python and JavaScript under the
//! default flags (instance kept per actor, within the kept-memory budget) and with a fresh
//! instance per turn, in process, against the Rust counter of the same run; what one kept
//! instance costs in a `warren serve` process (private dirty memory, proportional set,
//! resident set, and what the host charges it); 100 tenants each with its own Python
//! component and one actor; and the deploy-memory figure. The rows of issue 33 that need
//! components loaded on use (10,000 stored components, 1,000 tenants x 10 components)
//! wait for that part.

use std::time::{Duration, Instant};

use warren_bench::procs::{Warren, guest, rss_of};
use warren_host::wasm::WasmConfig;

use super::languages::COUNTERS;

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
        super::languages::counter_rows(&format!("{strategy}, 1 task"), &config, 1, duration)
            .await?;
    }
    println!("what one kept instance costs ({ACTORS} actors, one turn each, `warren serve`):");
    for (language, name) in COUNTERS {
        kept_instance_cost(language, name).await?;
    }
    python_tenants(100).await?;
    super::deploy_memory().await
}

/// `tenants` tenants, each deploying the Python counter and calling one actor of it: the
/// host's memory after, and the deploy rate.
async fn python_tenants(tenants: usize) -> anyhow::Result<()> {
    const ADMIN: &str = "density-admin";
    let dir = tempfile::tempdir()?;
    let warren = Warren::start(dir.path(), &["--admin-token", ADMIN])?;
    let client = reqwest::Client::new();
    let base = format!("http://{}", warren.addr);
    let wasm = std::fs::read(guest("counter_py"))?;
    let began = Instant::now();
    for i in 0..tenants {
        let name = format!("t{i}");
        let token = tenant_token(&client, &base, ADMIN, &name).await?;
        let deployed = client
            .post(format!("{base}/admin/v1/components"))
            .bearer_auth(&token)
            .body(wasm.clone())
            .send()
            .await?;
        anyhow::ensure!(deployed.status() == 201, "deploy: {}", deployed.status());
        let turn = client
            .post(format!("{base}/v1.0/actors/counter/a/method/add"))
            .bearer_auth(&token)
            .body("1")
            .send()
            .await?;
        anyhow::ensure!(turn.status() == 200, "turn: {}", turn.status());
    }
    let took = began.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let [private, pss, rss] = memory(&warren).map(|b| b >> 20);
    println!(
        "{tenants} tenants, each its own Python counter and one actor: {:.1} deploys+turns/s; RSS {rss} MiB, PSS {pss} MiB, private dirty {private} MiB [goal RSS <= 1536 MiB]",
        tenants as f64 / took.as_secs_f64()
    );
    Ok(())
}

/// Create tenant `name` and return a new token of it.
async fn tenant_token(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    name: &str,
) -> anyhow::Result<String> {
    let created = client
        .post(format!("{base}/admin/v1/tenants"))
        .bearer_auth(admin)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await?;
    anyhow::ensure!(created.status() == 201, "tenant: {}", created.status());
    let token: serde_json::Value = client
        .post(format!("{base}/admin/v1/tenants/{name}/tokens"))
        .bearer_auth(admin)
        .send()
        .await?
        .json()
        .await?;
    token["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no token in {token}"))
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
