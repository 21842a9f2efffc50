//! Single activation while hosts are busy: a host paused inside a commit, a turn whose
//! partition moves while it waits on another actor, a host cut off from PostgreSQL that
//! still has callers. Each test fails on a cluster that fences only at the commit.

use std::time::{Duration, Instant};

use warren_host::types::ActorId;

use super::proxy::Proxy;
use super::{
    cluster_host, cluster_host_with, fresh_database, host_id, owned_by, owner_of, server_addr, sql,
    wait_balanced, warnings,
};
use crate::support::{Host, eventually, guest};

/// POST an actor method through `host`'s Dapr API, giving up after `timeout`: the status
/// and body, or `None` when no answer came in time.
async fn try_invoke(
    host: &Host,
    actor: &str,
    method: &str,
    body: &str,
    timeout: Duration,
) -> Option<(u16, String)> {
    let sent = host
        .client
        .post(format!("{}/v1.0/actors/{actor}/method/{method}", host.url))
        .body(body.to_string())
        .timeout(timeout)
        .send()
        .await
        .ok()?;
    let status = sent.status().as_u16();
    Some((status, sent.text().await.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_paused_inside_a_commit_does_not_freeze_failover() {
    let url = fresh_database().await;
    let db = sql(&url).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    // The first fenced commit of host 0 stops inside its transaction, holding its
    // partition's lock, long enough for the test to pause the whole process there.
    let stall = [("FAILPOINTS", "postgres-commit-locked=1*return(8000)")];
    let hosts = [
        cluster_host_with(dirs[0].path(), &url, &[], &stall),
        cluster_host(dirs[1].path(), &url, &[]),
    ];
    wait_balanced(&db, 2).await;
    let paused_id = host_id(&hosts[0]);
    let target = owned_by(&db, "counter", &paused_id).await;
    let actor = format!("counter/{}", target.id);

    let stuck = {
        let client = hosts[0].client.clone();
        let url = format!("{}/v1.0/actors/{actor}/method/add", hosts[0].url);
        tokio::spawn(async move {
            client
                .post(url)
                .body("1")
                .timeout(Duration::from_secs(90))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    assert!(
        hosts[0].logged("injected stall").await,
        "the commit never reached its stall"
    );
    hosts[0].signal("STOP");
    let paused = Instant::now();

    // The other host takes the paused host's partitions, that one included, and serves
    // the actor: the database ends the paused session's transaction, and the lock with it.
    let attempts = std::sync::atomic::AtomicU64::new(0);
    let served = eventually(Duration::from_secs(20), || async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match try_invoke(&hosts[1], &actor, "add", "10", Duration::from_secs(2)).await {
            Some((200, body)) => Some(body),
            _ => None,
        }
    })
    .await;
    let attempts = attempts.into_inner();
    let waited = paused.elapsed();
    hosts[0].signal("CONT");
    let Some(total) = served else {
        panic!(
            "the actor whose partition lock the paused host held was never served by the \
             other host\n{}",
            warnings(&hosts)
        );
    };
    println!("failover past a host paused mid-commit: served after {waited:?}");
    // The stalled add of 1 never committed: its transaction was ended under it. Adds of
    // 10 whose answer the client gave up on may have run (outcome unknown).
    let stuck = stuck.await.unwrap();
    assert!(
        !matches!(stuck, Ok(200)),
        "the stalled add was acknowledged: {stuck:?}"
    );
    let total: u64 = total.parse().unwrap();
    let now: u64 = hosts[1]
        .invoke_ok("counter", &target.id, "get", "")
        .await
        .parse()
        .unwrap();
    assert!(
        now.is_multiple_of(10) && now >= total && now <= 10 * attempts,
        "total {now} after {attempts} adds of 10 (one answered {total}) and a stalled add of 1"
    );
    // The paused host rejoins and serves again.
    wait_balanced(&db, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_whose_partition_moved_after_its_calls_took_effect_is_not_run_again() {
    let url = fresh_database().await;
    let db = sql(&url).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let hosts = bank_hosts_with_a_slow_one(&dirs, &url);
    wait_balanced(&db, 3).await;
    let alice = owned_by(&db, "account", &host_id(&hosts[0])).await;
    let bob = owned_by(&db, "account", &host_id(&hosts[1])).await;
    assert_eq!(
        hosts[2]
            .invoke_ok("account", &alice.id, "deposit", "100")
            .await,
        "100"
    );

    // Alice (host 0) debits herself and calls bob's deposit (host 1); the request comes
    // through host 2.
    let transfer = start_transfer(&hosts[2], &alice, &bob);
    assert!(
        hosts[1].logged("injected stall").await,
        "bob's deposit never stalled"
    );
    // While alice's turn waits for bob, her host is paused past its timeout, and her
    // partition moves.
    hosts[0].signal("STOP");
    let moved = eventually(Duration::from_secs(15), || async {
        let owner = owner_of(&db, &alice).await;
        (owner.is_some() && owner != Some(host_id(&hosts[0]))).then_some(())
    })
    .await;
    hosts[0].signal("CONT");
    assert!(moved.is_some(), "alice's partition never moved");

    // Bob's deposit commits; alice's turn then finds its partition gone. It ran, and its
    // call took effect: it must not be run again on alice's new owner.
    let (status, body) = transfer.await.unwrap();
    let bob_balance = eventually(Duration::from_secs(30), || async {
        let (status, body) = hosts[2].invoke("account", &bob.id, "balance", "").await;
        (status == 200).then_some(body)
    })
    .await
    .expect("bob's balance");
    assert_eq!(
        bob_balance,
        "30",
        "bob was credited more than once (the transfer answered {status}: {body})\n{}",
        warnings(&hosts)
    );
    assert_ne!(status, 200, "the transfer was acknowledged: {body}");
    assert!(
        body.contains("may have taken effect"),
        "the error says the calls may have taken effect: {body}"
    );
    // Alice's debit was not committed: the chain is not atomic, as README says.
    assert_eq!(
        hosts[2]
            .invoke_ok("account", &alice.id, "balance", "")
            .await,
        "100"
    );
}

/// Three hosts with the bank deployed. Host 1's commits wait 8 s before their
/// transaction: bob's deposit is slow.
fn bank_hosts_with_a_slow_one(dirs: &[tempfile::TempDir], url: &str) -> [Host; 3] {
    let bank = guest("bank");
    let deploy = ["--deploy", bank.to_str().unwrap()];
    let slow = [("FAILPOINTS", "postgres-commit-queued=return(8000)")];
    [
        cluster_host(dirs[0].path(), url, &deploy),
        cluster_host_with(dirs[1].path(), url, &deploy, &slow),
        cluster_host(dirs[2].path(), url, &deploy),
    ]
}

/// A transfer of 30 from `from` to `to` through `via`, running: its status and body.
fn start_transfer(
    via: &Host,
    from: &ActorId,
    to: &ActorId,
) -> tokio::task::JoinHandle<(u16, String)> {
    let client = via.client.clone();
    let url = format!(
        "{}/v1.0/actors/account/{}/method/transfer",
        via.url, from.id
    );
    let body = serde_json::json!({"to": to.id.to_string(), "amount": 30}).to_string();
    tokio::spawn(async move {
        let response = client
            .post(url)
            .body(body)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cut_off_from_postgresql_stops_answering_for_actors_that_moved() {
    let url = fresh_database().await;
    let db = sql(&url).await;
    let proxy = Proxy::start(server_addr(&url)).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let hosts = [
        cluster_host(dirs[0].path(), &proxy.url_through(&url), &[]),
        cluster_host(dirs[1].path(), &url, &[]),
    ];
    wait_balanced(&db, 2).await;
    let cut_id = host_id(&hosts[0]);
    let target = owned_by(&db, "counter", &cut_id).await;
    let actor = format!("counter/{}", target.id);
    assert_eq!(
        hosts[0].invoke_ok("counter", &target.id, "add", "1").await,
        "1"
    );

    // Host 0 loses the database; its callers can still reach it.
    proxy.cut();
    let moved = eventually(Duration::from_secs(15), || async {
        (owner_of(&db, &target).await.as_deref() != Some(cut_id.as_str())).then_some(())
    })
    .await;
    assert!(moved.is_some(), "the cut-off host's partitions never moved");
    assert_eq!(
        hosts[1].invoke_ok("counter", &target.id, "add", "10").await,
        "11"
    );

    // The cut-off host's activation still holds 1. Whatever it answers now, through
    // any protocol path, it must not be that: its lease has lapsed.
    let turn = try_invoke(&hosts[0], &actor, "get", "", Duration::from_secs(3)).await;
    assert!(
        !matches!(&turn, Some((200, body)) if body == "1"),
        "a host that lost its partition answered a stale read: {turn:?}"
    );
    let state = hosts[0]
        .client
        .get(format!("{}/v1.0/actors/{actor}/state/total", hosts[0].url))
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    if let Ok(response) = state {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert!(
            !(status == 200 && body == "1"),
            "a host that lost its partition answered a stale state read"
        );
    }

    // Healed, it rejoins and answers with the newest state.
    proxy.heal();
    let current = eventually(Duration::from_secs(20), || async {
        match try_invoke(&hosts[0], &actor, "get", "", Duration::from_secs(2)).await {
            Some((200, body)) if body == "11" => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(
        current.is_some(),
        "the healed host never served the newest state\n{}",
        warnings(&hosts)
    );
}
