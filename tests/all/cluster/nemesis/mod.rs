//! The nemesis: three hosts on a PostgreSQL server of the test's own, under a load of
//! appends, reads, reminders and bank transfers through Dapr HTTP, Dapr gRPC and Spawn on
//! every host, while faults land at random times: SIGKILL, SIGSTOP, a host cut off from
//! PostgreSQL, from the other hosts or from its clients, a link cut one way only, a
//! PostgreSQL restart, a host joining and leaving, and a clean rolling restart. Then the
//! history checker (`checker.rs`) holds what every client saw against the final state.
//!
//! Each host runs in a network namespace of its own (`scripts/netns.sh`, so the test
//! needs root, as CI has): the clients and PostgreSQL stay in the test's namespace and
//! reach the hosts over a bridge, and a cut is a blackhole route or rule, one way or both.
//!
//! CI runs 90 s. By hand, longer or replaying a seed: `warren-bench nemesis --duration 10m
//! --seed 7`, which runs this test with `WARREN_NEMESIS_SECONDS` and `WARREN_NEMESIS_SEED`.

mod checker;
mod history;
mod report;
mod workload;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use history::{Fault, History};
use report::Recorded;
use workload::{ACCOUNTS, Endpoints, LISTS, OPENING, Shared};

use super::restart::{Server, postgres};
use super::{SECRET, sql, wait_balanced};
use crate::support::{Host, Place, eventually, guest, script, workspace};

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
const FAULTS: [&str; 9] = [
    "kill",
    "pause",
    "postgres-cut",
    "host-cut",
    "client-cut",
    "one-way-cut",
    "postgres-restart",
    "join-leave",
    "rolling-restart",
];

/// Host namespaces: three hosts and the one that joins and leaves.
const NAMESPACES: usize = 4;
/// Where PostgreSQL listens for the hosts, and the subnet it lets in (`netns.sh`).
const POSTGRES_ADDRESS: &str = "10.213.0.2";
const SUBNET: &str = "10.213.0.0/24";

/// `scripts/netns.sh` with `args`; panics with its output if it fails.
fn netns(args: &[&str]) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    script("netns.sh", &args, &[]);
}

/// The namespaces, removed when dropped.
struct Network;

impl Network {
    fn up() -> Network {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        assert!(
            root,
            "the nemesis puts hosts in network namespaces and needs root (CI runs as root)"
        );
        netns(&["up", &NAMESPACES.to_string()]);
        Network
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = std::process::Command::new(workspace().join("scripts/netns.sh"))
            .args(["down", &NAMESPACES.to_string()])
            .output();
    }
}

/// The hosts, their network, and the database.
struct Nemesis {
    // Fields drop in order: the hosts and the server before the namespaces.
    server: Server,
    hosts: Vec<Host>,
    /// Hosts that joined and left, kept for their logs.
    departed: Vec<Host>,
    dirs: Vec<tempfile::TempDir>,
    endpoints: Endpoints,
    history: Arc<History>,
    /// Picks what a one-way cut cuts.
    rng: Rng,
    _network: Network,
}

/// The arguments of a cluster host whose database is `url`, its internal service on
/// `ip`.
fn host_args(url: &str, ip: &str) -> Vec<String> {
    let appender = guest("appender");
    let bank = guest("bank");
    [
        "--cluster",
        url,
        "--cluster-secret",
        SECRET,
        "--cluster-listen",
        &format!("{ip}:0"),
        "--deploy",
        appender.to_str().unwrap(),
        "--deploy",
        bank.to_str().unwrap(),
    ]
    .map(str::to_string)
    .to_vec()
}

fn start_host(place: Place, dir: &std::path::Path, args: &[String]) -> Host {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| {
        Host::start_at(place, dir, &args, "info,warren::firings=debug", &[])
    })
}

impl Nemesis {
    async fn start(hosts: usize, seed: u64) -> Nemesis {
        let network = Network::up();
        let server =
            tokio::task::block_in_place(|| Server::start_listening(POSTGRES_ADDRESS, SUBNET));
        let history = Arc::new(History::new());
        let mut nemesis = Nemesis {
            server,
            hosts: Vec::new(),
            departed: Vec::new(),
            dirs: Vec::new(),
            endpoints: Endpoints::default(),
            history,
            rng: Rng::new(seed),
            _network: network,
        };
        for _ in 0..hosts {
            nemesis.add_host().await;
        }
        wait_balanced(&sql(&nemesis.server.url).await, hosts).await;
        nemesis
    }

    /// Start one more host, in the next namespace.
    async fn add_host(&mut self) -> usize {
        let n = self.hosts.len();
        let place = Place {
            netns: Some(format!("warren-h{n}")),
            ip: format!("10.213.0.{}", 16 + n),
        };
        let dir = tempfile::tempdir().unwrap();
        let url = self.server.url.replace("127.0.0.1", POSTGRES_ADDRESS);
        let host = start_host(place.clone(), dir.path(), &host_args(&url, &place.ip));
        self.endpoints
            .set(n, host.url.clone(), host.grpc_url.clone());
        self.hosts.push(host);
        self.dirs.push(dir);
        n
    }

    /// A number below `n`.
    fn choice(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
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
            "postgres-cut" | "host-cut" | "client-cut" | "one-way-cut" => {
                let (peer, direction) = match kind {
                    "postgres-cut" => ("postgres", "both"),
                    "host-cut" => ("hosts", "both"),
                    "client-cut" => ("clients", "both"),
                    _ => (
                        ["postgres", "hosts", "clients"][self.choice(3)],
                        ["in", "out"][self.choice(2)],
                    ),
                };
                println!("nemesis:   host {n} cut from {peer} ({direction})");
                let host = n.to_string();
                netns(&["cut", &host, peer, direction]);
                tokio::time::sleep(pause).await;
                netns(&["heal", &host]);
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

    /// The bank opens its accounts before the load, through host 0.
    async fn open_accounts(&self, http: &reqwest::Client) {
        let (first, _) = self.endpoints.get(0);
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
    }

    /// Every kind of fault, in a seeded order, again and again until `duration` is up.
    async fn run_faults(&mut self, rng: &mut Rng, duration: Duration) {
        let mut order = FAULTS.to_vec();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut next = 0;
        while self.history.now() < duration || next < FAULTS.len() {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let kind = order[next % order.len()];
            let host = rng.below(3) as usize;
            println!(
                "nemesis: {kind} (host {host}) at {:.1}s",
                self.history.now().as_secs_f64()
            );
            self.apply(kind, host).await;
            next += 1;
        }
    }

    /// The final lists and the bank's total, read through host 0 (retried: a read has
    /// no effect).
    async fn final_state(&self, http: &reqwest::Client) -> (HashMap<String, Vec<String>>, i64) {
        let (first, _) = self.endpoints.get(0);
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
        (finals, total)
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

/// The clients: six on lists, one registering reminders, one moving money; each seeded
/// from `rng`.
fn start_clients(shared: &Shared, rng: &mut Rng) -> Vec<tokio::task::JoinHandle<()>> {
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
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_keeps_every_acknowledged_operation_under_faults() {
    let (duration, seed) = settings();
    println!("nemesis: {} s, seed {seed}", duration.as_secs());
    let mut rng = Rng::new(seed);
    let mut nemesis = Nemesis::start(3, rng.next()).await;
    let history = nemesis.history.clone();
    let http = reqwest::Client::new();
    nemesis.open_accounts(&http).await;

    let shared = Shared {
        endpoints: nemesis.endpoints.clone(),
        history: history.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        http: http.clone(),
        next_element: Arc::new(AtomicU64::new(0)),
    };
    let clients = start_clients(&shared, &mut rng);
    nemesis.run_faults(&mut rng, duration).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    shared
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    // Quiet now: the last reminders come due and fire; then the final state.
    nemesis.balanced(3).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (finals, total) = nemesis.final_state(&http).await;

    let recorded = Recorded::of(&history);
    let mut anomalies = checker::check(&recorded.ops, &recorded.reminders, &finals);
    anomalies.extend(checker::check_bank(
        OPENING * ACCOUNTS as i64,
        total,
        &recorded.transfers,
    ));
    report::print(&history, &recorded, total, &anomalies);
    let hosts = nemesis.hosts.iter().chain(&nemesis.departed);
    report::print_reminder_logs(&recorded.reminders, &anomalies, hosts);
    for kind in FAULTS {
        assert!(
            recorded.faults.iter().any(|f| f.kind == kind),
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
