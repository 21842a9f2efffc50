//! Figures 2 and 3, over HTTP against the `warren` binary: Dapr HTTP invoke against a bare
//! axum handler, and the counter as a Wasm actor against the same counter hosted by a Dapr
//! app. Also the two helper processes they start: the bare server and the app.

use std::time::Duration;

use warren_bench::load::{self, LoadSpec};
use warren_bench::procs::{Warren, guest};
use warren_bench::stats::Summary;

use super::{Killed, helper};

/// What figure 2 invokes: `{c}` is one counter per connection.
const INVOKE: &str = "/v1.0/actors/counter/c{c}/method/get";

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
    let bare_sum = invoke_against_bare(&bare_addr, &warren.addr, duration).await?;
    state_get(&warren.addr, &bare_sum, duration).await?;
    let fresh_dir = tempfile::tempdir()?;
    fresh_instance(fresh_dir.path(), &counter, &bare_sum, duration).await?;
    fixed_rate(&bare_addr, &warren.addr, duration).await
}

/// The bare handler, then Warren's invoke against it, 32 connections each; the bare
/// handler's summary is the baseline of the figure's other lines.
async fn invoke_against_bare(
    bare_addr: &str,
    warren_addr: &str,
    duration: Duration,
) -> anyhow::Result<Summary> {
    let bare_sum = load::run(load::post(
        "bare axum handler, 32 conns",
        bare_addr,
        INVOKE,
        "",
        32,
        duration,
    ))
    .await?;
    bare_sum.print(None);
    let warren_sum = load::run(load::post(
        "warren Dapr invoke, 32 conns",
        warren_addr,
        INVOKE,
        "",
        32,
        duration,
    ))
    .await?;
    warren_sum.print(Some(&bare_sum));
    Ok(bare_sum)
}

/// Warren's HTTP path without a turn (auth, routing, extractors, one sled read of a
/// stored "0", the bytes the bare handler returns): what the turn adds is the difference
/// to the invoke line.
async fn state_get(
    warren_addr: &str,
    bare_sum: &Summary,
    duration: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for c in 0..32 {
        let url = format!("http://{warren_addr}/v1.0/actors/counter/c{c}/method/add");
        client
            .post(url)
            .body("0")
            .send()
            .await?
            .error_for_status()?;
    }
    load::run(load::get(
        "warren Dapr state GET (no turn), 32 conns",
        warren_addr,
        "/v1.0/actors/counter/c{c}/state/total",
        32,
        duration,
    ))
    .await?
    .print(Some(bare_sum));
    Ok(())
}

/// The invoke on a host of its own (data in `dir`) that keeps no instance between turns.
async fn fresh_instance(
    dir: &std::path::Path,
    counter: &std::path::Path,
    bare_sum: &Summary,
    duration: Duration,
) -> anyhow::Result<()> {
    let fresh = Warren::start(
        dir,
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
        INVOKE,
        "",
        32,
        duration,
    ))
    .await?
    .print(Some(bare_sum));
    Ok(())
}

/// The bare handler and Warren's invoke at a fixed rate, for latency without overload.
async fn fixed_rate(bare_addr: &str, warren_addr: &str, duration: Duration) -> anyhow::Result<()> {
    for (name, addr) in [
        ("bare axum handler at 10k req/s", bare_addr),
        ("warren Dapr invoke at 10k req/s", warren_addr),
    ] {
        let spec = LoadSpec {
            rate: Some(10_000.0),
            ..load::post(name, addr, INVOKE, "", 32, duration)
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
    app_sixteen_connections(&warren.addr, duration).await?;
    app_one_connection(&warren.addr, duration).await
}

/// Both counters under 16 connections: throughput.
async fn app_sixteen_connections(addr: &str, duration: Duration) -> anyhow::Result<()> {
    let hosted = load::run(load::post(
        "app-hosted counter add, 16 conns",
        addr,
        "/v1.0/actors/appcounter/a{c}/method/add",
        "1",
        16,
        duration,
    ))
    .await?;
    hosted.print(None);
    let wasm = load::run(load::post(
        "wasm counter add, 16 conns",
        addr,
        "/v1.0/actors/counter/w{c}/method/add",
        "1",
        16,
        duration,
    ))
    .await?;
    wasm.print(Some(&hosted));
    Ok(())
}

/// One connection: latency without queueing. The hop every request pays (load generator
/// -> Warren -> reply, auth and routing) is measured as a state GET, which runs no turn;
/// subtracting it leaves the callback of each side.
async fn app_one_connection(addr: &str, duration: Duration) -> anyhow::Result<()> {
    let one = |name: &str, path: &str| load::post(name, addr, path, "1", 1, duration);
    let hop = load::run(load::get(
        "warren state GET (the hop, no turn), 1 conn",
        addr,
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

/// Whether the app's actor type shows among Warren's within 10 s.
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
