//! Crash safety: SIGKILL in the middle of a write load in `sync` mode loses no
//! acknowledged turn, and reminders still fire after the restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::{Host, eventually, guest};

#[tokio::test]
async fn sigkill_under_write_load_loses_no_acknowledged_turn() {
    let dir = tempfile::tempdir().unwrap();
    let (counter, hostile) = (guest("counter"), guest("hostile"));
    let mut host = Host::start(
        dir.path(),
        &[
            "--deploy",
            counter.to_str().unwrap(),
            "--deploy",
            hostile.to_str().unwrap(),
            "--durability",
            "sync",
        ],
    );
    let (status, _) = host
        .register(
            "reminders",
            "ticker/crash",
            "after",
            json!({"dueTime": "3s"}),
        )
        .await;
    assert_eq!(status, 204);

    // 16 writers, each adding 1 to its own counter as fast as acknowledgements come back.
    let acked: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (client, url) = (host.client.clone(), host.url.clone());
            tokio::spawn(write_until_refused(w, client, url, acked.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    host.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let acked_turns: u64 = acked.values().sum();
    assert!(
        acked_turns > 50,
        "too little load to mean anything: {acked_turns} turns"
    );

    host.restart();
    for (w, total) in &acked {
        let now: u64 = host
            .invoke_ok("counter", &format!("w{w}"), "get", "")
            .await
            .parse()
            .unwrap();
        // Every acknowledged turn is there; at most the one in flight per writer beyond it.
        assert!(
            now == *total || now == total + 1,
            "w{w}: acknowledged {total}, found {now}"
        );
    }
    println!("crash: {acked_turns} acknowledged turns from 16 writers survived SIGKILL");
    let fired = eventually(Duration::from_secs(10), || async {
        (host.fired("crash", "after").await == 1).then_some(())
    })
    .await;
    assert!(fired.is_some(), "the reminder did not fire after the crash");
}

/// Writer `w`: adds 1 to counter `w{w}` through the host at `url` until a request fails
/// (the kill), noting each acknowledged total in `acked`.
async fn write_until_refused(
    w: usize,
    client: reqwest::Client,
    url: String,
    acked: Arc<Mutex<HashMap<usize, u64>>>,
) {
    loop {
        let sent = client
            .post(format!("{url}/v1.0/actors/counter/w{w}/method/add"))
            .body("1")
            .send()
            .await;
        let Ok(response) = sent else { break };
        if response.status() != 200 {
            break;
        }
        let Ok(text) = response.text().await else {
            break;
        };
        let total: u64 = text.parse().expect("a total");
        acked.lock().unwrap().insert(w, total);
    }
}
