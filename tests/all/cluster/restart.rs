//! Cluster mode across a restart of PostgreSQL itself, on a server of the test's own (the
//! shared one serves the other tests meanwhile).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{TestCluster, sql, wait_balanced};
use crate::support::{script, workspace};

/// A PostgreSQL server in `dir`, run by scripts/postgres.sh; stopped when dropped.
pub(super) struct Server {
    pub(super) dir: tempfile::TempDir,
    pub(super) url: String,
}

pub(super) fn postgres(command: &str, dir: &Path) -> String {
    script("postgres.sh", &[command.as_ref(), dir.as_os_str()], &[])
}

impl Server {
    pub(super) fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = postgres("start", dir.path());
        Server { dir, url }
    }

    /// A server that also listens on `address` and lets `subnet` in (hosts in network
    /// namespaces); its URL names 127.0.0.1.
    pub(super) fn start_listening(address: &str, subnet: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = script(
            "postgres.sh",
            &["start".as_ref(), dir.path().as_os_str()],
            &[("WARREN_PG_LISTEN", address), ("WARREN_PG_ALLOW", subnet)],
        );
        Server { dir, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(workspace().join("scripts/postgres.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// PostgreSQL stopped and started again under a write load: the hosts keep running,
/// reconnect, stay (or become again) members, and every acknowledged turn is in the
/// total. Requests fail only while the server is down; the test prints for how long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_under_load_loses_no_acknowledged_turn() {
    let server = Server::start();
    let cluster = TestCluster::start_on(server.url.clone(), 2, &[]).await;
    let hosts = &cluster.hosts;
    let (mut acked, mut failed) = (0u64, 0u64);
    let mut first_failure: Option<Instant> = None;
    let mut last_failure: Option<Instant> = None;
    let started = Instant::now();
    let mut restart = None;
    while started.elapsed() < Duration::from_secs(12) {
        if restart.is_none() && started.elapsed() > Duration::from_secs(1) {
            let dir = server.dir.path().to_path_buf();
            restart = Some(tokio::task::spawn_blocking(move || {
                postgres("restart", &dir)
            }));
        }
        let adds = (0..10).map(|i| hosts[i % 2].invoke("counter", "pg-restart", "add", "1"));
        let statuses: Vec<u16> = futures::future::join_all(adds)
            .await
            .into_iter()
            .map(|(status, _)| status)
            .collect();
        for status in &statuses {
            if *status == 200 {
                acked += 1;
            } else {
                failed += 1;
                last_failure = Some(Instant::now());
                first_failure.get_or_insert_with(Instant::now);
            }
        }
        if statuses.iter().any(|s| *s != 200) {
            // Pace the load while the server is away.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    restart.unwrap().await.unwrap();
    // The test's own connection did not survive the restart.
    wait_balanced(&sql(&server.url).await, 2).await;
    let total: u64 = hosts[0]
        .invoke_ok("counter", "pg-restart", "get", "")
        .await
        .parse()
        .unwrap();
    let outage = match (first_failure, last_failure) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    };
    println!(
        "PostgreSQL restarted: {acked} acknowledged, {failed} failed over {outage:?}; total {total}"
    );
    assert!(
        total >= acked && total <= acked + failed,
        "{total} vs {acked} acknowledged, {failed} failed"
    );
    assert!(acked > 100, "too few turns acknowledged: {acked}");
    for host in hosts {
        host.invoke_ok("counter", "pg-restart", "add", "1").await;
    }
}
