//! The nemesis: three hosts on a PostgreSQL server of the test's own, under a load of
//! appends, reads, reminders and bank transfers through Dapr HTTP, Dapr gRPC and Spawn on
//! every host, while faults land at random times: SIGKILL, SIGSTOP, a host cut off from
//! PostgreSQL, a host cut off from the other hosts, a PostgreSQL restart, a host joining
//! and leaving, and a clean rolling restart. Then the history checker (`checker.rs`)
//! holds what every client saw against the final state.
//!
//! Partitions are made by TCP proxies on loopback (`proxy.rs`): each host reaches
//! PostgreSQL through one, and the other hosts reach its internal service through
//! another (`--cluster-advertise`), so cutting one cuts that link both ways.
//!
//! CI runs 90 s. By hand, longer or replaying a seed: `warren-bench nemesis --duration 10m
//! --seed 7`, which runs this test with `WARREN_NEMESIS_SECONDS` and `WARREN_NEMESIS_SEED`.

mod checker;
mod history;
mod workload;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use history::{Fault, History, Outcome};
use workload::{ACCOUNTS, Endpoints, LISTS, OPENING, Shared};

use super::proxy::Proxy;
use super::restart::{Server, postgres};
use super::{SECRET, server_addr, sql, wait_balanced};
use crate::support::{Host, eventually, free_port, guest};

/// SplitMix64: small, seeded, good enough to pick faults, actors and hosts.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The kinds of fault, each applied and healed by [`Nemesis::apply`].
const FAULTS: [&str; 7] = [
    "kill",
    "pause",
    "postgres-cut",
    "host-cut",
    "postgres-restart",
    "join-leave",
    "rolling-restart",
];

/// The hosts, the links a test can cut, and the database.
struct Nemesis {
    server: Server,
    hosts: Vec<Host>,
    /// Hosts that joined and left, kept for their logs.
    departed: Vec<Host>,
    dirs: Vec<tempfile::TempDir>,
    /// Host n's link to PostgreSQL.
    to_postgres: Vec<Proxy>,
    /// The other hosts' link to host n's internal service.
    to_host: Vec<Proxy>,
    endpoints: Endpoints,
    history: Arc<History>,
}

/// The arguments of a cluster host whose database is `url` and whose internal service
/// the others reach through `advertise`.
fn host_args(url: &str, listen: u16, advertise: u16) -> Vec<String> {
    let appender = guest("appender");
    let bank = guest("bank");
    [
        "--cluster",
        url,
        "--cluster-secret",
        SECRET,
        "--cluster-listen",
        &format!("127.0.0.1:{listen}"),
        "--cluster-advertise",
        &format!("http://127.0.0.1:{advertise}"),
        "--deploy",
        appender.to_str().unwrap(),
        "--deploy",
        bank.to_str().unwrap(),
    ]
    .map(str::to_string)
    .to_vec()
}

fn start_host(dir: &std::path::Path, args: &[String]) -> Host {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| Host::start_logging(dir, &args, "info,warren::firings=debug"))
}

impl Nemesis {
    async fn start(hosts: usize) -> Nemesis {
        let server = tokio::task::block_in_place(Server::start);
        let history = Arc::new(History::new());
        let mut nemesis = Nemesis {
            server,
            hosts: Vec::new(),
            departed: Vec::new(),
            dirs: Vec::new(),
            to_postgres: Vec::new(),
            to_host: Vec::new(),
            endpoints: Endpoints::default(),
            history,
        };
        for _ in 0..hosts {
            nemesis.add_host().await;
        }
        wait_balanced(&sql(&nemesis.server.url).await, hosts).await;
        nemesis
    }

    /// Start one more host, behind proxies of its own.
    async fn add_host(&mut self) -> usize {
        let to_postgres = Proxy::start(server_addr(&self.server.url)).await;
        let listen = free_port();
        let to_host = Proxy::start(format!("127.0.0.1:{listen}").parse().unwrap()).await;
        let dir = tempfile::tempdir().unwrap();
        let url = to_postgres.url_through(&self.server.url);
        let host = start_host(dir.path(), &host_args(&url, listen, to_host.port));
        let n = self.hosts.len();
        self.endpoints
            .set(n, host.url.clone(), host.grpc_url.clone());
        self.hosts.push(host);
        self.dirs.push(dir);
        self.to_postgres.push(to_postgres);
        self.to_host.push(to_host);
        n
    }

    /// Restart host `n` (after a kill or a clean stop) on its data dir and links.
    fn restart(&mut self, n: usize) {
        tokio::task::block_in_place(|| self.hosts[n].restart());
        let host = &self.hosts[n];
        self.endpoints
            .set(n, host.url.clone(), host.grpc_url.clone());
    }

    async fn balanced(&self, hosts: usize) {
        wait_balanced(&sql(&self.server.url).await, hosts).await;
    }

    /// Apply fault `kind` to host `n` (where it takes one), and heal it.
    async fn apply(&mut self, kind: &'static str, n: usize) {
        let start = self.history.now();
        let pause = Duration::from_secs(5);
        let host = match kind {
            "kill" => {
                tokio::task::block_in_place(|| self.hosts[n].kill());
                tokio::time::sleep(Duration::from_secs(3)).await;
                self.restart(n);
                Some(n)
            }
            "pause" => {
                self.hosts[n].signal("STOP");
                tokio::time::sleep(pause).await;
                self.hosts[n].signal("CONT");
                Some(n)
            }
            "postgres-cut" => {
                self.to_postgres[n].cut();
                tokio::time::sleep(pause).await;
                self.to_postgres[n].heal();
                Some(n)
            }
            "host-cut" => {
                self.to_host[n].cut();
                tokio::time::sleep(pause).await;
                self.to_host[n].heal();
                Some(n)
            }
            "postgres-restart" => {
                tokio::task::block_in_place(|| postgres("restart", self.server.dir.path()));
                None
            }
            "join-leave" => {
                let extra = self.add_host().await;
                tokio::time::sleep(Duration::from_secs(6)).await;
                tokio::task::block_in_place(|| self.hosts[extra].terminate());
                self.departed.extend(self.hosts.pop());
                self.dirs.pop();
                self.to_postgres.pop();
                self.to_host.pop();
                self.endpoints.pop();
                None
            }
            _ => {
                let count = self.hosts.len();
                for n in 0..count {
                    tokio::task::block_in_place(|| self.hosts[n].terminate());
                    self.restart(n);
                    self.balanced(count).await;
                }
                None
            }
        };
        self.history.faults.lock().unwrap().push(Fault {
            kind,
            host,
            start,
            end: self.history.now(),
        });
    }
}

/// The seconds to run, and the seed: from the environment, else 90 s and the clock.
fn settings() -> (Duration, u64) {
    let seconds = std::env::var("WARREN_NEMESIS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90);
    let seed = std::env::var("WARREN_NEMESIS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    (Duration::from_secs(seconds), seed)
}

/// How long after each fault's start until every list actor that was asked for answered
/// again, in seconds: the unavailability the fault caused.
fn unavailability(history: &History, fault: &Fault) -> f64 {
    let ops = history.ops.lock().unwrap();
    let mut worst = Duration::ZERO;
    for n in 0..LISTS {
        let actor = format!("list/{}", workload::list_id(n));
        let after = ops
            .iter()
            .filter(|o| o.actor == actor && o.invoked >= fault.start);
        let first_ok = after
            .filter(|o| matches!(o.outcome, Outcome::Ok(_)))
            .map(|o| o.completed)
            .min();
        if let Some(done) = first_ok {
            worst = worst.max(done.saturating_sub(fault.start));
        }
    }
    worst.as_secs_f64()
}

/// p50 and max of `values`.
fn summary(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let p50 = values.get(values.len() / 2).copied().unwrap_or(0.0);
    (p50, values.last().copied().unwrap_or(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_keeps_every_acknowledged_operation_under_faults() {
    let (duration, seed) = settings();
    println!("nemesis: {} s, seed {seed}", duration.as_secs());
    let mut rng = Rng::new(seed);
    let mut nemesis = Nemesis::start(3).await;
    let history = nemesis.history.clone();
    // The bank opens its accounts before the load.
    let (first, _) = nemesis.endpoints.get(0);
    let http = reqwest::Client::new();
    for a in 0..ACCOUNTS {
        let opened = http
            .post(format!(
                "{first}/v1.0/actors/account/acct{a}/method/deposit"
            ))
            .body(OPENING.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 200);
    }

    let shared = Shared {
        endpoints: nemesis.endpoints.clone(),
        history: history.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        http: http.clone(),
        next_element: Arc::new(AtomicU64::new(0)),
    };
    let mut clients = Vec::new();
    for c in 0..6 {
        clients.push(tokio::spawn(workload::list_client(
            c,
            shared.clone(),
            rng.next(),
        )));
    }
    clients.push(tokio::spawn(workload::reminder_client(
        shared.clone(),
        rng.next(),
    )));
    clients.push(tokio::spawn(workload::bank_client(
        shared.clone(),
        rng.next(),
    )));

    // Every kind of fault, in a seeded order, again and again until the time is up.
    let mut order = FAULTS.to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut next = 0;
    while history.now() < duration || next < FAULTS.len() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let kind = order[next % order.len()];
        let host = rng.below(3) as usize;
        println!(
            "nemesis: {kind} (host {host}) at {:.1}s",
            history.now().as_secs_f64()
        );
        nemesis.apply(kind, host).await;
        next += 1;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    shared
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    // Quiet now: the last reminders come due and fire; then the final state, read
    // through one host (retried: a read has no effect).
    nemesis.balanced(3).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (first, _) = nemesis.endpoints.get(0);
    let read = |path: String| {
        let http = http.clone();
        async move {
            eventually(Duration::from_secs(30), || async {
                let answer = http
                    .post(&path)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .ok()?;
                if !answer.status().is_success() {
                    return None;
                }
                answer.text().await.ok()
            })
            .await
            .unwrap_or_else(|| panic!("{path} never answered"))
        }
    };
    let mut finals = HashMap::new();
    for n in 0..LISTS {
        let id = workload::list_id(n);
        let text = read(format!("{first}/v1.0/actors/list/{id}/method/read")).await;
        let list: Vec<String> = serde_json::from_str(&text).unwrap();
        finals.insert(format!("list/{id}"), list);
    }
    let mut total = 0;
    for a in 0..ACCOUNTS {
        let text = read(format!(
            "{first}/v1.0/actors/account/acct{a}/method/balance"
        ))
        .await;
        total += text.parse::<i64>().unwrap();
    }

    let ops = history.ops.lock().unwrap().clone();
    let reminders = history.reminders.lock().unwrap().clone();
    let transfers = history.transfers.lock().unwrap().clone();
    let faults = history.faults.lock().unwrap().clone();
    let mut anomalies = checker::check(&ops, &reminders, &finals);
    anomalies.extend(checker::check_bank(
        OPENING * ACCOUNTS as i64,
        total,
        &transfers,
    ));

    // The report: operations, faults and what they cost, anomalies.
    for protocol in ["http", "grpc", "spawn"] {
        let of: Vec<_> = ops.iter().filter(|o| o.protocol == protocol).collect();
        let ok = of.iter().filter(|o| o.seen().is_some()).count();
        println!(
            "nemesis: {protocol}: {} operations, {ok} acknowledged",
            of.len()
        );
    }
    println!(
        "nemesis: {} reminders ({} acknowledged), {} transfers ({} acknowledged), bank total {total}",
        reminders.len(),
        reminders.iter().filter(|r| r.acknowledged).count(),
        transfers.len(),
        transfers.iter().filter(|t| t.acknowledged).count(),
    );
    for kind in FAULTS {
        let mut costs: Vec<f64> = faults
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| unavailability(&history, f))
            .collect();
        let count = costs.len();
        let (p50, max) = summary(&mut costs);
        println!("nemesis: {kind}: {count} times, unavailability p50 {p50:.1} s, max {max:.1} s");
    }
    for fault in &faults {
        println!(
            "nemesis: {} on host {:?} from {:.1}s to {:.1}s",
            fault.kind,
            fault.host,
            fault.start.as_secs_f64(),
            fault.end.as_secs_f64()
        );
    }
    println!("nemesis: {} anomalies", anomalies.len());
    // What the hosts logged about the reminders an anomaly names.
    for r in &reminders {
        let quoted = format!("{:?} is in the final list twice", r.element);
        if !anomalies.iter().any(|a| a.contains(&quoted)) {
            continue;
        }
        println!(
            "nemesis: reminder {} of {} due at {:.1}s, acknowledged {}",
            r.element,
            r.actor,
            r.due.as_secs_f64(),
            r.acknowledged
        );
        let name = format!("r-{}", r.element);
        for (n, host) in nemesis.hosts.iter().chain(&nemesis.departed).enumerate() {
            for line in host.log().lines().filter(|l| {
                l.split_whitespace()
                    .any(|w| w.trim_matches('"').ends_with(&name))
            }) {
                println!("nemesis:   host {n}: {line}");
            }
        }
    }
    for kind in FAULTS {
        assert!(
            faults.iter().any(|f| f.kind == kind),
            "the run had no {kind} fault"
        );
    }
    assert!(
        anomalies.is_empty(),
        "seed {seed}: {} anomalies:\n{}",
        anomalies.len(),
        anomalies.join("\n")
    );
}
