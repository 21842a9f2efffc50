//! Deploy memory figure: the host's resident memory after a Python component is uploaded
//! to it (compiled in a child process, as `warren serve` does), against its resident
//! memory after a restart that loads the same component from the artifact cache; each
//! measured after one turn of the component's counter.

use std::time::{Duration, Instant};

use warren_bench::procs::{Warren, guest};
use warren_bench::stats::fmt;

/// One `add` turn of the Python counter `d` through the Dapr API.
async fn turn(client: &reqwest::Client, addr: &str) -> anyhow::Result<()> {
    let url = format!("http://{addr}/v1.0/actors/counter/d/method/add");
    let response = client.post(url).body("1").send().await?;
    anyhow::ensure!(response.status() == 200, "turn: {}", response.status());
    Ok(())
}

/// The resident memory of `warren` once it has settled (the host gives freed memory back
/// every 2 s), in MiB.
async fn settled_rss(warren: &Warren) -> u64 {
    tokio::time::sleep(Duration::from_secs(3)).await;
    warren.rss() >> 20
}

/// The figure.
pub async fn deploy_memory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let client = reqwest::Client::new();
    let warren = Warren::start(dir.path(), &[])?;
    let idle = settled_rss(&warren).await;
    let wasm = std::fs::read(guest("counter_py"))?;
    let began = Instant::now();
    let response = client
        .post(format!("http://{}/admin/v1/components", warren.addr))
        .body(wasm)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 201, "deploy: {}", response.status());
    let took = began.elapsed();
    turn(&client, &warren.addr).await?;
    let deployed = settled_rss(&warren).await;
    drop(warren);
    let warren = Warren::start(dir.path(), &[])?;
    turn(&client, &warren.addr).await?;
    let restarted = settled_rss(&warren).await;
    println!(
        "RSS idle {idle} MiB; after deploying the Python counter (compiled in a child, {}) and one turn {deployed} MiB; after a restart with it cached and one turn {restarted} MiB: x{:.2} of the restart's",
        fmt(took),
        deployed as f64 / restarted.max(1) as f64
    );
    Ok(())
}
