//! Apps outside the host that answer slowly, without end, or never: a Dapr app (app
//! callback mode) and a Spawn user function. Each such turn fails by its deadline or at
//! the reply limit with the protocol's error, the host reads no more than the limit, and
//! it keeps serving everyone else meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use prost::Message;
use serde_json::json;

use crate::spawn_harness::{Actor, ActorInvocation, code, invoke, register, reply, request};
use crate::support::{Host, eventually, guest};

/// What the apps do on request.
const ACTIONS: [&str; 4] = ["slow", "never", "huge", "ok"];

/// Bytes the app has produced for endless answers.
#[derive(Clone, Default)]
struct Produced(Arc<AtomicU64>);

/// How the app answers `action`: `slow` after 3 s, `never` not at all, `huge` with a body
/// that never ends, anything else at once with `ok`.
async fn behave(action: &str, produced: &Produced, ok: Vec<u8>) -> Response {
    match action {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            ok.into_response()
        }
        "never" => std::future::pending().await,
        "huge" => {
            let produced = produced.0.clone();
            let chunks = futures::stream::repeat_with(move || {
                produced.fetch_add(64 << 10, Ordering::Relaxed);
                Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 64 << 10]))
            });
            Body::from_stream(chunks).into_response()
        }
        _ => ok.into_response(),
    }
}

async fn dapr_method(
    State(produced): State<Produced>,
    Path((_id, method)): Path<(String, String)>,
) -> Response {
    behave(&method, &produced, b"\"fine\"".to_vec()).await
}

async fn spawn_actions(State(produced): State<Produced>, body: Bytes) -> Response {
    let Ok(call) = ActorInvocation::decode(body) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "not an ActorInvocation",
        )
            .into_response();
    };
    let ok = reply(&call).encode_to_vec();
    behave(&call.action_name, &produced, ok).await
}

/// One app that is both a Dapr app hosting `Wayward` and a Spawn user function.
async fn start_app(produced: Produced) -> u16 {
    let app = Router::new()
        .route(
            "/dapr/config",
            get(|| async { axum::Json(json!({"entities": ["Wayward"]})) }),
        )
        .route("/actors/Wayward/{id}/method/{m}", put(dapr_method))
        .route("/api/v1/actors/actions", post(spawn_actions))
        .with_state(produced);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endless_and_silent_apps_fail_their_turns_and_nothing_else() {
    let produced = Produced::default();
    let port = start_app(produced.clone()).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let host = start_host_of_the_app(dir.path(), &port).await;

    // Every hostile turn at once, with a steady stream of other turns beside them.
    let (slow, never, huge, s_slow, s_never, s_huge, served) = tokio::join!(
        dapr_call(&host, "slow"),
        dapr_call(&host, "never"),
        dapr_call(&host, "huge"),
        spawn_call(&host, "slow", "1000"),
        spawn_call(&host, "never", "1000"),
        // Its limit is larger (reply and state): time enough to reach it.
        spawn_call(&host, "huge", "10000"),
        steady_turns(&host)
    );
    assert!(
        served > 10,
        "only {served} other turns were served meanwhile"
    );
    check_the_dapr_turns_failed([slow, never, huge]);
    check_the_spawn_turns_failed([s_slow, s_never, s_huge]);

    // The host stopped reading at the limits (4 MiB for the Dapr reply; reply and state,
    // 68 MiB, for Spawn's), plus what the sockets buffer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let read = produced.0.load(Ordering::Relaxed);
    assert!(
        read < 160 << 20,
        "the app produced {read} bytes for the host"
    );

    // The apps' well-behaved calls still work.
    let text = host.invoke_ok("Wayward", "w-ok", "ok", "").await;
    assert_eq!(text, "\"fine\"");
    let (status, response) = invoke(&host, &request("wild", "w-ok", "ok")).await;
    assert_eq!(status, 200, "{response:?}");
}

/// A host with a 2 s turn deadline, the counter, and the app on `port` as both its Dapr
/// app (once `Wayward` is hosted) and the Spawn user function of system `wild`.
async fn start_host_of_the_app(dir: &std::path::Path, port: &str) -> Host {
    let counter = guest("counter");
    let user_function = format!("http://127.0.0.1:{port}");
    let host = Host::start(
        dir,
        &[
            "--app-port",
            port,
            "--spawn-user-function",
            &user_function,
            "--turn-timeout",
            "2s",
            "--deploy",
            counter.to_str().unwrap(),
        ],
    );
    eventually(Duration::from_secs(10), || async {
        let types = host.get_json("/admin/v1/actor-types").await;
        let names = types.to_string();
        names.contains("Wayward").then_some(())
    })
    .await
    .expect("the app's actor type was never hosted");
    register(
        &host,
        "wild",
        // One actor per behaviour, so their turns do not queue behind each other.
        ACTIONS
            .iter()
            .map(|a| Actor::named(&format!("w-{a}"), &ACTIONS))
            .collect(),
    )
    .await;
    host
}

/// A Dapr call of `method` on Wayward/w-{method}: status, body and how long it took.
async fn dapr_call(host: &Host, method: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = host
        .client
        .post(format!(
            "{}/v1.0/actors/Wayward/w-{method}/method/{method}",
            host.url
        ))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap(), started.elapsed())
}

/// A Spawn call of `action` on wild/w-{action} with a request timeout: status, Spawn
/// status code and message, and how long it took.
async fn spawn_call(host: &Host, action: &str, timeout_ms: &str) -> (u16, i32, String, Duration) {
    let started = Instant::now();
    let call = request("wild", &format!("w-{action}"), action)
        .with_metadata(&[("request-timeout", timeout_ms)]);
    let (status, response) = invoke(host, &call).await;
    let message = response.status.clone().unwrap_or_default().message;
    (status, code(&response.status), message, started.elapsed())
}

/// Counter turns for 1.5 s, one after another: how many were served.
async fn steady_turns(host: &Host) -> u32 {
    let mut served = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        host.invoke_ok("counter", "steady", "add", "1").await;
        served += 1;
    }
    served
}

/// The Dapr slow and never turns failed by their deadline, the huge one at the reply
/// limit.
fn check_the_dapr_turns_failed([slow, never, huge]: [(u16, String, Duration); 3]) {
    for (what, (status, text, took)) in [("slow", slow), ("never", never)] {
        assert_eq!(status, 500, "Dapr {what}: {text}");
        assert!(text.contains("before its deadline"), "Dapr {what}: {text}");
        assert!(took < Duration::from_secs(3), "Dapr {what} took {took:?}");
    }
    let (status, text, took) = huge;
    assert_eq!(status, 413, "Dapr huge: {text}");
    assert!(text.contains("reply bytes"), "{text}");
    assert!(took < Duration::from_secs(2), "Dapr huge took {took:?}");
}

/// The Spawn slow and never turns failed by their deadline, the huge one at the reply
/// limit.
fn check_the_spawn_turns_failed([slow, never, huge]: [(u16, i32, String, Duration); 3]) {
    for (what, (status, _, message, took)) in [("slow", slow), ("never", never)] {
        assert_eq!(status, 500, "Spawn {what}: {message}");
        assert!(
            message.contains("before the deadline"),
            "Spawn {what}: {message}"
        );
        assert!(took < Duration::from_secs(3), "Spawn {what} took {took:?}");
    }
    let (status, _, message, took) = huge;
    assert_ne!(status, 200, "Spawn huge: {message}");
    assert!(message.contains("reply bytes"), "Spawn huge: {message}");
    assert!(took < Duration::from_secs(10), "Spawn huge took {took:?}");
}
