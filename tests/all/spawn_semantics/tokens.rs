//! Warren's tokens on the Spawn routes.

use prost::Message;

use super::{host_with, invoke_path};
use crate::spawn_harness::*;
use crate::support::Host;

/// POST `body` as protobuf to `path`, with `authorization: Bearer TOKEN` when given;
/// returns the status and the raw body.
async fn post_as(host: &Host, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
    post_raw_as(host, path, "application/octet-stream", token, body).await
}

/// Spawn routes go through Warren's tokens, with the actor system as the tenant. With
/// `--admin-token` set, registering or invoking without a token is refused with 401, and so
/// is an unknown token; the admin token (as `authorization: Bearer`) registers the system,
/// which creates its tenant, and invokes. A token issued for that tenant invokes its
/// actors but cannot register another system (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_routes_need_a_token_when_one_is_configured() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &["--admin-token", "secret"]);
    let shop = registration("shop", vec![Actor::named("cart", &["add"])]).encode_to_vec();
    let add = request("shop", "cart", "add").encode_to_vec();
    let cart = invoke_path("shop", "cart");

    for token in [None, Some("wrong")] {
        let (status, _) = post_as(&host, "/api/v1/system", token, shop.clone()).await;
        assert_eq!(status, 401, "registering with {token:?}");
    }
    let (status, bytes) = post_as(&host, "/api/v1/system", Some("secret"), shop.clone()).await;
    let registered = RegistrationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&registered.status) == OK,
        "{status} {:?}",
        registered.status
    );

    let (status, _) = post_as(&host, &cart, None, add.clone()).await;
    assert_eq!(status, 401, "invoking without a token");
    let (status, bytes) = post_as(&host, &cart, Some("secret"), add.clone()).await;
    let response = InvocationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "{status} {:?}",
        response.status
    );

    let issued = host
        .client
        .post(format!("{}/admin/v1/tenants/shop/tokens", host.url))
        .header(reqwest::header::AUTHORIZATION, "Bearer secret")
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status().as_u16(), 201);
    let issued: serde_json::Value = issued.json().await.unwrap();
    let token = issued["token"].as_str().expect("no token").to_string();

    let (status, bytes) = post_as(&host, &cart, Some(&token), add.clone()).await;
    let response = InvocationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "with the tenant's token: {status} {:?}",
        response.status
    );
    let other = registration("other", vec![Actor::named("cart", &["add"])]).encode_to_vec();
    let (status, _) = post_as(&host, "/api/v1/system", Some(&token), other).await;
    assert_eq!(status, 403, "a tenant token registered another system");
    assert_eq!(
        user_function.count("cart", "add"),
        2,
        "{:?}",
        user_function.summary()
    );
}
