//! Input the reference platform refuses, refused alike: a body that is no OPACA
//! `Message`, an `integer` past 32 bits, query parameters that are not of their type; and
//! CORS, off unless origins are configured.

use serde_json::json;

use super::client::Rp;
use super::{calculator_container, deploy_calculator};
use crate::support::Host;

#[tokio::test]
async fn what_the_reference_refuses_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    deploy_calculator(&host).await;
    let rp = Rp::of(&host);
    rp.post("/containers", calculator_container())
        .await
        .status_is(200);

    // A message is an object with `payload` and `replyTo`, nothing else (422).
    for bad in [json!({"unknown": "attributes"}), json!([1]), json!("text")] {
        rp.post("/send/calculator", bad.clone()).await.error(422);
        rp.post("/broadcast/news", bad).await.error(422);
    }
    rp.post("/broadcast/news", json!({"payload": 1}))
        .await
        .status_is(200);

    // `integer` is 32 bits, as the reference validates it.
    let add = |x: i64| json!({"x": x, "y": 1});
    assert_eq!(
        rp.post("/invoke/Add/calculator", add(2_147_483_646))
            .await
            .ok(),
        2_147_483_647
    );
    rp.post("/invoke/Add/calculator", add(3_000_000_000))
        .await
        .error(400);
    rp.post("/invoke/Add/calculator", add(-2_147_483_649))
        .await
        .error(400);

    // Typed query parameters: not a number, not a boolean (400).
    for path in [
        "/invoke/Add/calculator?timeout=abc",
        "/invoke/Add/calculator?timeout=NaN",
        "/invoke/Add/calculator?forward=maybe",
    ] {
        rp.post(path, add(1)).await.error(400);
    }
    rp.post("/send/calculator?forward=maybe", json!({"payload": 1}))
        .await
        .error(400);
    rp.post("/containers?timeout=soon", calculator_container())
        .await
        .error(400);
    for path in [
        "/invoke/Add/calculator?forward=FALSE",
        "/invoke/Add/calculator?timeout=5",
    ] {
        assert_eq!(rp.post(path, add(1)).await.ok(), 2, "{path}");
    }
}

/// A CORS preflight from `origin`: its status and the origin it was granted, if any.
async fn preflight(host: &Host, origin: &str) -> (u16, Option<String>) {
    let response = host
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/info", host.opaca_url))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    let granted = response
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (response.status().as_u16(), granted)
}

#[tokio::test]
async fn cors_is_off_by_default_and_grants_only_the_listed_origins() {
    let dir = tempfile::tempdir().unwrap();
    let off = Host::start(dir.path(), &[]);
    let (status, granted) = preflight(&off, "http://ui.test").await;
    assert_eq!((status, granted), (405, None), "CORS is off by default");
    drop(off);

    let dir = tempfile::tempdir().unwrap();
    let on = Host::start(dir.path(), &["--opaca-cors-origin", "http://ui.test"]);
    let (status, granted) = preflight(&on, "http://ui.test").await;
    assert_eq!(status, 200);
    assert_eq!(granted.as_deref(), Some("http://ui.test"));
    let (_, granted) = preflight(&on, "http://elsewhere.test").await;
    assert_eq!(granted, None, "an origin not listed is not granted");
    let info = on
        .client
        .get(format!("{}/info", on.opaca_url))
        .header("origin", "http://ui.test")
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    assert_eq!(
        info.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://ui.test")
    );
}
