//! Egress figure: one outbound GET to a loopback server made from a Wasm turn (the
//! `fetcher` test guest, through `wasi:http` and the tenant's policy), against the same GET
//! made by a plain hyper client on a new connection (as Warren's sender opens one per
//! request), and against an empty turn of the same actor; then turns/s of 64 actors that
//! fetch on every turn, against 64 actors that do not and 64 plain hyper clients.
//!
//! One call at a time, in rounds that alternate the order; the figures are the medians of
//! the rounds, since this machine's speed drifts by more than some of the costs measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use super::measure;
use warren_bench::inproc::{call, runtime};
use warren_bench::stats::{Summary, fmt};
use warren_host::runtime::tenants::LimitOverrides;
use warren_host::runtime::{ActorId, Runtime};
use warren_host::store::Durability;

/// Rounds per comparison.
const ROUNDS: usize = 5;

/// A loopback server answering `GET /` with two bytes.
async fn upstream() -> anyhow::Result<u16> {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

/// One GET on a new connection, body read.
async fn plain_get(port: u16) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get("/")
        .header("host", format!("127.0.0.1:{port}"))
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(response.status() == 200, "status {}", response.status());
    response.into_body().collect().await?;
    drop(sender);
    let _ = driver.await;
    Ok(())
}

/// A turn of fetcher `id`: `fetch` of `payload`, or an empty `counts` turn.
async fn turn(rt: &Runtime, id: &str, fetch: Option<&[u8]>) -> bool {
    let actor = ActorId::new("default", "fetcher", id);
    let (action, payload) = fetch.map_or(("counts", &b""[..]), |p| ("fetch", p));
    match rt.invoke(call(actor, action, payload)).await {
        Ok(reply) => fetch.is_none() || reply.data.windows(12).any(|w| w == b"\"status\":200"),
        Err(e) => {
            eprintln!("failed turn: {e}");
            false
        }
    }
}

/// The median of `values` and their range.
fn median(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// The figure.
pub async fn egress(duration: Duration) -> anyhow::Result<()> {
    let port = upstream().await?;
    let dir = tempfile::tempdir()?;
    let (rt, _) = runtime(dir.path(), Durability::Relaxed, &["fetcher"]).await?;
    let policy = LimitOverrides {
        allowed_outbound_hosts: Some(vec![format!("http://127.0.0.1:{port}")]),
        max_outbound_requests: Some(1000),
        ..LimitOverrides::default()
    };
    rt.update_tenant("default", policy).await?;
    let payload: Arc<[u8]> = format!(r#"{{"url": "http://127.0.0.1:{port}/"}}"#)
        .into_bytes()
        .into();
    anyhow::ensure!(turn(&rt, "warm", Some(&payload)).await, "the fetch failed");

    let each = duration / 3;
    let (mut plain, mut empty, mut fetched) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut runs: Vec<(usize, Summary)> = Vec::new();
        for which in [0, 1, 2].into_iter().cycle().skip(round % 3).take(3) {
            let (rt, payload) = (rt.clone(), payload.clone());
            let summary = match which {
                0 => {
                    measure(
                        "GET, plain hyper, new connection",
                        1,
                        each,
                        move |_| async move { plain_get(port).await.is_ok() },
                    )
                    .await?
                }
                1 => {
                    measure("empty turn (fetcher.counts)", 1, each, move |_| {
                        let rt = rt.clone();
                        async move { turn(&rt, "one", None).await }
                    })
                    .await?
                }
                _ => {
                    measure("turn with one GET (fetcher.fetch)", 1, each, move |_| {
                        let (rt, payload) = (rt.clone(), payload.clone());
                        async move { turn(&rt, "one", Some(&payload)).await }
                    })
                    .await?
                }
            };
            runs.push((which, summary));
        }
        runs.sort_by_key(|(which, _)| *which);
        for (_, s) in &runs {
            s.print(Some(&runs[0].1));
        }
        let p50 = |i: usize| runs[i].1.p50.as_secs_f64();
        plain.push(p50(0));
        empty.push(p50(1));
        fetched.push(p50(2));
    }
    let (g, _, _) = median(plain.clone());
    let (e, _, _) = median(empty.clone());
    let (f, _, _) = median(fetched.clone());
    let whole: Vec<f64> = fetched.iter().zip(&plain).map(|(f, g)| f / g).collect();
    let added: Vec<f64> = (0..ROUNDS)
        .map(|i| (fetched[i] - empty[i]) / plain[i])
        .collect();
    let ((w, w_lo, w_hi), (a, a_lo, a_hi)) = (median(whole), median(added));
    println!(
        "median of {ROUNDS} rounds: plain GET {}, empty turn {}, turn with a GET {}",
        fmt(Duration::from_secs_f64(g)),
        fmt(Duration::from_secs_f64(e)),
        fmt(Duration::from_secs_f64(f)),
    );
    println!(
        "the GET from a turn (turn with a GET minus empty turn) vs plain hyper: x{a:.2} (x{a_lo:.2}-x{a_hi:.2}); whole turn with a GET vs plain hyper: x{w:.2} (x{w_lo:.2}-x{w_hi:.2})"
    );

    refused(&rt, each).await?;
    concurrent(&rt, port, payload, duration).await
}

/// A turn whose GET the policy refuses: what `wasi:http` and the guest's code cost
/// without the network.
async fn refused(rt: &Runtime, duration: Duration) -> anyhow::Result<()> {
    let rt = rt.clone();
    let summary = measure(
        "turn with one refused GET (no network)",
        1,
        duration,
        move |_| {
            let rt = rt.clone();
            async move {
                let actor = ActorId::new("default", "fetcher", "one");
                let payload = br#"{"url": "http://not-allowed.invalid/"}"#;
                let reply = rt.invoke(call(actor, "fetch", payload)).await;
                reply.is_ok_and(|r| r.data.windows(17).any(|w| w == b"HttpRequestDenied"))
            }
        },
    )
    .await?;
    summary.print(None);
    Ok(())
}

/// Turns/s of 64 actors fetching on every turn, against 64 that do not and 64 plain hyper
/// clients.
async fn concurrent(
    rt: &Runtime,
    port: u16,
    payload: Arc<[u8]>,
    duration: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let rt64 = rt.clone();
    let quiet = measure("64 actors, empty turns", 64, duration / 2, move |t| {
        let rt = rt64.clone();
        async move { turn(&rt, &format!("q{t}"), None).await }
    })
    .await?;
    let plain64 = measure(
        "64 tasks, plain GET",
        64,
        duration / 2,
        move |_| async move { plain_get(port).await.is_ok() },
    )
    .await?;
    let (rt64, payload) = (rt.clone(), payload.clone());
    let busy = measure("64 actors, one GET per turn", 64, duration / 2, move |t| {
        let (rt, payload) = (rt64.clone(), payload.clone());
        async move { turn(&rt, &format!("f{t}"), Some(&payload)).await }
    })
    .await?;
    quiet.print(None);
    plain64.print(None);
    busy.print(Some(&plain64));
    eprintln!("egress figure took {:?}", started.elapsed());
    Ok(())
}
