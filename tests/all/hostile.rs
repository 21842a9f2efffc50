//! Hostile guests in one tenant while another tenant is under load: the host survives
//! every attack and the well-behaved tenant keeps being served. Each test prints the
//! well-behaved tenant's p99 before and during the attack (figures, not assertions).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Host;
use crate::tenancy::admin_host;

/// Two tenants: `good` runs the counter, `evil` runs the hostile guest with the limits given.
async fn arena(
    dir: &std::path::Path,
    evil_limits: Value,
    extra: &[&str],
) -> (Host, String, String) {
    let host = admin_host(dir, extra);
    let good = host.tenant("good", json!({})).await;
    let evil = host.tenant("evil", evil_limits).await;
    host.deploy_as(&good, "counter").await;
    host.deploy_as(&evil, "hostile").await;
    (host, good, evil)
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples
        .get(samples.len() * 99 / 100)
        .copied()
        .unwrap_or_default()
}

/// Call the good tenant's counter until `stop`; every call must succeed.
async fn good_load(
    host: &Host,
    token: &str,
    stop: Arc<AtomicBool>,
    min_calls: usize,
) -> Vec<Duration> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) || samples.len() < min_calls {
        let start = Instant::now();
        let (status, text) = host.invoke_as(token, "counter/steady", "add", "1").await;
        assert_eq!(
            status, 200,
            "the good tenant was refused during an attack: {text}"
        );
        samples.push(start.elapsed());
    }
    samples
}

/// Run `attack` while the good tenant is under load; print p99 before and during, and
/// return the attack's outcome.
async fn attack<F: std::future::Future>(
    name: &str,
    host: &Host,
    good: &str,
    attack: F,
) -> F::Output {
    let idle = Arc::new(AtomicBool::new(true));
    let before = good_load(host, good, idle, 200).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = good_load(host, good, stop.clone(), 20);
    let attack = async {
        let out = attack.await;
        stop.store(true, Ordering::Relaxed);
        out
    };
    let (during, out) = tokio::join!(load, attack);
    println!(
        "attack {name}: good tenant p99 before {:?} ({} calls), during {:?} ({} calls)",
        p99(before.clone()),
        before.len(),
        p99(during.clone()),
        during.len()
    );
    out
}

fn message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.to_string())
}

#[tokio::test]
async fn endless_loop_memory_bomb_stack_overflow_and_trap() {
    let dir = tempfile::tempdir().unwrap();
    let limits = json!({"turn_timeout_ms": 1500, "max_memory_bytes": 16 << 20});
    let (host, good, evil) = arena(dir.path(), limits, &[]).await;

    let (status, text) = attack(
        "endless loop",
        &host,
        &good,
        host.invoke_as(&evil, "looper/1", "spin", ""),
    )
    .await;
    assert_eq!(status, 500);
    assert!(message(&text).contains("before its deadline"), "{text}");

    let (status, text) = attack(
        "memory bomb",
        &host,
        &good,
        host.invoke_as(&evil, "bomb/1", "grow", ""),
    )
    .await;
    assert_eq!(status, 500);
    assert!(
        message(&text).contains("memory limit of 16777216 bytes"),
        "{text}"
    );

    let (status, text) = attack(
        "stack overflow",
        &host,
        &good,
        host.invoke_as(&evil, "glutton/1", "overflow", ""),
    )
    .await;
    assert_eq!(status, 500);
    assert!(message(&text).contains("trapped"), "{text}");

    let (status, text) = attack(
        "trap",
        &host,
        &good,
        host.invoke_as(&evil, "trapper/1", "write-then-trap", "x"),
    )
    .await;
    assert_eq!(status, 500);
    assert!(message(&text).contains("trapped"), "{text}");

    // The evil tenant itself still works, and the good tenant's count is exact.
    assert_eq!(
        host.invoke_as(&evil, "trapper/1", "read", "").await,
        (200, String::new())
    );
    let (_, total) = host.invoke_as(&good, "counter/steady", "get", "").await;
    assert!(total.parse::<u64>().unwrap() >= 1000);
}

#[tokio::test]
async fn huge_reply_call_cycles_state_flood_and_log_spam() {
    let dir = tempfile::tempdir().unwrap();
    let limits = json!({"max_memory_bytes": 256 << 20, "max_state_bytes": 1 << 20});
    let (host, good, evil) = arena(dir.path(), limits, &[]).await;

    let (status, text) = attack(
        "100 MB reply",
        &host,
        &good,
        host.invoke_as(&evil, "glutton/big", "huge-reply", "100"),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert!(message(&text).contains("reply bytes"), "{text}");

    // A self-call cycle fails fast; a reentrant one stops at the stack depth.
    let cycle = async {
        let req = r#"{"type":"caller","id":"c","action":"count","payload":null}"#;
        let direct = host.invoke_as(&evil, "caller/c", "call", req).await;
        let deep = host.invoke_as(&evil, "echo/e", "recurse", "100").await;
        (direct, deep)
    };
    let ((s1, t1), (s2, t2)) = attack("call cycle", &host, &good, cycle).await;
    assert_eq!(s1, 500);
    assert!(message(&t1).contains("would wait on itself"), "{t1}");
    assert_eq!(s2, 500);
    assert!(message(&t2).contains("maximum stack depth of 32"), "{t2}");

    let flood = async {
        let mut refused = 0;
        for i in 0..40 {
            let body = json!({"key": format!("k{i}"), "bytes": 64 << 10}).to_string();
            let (status, _) = host
                .invoke_as(&evil, &format!("glutton/f{}", i % 4), "fill", &body)
                .await;
            if status == 507 {
                refused += 1;
            }
        }
        refused
    };
    let refused = attack("state past quota", &host, &good, flood).await;
    assert!(
        refused >= 20,
        "only {refused} of 40 writes of 64 KiB past a 1 MiB quota were refused"
    );
    let usage = host
        .get_json_as("/admin/v1/tenants/evil", crate::tenancy::ADMIN)
        .await;
    assert!(usage["state_bytes"].as_u64().unwrap() <= 1 << 20, "{usage}");

    let (status, _) = attack(
        "log spam",
        &host,
        &good,
        host.invoke_as(&evil, "chatty/s", "spam", "200000"),
    )
    .await;
    assert_eq!(status, 200);
    // At most the per-turn budget reached the log.
    let spam = host
        .log()
        .lines()
        .filter(|l| l.contains("spam line"))
        .count();
    assert!(spam < 500, "{spam} spam lines reached the log");
}

#[tokio::test]
async fn per_tenant_deadline_fuel_and_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let limits = json!({"fuel_per_turn": 50_000_000, "max_concurrent_turns": 1});
    let (host, good, evil) = arena(dir.path(), limits, &["--enable-fuel"]).await;
    let (status, text) = attack(
        "fuel",
        &host,
        &good,
        host.invoke_as(&evil, "looper/f", "spin", ""),
    )
    .await;
    assert_eq!(status, 500);
    assert!(
        message(&text).contains("ran out of fuel (50000000 units)"),
        "{text}"
    );

    // One turn at a time: a second concurrent turn of another actor is refused, not queued.
    let slow = host.invoke_as(&evil, "sleeper/a", "sleep", "700");
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        host.invoke_as(&evil, "sleeper/b", "sleep", "1").await
    };
    let ((s1, _), (s2, t2)) = tokio::join!(slow, second);
    assert_eq!(s1, 200);
    assert_eq!(s2, 429, "{t2}");
    assert!(message(&t2).contains("limit of 1 concurrent turns"), "{t2}");
    // The good tenant has its own budget.
    assert_eq!(host.invoke_as(&good, "counter/x", "add", "1").await.0, 200);
}

#[tokio::test]
async fn the_sandbox_refuses_files_sockets_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _good, evil) = arena(dir.path(), json!({}), &[]).await;
    let probe = |_| async {
        let (status, text) = host
            .call(
                Method::POST,
                "/v1.0/actors/prober/p/method/probe",
                Some(&evil),
                vec![],
            )
            .await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let first = probe(1).await;
    for refused in ["read_dir", "read_file", "write_file", "tcp", "udp", "dns"] {
        assert_eq!(first[refused], "refused", "{refused}: {first}");
    }
    assert_eq!(
        first["env"],
        json!([]),
        "host environment reached the guest"
    );
    assert_eq!(first["args"], json!([]));
    assert!(
        first["unix_time"].as_u64().unwrap() > 1_700_000_000,
        "clock: {first}"
    );
    // Randomness: two fresh instances seed differently.
    let second = probe(2).await;
    assert_ne!(first["random"], second["random"]);
}
