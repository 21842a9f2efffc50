//! The counter example through the Dapr HTTP API: totals, restarts, ordering, parallelism.

use std::time::{Duration, Instant};

use crate::support::{Host, guest};

fn counter_host(dir: &std::path::Path, extra: &[&str]) -> Host {
    let counter = guest("counter");
    let mut args = vec!["--deploy", counter.to_str().unwrap()];
    args.extend_from_slice(extra);
    Host::start(dir, &args)
}

#[tokio::test]
async fn add_then_restart_keeps_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = counter_host(dir.path(), &[]);
    assert_eq!(host.invoke_ok("counter", "c1", "add", "5").await, "5");
    assert_eq!(host.invoke_ok("counter", "c1", "add", "3").await, "8");
    // A crash right after the acknowledgement loses nothing in sync mode.
    host.restart();
    assert_eq!(host.invoke_ok("counter", "c1", "get", "").await, "8");
    // Actors are independent.
    assert_eq!(host.invoke_ok("counter", "c2", "get", "").await, "0");
}

#[tokio::test]
async fn relaxed_mode_keeps_state_over_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = counter_host(dir.path(), &["--durability", "relaxed"]);
    assert_eq!(host.invoke_ok("counter", "r", "add", "7").await, "7");
    host.terminate();
    let host = counter_host(dir.path(), &["--durability", "relaxed"]);
    assert_eq!(host.invoke_ok("counter", "r", "get", "").await, "7");
}

#[tokio::test]
async fn concurrent_adds_on_one_actor_all_count() {
    let dir = tempfile::tempdir().unwrap();
    let host = counter_host(dir.path(), &[]);
    let adds = (0..200).map(|_| host.invoke("counter", "busy", "add", "1"));
    for (status, body) in futures::future::join_all(adds).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(host.invoke_ok("counter", "busy", "get", "").await, "200");
}

#[tokio::test]
async fn turns_on_different_actors_overlap_and_on_one_actor_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = guest("hostile");
    let host = Host::start(dir.path(), &["--deploy", hostile.to_str().unwrap()]);
    // Warm up compilation and the first instance.
    host.invoke_ok("sleeper", "warm", "sleep", "1").await;

    let start = Instant::now();
    let (a, b) = tokio::join!(
        host.invoke_ok("sleeper", "a", "sleep", "800"),
        host.invoke_ok("sleeper", "b", "sleep", "800"),
    );
    let parallel = start.elapsed();
    assert_eq!((a.as_str(), b.as_str()), ("\"slept\"", "\"slept\""));
    assert!(
        parallel < Duration::from_millis(1500),
        "two actors took {parallel:?}: turns did not overlap"
    );

    let start = Instant::now();
    tokio::join!(
        host.invoke_ok("sleeper", "same", "sleep", "400"),
        host.invoke_ok("sleeper", "same", "sleep", "400"),
    );
    let serial = start.elapsed();
    assert!(
        serial >= Duration::from_millis(800),
        "one actor ran two turns at once ({serial:?})"
    );
}

#[tokio::test]
async fn idle_actors_are_deactivated() {
    let dir = tempfile::tempdir().unwrap();
    let host = counter_host(dir.path(), &["--idle-timeout", "300ms"]);
    host.invoke_ok("counter", "sleepy", "add", "1").await;
    let active = host.get_json("/admin/v1/actors").await;
    assert_eq!(
        active,
        serde_json::json!([{"type": "counter", "id": "sleepy"}])
    );
    let gone = crate::support::eventually(Duration::from_secs(5), || async {
        let active = host.get_json("/admin/v1/actors").await;
        active.as_array().unwrap().is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "actor still active after its idle timeout");
    // Its state outlives the activation.
    assert_eq!(host.invoke_ok("counter", "sleepy", "get", "").await, "1");
}

#[tokio::test]
async fn unknown_types_and_actions_get_dapr_errors() {
    let dir = tempfile::tempdir().unwrap();
    let host = counter_host(dir.path(), &[]);
    let (status, body) = host.invoke("nosuch", "x", "add", "1").await;
    assert_eq!(status, 500);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errorCode"], "ERR_ACTOR_INVOKE_METHOD");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("\"nosuch\" is not hosted"),
        "{body}"
    );

    let (status, body) = host.invoke("counter", "x", "fly", "").await;
    assert_eq!(status, 500);
    assert!(body.contains("no action \\\"fly\\\""), "{body}");

    let (status, body) = host.invoke("counter", "x", "add", "\"five\"").await;
    assert_eq!(status, 500);
    assert!(body.contains("rejected the payload"), "{body}");
}

#[tokio::test]
async fn an_actor_keeps_its_own_instance_and_nobody_elses() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = guest("hostile");
    let deploy = ["--deploy", hostile.to_str().unwrap()];
    let mut args = deploy.to_vec();
    args.extend(["--idle-timeout", "300ms"]);
    let host = counter_host(dir.path(), &args);
    let turns = |id: &'static str| {
        let host = &host;
        async move { host.invoke_ok("prober", id, "turns", "").await }
    };
    // Between its own turns an actor keeps its instance (guest statics survive)...
    assert_eq!(turns("a").await, "1");
    assert_eq!(turns("a").await, "2");
    // ...which no other actor ever runs in.
    assert_eq!(turns("b").await, "1");
    assert_eq!(turns("a").await, "3");
    // A failed turn discards it: a trap, an error from the action, a reply over the limit.
    let (status, _) = host.invoke("prober", "a", "trap", "").await;
    assert_eq!(status, 500);
    assert_eq!(turns("a").await, "1");
    assert_eq!(turns("a").await, "2");
    let (status, _) = host.invoke("prober", "a", "fail", "").await;
    assert_eq!(status, 500);
    assert_eq!(turns("a").await, "1");
    assert_eq!(turns("a").await, "2");
    let (status, _) = host.invoke("prober", "a", "huge-reply", "5").await;
    assert_eq!(status, 413);
    assert_eq!(turns("a").await, "1");
    // So does deactivation.
    let idle = crate::support::eventually(Duration::from_secs(5), || async {
        let active = host.get_json("/admin/v1/actors").await;
        active.as_array().unwrap().is_empty().then_some(())
    })
    .await;
    assert!(
        idle.is_some(),
        "actors still active after their idle timeout"
    );
    assert_eq!(turns("b").await, "1");
    drop(host);

    // With no kept instances every turn is fresh.
    let dir = tempfile::tempdir().unwrap();
    let mut args = deploy.to_vec();
    args.extend(["--pinned-instances", "0"]);
    let host = counter_host(dir.path(), &args);
    assert_eq!(host.invoke_ok("prober", "a", "turns", "").await, "1");
    assert_eq!(host.invoke_ok("prober", "a", "turns", "").await, "1");
}

#[tokio::test]
async fn reused_instances_keep_actors_apart() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = guest("hostile");
    let host = counter_host(
        dir.path(),
        &["--reuse-instances", "--deploy", hostile.to_str().unwrap()],
    );
    for i in 1..=5 {
        assert_eq!(
            host.invoke_ok("counter", "r1", "add", "1").await,
            i.to_string()
        );
        assert_eq!(
            host.invoke_ok("counter", "r2", "add", "10").await,
            (i * 10).to_string()
        );
    }
    // A trapped instance is not reused; the next turn gets a sound one.
    host.invoke_ok("trapper", "t", "write", "ok").await;
    let (status, _) = host.invoke("trapper", "t", "write-then-trap", "bad").await;
    assert_eq!(status, 500);
    assert_eq!(host.invoke_ok("trapper", "t", "read", "").await, "ok");
    // Output of a reused instance is labelled with the actor of the current turn.
    host.invoke_ok("chatty", "first", "print", "one").await;
    host.invoke_ok("chatty", "second", "print", "two").await;
    let found = crate::support::eventually(Duration::from_secs(5), || async {
        host.log()
            .lines()
            .any(|l| l.contains("actor=chatty/second") && l.contains("two"))
            .then_some(())
    })
    .await;
    assert!(found.is_some(), "{}", host.log());
}

/// A component chooses each type's instance strategy (the `instances` export); the host's
/// flags give the default and cap the choice.
#[tokio::test]
async fn each_type_gets_the_instance_strategy_it_chooses_within_the_hosts_flags() {
    let hostile = guest("hostile");
    // (flags, what fresh-, kept- and reused-prober count over turns a, a, b).
    let cases: [(&[&str], [[&str; 3]; 3]); 3] = [
        // By default reuse is not allowed: a reused type keeps its instances instead.
        (&[], [["1", "1", "1"], ["1", "2", "1"], ["1", "2", "1"]]),
        // Allowed: one instance, warm in the pool, serves a and then b.
        (
            &["--reuse-instances"],
            [["1", "1", "1"], ["1", "2", "1"], ["1", "2", "3"]],
        ),
        // No kept instances: a kept type gets fresh ones.
        (
            &["--pinned-instances", "0"],
            [["1", "1", "1"], ["1", "1", "1"], ["1", "1", "1"]],
        ),
    ];
    for (flags, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--deploy", hostile.to_str().unwrap()];
        args.extend_from_slice(flags);
        let host = counter_host(dir.path(), &args);
        for (actor_type, want) in ["fresh-prober", "kept-prober", "reused-prober"]
            .into_iter()
            .zip(expected)
        {
            let mut got = Vec::new();
            for id in ["a", "a", "b"] {
                got.push(host.invoke_ok(actor_type, id, "turns", "").await);
            }
            assert_eq!(got, want, "{actor_type} with {flags:?}");
        }
    }
    // The choice is part of the type's manifest.
    let dir = tempfile::tempdir().unwrap();
    let host = counter_host(dir.path(), &["--deploy", hostile.to_str().unwrap()]);
    let types = host.get_json("/admin/v1/actor-types").await;
    let kept = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "kept-prober")
        .unwrap();
    assert_eq!(kept["instances"], "kept", "{kept}");
}
