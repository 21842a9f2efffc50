//! Cluster mode: several `warren` processes on one PostgreSQL database (the server
//! scripts/test.sh starts; a fresh database per test). This file holds the helpers the
//! tests share; the tests are in modules by concern.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use warren_host::store::partition_of;
use warren_host::types::ActorId;

use crate::support::{Host, eventually, guest};

mod access;
mod clients;
mod db_tls;
mod failover;
mod faults;
mod joining;
mod mtls;
mod nemesis;
mod proxy;
mod restart;
mod rolling;
mod serving;

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
    owned_by_in(db, "default", actor_type, host).await
}

/// An actor of tenant `tenant`'s `actor_type` whose partition `host` owns.
async fn owned_by_in(
    db: &tokio_postgres::Client,
    tenant: &str,
    actor_type: &str,
    host: &str,
) -> ActorId {
    for i in 0..500 {
        let candidate = ActorId::new(tenant, actor_type, &format!("a{i}"));
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
