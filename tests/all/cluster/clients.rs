//! Cluster mode through the Spawn and OPACA clients: what one host registers, starts or
//! creates, every host serves, and the actors behind it run wherever their partitions are.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use warren_host::types::ActorId;

use super::{TestCluster, owner_of};
use crate::opaca::client::Rp;
use crate::opaca::{calculator_container, deploy_calculator, run_opaca_client};
use crate::spawn_harness::*;
use crate::support::eventually;

/// Spawn: a system registered through one host is served through every host (each
/// follows the registration from the store); its instances live on several hosts, each
/// instance's state is served from its owner whichever host is asked, and no `set` ran
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_system_registered_on_one_host_is_served_by_every_host() {
    let user_function = UserFunction::start(|call| match call.action_name.as_str() {
        "set" => {
            let value = call.value.clone().unwrap_or_default();
            reply(call).with_state(value.clone()).with_value(value)
        }
        _ => reply(call),
    });
    let url = user_function.url();
    let cluster = TestCluster::start(3, &["--spawn-user-function", &url]).await;
    let hosts = &cluster.hosts;
    register(
        &hosts[0],
        "shop",
        vec![Actor::unnamed("box", &["set"]).stateful(100)],
    )
    .await;

    let ids: Vec<String> = (0..12).map(|i| format!("b{i}")).collect();
    // Every refused `set`, to explain a `set` that ran more than once.
    let refused = std::sync::Mutex::new(Vec::new());
    for (i, id) in ids.iter().enumerate() {
        let host = &hosts[i % 3];
        let set = request("shop", id, "set")
            .spawning("box")
            .with_value(json_any(&i.to_string()));
        // Hosts 1 and 2 learn of the system at their next heartbeat.
        let done = eventually(Duration::from_secs(10), || async {
            let (status, reply) = invoke(host, &set).await;
            let ok = status == 200 && code(&reply.status) == OK;
            if !ok {
                refused
                    .lock()
                    .unwrap()
                    .push(format!("{id} via host {}: {status} {reply:?}", i % 3));
            }
            ok.then_some(())
        })
        .await;
        assert!(
            done.is_some(),
            "{id}.set never succeeded through host {}",
            i % 3
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let get = request("shop", id, "get").spawning("box");
        let got = invoke_ok(&hosts[(i + 1) % 3], &get).await;
        assert_eq!(got.value, Some(json_any(&i.to_string())), "{id}");
    }
    let mut owners = HashSet::new();
    for id in &ids {
        owners.insert(owner_of(&cluster.db, &ActorId::new("shop", "box", id)).await);
    }
    assert!(owners.len() >= 2, "every instance on one host: {owners:?}");
    let sets = user_function
        .calls()
        .iter()
        .filter(|c| c.action_name == "set")
        .count();
    assert_eq!(
        sets,
        ids.len(),
        "{:?}; refused on the way: {:#?}",
        user_function.summary(),
        refused.lock().unwrap()
    );
}

/// Spawn: a named stateful actor with a timer action is kept active without a message,
/// and only by the owner of its partition: every host follows the registration, but the
/// actor is active on one host alone, the one the database names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_named_actor_is_kept_active_by_its_owner_only() {
    let user_function = UserFunction::start(|call| reply(call).with_value(json_any("tick")));
    let url = user_function.url();
    let cluster = TestCluster::start(3, &["--spawn-user-function", &url]).await;
    let hosts = &cluster.hosts;
    register(
        &hosts[0],
        "clocks",
        vec![
            Actor::named("clock", &["tick"])
                .stateful(100)
                .every(200, "tick"),
        ],
    )
    .await;
    let owner = owner_of(&cluster.db, &ActorId::new("clocks", "clock", "clock"))
        .await
        .expect("the clock's partition has an owner");
    // Every host follows the registration within a heartbeat or two; the timer runs
    // meanwhile on whichever host keeps the actor.
    let ticking = eventually(Duration::from_secs(10), || async {
        let ticks = user_function
            .calls()
            .iter()
            .filter(|c| c.action_name == "tick")
            .count();
        (ticks >= 3).then_some(())
    })
    .await;
    assert!(ticking.is_some(), "the clock's timer never ran");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut keeping = Vec::new();
    for (n, host) in hosts.iter().enumerate() {
        let active = host.get_json("/admin/v1/actors?tenant=clocks").await;
        if active.to_string().contains("\"clock\"") {
            keeping.push((n, super::host_id(host)));
        }
    }
    assert_eq!(keeping.len(), 1, "the clock is active on {keeping:?}");
    assert_eq!(keeping[0].1, owner, "kept by a host that does not own it");
}

/// OPACA: the hosts are one platform. A user created through one host logs in through
/// another; a token from one host is good on every host (its key comes from the cluster
/// secret); a Wasm container started through one host is listed, invoked and stopped
/// through the others, and outlives the clean shutdown of the host that started it. The
/// `opaca` package's client works through a host that did not deploy the component.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaca_users_tokens_and_containers_are_shared_by_every_host() {
    let mut cluster = TestCluster::start(
        3,
        &["--opaca-require-auth", "--opaca-admin-password", "admin-pw"],
    )
    .await;
    let hosts = &cluster.hosts;
    deploy_calculator(&hosts[0]).await;
    let anon: Vec<Rp> = hosts.iter().map(Rp::of).collect();
    let token = anon[0].login("admin", "admin-pw").await;
    let [admin0, admin1, admin2] = [0, 1, 2].map(|n| anon[n].with_token(&token));

    let ada = json!({"username": "ada", "password": "ada-pw", "role": "USER", "privileges": []});
    let created = admin1.post("/users", ada).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let ada2 = anon[2].with_token(&anon[2].login("ada", "ada-pw").await);
    ada2.get("/agents").await.ok();

    let container = admin0.start(calculator_container()).await;
    for (n, rp) in [&admin1, &admin2].into_iter().enumerate() {
        let listed = eventually(Duration::from_secs(10), || async {
            let containers = rp.get("/containers").await.ok();
            containers
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["containerId"] == container.as_str()))
                .then_some(())
        })
        .await;
        assert!(listed.is_some(), "host {} never listed {container}", n + 1);
    }
    let path = format!("/invoke/Add/calculator?containerId={container}");
    assert_eq!(admin2.post(&path, json!({"x": 20, "y": 22})).await.ok(), 42);
    assert_eq!(ada2.post(&path, json!({"x": 1, "y": 2})).await.ok(), 3);

    // The package's client through host 1, which compiled the component from the store.
    let seen = run_opaca_client(&hosts[1], &["admin", "admin-pw"]);
    assert_eq!(seen["add"], 42, "{seen}");
    assert_eq!(seen["addInContainer"], 5, "{seen}");
    assert_eq!(seen["greet"], "Good day, Ada.", "{seen}");

    admin2
        .delete(&format!("/containers/{container}"))
        .await
        .ok();
    let gone = eventually(Duration::from_secs(10), || async {
        let containers = admin0.get("/containers").await.ok();
        (!containers.to_string().contains(&container)).then_some(())
    })
    .await;
    assert!(gone.is_some(), "host 0 still lists the stopped {container}");

    // A container of the platform, not of the host that started it.
    let kept = admin0.start(calculator_container()).await;
    // Both other hosts follow it (each at its own heartbeat) before host 0 goes.
    let listed = eventually(Duration::from_secs(10), || async {
        let one = admin1.get("/containers").await.ok();
        let two = admin2.get("/containers").await.ok();
        (one.to_string().contains(&kept) && two.to_string().contains(&kept)).then_some(())
    })
    .await;
    assert!(listed.is_some(), "hosts 1 and 2 never both listed {kept}");
    cluster.hosts[0].terminate();
    let path = format!("/invoke/Add/calculator?containerId={kept}");
    let after = eventually(Duration::from_secs(15), || async {
        let reply = admin1.post(&path, json!({"x": 2, "y": 2})).await;
        (reply.status == 200).then(|| reply.json())
    })
    .await;
    assert_eq!(after, Some(json!(4)), "{kept} after host 0 stopped");
    let containers = admin2.get("/containers").await.ok();
    assert!(containers.to_string().contains(&kept), "{containers}");
}
