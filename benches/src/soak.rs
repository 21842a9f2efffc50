//! `warren-bench soak --duration 30m`: one `warren` process under a mixed load for a long
//! time, printing every minute what would show a leak: resident memory, open file
//! descriptors, kept instances, active actors, the store's size on disk, and the work and
//! errors of the minute. The load, at a fixed modest rate so the figures are about time,
//! not speed: Dapr HTTP invokes and state transactions, Dapr gRPC invokes, Spawn invokes
//! and OPACA actions of Wasm actors; reminders registered, firing and deleted; actors going
//! idle and coming back; a component deployed and removed; tenants created, used and
//! deleted. Goal (issue 21): RSS and fds flat after warm-up, no error the load did not
//! provoke.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use warren_bench::procs::{Warren, guest};
use warren_host::wire::dapr_proto::runtime as rt;
use warren_host::wire::spawn::{JSON_TYPE_URL, payload_any, pb};

/// Work done and errors, per kind of operation, since the last report.
#[derive(Default)]
struct Tally {
    done: BTreeMap<&'static str, u64>,
    errors: BTreeMap<&'static str, u64>,
    /// The first error of each kind, to print.
    first_error: BTreeMap<&'static str, String>,
}

type Shared = Arc<Mutex<Tally>>;

fn record(tally: &Shared, kind: &'static str, outcome: Result<(), String>) {
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    match outcome {
        Ok(()) => *t.done.entry(kind).or_default() += 1,
        Err(e) => {
            *t.errors.entry(kind).or_default() += 1;
            t.first_error.entry(kind).or_insert(e);
        }
    }
}

/// An HTTP call's outcome: a 2xx status, or the status and body as the error.
async fn checked(sent: reqwest::RequestBuilder) -> Result<String, String> {
    let response = sent.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!(
            "{status}: {}",
            body.chars().take(200).collect::<String>()
        ))
    }
}

/// Run `step(i)` `per_second` times a second until `until`, recording each outcome.
async fn paced<F, Fut>(tally: Shared, kind: &'static str, per_second: u64, until: Instant, step: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        record(&tally, kind, step(i).await);
        i += 1;
    }
}

/// Bytes of every file under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Where a sample's metric name ends: at its labels, or at the space before its value.
const NAME_ENDS: [char; 2] = ['{', ' '];

/// The value of the first sample of metric `name` in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(NAME_ENDS).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// One minute's figures.
struct Sample {
    minute: u64,
    rss: u64,
    fds: usize,
}

/// Actors the Dapr HTTP and gRPC invokes spread over.
const ACTORS: u64 = 5_000;

/// The host under soak, as the load reaches it.
struct Target {
    client: reqwest::Client,
    /// `http://host:port` of the HTTP listener.
    http: String,
    /// `http://host:port` of the OPACA listener.
    opaca: String,
    /// The component deployed and removed again and again.
    bank_wasm: Vec<u8>,
    /// The component each churned tenant deploys.
    counter_wasm: Vec<u8>,
}

/// Run the soak for `duration`, reporting every `every`.
pub async fn soak(duration: Duration, every: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (warren, target) = start(dir.path(), duration).await?;
    let tally = Shared::default();
    let until = Instant::now() + duration;
    let grpc = rt::dapr_client::DaprClient::connect(format!("http://{}", warren.grpc_addr)).await?;
    let ((), (), (), (), (), (), (), (), samples) = tokio::join!(
        dapr_invoke(&target, tally.clone(), until),
        dapr_state(&target, tally.clone(), until),
        dapr_grpc(&grpc, tally.clone(), until),
        spawn(&target, tally.clone(), until),
        opaca_actions(&target, tally.clone(), until),
        reminders(&target, tally.clone(), until),
        deploys(&target, tally.clone(), until),
        tenants(&target, tally.clone(), until),
        report(&target, &warren, dir.path(), &tally, until, every)
    );
    summarize(&samples);
    Ok(())
}

/// Start the host with the soak's components, create the OPACA container, and print the
/// header.
async fn start(dir: &Path, duration: Duration) -> anyhow::Result<(Warren, Target)> {
    let (counter, hostile, calculator, bank) = (
        guest("counter"),
        guest("hostile"),
        guest("calculator"),
        guest("bank"),
    );
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let warren = Warren::start(
        dir,
        &[
            "--deploy",
            &path(&counter),
            "--deploy",
            &path(&hostile),
            "--deploy",
            &path(&calculator),
            "--idle-timeout",
            "20s",
        ],
    )?;
    let http = format!("http://{}", warren.addr);
    let opaca = format!("http://{}", warren.opaca_addr);
    let client = reqwest::Client::new();
    let container = checked(
        client
            .post(format!("{opaca}/containers"))
            .header("content-type", "application/json")
            .body(r#"{"image": {"imageName": "calculator"}, "arguments": {}}"#),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let bank_wasm = std::fs::read(&bank)?;
    let counter_wasm = std::fs::read(&counter)?;
    println!(
        "soak of {duration:?}: warren pid {}, data dir {}; calculator container {container}",
        warren.child.id(),
        dir.display()
    );
    println!(
        "minute  rss_MiB  fds  kept_instances  active_actors  store_MiB  ops  errors (by kind)"
    );
    let target = Target {
        client,
        http,
        opaca,
        bank_wasm,
        counter_wasm,
    };
    Ok((warren, target))
}

/// Dapr HTTP invokes.
async fn dapr_invoke(target: &Target, tally: Shared, until: Instant) {
    let Target { client, http, .. } = target;
    paced(tally, "dapr-http", 150, until, |i| {
        let sent = client
            .post(format!(
                "{http}/v1.0/actors/counter/c{}/method/add",
                i % ACTORS
            ))
            .body("1");
        async move { checked(sent).await.map(drop) }
    })
    .await
}

/// Dapr state transactions.
async fn dapr_state(target: &Target, tally: Shared, until: Instant) {
    let Target { client, http, .. } = target;
    paced(tally, "dapr-state", 40, until, |i| {
        let body =
            format!(r#"[{{"operation":"upsert","request":{{"key":"note","value":{{"n":{i}}}}}}}]"#);
        // Dapr writes state only for an active actor: a call activates it first.
        let actor = format!("{http}/v1.0/actors/counter/s{}", i % 500);
        let activate = client.post(format!("{actor}/method/get")).body("");
        let sent = client
            .post(format!("{actor}/state"))
            .header("content-type", "application/json")
            .body(body);
        async move {
            checked(activate).await?;
            checked(sent).await.map(drop)
        }
    })
    .await
}

/// Dapr gRPC invokes.
async fn dapr_grpc(
    grpc: &rt::dapr_client::DaprClient<tonic::transport::Channel>,
    tally: Shared,
    until: Instant,
) {
    paced(tally, "dapr-grpc", 80, until, |i| {
        let mut grpc = grpc.clone();
        async move {
            let request = rt::InvokeActorRequest {
                actor_type: "counter".into(),
                actor_id: format!("g{}", i % ACTORS),
                method: "add".into(),
                data: b"1".to_vec(),
                metadata: Default::default(),
            };
            grpc.invoke_actor(request)
                .await
                .map(drop)
                .map_err(|s| s.to_string())
        }
    })
    .await
}

/// Spawn invokes.
async fn spawn(target: &Target, tally: Shared, until: Instant) {
    let Target { client, http, .. } = target;
    paced(tally, "spawn", 40, until, |i| {
        let request = pb::InvocationRequest {
            system: Some(pb::ActorSystem {
                name: "default".into(),
                ..Default::default()
            }),
            actor: Some(pb::Actor {
                id: Some(pb::ActorId {
                    name: format!("p{}", i % 1000),
                    system: "default".into(),
                    parent: String::new(),
                }),
                ..Default::default()
            }),
            action_name: "add".into(),
            register_ref: "counter".into(),
            payload: payload_any(b"1", JSON_TYPE_URL).map(pb::invocation_request::Payload::Value),
            ..Default::default()
        };
        let sent = client
            .post(format!(
                "{http}/api/v1/system/default/actors/p{}/invoke",
                i % 1000
            ))
            .header("content-type", "application/octet-stream")
            .body(request.encode_to_vec());
        async move { checked(sent).await.map(drop) }
    })
    .await
}

/// OPACA actions of the calculator container.
async fn opaca_actions(target: &Target, tally: Shared, until: Instant) {
    let Target { client, opaca, .. } = target;
    paced(tally, "opaca", 40, until, |i| {
        let sent = client
            .post(format!("{opaca}/invoke/Add/calculator"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"x": {}, "y": 1}}"#, i % 1000));
        async move { checked(sent).await.map(drop) }
    })
    .await
}

/// 200 ticker actors with up to 4 reminders each (every 5 s): registered and deleted in
/// turn, so some fire, some are replaced, some go.
async fn reminders(target: &Target, tally: Shared, until: Instant) {
    let Target { client, http, .. } = target;
    paced(tally, "reminders", 20, until, |i| {
        let url = format!(
            "{http}/v1.0/actors/ticker/t{}/reminders/r{}",
            i % 200,
            (i / 200) % 4
        );
        let sent = if i % 3 == 2 {
            client.delete(url)
        } else {
            client
                .put(url)
                .header("content-type", "application/json")
                .body(r#"{"dueTime": "1s", "period": "5s"}"#)
        };
        async move { checked(sent).await.map(drop) }
    })
    .await
}

/// A component deployed, used and removed every 10 s.
async fn deploys(target: &Target, tally: Shared, until: Instant) {
    let Target {
        client,
        http,
        bank_wasm,
        ..
    } = target;
    paced(tally, "deploy-remove", 1, until, |i| {
        let (client, http, wasm) = (client.clone(), http.clone(), bank_wasm.clone());
        async move {
            if i % 10 != 0 {
                return Ok(());
            }
            checked(
                client
                    .post(format!("{http}/admin/v1/components"))
                    .body(wasm),
            )
            .await?;
            checked(
                client
                    .post(format!("{http}/v1.0/actors/account/a{i}/method/balance"))
                    .body(""),
            )
            .await?;
            checked(client.delete(format!("{http}/admin/v1/components/bank"))).await?;
            Ok(())
        }
    })
    .await
}

/// A tenant created, given a component, used and deleted every 15 s.
async fn tenants(target: &Target, tally: Shared, until: Instant) {
    let Target {
        client,
        http,
        counter_wasm,
        ..
    } = target;
    paced(tally, "tenant-churn", 1, until, |i| {
        let (client, http, wasm) = (client.clone(), http.clone(), counter_wasm.clone());
        async move {
            if i % 15 != 0 {
                return Ok(());
            }
            tenant_lifetime(&client, &http, wasm, &format!("soak{i}")).await
        }
    })
    .await
}

/// One churned tenant, from creation to deletion.
async fn tenant_lifetime(
    client: &reqwest::Client,
    http: &str,
    wasm: Vec<u8>,
    name: &str,
) -> Result<(), String> {
    checked(
        client
            .post(format!("{http}/admin/v1/tenants"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"name": "{name}"}}"#)),
    )
    .await?;
    let issued = checked(client.post(format!("{http}/admin/v1/tenants/{name}/tokens"))).await?;
    let token = serde_json::from_str::<serde_json::Value>(&issued)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_string))
        .ok_or_else(|| format!("no token in {issued}"))?;
    checked(
        client
            .post(format!("{http}/admin/v1/components"))
            .bearer_auth(&token)
            .body(wasm),
    )
    .await?;
    for n in 0..20 {
        checked(
            client
                .post(format!("{http}/v1.0/actors/counter/t{n}/method/add"))
                .bearer_auth(&token)
                .body("1"),
        )
        .await?;
    }
    checked(client.delete(format!("{http}/admin/v1/tenants/{name}"))).await?;
    Ok(())
}

/// Every `every` until `until`, print a line of figures (see [`sample`]); the samples, for
/// the summary.
async fn report(
    target: &Target,
    warren: &Warren,
    dir: &Path,
    tally: &Shared,
    until: Instant,
    every: Duration,
) -> Vec<Sample> {
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval_at((started + every).into(), every);
    while Instant::now() < until {
        tick.tick().await;
        let minute = (started.elapsed().as_secs_f64() / every.as_secs_f64()).round() as u64;
        samples.push(sample(target, warren, dir, tally, minute).await);
    }
    samples
}

/// Read the host's figures now, take the tally since the last report, and print them.
async fn sample(
    target: &Target,
    warren: &Warren,
    dir: &Path,
    tally: &Shared,
    minute: u64,
) -> Sample {
    let Target { client, http, .. } = target;
    let metrics = client.get(format!("{http}/metrics")).send().await.ok();
    let metrics = match metrics {
        Some(r) => r.text().await.unwrap_or_default(),
        None => String::new(),
    };
    let kept = metric(&metrics, "warren_kept_instances").unwrap_or(-1.0);
    let active = metric(&metrics, "warren_active_actors").unwrap_or(-1.0);
    let (rss, fds) = (warren.rss(), warren.open_fds());
    let store = disk_bytes(&dir.join("store"));
    let t = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    let ops: u64 = t.done.values().sum();
    println!(
        "{minute:>6}  {:>7.1}  {fds:>3}  {kept:>14}  {active:>13}  {:>9.1}  {ops:>5}  {:?}",
        rss as f64 / (1 << 20) as f64,
        store as f64 / (1 << 20) as f64,
        t.errors,
    );
    for (kind, error) in &t.first_error {
        println!("        first {kind} error: {error}");
    }
    Sample { minute, rss, fds }
}

/// Growth of RSS and fds from the sample a third of the way in (after warm-up: minute 11
/// of 30) to the last.
fn summarize(samples: &[Sample]) {
    let (Some(first), Some(last)) = (samples.get(samples.len() / 3), samples.last()) else {
        println!("too short for a summary");
        return;
    };
    let growth = |a: f64, b: f64| if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
    println!(
        "from minute {} to {}: rss {:.1} -> {:.1} MiB ({:+.1}%), fds {} -> {} ({:+.1}%)",
        first.minute,
        last.minute,
        first.rss as f64 / (1 << 20) as f64,
        last.rss as f64 / (1 << 20) as f64,
        growth(first.rss as f64, last.rss as f64),
        first.fds,
        last.fds,
        growth(first.fds as f64, last.fds as f64),
    );
}
