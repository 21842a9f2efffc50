//! Input the reference platform refuses, refused alike: a body that is no OPACA
//! `Message`, an `integer` past 32 bits, query parameters that are not of their type.

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
