//! Figure 9: what metrics and tracing cost, each configuration measured in the same run,
//! alternating, against one that counts and records nothing.
//!
//! - **off**: `--no-metrics`, no exporter (a caller's `traceparent` is still carried on);
//! - **default**: metrics counted, no exporter (what `warren serve` does unless told);
//! - **export**: the default plus `--otlp-endpoint`: every request and turn recorded as a
//!   span and exported over OTLP/gRPC to a collector in a helper process (the hop
//!   figure's, which answers every export at once; it runs on the same two cores);
//! - **export 1%** (in process only): the same, with `--trace-sample-ratio 0.01`.
//!
//! Each round runs every configuration once, in an order rotated from round to round.
//! Figure 1's kept-instance invoke runs in process; figure 2's Dapr HTTP invoke against
//! one `warren serve` per configuration. Every HTTP request carries a sampled
//! `traceparent`, as Dapr's SDKs send one.

use std::time::Duration;

use warren_bench::inproc::runtime_configured;
use warren_bench::load;
use warren_bench::procs::{Warren, guest};
use warren_bench::stats::Summary;
use warren_host::otlp::Exporter;
use warren_host::runtime::trace::Tracing;
use warren_host::runtime::{Runtime, RuntimeConfig};
use warren_host::store::Durability;
use warren_host::wasm::WasmConfig;

use super::{Killed, counter_load, helper, span_floor};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Rounds of every configuration, alternating; the figure is the median of the rounds'
/// ratios, since this machine's speed drifts by more than the costs measured.
const ROUNDS: usize = 7;

/// Each configuration's ratios against "off" in every round, for the closing medians.
#[derive(Default)]
struct Ratios(Vec<(String, f64, f64)>);

/// The configurations' order in `round`: each starts a round in turn, so none always runs
/// right after another (a drifting machine would otherwise favour one position).
fn rotated(configurations: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..configurations).map(move |i| (i + round) % configurations)
}

impl Ratios {
    /// Print one round's summaries (configuration index 0, "off", is the base) in the
    /// configurations' order, and keep their ratios.
    fn add_round(&mut self, measured: &[(usize, Summary)], name: impl Fn(usize) -> String) {
        let mut sorted: Vec<&(usize, Summary)> = measured.iter().collect();
        sorted.sort_by_key(|(index, _)| *index);
        let Some((_, base)) = sorted.iter().find(|(index, _)| *index == 0) else {
            return;
        };
        for (index, summary) in &sorted {
            if *index == 0 {
                summary.print(None);
                continue;
            }
            summary.print(Some(base));
            let (throughput, median) = summary.ratios(base);
            self.0.push((name(*index), throughput, median));
        }
    }

    fn print(&self) {
        let mut names: Vec<&str> = Vec::new();
        for (name, _, _) in &self.0 {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        for name in names {
            let of = |pick: fn(&(String, f64, f64)) -> f64| {
                let mut v: Vec<f64> = self.0.iter().filter(|r| r.0 == name).map(pick).collect();
                v.sort_by(f64::total_cmp);
                (v[v.len() / 2], v[0], v[v.len() - 1])
            };
            let (t, t_lo, t_hi) = of(|r| r.1);
            let (m, m_lo, m_hi) = of(|r| r.2);
            println!(
                "median of {ROUNDS} rounds, {name} vs off: throughput x{t:.2} (x{t_lo:.2}-x{t_hi:.2}), median latency x{m:.2} (x{m_lo:.2}-x{m_hi:.2})"
            );
        }
    }
}

pub async fn observe(duration: Duration) -> anyhow::Result<()> {
    let (collector, addrs) = helper(&["hop-echo"])?;
    let _collector = Killed(collector);
    let grpc = addrs
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("hop-echo printed no gRPC address"))?;
    let endpoint = format!("http://{grpc}");
    in_process(&endpoint, duration).await?;
    over_http(&endpoint, duration).await
}

/// Figure 1, kept instance, with 1 and 2 tasks.
async fn in_process(endpoint: &str, duration: Duration) -> anyhow::Result<()> {
    let (all, sampled) = (
        Exporter::start(endpoint, None, "bench-all", 1.0)?,
        Exporter::start(endpoint, None, "bench-sampled", 0.01)?,
    );
    let runtimes = in_process_runtimes(all.1, sampled.1).await?;
    let off_turn_ns = in_process_rounds(&runtimes, duration).await?;
    all.0.shutdown().await;
    sampled.0.shutdown().await;
    print_span_floor(off_turn_ns, duration);
    Ok(())
}

/// A runtime per configuration, each on a store of its own, "off" first; `all` and
/// `sampled` record every trace and 1% of them.
async fn in_process_runtimes(
    all: Tracing,
    sampled: Tracing,
) -> anyhow::Result<Vec<(&'static str, Runtime, tempfile::TempDir)>> {
    let configs = [
        (
            "off",
            RuntimeConfig {
                metrics: false,
                ..RuntimeConfig::default()
            },
        ),
        ("default", RuntimeConfig::default()),
        (
            "export",
            RuntimeConfig {
                tracing: all,
                ..RuntimeConfig::default()
            },
        ),
        (
            "export 1%",
            RuntimeConfig {
                tracing: sampled,
                ..RuntimeConfig::default()
            },
        ),
    ];
    let mut runtimes = Vec::new();
    for (name, config) in configs {
        let dir = tempfile::tempdir()?;
        let (runtime, _) = runtime_configured(
            dir.path(),
            Durability::Relaxed,
            &["counter"],
            WasmConfig::default(),
            config,
        )
        .await?;
        runtimes.push((name, runtime, dir));
    }
    Ok(runtimes)
}

/// Every round, with 1 and 2 tasks, every configuration in turn; prints the medians of
/// the ratios and returns the nanoseconds of an "off" turn with 1 task, by round.
async fn in_process_rounds(
    runtimes: &[(&str, Runtime, tempfile::TempDir)],
    duration: Duration,
) -> anyhow::Result<Vec<f64>> {
    let mut ratios = Ratios::default();
    let mut off_turn_ns = Vec::new();
    for round in 1..=ROUNDS {
        for tasks in [1, 2] {
            let mut measured = Vec::new();
            for index in rotated(runtimes.len(), round) {
                let (name, runtime, _) = &runtimes[index];
                let label = format!(
                    "round {round}: in-process invoke, kept instance, {tasks} task(s), {name}"
                );
                let summary =
                    counter_load(runtime, &label, tasks, duration, ("c", "get", b"")).await?;
                measured.push((index, summary));
            }
            if tasks == 1
                && let Some((_, off)) = measured.iter().find(|(index, _)| *index == 0)
            {
                off_turn_ns.push(off.elapsed.as_nanos() as f64 / off.count.max(1) as f64);
            }
            ratios.add_round(&measured, |index| {
                format!("in-process, {tasks} task(s), {}", runtimes[index].0)
            });
        }
    }
    ratios.print();
    Ok(off_turn_ns)
}

/// What building, encoding and decoding one turn's span costs at the least, against the
/// median "off" turn.
fn print_span_floor(mut off_turn_ns: Vec<f64>, duration: Duration) {
    off_turn_ns.sort_by(f64::total_cmp);
    let turn_ns = off_turn_ns[off_turn_ns.len() / 2];
    let floor = span_floor::measure(ROUNDS, duration / 4);
    println!(
        "OTLP floor per turn span (protobuf only, no SDK, queue or network): build and \
         encode {:.0} ns = {:.0}% of an \"off\" turn ({turn_ns:.0} ns, 1 task); a collector's \
         decode {:.0} ns = {:.0}%",
        floor.build_and_encode_ns,
        100.0 * floor.build_and_encode_ns / turn_ns,
        floor.decode_ns,
        100.0 * floor.decode_ns / turn_ns,
    );
}

/// Figure 2: Dapr HTTP invoke, 32 connections, one host per configuration.
async fn over_http(endpoint: &str, duration: Duration) -> anyhow::Result<()> {
    let counter = guest("counter");
    let counter = counter.to_str().unwrap_or_default();
    let common = ["--deploy", counter, "--durability", "relaxed"];
    let configs: [(&str, Vec<&str>); 3] = [
        ("off", vec!["--no-metrics"]),
        ("default", vec![]),
        ("export", vec!["--otlp-endpoint", endpoint]),
    ];
    let mut hosts = Vec::new();
    for (name, args) in configs {
        let dir = tempfile::tempdir()?;
        let host = Warren::start(dir.path(), &[&common[..], &args].concat())?;
        hosts.push((name, host, dir));
    }
    let path = "/v1.0/actors/counter/c{c}/method/get";
    let mut ratios = Ratios::default();
    for round in 1..=ROUNDS {
        let mut measured = Vec::new();
        for index in rotated(hosts.len(), round) {
            let (name, host, _) = &hosts[index];
            let label = format!("round {round}: Dapr HTTP invoke, 32 conns, {name}");
            let mut spec = load::post(&label, &host.addr, path, "", 32, duration);
            spec.headers
                .push(("traceparent".into(), TRACEPARENT.into()));
            measured.push((index, load::run(spec).await?));
        }
        ratios.add_round(&measured, |index| {
            format!("Dapr HTTP invoke, {}", hosts[index].0)
        });
    }
    ratios.print();
    Ok(())
}
