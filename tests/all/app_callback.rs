//! App-callback mode against a small HTTP app written here: the exact callbacks Warren
//! sends, the reminder cancel header, the activation and the deactivation calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, put};
use serde_json::{Value, json};

use crate::support::{Host, eventually};

/// Everything the app was called with, in order.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<(String, Value)>>>);

impl Calls {
    fn push(&self, what: String, body: Value) {
        self.0.lock().unwrap().push((what, body));
    }

    fn matching(&self, prefix: &str) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w.starts_with(prefix))
            .map(|(_, b)| b.clone())
            .collect()
    }
}

async fn config() -> impl IntoResponse {
    axum::Json(json!({
        "entities": ["RustApp"],
        "actorIdleTimeout": "700ms",
        "actorScanInterval": "30s",
        "drainOngoingCallTimeout": "1s",
        "reentrancy": {"enabled": false}
    }))
}

async fn method(
    State(calls): State<Calls>,
    Path((t, id, m)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let chain = headers.get("dapr-reentrancy-id").is_some();
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    calls.push(
        format!("method {t}/{id}/{m}"),
        json!({"body": String::from_utf8_lossy(&body), "chain": chain, "traceparent": traceparent}),
    );
    match m.as_str() {
        "missing" => (StatusCode::NOT_FOUND, "no such method".to_string()).into_response(),
        "boom" => (StatusCode::INTERNAL_SERVER_ERROR, "it broke".to_string()).into_response(),
        _ => (StatusCode::OK, format!("\"{m} done\"")).into_response(),
    }
}

async fn remind(
    State(calls): State<Calls>,
    Path((t, id, name)): Path<(String, String, String)>,
    body: Bytes,
) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    calls.push(format!("remind {t}/{id}/{name}"), body);
    let n = calls.matching("remind ").len();
    // Ask Warren to stop the reminder at its second firing.
    let mut headers = HeaderMap::new();
    if n >= 2 {
        headers.insert("X-DaprReminderCancel", "true".parse().unwrap());
    }
    (StatusCode::OK, headers)
}

async fn timer(
    State(calls): State<Calls>,
    Path((t, id, name)): Path<(String, String, String)>,
    body: Bytes,
) -> StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    calls.push(format!("timer {t}/{id}/{name}"), body);
    StatusCode::OK
}

async fn deactivate(
    State(calls): State<Calls>,
    Path((t, id)): Path<(String, String)>,
) -> StatusCode {
    calls.push(format!("delete {t}/{id}"), Value::Null);
    StatusCode::OK
}

async fn activate(State(calls): State<Calls>, Path((t, id)): Path<(String, String)>) -> StatusCode {
    calls.push(format!("activate {t}/{id}"), Value::Null);
    StatusCode::OK
}

/// An app like the older SDKs, which route the activation call.
async fn start_app_routing_activation(calls: Calls) -> u16 {
    let app = Router::new()
        .route("/dapr/config", get(config))
        .route("/actors/{t}/{id}/method/{m}", put(method))
        .route("/actors/{t}/{id}", delete(deactivate).post(activate))
        .with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// An app like the newer SDKs, which do not route the activation call (405 here): that is
/// no error.
async fn start_app(calls: Calls) -> u16 {
    let app = Router::new()
        .route("/dapr/config", get(config))
        .route("/actors/{t}/{id}/method/remind/{name}", put(remind))
        .route("/actors/{t}/{id}/method/timer/{name}", put(timer))
        .route("/actors/{t}/{id}/method/{m}", put(method))
        .route("/actors/{t}/{id}", delete(deactivate))
        .with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

#[tokio::test]
async fn warren_calls_the_app_as_daprd_does() {
    let calls = Calls::default();
    let port = start_app(calls.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--app-port", &port]);
    let hosted = eventually(Duration::from_secs(10), || async {
        let types = host.get_json("/admin/v1/actor-types").await;
        (types.as_array().unwrap().len() == 1).then_some(types)
    })
    .await
    .expect("the app's actor types were never hosted");
    assert_eq!(hosted[0]["name"], "RustApp");
    assert_eq!(hosted[0]["idle_timeout"], 700);

    check_methods_reach_the_app(&host, &calls).await;
    check_a_reminder_fires_until_the_app_cancels_it(&host, &calls).await;
    check_timers_and_idle_deactivation_reach_the_app(&host, &calls).await;
}

/// A method reaches the app with its body and call chain id, a traced one as a child of
/// its turn's span; the app's missing methods and errors fail the turn.
async fn check_methods_reach_the_app(host: &Host, calls: &Calls) {
    assert_eq!(
        host.invoke_ok("RustApp", "a1", "hello", "{\"x\":1}").await,
        "\"hello done\""
    );
    let m = &calls.matching("method RustApp/a1/hello")[0];
    assert_eq!(m["body"], "{\"x\":1}");
    assert_eq!(
        m["chain"], true,
        "the call chain id travels as Dapr-Reentrancy-Id"
    );

    // A traced call reaches the app as a child of its turn's span: the caller's trace,
    // neither the caller's span nor the request's (which the response names).
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = host
        .client
        .post(format!("{}/v1.0/actors/RustApp/a1/method/traced", host.url))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_span = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_string();
    let m = &calls.matching("method RustApp/a1/traced")[0];
    let sent = m["traceparent"]
        .as_str()
        .expect("the app got a traceparent");
    assert!(sent.starts_with(&format!("00-{trace}-")), "{sent}");
    assert!(
        !sent.contains("00f067aa0ba902b7") && sent != request_span,
        "{sent}"
    );

    let (status, body) = host.invoke("RustApp", "a1", "missing", "").await;
    assert_eq!(status, 500);
    assert!(
        body.contains("no action") && body.contains("no such method"),
        "{body}"
    );
    let (status, body) = host.invoke("RustApp", "a1", "boom", "").await;
    assert_eq!(status, 500);
    assert!(body.contains("it broke"), "{body}");
}

/// A reminder fires into the app with Dapr's body until the app cancels it.
async fn check_a_reminder_fires_until_the_app_cancels_it(host: &Host, calls: &Calls) {
    let (status, text) = host
        .register(
            "reminders",
            "RustApp/a1",
            "ping",
            json!({"dueTime": "100ms", "period": "200ms", "data": {"k": "v"}}),
        )
        .await;
    assert_eq!(status, 204, "{text}");
    let fired = eventually(Duration::from_secs(5), || async {
        (calls.matching("remind ").len() >= 2).then_some(())
    })
    .await;
    assert!(fired.is_some(), "reminder did not fire twice");
    let first = &calls.matching("remind RustApp/a1/ping")[0];
    assert_eq!(first["data"], json!({"k": "v"}));
    assert!(
        first["dueTime"].is_string() && first["period"].is_string(),
        "{first}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        calls.matching("remind ").len(),
        2,
        "X-DaprReminderCancel did not stop the reminder"
    );
    let gone = host
        .client
        .get(format!(
            "{}/v1.0/actors/RustApp/a1/reminders/ping",
            host.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

/// A timer carries its callback; idle deactivation sends DELETE to the app.
async fn check_timers_and_idle_deactivation_reach_the_app(host: &Host, calls: &Calls) {
    let (status, _) = host
        .register(
            "timers",
            "RustApp/a2",
            "t",
            json!({"dueTime": "50ms", "callback": "onTick", "data": 7}),
        )
        .await;
    assert_eq!(status, 204);
    let deleted = eventually(Duration::from_secs(5), || async {
        (!calls.matching("delete RustApp/a2").is_empty()).then_some(())
    })
    .await;
    assert!(deleted.is_some(), "no DELETE on idle");
    let t = &calls.matching("timer RustApp/a2/t")[0];
    assert_eq!(
        (t["callback"].as_str(), &t["data"]),
        (Some("onTick"), &json!(7))
    );
}

/// Each activation reaches an app that routes it as `POST /actors/{type}/{id}`, once and
/// before the actor's first method call; a later call of the same activation sends none.
#[tokio::test]
async fn an_activation_is_sent_before_the_first_method_call() {
    let calls = Calls::default();
    let port = start_app_routing_activation(calls.clone())
        .await
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--app-port", &port]);
    eventually(Duration::from_secs(10), || async {
        let types = host.get_json("/admin/v1/actor-types").await;
        (types.as_array().unwrap().len() == 1).then_some(())
    })
    .await
    .expect("the app's actor types were never hosted");
    host.invoke_ok("RustApp", "a1", "hello", "1").await;
    host.invoke_ok("RustApp", "a1", "again", "2").await;
    host.invoke_ok("RustApp", "b1", "hello", "3").await;
    let order: Vec<String> = calls
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(what, _)| what.clone())
        .collect();
    assert_eq!(
        order,
        [
            "activate RustApp/a1",
            "method RustApp/a1/hello",
            "method RustApp/a1/again",
            "activate RustApp/b1",
            "method RustApp/b1/hello",
        ],
    );
}
