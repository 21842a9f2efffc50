//! Actors in Python and JavaScript: the same counter in three languages passes the same
//! behaviour test through the Dapr HTTP API (state, restart, reminder, a call to another
//! actor, bad input), and a component importing what Warren does not provide is refused
//! with that import named.

use std::time::{Duration, Instant};

use crate::support::{Host, eventually, guest};

/// The counter's behaviour, whatever language it is written in.
async fn behaves_as_the_counter(component: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::start(dir.path(), &[]);
    let wasm = std::fs::read(guest(component)).unwrap();
    let started = Instant::now();
    let (status, info) = host.deploy(wasm).await;
    assert_eq!(status, 201, "{component}: {info}");
    eprintln!(
        "{component}: {} bytes deployed in {:?}",
        info["size"],
        started.elapsed()
    );
    assert_eq!(info["actor_types"], serde_json::json!(["counter"]));

    // State.
    assert_eq!(host.invoke_ok("counter", "a", "add", "5").await, "5");
    assert_eq!(host.invoke_ok("counter", "a", "add", "[2]").await, "7");
    assert_eq!(host.invoke_ok("counter", "a", "get", "").await, "7");
    assert_eq!(
        host.get_json("/v1.0/actors/counter/a/state/total").await,
        serde_json::json!(7)
    );

    // A call to another actor, whose turn commits on its own.
    let body = r#"{"target":"b","n":3}"#;
    assert_eq!(host.invoke_ok("counter", "a", "call-add", body).await, "3");
    assert_eq!(host.invoke_ok("counter", "b", "get", "").await, "3");

    // A reminder that adds when it fires.
    host.invoke_ok("counter", "a", "remind", r#"{"due":"1s","n":10}"#)
        .await;
    let fired = eventually(Duration::from_secs(10), || async {
        let total = host.invoke_ok("counter", "a", "get", "").await;
        (total == "17").then_some(())
    })
    .await;
    assert!(fired.is_some(), "{component}: the reminder did not add");

    // Bad input fails the turn (500, as Dapr answers a failed actor method) and changes
    // nothing.
    let (status, body) = host.invoke("counter", "a", "add", r#""x""#).await;
    assert_eq!(status, 500, "{component}: {body}");
    assert!(
        body.contains("rejected the payload") && body.contains("integer"),
        "{component}: {body}"
    );
    let (status, body) = host.invoke("counter", "a", "nope", "").await;
    assert_ne!(status, 200, "{component}: {body}");
    assert!(body.contains("no action"), "{component}: {body}");

    // A restart keeps the state (and serves from the compiled artifact).
    host.restart();
    let started = Instant::now();
    assert_eq!(host.invoke_ok("counter", "a", "get", "").await, "17");
    eprintln!(
        "{component}: first turn after restart in {:?}",
        started.elapsed()
    );
    assert_eq!(host.invoke_ok("counter", "b", "add", "1").await, "4");
}

#[tokio::test]
async fn the_rust_counter_behaves_as_the_counter() {
    behaves_as_the_counter("counter").await;
}

#[tokio::test]
async fn the_python_counter_behaves_as_the_counter() {
    behaves_as_the_counter("counter_py").await;
}

#[tokio::test]
async fn the_javascript_counter_behaves_as_the_counter() {
    behaves_as_the_counter("counter_js").await;
}

/// The smallest component that imports instance `name` (with one function, `get: func()`)
/// and does nothing else, in the component binary format: preamble, a type section with
/// the instance type, an import section importing it under `name`.
fn component_importing(name: &str) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    // One instance type of two declarations: a type `func()`, and an export `get` of it.
    bytes.extend([0x07, 0x10, 0x01, 0x42, 0x02, 0x01, 0x40, 0x00, 0x01, 0x00]);
    bytes.extend([0x04, 0x00, 0x03, b'g', b'e', b't', 0x01, 0x00]);
    let len = u8::try_from(name.len()).unwrap();
    bytes.extend([0x0a, len + 5, 0x01, 0x00, len]);
    bytes.extend(name.as_bytes());
    bytes.extend([0x05, 0x00]);
    bytes
}

#[tokio::test]
async fn a_component_importing_what_warren_does_not_provide_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let wasm = component_importing("wasi:keyvalue/store@0.2.0");
    let (status, err) = host.deploy(wasm).await;
    assert_eq!(status, 400, "{err}");
    let message = err["error"].as_str().unwrap();
    assert!(
        message.contains("does not implement the warren:actor world")
            && message.contains("wasi:keyvalue/store"),
        "{message}"
    );
    assert!(
        host.get_json("/admin/v1/components")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// componentize-js with its HTTP features on imports `wasi:http` (at 0.2.10), which
/// Warren links (at 0.2.12, the same interface): it loads and runs as the counter.
#[tokio::test]
async fn a_javascript_component_importing_wasi_http_runs() {
    behaves_as_the_counter("counter_js_http").await;
}
