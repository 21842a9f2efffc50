//! A host joins under load: it takes partitions, and no turn is lost, doubled or run
//! alongside another of its actor.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use warren_host::types::ActorId;

use super::{
    LoggedTurn, TestCluster, cluster_host, host_id, logged_turns, owner_of, wait_balanced, warnings,
};
use crate::support::{Host, eventually};

#[tokio::test]
async fn a_joining_host_takes_partitions_under_load_and_no_turn_is_lost_or_doubled() {
    let TestCluster {
        url,
        db,
        dirs: _dirs,
        mut hosts,
    } = TestCluster::start(2, &[]).await;
    let joining = tempfile::tempdir().unwrap();
    let writers = Writers::start(&hosts);
    tokio::time::sleep(Duration::from_secs(1)).await;
    hosts.push(cluster_host(joining.path(), &url, &[]));
    wait_balanced(&db, 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (acked, failed) = writers.stop().await;
    // A planned move loses no request: turns running at the move finish on the old
    // owner, the rest wait for the new one.
    assert!(
        failed.is_empty(),
        "requests failed while a host joined: {failed:#?}\n{}",
        warnings(&hosts)
    );
    let turns = wait_for_logged_turns(&hosts, &acked).await;
    let moved = assert_turns_ran_once_in_order(&turns, &acked);
    assert!(moved > 0, "no actor's turns ran on two hosts");
    println!("a host joined: {moved} of 40 actors ran turns on two hosts, none overlapping");
    assert_totals(&hosts[2], &acked).await;
    assert_old_owners_dropped_the_new_hosts_actors(&db, &hosts).await;
}

/// Four writers through the first two hosts, on 40 actors, counting what was
/// acknowledged and describing what failed.
struct Writers {
    acked: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Writers {
    fn start(hosts: &[Host]) -> Writers {
        let acked: Arc<Vec<AtomicU64>> = Arc::new((0..40).map(|_| AtomicU64::new(0)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::new();
        let tasks = (0..4)
            .map(|w| {
                let url = hosts[w % 2].url.clone();
                let (acked, stop, client) = (acked.clone(), stop.clone(), client.clone());
                tokio::spawn(write(w, url, acked, stop, client))
            })
            .collect();
        Writers { acked, stop, tasks }
    }

    /// Stop the writers: the acknowledged adds of each actor, and the failures.
    async fn stop(self) -> (Vec<u64>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failed = Vec::new();
        for task in self.tasks {
            failed.extend(task.await.unwrap());
        }
        let acked = self
            .acked
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        (acked, failed)
    }
}

/// Writer `w`: adds through `url` to every fourth actor in turn until stopped; what
/// failed.
async fn write(
    w: usize,
    url: String,
    acked: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    client: reqwest::Client,
) -> Vec<String> {
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
}

/// The turns the hosts logged, once every acknowledged one is there. The logs are read
/// by other threads, which may lag behind the answers: wait for them.
async fn wait_for_logged_turns(hosts: &[Host], acked: &[u64]) -> HashMap<String, Vec<LoggedTurn>> {
    eventually(Duration::from_secs(10), || async {
        let turns = logged_turns(hosts);
        (0..acked.len())
            .all(|actor| {
                turns.get(&format!("counter/j{actor}")).map_or(0, Vec::len) >= acked[actor] as usize
            })
            .then_some(turns)
    })
    .await
    .unwrap_or_else(|| logged_turns(hosts))
}

/// Each acknowledged turn ran once, on one host; no two turns of an actor overlapped,
/// on one host or across two, and each saw the version the one before it left. How many
/// actors ran turns on two hosts.
fn assert_turns_ran_once_in_order(
    turns: &HashMap<String, Vec<LoggedTurn>>,
    acked: &[u64],
) -> usize {
    let mut moved = 0;
    for (actor, &count) in acked.iter().enumerate() {
        let name = format!("counter/j{actor}");
        let list = turns.get(&name).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(list.len() as u64, count, "turns of {name}");
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
    moved
}

/// Every actor's total, read through `host`, is what was acknowledged.
async fn assert_totals(host: &Host, acked: &[u64]) {
    let mut total = 0;
    for (actor, &count) in acked.iter().enumerate() {
        let seen = host
            .invoke_ok("counter", &format!("j{actor}"), "get", "")
            .await;
        assert_eq!(seen, count.to_string(), "j{actor}");
        total += count;
    }
    assert!(total > 100, "the load was too light: {total}");
}

/// Every actor the new host owns is served there; the old owners dropped theirs.
async fn assert_old_owners_dropped_the_new_hosts_actors(
    db: &tokio_postgres::Client,
    hosts: &[Host],
) {
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
                owner_of(db, &actor).await.as_deref(),
                Some(new_id.as_str()),
                "{actor} still active on host {n}"
            );
        }
    }
}
