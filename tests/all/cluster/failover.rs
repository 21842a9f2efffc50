//! Failover: a killed host loses no acknowledged turn and its actors and reminders move;
//! a paused host cannot write an actor that moved; dropped database connections lose no
//! turn.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use warren_host::types::ActorId;

use super::{TestCluster, host_id, owned_by, owner_of, wait_balanced};
use crate::support::{Host, eventually};

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
    let ticker = remind_after_the_kill(&db, &hosts[0], &victim_id).await;

    let writers = Writers::start(&hosts);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    hosts[2].kill();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let load = writers.stop().await;
    wait_balanced(&db, 2).await;

    report_errors(&load, killed_at);
    assert_every_acknowledged_turn_is_there(&hosts, &load).await;
    // The victim's reminder fired on a survivor.
    let fired = eventually(Duration::from_secs(15), || async {
        (hosts[0].fired(&ticker.id, "after-kill").await >= 1).then_some(())
    })
    .await;
    assert!(fired.is_some(), "the killed host's reminder never fired");
}

/// A reminder, registered through `via`, of an actor the victim owns, due after the kill.
async fn remind_after_the_kill(
    db: &tokio_postgres::Client,
    via: &Host,
    victim_id: &str,
) -> ActorId {
    let ticker = owned_by(db, "ticker", victim_id).await;
    assert_eq!(owner_of(db, &ticker).await.as_deref(), Some(victim_id));
    let (status, body) = via
        .register(
            "reminders",
            &format!("ticker/{}", ticker.id),
            "after-kill",
            json!({"dueTime": "3s"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    ticker
}

/// What the writers counted.
#[derive(Clone, Default)]
struct Counts {
    acked: Arc<Vec<AtomicU64>>,
    failed: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
}

/// Writers through the two survivors, on 30 actors, counting what was acknowledged.
struct Writers {
    counts: Counts,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The writers' counts once they stopped.
struct Load {
    acked: Vec<u64>,
    failed: u64,
    errors: Vec<Instant>,
}

impl Writers {
    fn start(hosts: &[Host]) -> Writers {
        let counts = Counts {
            acked: Arc::new((0..30).map(|_| AtomicU64::new(0)).collect()),
            ..Counts::default()
        };
        let client = reqwest::Client::new();
        let tasks = (0..6)
            .map(|w| {
                let url = hosts[w % 2].url.clone();
                tokio::spawn(write(w, url, counts.clone(), client.clone()))
            })
            .collect();
        Writers { counts, tasks }
    }

    async fn stop(self) -> Load {
        self.counts.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let counts = self.counts;
        Load {
            acked: counts
                .acked
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
            failed: counts.failed.load(Ordering::Relaxed),
            errors: counts.errors.lock().unwrap().clone(),
        }
    }
}

/// Writer `w`: adds through `url` to every sixth actor in turn until stopped.
async fn write(w: usize, url: String, counts: Counts, client: reqwest::Client) {
    let mut i = w;
    while !counts.stop.load(Ordering::Relaxed) {
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
                counts.acked[actor].fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                counts.errors.lock().unwrap().push(Instant::now());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// How many requests failed, and for how long around the kill.
fn report_errors(load: &Load, killed_at: Instant) {
    let errors = &load.errors;
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
        load.failed,
        window.as_secs_f64(),
        last_error.as_secs_f64()
    );
}

/// Every acknowledged turn is there; a failed request may have committed (its reply
/// was lost with the host), so a total may be higher, by at most the failures.
async fn assert_every_acknowledged_turn_is_there(hosts: &[Host], load: &Load) {
    let mut total_acked = 0;
    let mut total_seen = 0;
    for (actor, &count) in load.acked.iter().enumerate() {
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
    assert!(total_seen - total_acked <= load.failed);
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
