//! What the metrics count, read back from their exposition text.

use std::time::Duration;

use super::*;
use crate::types::Reply;

/// The value of the sample `line` starts with (name and labels), if exposed.
fn sample(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
}

fn actor(tenant: &str, actor_type: &str) -> ActorId {
    ActorId::new(tenant, actor_type, "a")
}

#[test]
fn turns_are_counted_by_tenant_type_trigger_and_outcome() {
    let metrics = Metrics::new(true);
    let ms = Duration::from_millis(1);
    let ok: Result<Reply, InvokeError> = Ok(Reply::default());
    let trapped = Err(InvokeError::Trapped {
        actor: actor("t", "cart"),
        action: "add".into(),
        message: "unreachable".into(),
    });
    metrics.turn(&actor("t", "cart"), TriggerLabel::call, &ok, ms);
    metrics.turn(&actor("t", "cart"), TriggerLabel::call, &ok, ms);
    metrics.turn(&actor("t", "cart"), TriggerLabel::reminder, &trapped, ms);
    let text = metrics.encode();
    let turns = |trigger: &str, outcome: &str| {
        let labels = format!(
            "warren_turns_total{{tenant=\"t\",actor_type=\"cart\",trigger=\"{trigger}\",outcome=\"{outcome}\"}}"
        );
        sample(&text, &labels)
    };
    assert_eq!(turns("call", "ok"), Some(2.0), "{text}");
    assert_eq!(turns("reminder", "trap"), Some(1.0), "{text}");
    assert_eq!(turns("call", "trap"), None);
    assert_eq!(sample(&text, "warren_turn_seconds_count"), Some(3.0));
}

#[test]
fn names_a_caller_made_up_are_not_labels() {
    let metrics = Metrics::new(true);
    let no_tenant = Err(InvokeError::TenantNotFound {
        tenant: "made-up-1".into(),
    });
    let no_type = Err(InvokeError::ActorTypeNotFound {
        tenant: "t".into(),
        actor_type: "made-up-2".into(),
    });
    let ms = Duration::from_millis(1);
    metrics.turn(&actor("made-up-1", "x"), TriggerLabel::call, &no_tenant, ms);
    metrics.turn(&actor("t", "made-up-2"), TriggerLabel::call, &no_type, ms);
    let text = metrics.encode();
    assert!(!text.contains("made-up"), "{text}");
    let unknown = "warren_turns_total{tenant=\"(unknown)\",actor_type=\"(unknown)\",trigger=\"call\",outcome=\"refused\"}";
    assert_eq!(sample(&text, unknown), Some(1.0), "{text}");
    let unknown_type = "warren_turns_total{tenant=\"t\",actor_type=\"(unknown)\",trigger=\"call\",outcome=\"refused\"}";
    assert_eq!(sample(&text, unknown_type), Some(1.0), "{text}");
}

#[test]
fn requests_commits_firings_and_forwards_are_counted() {
    let metrics = Metrics::new(true);
    for _ in 0..3 {
        metrics.request("dapr-http", 200);
    }
    metrics.request("dapr-http", 404);
    metrics.committed(120, Duration::from_millis(2));
    metrics.committed(30, Duration::from_millis(2));
    metrics.fired(true, 1500);
    metrics.fired(false, -5);
    metrics.forwarded(ForwardOutcome::unavailable, Duration::from_millis(3));
    metrics.activated();
    let text = metrics.encode();
    let request =
        |status| format!("warren_requests_total{{protocol=\"dapr-http\",status=\"{status}\"}}");
    assert_eq!(sample(&text, &request(200)), Some(3.0), "{text}");
    assert_eq!(sample(&text, &request(404)), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "warren_store_commit_bytes_total"),
        Some(150.0)
    );
    assert_eq!(
        sample(&text, "warren_firings_total{kind=\"reminder\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "warren_firings_total{kind=\"timer\"}"),
        Some(1.0)
    );
    // A firing that started early counts as on time, not as negative lateness.
    assert_eq!(
        sample(&text, "warren_firing_lateness_seconds_sum"),
        Some(1.5)
    );
    let forwards = "warren_forwards_total{outcome=\"unavailable\"}";
    assert_eq!(sample(&text, forwards), Some(1.0), "{text}");
    assert_eq!(sample(&text, "warren_activations_total"), Some(1.0));
}

#[test]
fn metrics_switched_off_count_nothing() {
    let metrics = Metrics::new(false);
    let ok: Result<Reply, InvokeError> = Ok(Reply::default());
    metrics.turn(
        &actor("t", "cart"),
        TriggerLabel::call,
        &ok,
        Duration::from_millis(1),
    );
    metrics.request("opaca", 200);
    metrics.committed(10, Duration::from_millis(1));
    metrics.activated();
    let text = metrics.encode();
    assert_eq!(
        sample(&text, "warren_turn_seconds_count"),
        Some(0.0),
        "{text}"
    );
    assert!(!text.contains("warren_turns_total{"), "{text}");
    assert!(!text.contains("warren_requests_total{"), "{text}");
    assert_eq!(sample(&text, "warren_store_commit_bytes_total"), Some(0.0));
    assert_eq!(sample(&text, "warren_activations_total"), Some(0.0));
}
