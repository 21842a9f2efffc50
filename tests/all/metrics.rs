//! `GET /metrics`: Prometheus' text format, read back with a parser written by others
//! (`prometheus-parse`), whose counters move by exactly the turns a test ran, per outcome.

use std::collections::HashMap;

use crate::support::{Host, guest};

/// The samples of one scrape: metric name and labels (sorted) to value.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

async fn scrape(host: &Host) -> Samples {
    let response = host.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.contains("openmetrics-text"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let mut samples = HashMap::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        samples.insert((sample.metric, labels), value);
    }
    samples
}

/// `warren_turns_total` of the default tenant's `actor_type`, triggered by calls, with
/// `outcome`.
fn turns(samples: &Samples, actor_type: &str, outcome: &str) -> f64 {
    let labels = [
        ("actor_type", actor_type),
        ("outcome", outcome),
        ("tenant", "default"),
        ("trigger", "call"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    samples
        .get(&("warren_turns_total".to_string(), labels))
        .copied()
        .unwrap_or(0.0)
}

/// Three good turns, one failed and one trapped add exactly that to the turn counters;
/// a turn of an unknown type counts as refused without its made-up name as a label; the
/// active actors, activations and commit counters move; requests are counted by protocol
/// and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_turns_a_test_ran() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    for name in ["counter", "hostile"] {
        let (status, body) = host.deploy(std::fs::read(guest(name)).unwrap()).await;
        assert_eq!(status, 201, "deploying {name}: {body}");
    }
    // Both loads were timed.
    let text = host.get("/metrics").await.text().await.unwrap();
    let loads = text
        .lines()
        .find(|l| l.starts_with("warren_component_load_seconds_count"))
        .unwrap_or_else(|| panic!("no component load histogram in:\n{text}"));
    assert_eq!(loads.split_whitespace().last(), Some("2"), "{loads}");
    let before = scrape(&host).await;
    for _ in 0..3 {
        host.invoke_ok("counter", "m1", "add", "2").await;
    }
    let (status, _) = host.invoke("prober", "p1", "fail", "").await;
    assert_ne!(status, 200);
    let (status, _) = host.invoke("prober", "p1", "trap", "").await;
    assert_ne!(status, 200);
    let (status, _) = host.invoke("no-such-type", "x", "add", "1").await;
    assert_ne!(status, 200);
    let after = scrape(&host).await;

    check_turns_moved_by_their_outcomes(&before, &after);
    check_actors_store_and_requests_are_counted(&before, &after);
    check_grpc_requests_are_counted_by_status(&host, &after).await;
}

/// The value of the unlabelled metric `name`, 0 if absent.
fn value(samples: &Samples, name: &str) -> f64 {
    samples
        .get(&(name.to_string(), Vec::new()))
        .copied()
        .unwrap_or(0.0)
}

/// Three counter turns went ok, one prober turn failed and one trapped, and the call to
/// a made-up type is refused without becoming a label.
fn check_turns_moved_by_their_outcomes(before: &Samples, after: &Samples) {
    let moved = |actor_type: &str, outcome: &str| {
        turns(after, actor_type, outcome) - turns(before, actor_type, outcome)
    };
    assert_eq!(moved("counter", "ok"), 3.0);
    assert_eq!(moved("counter", "error"), 0.0);
    assert_eq!(moved("prober", "error"), 1.0);
    assert_eq!(moved("prober", "trap"), 1.0);
    assert_eq!(moved("(unknown)", "refused"), 1.0);
    assert!(
        !after
            .keys()
            .any(|(_, labels)| labels.iter().any(|(_, v)| v == "no-such-type")),
        "a made-up type became a label"
    );
}

/// Active actors, activations, committed bytes and Dapr HTTP requests moved too.
fn check_actors_store_and_requests_are_counted(before: &Samples, after: &Samples) {
    assert!(value(after, "warren_active_actors") >= 2.0);
    // The Rust counter's actors keep their instances, charged some KiB each, within the
    // default budget.
    assert!(value(after, "warren_kept_instances") >= 1.0);
    let kept = value(after, "warren_kept_memory_bytes");
    assert!(
        (1024.0..(1 << 20) as f64).contains(&kept),
        "{kept} bytes kept"
    );
    assert_eq!(
        value(after, "warren_kept_memory_budget_bytes"),
        (1u64 << 30) as f64
    );
    assert!(
        value(after, "warren_activations_total") - value(before, "warren_activations_total") >= 2.0
    );
    assert!(
        value(after, "warren_store_commit_bytes_total")
            > value(before, "warren_store_commit_bytes_total")
    );
    let requests = after
        .iter()
        .filter(|((name, labels), _)| {
            name == "warren_requests_total"
                && labels.contains(&("protocol".into(), "dapr-http".into()))
        })
        .map(|(_, v)| v)
        .sum::<f64>();
    assert!(requests >= 6.0, "dapr-http requests counted: {requests}");
}

/// gRPC requests by their gRPC status: one OK, one NOT_FOUND (5).
async fn check_grpc_requests_are_counted_by_status(host: &Host, after: &Samples) {
    use warren_host::wire::dapr_proto::runtime as rt;
    let mut client = rt::dapr_client::DaprClient::connect(host.grpc_url.clone())
        .await
        .unwrap();
    let invoke = |actor_type: &str| rt::InvokeActorRequest {
        actor_type: actor_type.into(),
        actor_id: "g1".into(),
        method: "add".into(),
        data: b"1".to_vec(),
        metadata: Default::default(),
    };
    client.invoke_actor(invoke("counter")).await.unwrap();
    let missing = client
        .invoke_actor(invoke("no-such-type"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let last = scrape(host).await;
    let grpc = |samples: &Samples, status: &str| {
        let labels = vec![
            ("protocol".to_string(), "dapr-grpc".to_string()),
            ("status".to_string(), status.to_string()),
        ];
        samples
            .get(&("warren_requests_total".to_string(), labels))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(grpc(&last, "0") - grpc(after, "0"), 1.0);
    assert_eq!(grpc(&last, "5") - grpc(after, "5"), 1.0);
}

/// With `--no-metrics` nothing is counted: `/metrics` says so with a 404, and turns still
/// run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_metrics_turns_the_endpoint_off() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--no-metrics"]);
    let (status, body) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = host.invoke("counter", "m1", "add", "2").await;
    assert_eq!((status, body.as_str()), (200, "2"));
    let response = host.get("/metrics").await;
    assert_eq!(response.status(), 404);
    let text = response.text().await.unwrap();
    assert!(text.contains("--no-metrics"), "{text}");
}
