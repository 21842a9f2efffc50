//! Cluster mode: several `warren` processes on one PostgreSQL database (the server
//! scripts/test.sh starts; a fresh database per test).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use warren_host::store::partition_of;
use warren_host::types::ActorId;

use crate::support::{Host, eventually, guest};

mod clients;
mod faults;
mod nemesis;
mod proxy;
mod restart;
mod rolling;

const SECRET: &str = "a-cluster-secret-for-tests";

/// A fresh database on the test server; its URL.
async fn fresh_database() -> String {
    let url = std::env::var("WARREN_TEST_DATABASE_URL").expect(
        "WARREN_TEST_DATABASE_URL is not set: run scripts/test.sh, or start a server with \
         scripts/postgres.sh start DIR and export the URL it prints",
    );
    let name = format!("warren_cluster_{}", uuid::Uuid::new_v4().simple());
    sql(&url)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.dbname(&name);
    // Back to a URL the host's --cluster takes.
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the test server is not on TCP: {other:?}"),
    };
    let port = config.get_ports()[0];
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("postgres://{user}{password}@{host}:{port}/{name}")
}

/// The host and port of the server in a `postgres://` URL.
fn server_addr(url: &str) -> std::net::SocketAddr {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the test server is not on TCP: {other:?}"),
    };
    format!("{host}:{}", config.get_ports()[0]).parse().unwrap()
}

/// A plain client of the database at `url`.
async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    client
}

/// A cluster host on database `url`, with the counter and the ticker deployed.
fn cluster_host(dir: &std::path::Path, url: &str, extra: &[&str]) -> Host {
    cluster_host_with(dir, url, extra, &[])
}

/// [`cluster_host`] with extra environment variables (`FAILPOINTS`).
fn cluster_host_with(
    dir: &std::path::Path,
    url: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Host {
    let counter = guest("counter");
    let hostile = guest("hostile");
    let mut args = vec![
        "--cluster",
        url,
        "--cluster-secret",
        SECRET,
        "--cluster-listen",
        "127.0.0.1:0",
        "--deploy",
        counter.to_str().unwrap(),
        "--deploy",
        hostile.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    // Each committed turn is logged, so a test can tell where and when it ran.
    Host::start_with(dir, &args, "info,warren::turns=debug", env)
}

/// One committed turn, as its host logged it.
#[derive(Debug)]
struct LoggedTurn {
    host: usize,
    started_us: u64,
    ended_us: u64,
    version: u64,
}

/// The warnings and errors each of `hosts` logged, to explain a failed check.
fn warnings(hosts: &[Host]) -> String {
    let mut out = String::new();
    for (n, host) in hosts.iter().enumerate() {
        for line in host
            .log()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        {
            out.push_str(&format!("host {n}: {line}\n"));
        }
    }
    out
}

/// The committed turns each of `hosts` logged, by actor (`counter/j3`).
fn logged_turns(hosts: &[Host]) -> HashMap<String, Vec<LoggedTurn>> {
    let mut turns: HashMap<String, Vec<LoggedTurn>> = HashMap::new();
    for (n, host) in hosts.iter().enumerate() {
        for line in host.log().lines().filter(|l| l.contains("turn done")) {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                    .unwrap_or_else(|| panic!("no {name} in {line}"))
            };
            let number = |name: &str| field(name).parse::<u64>().unwrap();
            turns
                .entry(field("actor").to_string())
                .or_default()
                .push(LoggedTurn {
                    host: n,
                    started_us: number("started_us"),
                    ended_us: number("ended_us"),
                    version: number("version"),
                });
        }
    }
    for list in turns.values_mut() {
        list.sort_by_key(|t| t.started_us);
    }
    turns
}

/// Partition owners (host ids) as the database has them, and the live hosts.
async fn owners(db: &tokio_postgres::Client) -> (Vec<Option<String>>, HashSet<String>) {
    let owners = db
        .query(
            "SELECT owner FROM warren_partitions ORDER BY partition",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let live = db
        .query("SELECT id FROM warren_hosts WHERE alive", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (owners, live)
}

/// Wait until `hosts` live hosts hold every partition between them, each some.
async fn wait_balanced(db: &tokio_postgres::Client, hosts: usize) -> Vec<String> {
    eventually(Duration::from_secs(30), || async {
        let (owners, live) = owners(db).await;
        let holders: HashSet<&String> = owners.iter().flatten().collect();
        let all_owned = owners
            .iter()
            .all(|o| o.as_ref().is_some_and(|o| live.contains(o)));
        (live.len() == hosts && holders.len() == hosts && all_owned)
            .then(|| owners.into_iter().flatten().collect())
    })
    .await
    .unwrap_or_else(|| panic!("{hosts} hosts never shared the partitions"))
}

/// The host id that owns `actor`, as the database says.
async fn owner_of(db: &tokio_postgres::Client, actor: &ActorId) -> Option<String> {
    let partition = partition_of(actor) as i32;
    db.query_one(
        "SELECT owner FROM warren_partitions WHERE partition = $1",
        &[&partition],
    )
    .await
    .unwrap()
    .get(0)
}

/// `n` hosts on a fresh database, sharing its partitions.
struct TestCluster {
    url: String,
    db: tokio_postgres::Client,
    dirs: Vec<tempfile::TempDir>,
    hosts: Vec<Host>,
}

impl TestCluster {
    async fn start(n: usize, extra: &[&str]) -> TestCluster {
        TestCluster::start_on(fresh_database().await, n, extra).await
    }

    /// `n` hosts on the database at `url`.
    async fn start_on(url: String, n: usize, extra: &[&str]) -> TestCluster {
        let db = sql(&url).await;
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let hosts: Vec<Host> = dirs
            .iter()
            .map(|d| cluster_host(d.path(), &url, extra))
            .collect();
        wait_balanced(&db, n).await;
        TestCluster {
            url,
            db,
            dirs,
            hosts,
        }
    }
}

/// An actor of `actor_type` whose partition `host` owns.
async fn owned_by(db: &tokio_postgres::Client, actor_type: &str, host: &str) -> ActorId {
    for i in 0..500 {
        let candidate = ActorId::new("default", actor_type, &format!("a{i}"));
        if owner_of(db, &candidate).await.as_deref() == Some(host) {
            return candidate;
        }
    }
    panic!("no {actor_type} actor of {host} among 500 ids");
}

/// The id a cluster host joined under (it logs it).
fn host_id(host: &Host) -> String {
    host.log()
        .lines()
        .find(|l| l.contains("joined the cluster"))
        .and_then(|l| l.split(" host=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
        .expect("the host logs its id")
}

#[tokio::test]
async fn three_hosts_serve_one_actor_space_with_exact_totals() {
    let TestCluster {
        url: _url,
        db,
        dirs: _dirs,
        hosts,
    } = TestCluster::start(3, &[]).await;

    // 20 actors, 15 adds each, sent through all three hosts at once.
    let adds = (0..300).map(|i| {
        let host = &hosts[i % 3];
        let id = format!("c{}", i % 20);
        async move { host.invoke("counter", &id, "add", "1").await }
    });
    for (status, body) in futures::future::join_all(adds).await {
        assert_eq!(status, 200, "{body}");
    }
    for host in &hosts {
        for i in 0..20 {
            assert_eq!(
                host.invoke_ok("counter", &format!("c{i}"), "get", "").await,
                "15"
            );
        }
    }
    // Each actor is active on one host only: its owner.
    let mut active = HashMap::new();
    for (n, host) in hosts.iter().enumerate() {
        let ids = host.get_json("/v1.0/actors/counter").await;
        for id in ids.as_array().into_iter().flatten() {
            let before = active.insert(id.as_str().unwrap().to_string(), n);
            assert!(before.is_none(), "{id} active on hosts {before:?} and {n}");
        }
    }
    assert_eq!(active.len(), 20, "{active:?}");

    // State is queryable with SQL, one row per key, with the actor's version.
    let rows = db
        .query(
            "SELECT actor_id, version FROM warren_actor_state
             WHERE tenant = 'default' AND actor_type = 'counter'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 15));

    // A reminder set through one host for an actor another owns fires on the owner.
    let (owners, _) = owners(&db).await;
    let ticker = (0..100)
        .map(|i| ActorId::new("default", "ticker", &format!("t{i}")))
        .find(|a| owners[partition_of(a) as usize].is_some())
        .unwrap();
    let (status, body) = hosts[0]
        .register(
            "reminders",
            &format!("ticker/{}", ticker.id),
            "ring",
            json!({"dueTime": "1s"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let fired = eventually(Duration::from_secs(10), || async {
        (hosts[2].fired(&ticker.id, "ring").await == 1).then_some(())
    })
    .await;
    assert!(fired.is_some(), "the reminder did not fire");

    // A component deployed through one host runs on every host.
    let (status, body) = hosts[1].deploy(std::fs::read(guest("bank")).unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let everywhere = eventually(Duration::from_secs(20), || async {
        for host in &hosts {
            let components = host.get_json("/admin/v1/components").await;
            if !components.to_string().contains("\"bank\"") {
                return None;
            }
        }
        Some(())
    })
    .await;
    assert!(
        everywhere.is_some(),
        "the component did not reach every host"
    );
    for host in &hosts {
        let (status, body) = host.invoke("account", "acme", "deposit", "5").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        hosts[0].invoke_ok("account", "acme", "balance", "").await,
        "15"
    );
}

#[tokio::test]
async fn a_killed_host_loses_no_acknowledged_turn_and_its_actors_move() {
    let TestCluster {
        url: _url,
        db,
        dirs: _dirs,
        mut hosts,
    } = TestCluster::start(3, &[]).await;
    // Which host is which in the database: each host's id is in its log.
    let victim_id = host_id(&hosts[2]);

    // A reminder of an actor the victim owns, due after the kill.
    let ticker = owned_by(&db, "ticker", &victim_id).await;
    assert_eq!(
        owner_of(&db, &ticker).await.as_deref(),
        Some(victim_id.as_str())
    );
    let (status, body) = hosts[0]
        .register(
            "reminders",
            &format!("ticker/{}", ticker.id),
            "after-kill",
            json!({"dueTime": "3s"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    // Writers through the two survivors, on 30 actors, counting what was acknowledged.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..30).map(|_| AtomicU64::new(0)).collect());
    let failed = Arc::new(AtomicU64::new(0));
    let errors: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = reqwest::Client::new();
    let mut writers = Vec::new();
    for w in 0..6 {
        let url = hosts[w % 2].url.clone();
        let (acked, failed, errors, stop, client) = (
            acked.clone(),
            failed.clone(),
            errors.clone(),
            stop.clone(),
            client.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let actor = i % 30;
                i += 6;
                let sent = client
                    .post(format!("{url}/v1.0/actors/counter/w{actor}/method/add"))
                    .body("1")
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        acked[actor].fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        errors.lock().unwrap().push(Instant::now());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    hosts[2].kill();
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    wait_balanced(&db, 2).await;

    let errors = errors.lock().unwrap().clone();
    let window = match (errors.first(), errors.last()) {
        (Some(first), Some(last)) => last.duration_since(*first),
        _ => Duration::ZERO,
    };
    let last_error = errors
        .last()
        .map(|t| t.saturating_duration_since(killed_at))
        .unwrap_or_default();
    println!(
        "failover: {} failed requests, errors for {:.2} s, the last {:.2} s after the kill",
        failed.load(Ordering::Relaxed),
        window.as_secs_f64(),
        last_error.as_secs_f64()
    );
    // Every acknowledged turn is there; a failed request may have committed (its reply
    // was lost with the host), so a total may be higher, by at most the failures.
    let mut total_acked = 0;
    let mut total_seen = 0;
    for (actor, count) in acked.iter().enumerate() {
        let count = count.load(Ordering::Relaxed);
        let seen: u64 = hosts[actor % 2]
            .invoke_ok("counter", &format!("w{actor}"), "get", "")
            .await
            .parse()
            .unwrap();
        assert!(seen >= count, "w{actor}: {seen} < {count} acknowledged");
        total_acked += count;
        total_seen += seen;
    }
    assert!(total_acked > 100, "the load was too light: {total_acked}");
    assert!(total_seen - total_acked <= failed.load(Ordering::Relaxed));
    // The victim's reminder fired on a survivor.
    let fired = eventually(Duration::from_secs(15), || async {
        (hosts[0].fired(&ticker.id, "after-kill").await >= 1).then_some(())
    })
    .await;
    assert!(fired.is_some(), "the killed host's reminder never fired");
}

#[tokio::test]
async fn a_paused_host_cannot_write_an_actor_that_moved() {
    let fast = ["--heartbeat", "300ms", "--host-timeout", "1200ms"];
    let TestCluster {
        url: _url,
        db,
        dirs: _dirs,
        hosts,
    } = TestCluster::start(2, &fast).await;
    let paused_id = host_id(&hosts[1]);
    let target = owned_by(&db, "counter", &paused_id).await;
    let id = target.id.to_string();
    assert_eq!(hosts[1].invoke_ok("counter", &id, "add", "1").await, "1");

    // Requests reach the paused host's socket and wait there.
    hosts[1].signal("STOP");
    let client = reqwest::Client::new();
    let pending: Vec<_> = (0..5)
        .map(|_| {
            let request = client
                .post(format!(
                    "{}/v1.0/actors/counter/{id}/method/add",
                    hosts[1].url
                ))
                .body("1")
                .timeout(Duration::from_secs(30))
                .send();
            tokio::spawn(async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) })
        })
        .collect();
    // The partition moves to the live host, which serves the actor from the database.
    let moved = eventually(Duration::from_secs(15), || async {
        (owner_of(&db, &target).await.as_deref() != Some(paused_id.as_str())).then_some(())
    })
    .await;
    assert!(moved.is_some(), "the paused host's partitions never moved");
    assert_eq!(hosts[0].invoke_ok("counter", &id, "add", "10").await, "11");

    hosts[1].signal("CONT");
    let mut accepted = 0;
    for p in pending {
        if p.await.unwrap() == 200 {
            accepted += 1;
        }
    }
    // Whatever the resumed host did with them, the total is exactly what was
    // acknowledged: a write it made as the old owner was refused by the database.
    let total: u64 = hosts[0]
        .invoke_ok("counter", &id, "get", "")
        .await
        .parse()
        .unwrap();
    assert_eq!(
        total,
        11 + accepted,
        "{accepted} of the paused host's requests acknowledged"
    );
    // It rejoins and serves again.
    wait_balanced(&db, 2).await;
    let after: u64 = hosts[1]
        .invoke_ok("counter", &id, "add", "1")
        .await
        .parse()
        .unwrap();
    assert_eq!(after, total + 1);
    println!("paused host: {accepted} of 5 waiting requests acknowledged after it resumed");
}

#[tokio::test]
async fn dapr_python_sdk_reaches_actors_through_any_host() {
    let TestCluster {
        url: _url,
        db: _,
        dirs: _dirs,
        hosts,
    } = TestCluster::start(2, &[]).await;
    // The same client script as against one host; half of its actors live on the other.
    crate::support::run_client(crate::support::python("wasm_client.py"), &hosts[1]);
}

#[tokio::test]
async fn a_joining_host_takes_partitions_under_load_and_no_turn_is_lost_or_doubled() {
    let TestCluster {
        url,
        db,
        dirs: _dirs,
        mut hosts,
    } = TestCluster::start(2, &[]).await;
    let joining = tempfile::tempdir().unwrap();
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..40).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = reqwest::Client::new();
    let mut writers = Vec::new();
    for w in 0..4 {
        let url = hosts[w % 2].url.clone();
        let (acked, stop, client) = (acked.clone(), stop.clone(), client.clone());
        writers.push(tokio::spawn(async move {
            let mut i = w;
            let mut failed = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let actor = i % 40;
                i += 4;
                let sent = client
                    .post(format!("{url}/v1.0/actors/counter/j{actor}/method/add"))
                    .body("1")
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        acked[actor].fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        failed.push(format!("j{actor} via {url}: {status} {body}"));
                    }
                    Err(e) => failed.push(format!("j{actor} via {url}: {e:?}")),
                }
            }
            failed
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    hosts.push(cluster_host(joining.path(), &url, &[]));
    wait_balanced(&db, 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failed = Vec::new();
    for writer in writers {
        failed.extend(writer.await.unwrap());
    }
    // A planned move loses no request: turns running at the move finish on the old
    // owner, the rest wait for the new one.
    assert!(
        failed.is_empty(),
        "requests failed while a host joined: {failed:#?}\n{}",
        warnings(&hosts)
    );
    // Each acknowledged turn ran once, on one host; no two turns of an actor overlapped,
    // on one host or across two, and each saw the version the one before it left.
    // The logs are read by other threads, which may lag behind the answers: wait for them.
    let acked_of = |actor: usize| acked[actor].load(Ordering::Relaxed) as usize;
    let turns = eventually(Duration::from_secs(10), || async {
        let turns = logged_turns(&hosts);
        (0..acked.len())
            .all(|actor| {
                turns.get(&format!("counter/j{actor}")).map_or(0, Vec::len) >= acked_of(actor)
            })
            .then_some(turns)
    })
    .await
    .unwrap_or_else(|| logged_turns(&hosts));
    let mut moved = 0;
    for (actor, count) in acked.iter().enumerate() {
        let name = format!("counter/j{actor}");
        let list = turns.get(&name).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            list.len() as u64,
            count.load(Ordering::Relaxed),
            "turns of {name}"
        );
        for pair in list.windows(2) {
            assert!(
                pair[1].started_us >= pair[0].ended_us && pair[1].version == pair[0].version + 1,
                "{name}: {:?} overlaps or skips {:?}",
                pair[1],
                pair[0]
            );
        }
        moved += usize::from(list.iter().any(|t| t.host != list[0].host));
    }
    assert!(moved > 0, "no actor's turns ran on two hosts");
    println!("a host joined: {moved} of 40 actors ran turns on two hosts, none overlapping");
    let mut total = 0;
    for (actor, count) in acked.iter().enumerate() {
        let count = count.load(Ordering::Relaxed);
        let seen = hosts[2]
            .invoke_ok("counter", &format!("j{actor}"), "get", "")
            .await;
        assert_eq!(seen, count.to_string(), "j{actor}");
        total += count;
    }
    assert!(total > 100, "the load was too light: {total}");
    // Every actor the new host owns is served there; the old owners dropped theirs.
    let new_id = host_id(&hosts[2]);
    for (n, host) in hosts[..2].iter().enumerate() {
        for id in host
            .get_json("/v1.0/actors/counter")
            .await
            .as_array()
            .unwrap()
        {
            let actor = ActorId::new("default", "counter", id.as_str().unwrap());
            assert_ne!(
                owner_of(&db, &actor).await.as_deref(),
                Some(new_id.as_str()),
                "{actor} still active on host {n}"
            );
        }
    }
}

#[tokio::test]
async fn dropped_database_connections_are_survived_without_losing_a_turn() {
    let TestCluster {
        url,
        db,
        dirs: _dirs,
        hosts,
    } = TestCluster::start(2, &[]).await;
    let database = url.rsplit('/').next().unwrap().to_string();
    let mut acked = 0u64;
    let mut failed = 0u64;
    let started = Instant::now();
    let mut cut = 0;
    while started.elapsed() < Duration::from_secs(6) {
        if started.elapsed() > Duration::from_millis(1000 * (cut + 1)) && cut < 4 {
            // Every connection of every host to this database, as a server restart does.
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&database],
            )
            .await
            .unwrap();
            cut += 1;
        }
        let adds = (0..10).map(|i| hosts[i % 2].invoke("counter", "pg", "add", "1"));
        for (status, _) in futures::future::join_all(adds).await {
            if status == 200 {
                acked += 1;
            } else {
                failed += 1;
            }
        }
    }
    let total: u64 = hosts[0]
        .invoke_ok("counter", "pg", "get", "")
        .await
        .parse()
        .unwrap();
    println!("dropped connections {cut} times: {acked} acknowledged, {failed} failed");
    assert!(
        total >= acked && total <= acked + failed,
        "{total} vs {acked} acknowledged, {failed} failed"
    );
    // Both hosts are still members and serve.
    wait_balanced(&db, 2).await;
    for host in &hosts {
        host.invoke_ok("counter", "pg", "add", "1").await;
    }
}

/// `warren serve` with `args`, expected to exit at start: its status and output.
fn serve_fails(args: &[&str]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--opaca",
            "127.0.0.1:0",
        ])
        .args(["--cluster-listen", "127.0.0.1:0"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run warren");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

#[tokio::test]
async fn bad_cluster_settings_fail_at_start_with_a_clear_error() {
    // Nothing listens on port 1.
    let (status, out) = serve_fails(&[
        "--cluster",
        "postgres://warren@127.0.0.1:1/nowhere",
        "--cluster-secret",
        SECRET,
    ]);
    assert!(!status.success());
    assert!(out.contains("cannot open the cluster database"), "{out}");
    // A wrong password: PostgreSQL's own reason, and nothing created.
    let url = fresh_database().await;
    let (credentials, server) = url.split_once('@').unwrap();
    let (user, _) = credentials
        .rsplit_once(':')
        .expect("the test server's URL has a password");
    let wrong = format!("{user}:not-the-password@{server}");
    let (status, out) = serve_fails(&["--cluster", &wrong, "--cluster-secret", SECRET]);
    assert!(!status.success());
    assert!(out.contains("cannot open the cluster database"), "{out}");
    assert!(out.contains("password authentication failed"), "{out}");
    assert!(
        !out.contains("not-the-password"),
        "the password was printed: {out}"
    );
    let tables: i64 = sql(&url)
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'warren%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a host that could not log in created tables");

    let (status, out) = serve_fails(&["--cluster", "postgres://warren@127.0.0.1:1/x"]);
    assert!(!status.success());
    assert!(out.contains("--cluster-secret"), "{out}");
    let (status, out) = serve_fails(&["--cluster", "mysql://nope", "--cluster-secret", SECRET]);
    assert!(!status.success());
    assert!(out.contains("not a PostgreSQL URL"), "{out}");

    // A database a newer Warren migrated: refused, and nothing written to it.
    let url = fresh_database().await;
    let db = sql(&url).await;
    db.batch_execute(
        "CREATE TABLE warren_schema (version integer NOT NULL);
         INSERT INTO warren_schema VALUES (99);",
    )
    .await
    .unwrap();
    let (status, out) = serve_fails(&["--cluster", &url, "--cluster-secret", SECRET]);
    assert!(!status.success());
    assert!(out.contains("newer than this Warren knows"), "{out}");
    let tables: i64 = db
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'warren%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "only warren_schema exists");
    let (status, out) = serve_fails(&[
        "--cluster",
        "postgres://warren@127.0.0.1:1/x",
        "--cluster-secret",
        "short",
    ]);
    assert!(!status.success());
    assert!(out.contains("16 characters"), "{out}");
}

#[tokio::test]
async fn host_to_host_calls_need_the_cluster_secret() {
    use warren_host::cluster::wire::pb;
    let cluster = TestCluster::start(1, &[]).await;
    let (db, host) = (&cluster.db, &cluster.hosts[0]);
    let address: String = db
        .query_one("SELECT address FROM warren_hosts", &[])
        .await
        .unwrap()
        .get(0);
    let mut client = pb::cluster_client::ClusterClient::connect(address)
        .await
        .unwrap();
    let forwarded = || pb::ForwardedInvocation {
        target: Some(pb::ActorRef {
            tenant: "default".into(),
            actor_type: "counter".into(),
            id: "secret".into(),
        }),
        action: "add".into(),
        payload: b"1".to_vec(),
        deadline_ms: 5000,
        ..Default::default()
    };
    for secret in [None, Some("not-the-cluster-secret")] {
        let mut request = tonic::Request::new(forwarded());
        if let Some(secret) = secret {
            request
                .metadata_mut()
                .insert(warren_host::cluster::SECRET_HEADER, secret.parse().unwrap());
        }
        let refused = client.invoke(request).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    }
    assert_eq!(
        host.invoke_ok("counter", "secret", "get", "").await,
        "0",
        "nothing ran"
    );
    // With the secret, the owner runs it.
    let mut request = tonic::Request::new(forwarded());
    request
        .metadata_mut()
        .insert(warren_host::cluster::SECRET_HEADER, SECRET.parse().unwrap());
    let reply = client.invoke(request).await.unwrap().into_inner();
    assert!(
        matches!(reply.outcome, Some(pb::forwarded_reply::Outcome::Ok(ref r)) if r.data == b"1"),
        "{reply:?}"
    );
}

/// A tenant's state quota holds across hosts: the usage one host's commits add is read by
/// the others at their next heartbeat, so a write through another host that would pass
/// the quota is refused there.
#[tokio::test]
async fn a_tenant_state_quota_holds_across_hosts() {
    use crate::tenancy::ADMIN;
    let cluster = TestCluster::start(2, &["--admin-token", ADMIN]).await;
    let (db, hosts) = (&cluster.db, &cluster.hosts);
    let token = hosts[0].tenant("q", json!({"max_state_bytes": 1000})).await;
    hosts[0].deploy_as(&token, "hostile").await;
    let ids = [host_id(&hosts[0]), host_id(&hosts[1])];
    let mut actors = Vec::new();
    for owner in &ids {
        let mut found = None;
        for i in 0..500 {
            let actor = ActorId::new("q", "glutton", &format!("g{i}"));
            if owner_of(db, &actor).await.as_deref() == Some(owner) {
                found = Some(format!("glutton/{}", actor.id));
                break;
            }
        }
        actors.push(found.expect("an actor of each host"));
    }
    let fill = |bytes: u64| json!({"key": "k", "bytes": bytes}).to_string();
    // 600 bytes on host 0's actor ("k" and 599).
    let (status, text) = hosts[0]
        .invoke_as(&token, &actors[0], "fill", &fill(599))
        .await;
    assert_eq!(status, 200, "{text}");
    // Host 1 learns of the tenant, its component and its usage within a heartbeat or two.
    let seen = eventually(Duration::from_secs(10), || async {
        let get = |path| hosts[1].call(reqwest::Method::GET, path, Some(&token), Vec::new());
        let (_, usage) = get("/admin/v1/tenants/q").await;
        let (_, components) = get("/admin/v1/components").await;
        let usage: serde_json::Value = serde_json::from_str(&usage).unwrap_or_default();
        (usage["state_bytes"] == 600 && components.contains("hostile")).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "host 1 never saw the tenant's usage and component"
    );
    let (status, text) = hosts[1]
        .invoke_as(&token, &actors[1], "fill", &fill(499))
        .await;
    assert_eq!(status, 507, "{text}");
    assert!(text.contains("limit of 1000 state bytes"), "{text}");
    let (status, text) = hosts[1]
        .invoke_as(&token, &actors[1], "fill", &fill(299))
        .await;
    assert_eq!(status, 200, "{text}");
}
