//! Tenants: tokens name the tenant, one tenant never reaches another's objects, and every
//! quota trips at its limit and only there.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Host, guest};

pub const ADMIN: &str = "admin-secret";

impl Host {
    /// A request with an optional bearer token; returns the status and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request failed");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Create a tenant with limits and return a fresh token of it.
    pub async fn tenant(&self, name: &str, limits: Value) -> String {
        let body = json!({"name": name, "limits": limits})
            .to_string()
            .into_bytes();
        let (status, text) = self
            .call(Method::POST, "/admin/v1/tenants", Some(ADMIN), body)
            .await;
        assert_eq!(status, 201, "{text}");
        let (status, text) = self
            .call(
                Method::POST,
                &format!("/admin/v1/tenants/{name}/tokens"),
                Some(ADMIN),
                Vec::new(),
            )
            .await;
        assert_eq!(status, 201, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    /// Deploy a guest with a tenant's token.
    pub async fn deploy_as(&self, token: &str, name: &str) {
        let wasm = std::fs::read(guest(name)).unwrap();
        let (status, text) = self
            .call(Method::POST, "/admin/v1/components", Some(token), wasm)
            .await;
        assert_eq!(status, 201, "{text}");
    }

    /// Invoke with a token; returns the status and body.
    pub async fn invoke_as(
        &self,
        token: &str,
        actor: &str,
        method: &str,
        body: &str,
    ) -> (u16, String) {
        let path = format!("/v1.0/actors/{actor}/method/{method}");
        self.call(Method::POST, &path, Some(token), body.as_bytes().to_vec())
            .await
    }
}

pub fn admin_host(dir: &std::path::Path, extra: &[&str]) -> Host {
    let mut args = vec!["--admin-token", ADMIN];
    args.extend_from_slice(extra);
    Host::start(dir, &args)
}

#[tokio::test]
async fn tenant_a_never_reaches_tenant_b() {
    let dir = tempfile::tempdir().unwrap();
    let host = admin_host(dir.path(), &[]);
    let a = host.tenant("a", json!({})).await;
    let b = host.tenant("b", json!({})).await;
    // Close the default tenant too, so an anonymous caller has nowhere to go.
    let (status, _) = host
        .call(
            Method::POST,
            "/admin/v1/tenants/default/tokens",
            Some(ADMIN),
            Vec::new(),
        )
        .await;
    assert_eq!(status, 201);
    host.deploy_as(&a, "counter").await;
    host.deploy_as(&b, "counter").await;
    host.deploy_as(&b, "bank").await;
    let hostile = std::fs::read(guest("hostile")).unwrap();
    let bank = std::fs::read(guest("bank")).unwrap();

    // Same type name, separate actors.
    assert_eq!(
        host.invoke_as(&a, "counter/shared", "add", "5").await,
        (200, "5".into())
    );
    assert_eq!(
        host.invoke_as(&b, "counter/shared", "get", "").await,
        (200, "0".into())
    );

    for request in requests_on_bs_objects(hostile, bank) {
        check_only_b_reaches(&host, &a, &b, request).await;
    }
    assert_eq!(
        host.invoke_as(&b, "account/x", "balance", "").await,
        (200, "10".into())
    );
    // Tenant tokens cannot manage tenants.
    let (status, _) = host
        .call(Method::GET, "/admin/v1/tenants", Some(&a), vec![])
        .await;
    assert_eq!(status, 403);
    let (status, _) = host
        .call(Method::DELETE, "/admin/v1/tenants/b", Some(&a), vec![])
        .await;
    assert_eq!(status, 403);
}

/// A request on tenant B's objects: method, path, body, and the status B gets.
type Request = (Method, String, Vec<u8>, u16);

/// Requests on B's actor account/x (method, state, reminders, timers) and B's admin
/// objects, in an order in which each succeeds for B.
fn requests_on_bs_objects(hostile: Vec<u8>, bank: Vec<u8>) -> Vec<Request> {
    let acct = "/v1.0/actors/account/x";
    let txn = br#"[{"operation":"upsert","request":{"key":"note","value":1}}]"#.to_vec();
    let later = br#"{"dueTime":"1h"}"#.to_vec();
    vec![
        (
            Method::POST,
            format!("{acct}/method/deposit"),
            b"10".to_vec(),
            200,
        ),
        (Method::GET, format!("{acct}/state/balance"), vec![], 200),
        (Method::PUT, format!("{acct}/state"), txn, 204),
        (
            Method::PUT,
            format!("{acct}/reminders/r"),
            later.clone(),
            204,
        ),
        (Method::GET, format!("{acct}/reminders/r"), vec![], 200),
        (Method::GET, format!("{acct}/reminders"), vec![], 200),
        (Method::DELETE, format!("{acct}/reminders/r"), vec![], 204),
        (Method::PUT, format!("{acct}/timers/t"), later, 204),
        (Method::GET, format!("{acct}/timers"), vec![], 200),
        (Method::DELETE, format!("{acct}/timers/t"), vec![], 204),
        (Method::GET, "/v1.0/actors/account".into(), vec![], 200),
        (
            Method::GET,
            "/admin/v1/components?tenant=b".into(),
            vec![],
            200,
        ),
        (
            Method::POST,
            "/admin/v1/components?tenant=b&name=extra".into(),
            hostile,
            201,
        ),
        (
            Method::DELETE,
            "/admin/v1/components/extra?tenant=b".into(),
            vec![],
            204,
        ),
        (
            Method::POST,
            "/admin/v1/components?tenant=b".into(),
            bank,
            201,
        ),
        (
            Method::GET,
            "/admin/v1/actor-types?tenant=b".into(),
            vec![],
            200,
        ),
        (Method::GET, "/admin/v1/actors?tenant=b".into(), vec![], 200),
        (Method::GET, "/admin/v1/tenants/b".into(), vec![], 200),
    ]
}

/// `request` fails with A's token without leaking B's data, is 401 without a token and
/// with a forged one, and gets its status with B's token.
async fn check_only_b_reaches(host: &Host, a: &str, b: &str, request: Request) {
    let (method, path, body, ok) = request;
    let (status, text) = host
        .call(method.clone(), &path, Some(a), body.clone())
        .await;
    assert!(
        status >= 400,
        "{method} {path} with A's token: {status} {text}"
    );
    assert!(
        !text.contains("\"balance\"") && text != "10",
        "{method} {path} leaked B's data: {text}"
    );
    // Refused before the body is read: send none, or the server may close the
    // connection while a large upload is still being written (a broken pipe).
    let (status, text) = host.call(method.clone(), &path, None, Vec::new()).await;
    assert_eq!(status, 401, "{method} {path} without a token: {text}");
    let (status, text) = host
        .call(method.clone(), &path, Some("wt_forged"), Vec::new())
        .await;
    assert_eq!(
        (status, text.as_str()),
        (401, "invalid api token"),
        "{method} {path} with a forged token"
    );
    let (status, text) = host.call(method.clone(), &path, Some(b), body).await;
    assert_eq!(status, ok, "{method} {path} with B's token: {text}");
}

#[tokio::test]
async fn tenants_and_tokens_are_managed_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = admin_host(dir.path(), &[]);
    let token = host.tenant("shop", json!({"max_components": 3})).await;
    host.deploy_as(&token, "counter").await;
    assert_eq!(
        host.invoke_as(&token, "counter/c", "add", "2").await,
        (200, "2".into())
    );

    check_tenant_names_are_validated(&host).await;
    check_limits_are_patched(&host).await;
    // Tokens are stored hashed and survive a restart; the plain token appears nowhere on disk.
    host.restart();
    check_a_token_survives_a_restart_until_revoked(&host, &token).await;
    check_tenants_but_default_are_deleted(&host).await;
}

/// A tenant's name must be new, without a `/`, and not start with `$`.
async fn check_tenant_names_are_validated(host: &Host) {
    let (status, text) = host
        .call(
            Method::POST,
            "/admin/v1/tenants",
            Some(ADMIN),
            br#"{"name":"shop"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 409, "{text}");
    let (status, text) = host
        .call(
            Method::POST,
            "/admin/v1/tenants",
            Some(ADMIN),
            br#"{"name":"bad/name"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    // Names starting with `$` are the host's own (records every host shares, unfenced).
    let (status, text) = host
        .call(
            Method::POST,
            "/admin/v1/tenants",
            Some(ADMIN),
            br#"{"name":"$system"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("reserved"), "{text}");
}

/// PATCH refuses unknown limits and changes only the limits it is given.
async fn check_limits_are_patched(host: &Host) {
    let (status, text) = host
        .call(
            Method::PATCH,
            "/admin/v1/tenants/shop",
            Some(ADMIN),
            br#"{"max_payload_bytes": 1000, "nonsense": 1}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400, "unknown limit accepted: {text}");
    let (status, text) = host
        .call(
            Method::PATCH,
            "/admin/v1/tenants/shop",
            Some(ADMIN),
            br#"{"max_payload_bytes": 1000}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            view["limits"]["max_payload_bytes"].as_u64(),
            view["limits"]["max_components"].as_u64()
        ),
        (Some(1000), Some(3))
    );
}

/// After a restart the token still works and is listed only by its id; deleting that id
/// revokes it.
async fn check_a_token_survives_a_restart_until_revoked(host: &Host, token: &str) {
    assert_eq!(
        host.invoke_as(token, "counter/c", "get", "").await,
        (200, "2".into())
    );
    let listed = host.get_json_as("/admin/v1/tenants", ADMIN).await;
    assert!(!listed.to_string().contains(token));
    let token_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "shop")
        .unwrap()["tokens"][0]
        .clone();
    let (status, _) = host
        .call(
            Method::DELETE,
            &format!(
                "/admin/v1/tenants/shop/tokens/{}",
                token_id.as_str().unwrap()
            ),
            Some(ADMIN),
            vec![],
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(host.invoke_as(token, "counter/c", "get", "").await.0, 401);
}

/// A tenant can be deleted, and is gone then; the default tenant cannot.
async fn check_tenants_but_default_are_deleted(host: &Host) {
    let (status, _) = host
        .call(
            Method::DELETE,
            "/admin/v1/tenants/shop",
            Some(ADMIN),
            vec![],
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = host
        .call(
            Method::DELETE,
            "/admin/v1/tenants/default",
            Some(ADMIN),
            vec![],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = host
        .call(Method::GET, "/admin/v1/tenants/shop", Some(ADMIN), vec![])
        .await;
    assert_eq!(status, 404);
}

impl Host {
    /// GET JSON with a token.
    pub async fn get_json_as(&self, path: &str, token: &str) -> Value {
        let (status, text) = self.call(Method::GET, path, Some(token), vec![]).await;
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

fn code(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .map(|v| v["errorCode"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn quotas_trip_at_their_limits_and_only_there() {
    let dir = tempfile::tempdir().unwrap();
    let host = admin_host(dir.path(), &[]);
    let t = host
        .tenant("q", json!({"max_payload_bytes": 100, "max_state_bytes_per_actor": 1000, "max_state_bytes": 1610, "max_active_actors": 5, "max_components": 1}))
        .await;
    host.deploy_as(&t, "hostile").await;

    check_the_payload_limit(&host, &t).await;
    check_the_state_limit_per_actor(&host, &t).await;
    check_the_state_limit_per_tenant(&host, &t).await;
    check_the_active_actor_limit(&host, &t).await;

    // Components: the one deployed is the limit; replacing it is fine, a second is not.
    host.deploy_as(&t, "hostile").await;
    let wasm = std::fs::read(guest("counter")).unwrap();
    let (status, text) = host
        .call(Method::POST, "/admin/v1/components", Some(&t), wasm)
        .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("limit of 1 components"), "{text}");
}

/// The arguments of glutton's `fill`: state `key` of `bytes` bytes.
fn fill(key: &str, bytes: u64) -> String {
    json!({"key": key, "bytes": bytes}).to_string()
}

/// Payload: 100 bytes pass, 101 do not; a reply has the same limit.
async fn check_the_payload_limit(host: &Host, t: &str) {
    let exactly = format!("\"{}\"", "a".repeat(98));
    assert_eq!(
        host.invoke_as(t, "trapper/p", "write", &exactly).await.0,
        200
    );
    let (status, text) = host
        .invoke_as(t, "trapper/p", "write", &format!("\"{}\"", "a".repeat(99)))
        .await;
    assert_eq!(
        (status, code(&text).as_str()),
        (413, "ERR_TENANT_LIMIT"),
        "{text}"
    );
    // Reply: the same limit.
    let (status, text) = host.invoke_as(t, "glutton/r", "huge-reply", "0").await;
    assert_eq!(status, 200, "{text}");
}

/// State per actor: key "k" + 999 bytes = 1000 fits; one more byte anywhere does not.
async fn check_the_state_limit_per_actor(host: &Host, t: &str) {
    assert_eq!(
        host.invoke_as(t, "glutton/s", "fill", &fill("k", 999))
            .await
            .0,
        200
    );
    let (status, text) = host.invoke_as(t, "glutton/s", "fill", &fill("j", 0)).await;
    assert_eq!(
        (status, code(&text).as_str()),
        (507, "ERR_TENANT_LIMIT"),
        "{text}"
    );
    assert!(text.contains("state bytes per actor"), "{text}");
    // Shrinking is always allowed.
    assert_eq!(
        host.invoke_as(t, "glutton/s", "fill", &fill("k", 10))
            .await
            .0,
        200
    );
}

/// State per tenant (1610): p holds 112 bytes ("value" + 100, "keep" + 3), s 11, s2 1000;
/// s3 may then grow to 487 bytes (1 + 486) and not one byte more.
async fn check_the_state_limit_per_tenant(host: &Host, t: &str) {
    assert_eq!(
        host.invoke_as(t, "glutton/s2", "fill", &fill("k", 999))
            .await
            .0,
        200
    );
    assert_eq!(
        host.invoke_as(t, "glutton/s3", "fill", &fill("k", 486))
            .await
            .0,
        200
    );
    let (status, text) = host
        .invoke_as(t, "glutton/s3", "fill", &fill("k", 487))
        .await;
    assert_eq!(
        (status, code(&text).as_str()),
        (507, "ERR_TENANT_LIMIT"),
        "{text}"
    );
    assert!(text.contains("limit of 1610 state bytes"), "{text}");
    let usage = host.get_json_as("/admin/v1/tenants/q", t).await;
    assert_eq!(usage["state_bytes"], 1610);
}

/// Active actors: p, r, s, s2 and s3 make the limit of 5; a sixth is refused.
async fn check_the_active_actor_limit(host: &Host, t: &str) {
    let active = host
        .get_json_as("/admin/v1/actors", t)
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(active, 5);
    let (status, text) = host.invoke_as(t, "trapper/new", "read", "").await;
    assert_eq!(
        (status, code(&text).as_str()),
        (429, "ERR_TENANT_LIMIT"),
        "{text}"
    );
    assert!(text.contains("active actors"), "{text}");
}
