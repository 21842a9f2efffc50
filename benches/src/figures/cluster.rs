//! Figure 8, cluster mode on PostgreSQL, on loopback: a forwarded invoke against a local
//! one, durable commits on PostgreSQL against sled's (through the host, and at the store
//! itself), three hosts against one, and the failover time after SIGKILL.
//! The database server is `WARREN_BENCH_DATABASE_URL`, or one `scripts/postgres.sh`
//! starts (run from the repository's root).

use std::time::{Duration, Instant};

use warren_bench::load;
use warren_bench::procs::{Warren, guest};
use warren_bench::stats::{Summary, fmt, histogram};
use warren_host::store::partition_of;
use warren_host::store::{Durability, PostgresStore, SledStore, StateStore};
use warren_host::types::ActorId;

/// The cluster secret the figure's hosts share.
pub(super) const SECRET: &str = "a-cluster-secret-for-the-bench";

/// A PostgreSQL server for the figure; stopped on drop when this figure started it.
pub(super) struct Server {
    url: String,
    started: Option<tempfile::TempDir>,
}

impl Server {
    pub(super) fn start() -> anyhow::Result<Server> {
        if let Ok(url) = std::env::var("WARREN_BENCH_DATABASE_URL") {
            return Ok(Server { url, started: None });
        }
        let dir = tempfile::Builder::new().prefix("warren-pg.").tempdir()?;
        let out = std::process::Command::new("scripts/postgres.sh")
            .arg("start")
            .arg(dir.path())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "scripts/postgres.sh failed (run from the repository root, or set WARREN_BENCH_DATABASE_URL): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout)?.trim().to_string();
        Ok(Server {
            url,
            started: Some(dir),
        })
    }

    /// A fresh database's URL and a client of it.
    pub(super) async fn fresh(&self) -> anyhow::Result<(String, tokio_postgres::Client)> {
        let name = format!(
            "warren_bench_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
        );
        connect(&self.url)
            .await?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let (base, _) = self.url.rsplit_once('/').unwrap_or((&self.url, ""));
        let url = format!("{base}/{name}");
        let client = connect(&url).await?;
        Ok((url, client))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.started {
            let _ = std::process::Command::new("scripts/postgres.sh")
                .arg("stop")
                .arg(dir.path())
                .status();
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn host(dir: &std::path::Path, url: &str) -> anyhow::Result<Warren> {
    host_with(dir, url, &["--cluster-secret", SECRET])
}

/// A cluster host on `url` with the counter deployed and `access` (a secret, mTLS files).
fn host_with(dir: &std::path::Path, url: &str, access: &[&str]) -> anyhow::Result<Warren> {
    let counter = guest("counter");
    let mut args = vec![
        "--cluster",
        url,
        "--cluster-listen",
        "127.0.0.1:0",
        "--deploy",
        counter.to_str().unwrap_or_default(),
    ];
    args.extend_from_slice(access);
    Warren::start(dir, &args)
}

/// Partition owners, by partition.
async fn owners(db: &tokio_postgres::Client) -> anyhow::Result<Vec<Option<String>>> {
    Ok(db
        .query(
            "SELECT owner FROM warren_partitions ORDER BY partition",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Wait until `n` hosts hold every partition between them.
async fn balanced(db: &tokio_postgres::Client, n: usize) -> anyhow::Result<Vec<Option<String>>> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let owners = owners(db).await?;
        let holders: std::collections::HashSet<_> = owners.iter().flatten().collect();
        if owners.iter().all(Option::is_some) && holders.len() == n {
            return Ok(owners);
        }
        anyhow::ensure!(
            Instant::now() < until,
            "{n} hosts never shared the partitions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `count` counter ids whose partition `owner` holds.
pub(super) fn ids_of(owners: &[Option<String>], owner: &str, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("a{i}"))
        .filter(|id| {
            let p = partition_of(&ActorId::new("default", "counter", id)) as usize;
            owners[p].as_deref() == Some(owner)
        })
        .take(count)
        .collect()
}

/// Two hosts: A starts alone and takes every partition (so its id is known), then B joins
/// and takes about half. Returns them, the partition owners, and B's id.
async fn pair(
    dirs: &[tempfile::TempDir; 2],
    url: &str,
    db: &tokio_postgres::Client,
) -> anyhow::Result<(Warren, Warren, Vec<Option<String>>, String)> {
    let secret = ["--cluster-secret", SECRET];
    pair_with(
        [dirs[0].path(), dirs[1].path()],
        url,
        db,
        [&secret, &secret],
    )
    .await
}

/// [`pair`], in `dirs`, each host with its `access` (a secret, mTLS files).
pub(super) async fn pair_with(
    dirs: [&std::path::Path; 2],
    url: &str,
    db: &tokio_postgres::Client,
    access: [&[&str]; 2],
) -> anyhow::Result<(Warren, Warren, Vec<Option<String>>, String)> {
    let a = host_with(dirs[0], url, access[0])?;
    let a_id = balanced(db, 1).await?[0].clone().unwrap_or_default();
    let b = host_with(dirs[1], url, access[1])?;
    let owners = balanced(db, 2).await?;
    let b_id = owners
        .iter()
        .flatten()
        .find(|o| **o != a_id)
        .cloned()
        .unwrap_or_default();
    Ok((a, b, owners, b_id))
}

/// Figure 8, one step after the other (see the module's documentation).
pub async fn cluster(duration: Duration) -> anyhow::Result<()> {
    let server = Server::start()?;
    // The hosts' data dirs, reused by the forwarding, durable and failover steps.
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let client = reqwest::Client::new();
    forwarded_against_local(&server, &dirs, &client, duration).await?;
    durable_turns(&server, &dirs[0], duration).await?;
    store_commits(&server, duration).await?;
    three_hosts_against_one(&server, duration).await?;
    failover(&server, &dirs, &client).await
}

/// Forwarded vs local: host A alone takes every partition (so its id is known), then B
/// joins and takes about half; A is asked for actors it owns and for actors B owns.
async fn forwarded_against_local(
    server: &Server,
    dirs: &[tempfile::TempDir; 2],
    client: &reqwest::Client,
    duration: Duration,
) -> anyhow::Result<()> {
    let (url, db) = server.fresh().await?;
    let (a, b, owners, b_id) = pair(dirs, &url, &db).await?;
    let a_id = owners
        .iter()
        .flatten()
        .find(|o| **o != b_id)
        .cloned()
        .unwrap_or_default();
    let local = ids_of(&owners, &a_id, 16);
    let remote = ids_of(&owners, &b_id, 16);
    for id in local.iter().chain(&remote) {
        let url = format!("http://{}/v1.0/actors/counter/{id}/method/add", a.addr);
        client
            .post(url)
            .body("1")
            .send()
            .await?
            .error_for_status()?;
    }
    let path = "/v1.0/actors/counter/{c}/method/get";
    for connections in [1, 16] {
        let spec = |name: &str, actors: &[String]| load::LoadSpec {
            actors: actors.to_vec(),
            ..load::post(name, &a.addr, path, "", connections, duration)
        };
        let here = load::run(spec(
            &format!("invoke, actor on the host asked, {connections} conns"),
            &local,
        ))
        .await?;
        here.print(None);
        let forwarded = load::run(spec(
            &format!("invoke forwarded to the owner, {connections} conns"),
            &remote,
        ))
        .await?;
        forwarded.print(Some(&here));
        if connections == 1 {
            forward_against_bare_hop(duration, &here, &forwarded).await?;
        }
    }
    drop(a);
    drop(b);
    Ok(())
}

/// What one hop to another process costs here at the least, and what a forward adds to
/// the local invoke against it (goal: at most 1.3x one bare call).
async fn forward_against_bare_hop(
    duration: Duration,
    here: &Summary,
    forwarded: &Summary,
) -> anyhow::Result<()> {
    let tonic = super::hop::floor(duration, here).await?;
    let added = forwarded.p50.saturating_sub(here.p50);
    println!(
        "a forward adds {} to the local invoke's p50 = x{:.2} one bare tonic call ({})",
        fmt(added),
        added.as_secs_f64() / tonic.p50.as_secs_f64().max(1e-9),
        fmt(tonic.p50)
    );
    Ok(())
}

/// Durable commits: sled sync on one host, then one cluster host on PostgreSQL (its data
/// in `dir`).
async fn durable_turns(
    server: &Server,
    dir: &tempfile::TempDir,
    duration: Duration,
) -> anyhow::Result<()> {
    let sled_dir = tempfile::tempdir()?;
    let counter = guest("counter");
    let sled = Warren::start(
        sled_dir.path(),
        &["--deploy", counter.to_str().unwrap_or_default()],
    )?;
    let add = "/v1.0/actors/counter/d{c}/method/add";
    let sled_sum = load::run(load::post(
        "durable turns (add), sled sync, 64 actors",
        &sled.addr,
        add,
        "1",
        64,
        duration,
    ))
    .await?;
    sled_sum.print(None);
    drop(sled);
    let (url, db) = server.fresh().await?;
    let one = host(dir.path(), &url)?;
    balanced(&db, 1).await?;
    load::run(load::post(
        "durable turns (add), PostgreSQL cluster host, 64 actors",
        &one.addr,
        add,
        "1",
        64,
        duration,
    ))
    .await?
    .print(Some(&sled_sum));
    Ok(())
}

/// Failover: SIGKILL the owner of an actor and time until another host serves it.
async fn failover(
    server: &Server,
    dirs: &[tempfile::TempDir; 2],
    client: &reqwest::Client,
) -> anyhow::Result<()> {
    let (url, db) = server.fresh().await?;
    let (a, mut b, owners, b_id) = pair(dirs, &url, &db).await?;
    let id = ids_of(&owners, &b_id, 1).pop().unwrap_or_default();
    let url_a = format!("http://{}/v1.0/actors/counter/{id}/method/get", a.addr);
    client.post(&url_a).send().await?.error_for_status()?;
    let killed = Instant::now();
    let _ = b.child.kill();
    let _ = b.child.wait();
    let mut failed = 0;
    let served = loop {
        let ok = client
            .post(&url_a)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            break killed.elapsed();
        }
        failed += 1;
        anyhow::ensure!(
            killed.elapsed() < Duration::from_secs(60),
            "no failover in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "failover after SIGKILL (heartbeat 1s, host timeout 3s): an actor of the killed host answers through another after {} ({failed} failed tries)",
        fmt(served)
    );
    Ok(())
}

/// The same load through one host, then spread over three hosts of one cluster (each
/// host gets a third of the connections and its own actors), on the same two cores.
async fn three_hosts_against_one(server: &Server, duration: Duration) -> anyhow::Result<()> {
    const CONNECTIONS: usize = 48;
    let counter_load =
        |name: &str, addr: &str, path: &str, body, conns, actors: Vec<String>| load::LoadSpec {
            actors,
            ..load::post(name, addr, path, body, conns, duration)
        };
    let actors = |from: usize, count: usize| -> Vec<String> {
        (from..from + count).map(|n| format!("s{n}")).collect()
    };
    for (what, path, body) in [
        ("get", "/v1.0/actors/counter/{c}/method/get", ""),
        ("add", "/v1.0/actors/counter/{c}/method/add", "1"),
    ] {
        let (url, db) = server.fresh().await?;
        let dir = tempfile::tempdir()?;
        let one = host(dir.path(), &url)?;
        balanced(&db, 1).await?;
        let name = format!("{what} turns, 1 cluster host, {CONNECTIONS} conns");
        let single = load::run(counter_load(
            &name,
            &one.addr,
            path,
            body,
            CONNECTIONS,
            actors(0, CONNECTIONS),
        ))
        .await?;
        single.print(None);
        let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
        let others: Vec<Warren> = dirs
            .iter()
            .map(|d| host(d.path(), &url))
            .collect::<anyhow::Result<_>>()?;
        balanced(&db, 3).await?;
        let per_host = CONNECTIONS / 3;
        let specs = std::iter::once(&one)
            .chain(&others)
            .enumerate()
            .map(|(n, h)| {
                counter_load(
                    &name,
                    &h.addr,
                    path,
                    body,
                    per_host,
                    actors(n * per_host, per_host),
                )
            })
            .collect();
        load::run_together(
            &format!("{what} turns, 3 cluster hosts, {per_host} conns each"),
            specs,
        )
        .await?
        .print(Some(&single));
    }
    Ok(())
}

/// Durable commits at the store itself, with no host in the way: sled `sync` against
/// PostgreSQL's group commit, 256 actors committing at once, one change each.
async fn store_commits(server: &Server, duration: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sled: std::sync::Arc<dyn StateStore> =
        SledStore::open(&dir.path().join("store"), Durability::Sync)?;
    let baseline = commit_rate("store commits, sled sync, 256 actors", sled, duration).await?;
    baseline.print(None);
    let (url, _db) = server.fresh().await?;
    let postgres: std::sync::Arc<dyn StateStore> = PostgresStore::connect(&url).await?;
    commit_rate(
        "store commits, PostgreSQL group commit, 256 actors",
        postgres,
        duration,
    )
    .await?
    .print(Some(&baseline));
    Ok(())
}

/// 256 actors each committing one change after the other for `duration`.
async fn commit_rate(
    name: &str,
    store: std::sync::Arc<dyn StateStore>,
    duration: Duration,
) -> anyhow::Result<Summary> {
    let begin = Instant::now();
    let tasks: Vec<_> = (0..256)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let actor = ActorId::new("default", "counter", &format!("c{n}"));
                let mut hist = histogram();
                let mut version = 0;
                while begin.elapsed() < duration {
                    let value = (version + 1).to_string().into_bytes();
                    let started = Instant::now();
                    version = store
                        .commit(&actor, version, vec![("count".into(), Some(value))])
                        .await?;
                    hist.record(started.elapsed().as_nanos().max(1) as u64)?;
                }
                anyhow::Ok(hist)
            })
        })
        .collect();
    let mut hist = histogram();
    for task in tasks {
        hist.add(&task.await??)?;
    }
    Ok(Summary::new(name, &hist, begin.elapsed(), 0))
}
