//! Outbound HTTP from actors (`wasi:http`) under each tenant's egress policy, against a
//! real server on loopback started by the test: what a pattern allows arrives; a host no
//! pattern names, a name resolving to loopback, a redirect to the metadata address, a
//! body past the limit and a server that never answers are each refused or cut with
//! their own error and counter; one tenant's policy never lets another out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Host, eventually, guest};
use crate::tenancy::{ADMIN, admin_host};

/// The upstream server: what it answers, and how many requests reached it.
#[derive(Default)]
pub struct Upstream {
    pub hits: AtomicU64,
}

/// Start the upstream server on a free loopback port; it stops with the test's runtime.
pub async fn upstream() -> (u16, Arc<Upstream>) {
    let counts = Arc::new(Upstream::default());
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(hello))
        .route("/big", axum::routing::get(big))
        .route("/redirect", axum::routing::get(redirect))
        .route("/silent", axum::routing::get(silent))
        .route("/echo", axum::routing::post(echo))
        .route("/price/{symbol}", axum::routing::get(price))
        .layer(axum::middleware::from_fn_with_state(
            counts.clone(),
            count_hits,
        ))
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, counts)
}

async fn count_hits(
    State(counts): State<Arc<Upstream>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    counts.hits.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

/// Greets, and says which `traceparent` it was sent.
async fn hello(headers: HeaderMap) -> impl IntoResponse {
    let seen = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string();
    ([("x-seen-traceparent", seen)], "hello from upstream")
}

/// Ten megabytes.
async fn big() -> Vec<u8> {
    vec![b'x'; 10 << 20]
}

async fn redirect(Query(to): Query<std::collections::HashMap<String, String>>) -> Redirect {
    Redirect::temporary(&to["to"])
}

/// The request's body back, with its content type.
async fn echo(headers: HeaderMap, body: axum::body::Bytes) -> impl IntoResponse {
    let kind = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string();
    ([("content-type", kind)], body)
}

/// A price API's answer, for the price-cache example.
async fn price(axum::extract::Path(symbol): axum::extract::Path<String>) -> axum::Json<Value> {
    axum::Json(json!({"symbol": symbol, "price": 97250.5}))
}

/// Never answers (within any turn's deadline).
async fn silent() -> &'static str {
    tokio::time::sleep(Duration::from_secs(120)).await;
    "too late"
}

impl Host {
    /// Ask tenant `token`'s fetcher `id` to fetch `args`; returns its answer.
    async fn fetch_as(&self, token: &str, id: &str, args: Value) -> Value {
        let (status, body) = self
            .invoke_as(token, &format!("fetcher/{id}"), "fetch", &args.to_string())
            .await;
        assert_eq!(status, 200, "{args}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Change tenant `name`'s limits with `warren tenant update`.
    fn update_tenant(&self, name: &str, limits: Value) {
        let limits = limits.to_string();
        let args = ["tenant", "update", name, limits.as_str(), "--token", ADMIN];
        let (ok, out, err) = self.cli(&args, "");
        assert!(ok, "{out}{err}");
    }
}

/// The value of `warren_<name>` with these labels in a scrape, 0 when absent.
fn metric_in(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("warren_{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_reach_what_their_tenant_allows_and_nothing_else() {
    let (port, upstream) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    // A public-looking name the host answers with loopback, as a hostile DNS would.
    let pinned = "api.example.test=127.0.0.1";
    let host = admin_host(dir.path(), &["--egress-resolve", pinned]);
    let a = host.tenant("a", json!({"turn_timeout_ms": 3000})).await;
    let b = host.tenant("b", json!({})).await;
    let c = host.tenant("c", json!({})).await;
    for token in [&a, &b, &c] {
        host.deploy_as(token, "fetcher").await;
    }
    // Bad patterns are refused before they are stored.
    let (status, text) = host
        .call(
            Method::PATCH,
            "/admin/v1/tenants/a",
            Some(ADMIN),
            br#"{"allowed_outbound_hosts": ["127.0.0.1:80"]}"#.to_vec(),
        )
        .await;
    assert!(
        status == 400 && text.contains("needs a scheme"),
        "{status} {text}"
    );
    host.update_tenant(
        "a",
        json!({
            "allowed_outbound_hosts": [format!("http://127.0.0.1:{port}")],
            "max_outbound_response_bytes": 1 << 20,
        }),
    );
    host.update_tenant(
        "c",
        json!({"allowed_outbound_hosts": [format!("http://api.example.test:{port}")]}),
    );
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    // Allowed: the status and body arrive, with the turn's trace context.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let args = json!({"url": url("/hello")}).to_string();
    let answer = host
        .client
        .post(format!("{}/v1.0/actors/fetcher/x/method/fetch", host.url))
        .bearer_auth(&a)
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(args)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"], "hello from upstream");
    let seen = answer["echoed_traceparent"].as_str().unwrap_or_default();
    assert!(seen.contains(trace), "{answer}");
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 1);

    refusals_each_have_their_error(&host, (&a, &b, &c), port).await;
    // None of the refused requests reached the server; the redirect's first hop did.
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 2);
    a_body_past_the_limit_is_cut_there(&host, &a, &url("/big")).await;
    a_silent_server_fails_only_its_own_turn(&host, (&a, &b), &url("/silent"), &upstream).await;

    every_outcome_is_counted_and_refusals_logged(&host).await;
}

/// What the test above did, in `/metrics` per tenant, and the refusals in the log.
async fn every_outcome_is_counted_and_refusals_logged(host: &Host) {
    let (_, text) = host
        .call(Method::GET, "/metrics", Some(ADMIN), Vec::new())
        .await;
    let refused = |tenant, reason| {
        metric_in(
            &text,
            "egress_refusals_total",
            &[("tenant", tenant), ("reason", reason)],
        )
    };
    assert_eq!(refused("a", "not_allowed"), 2.0, "{text}");
    assert_eq!(refused("b", "not_allowed"), 21.0, "{text}");
    assert_eq!(refused("c", "address"), 1.0, "{text}");
    assert_eq!(refused("a", "response_size"), 1.0, "{text}");
    let requests = |tenant, outcome| {
        metric_in(
            &text,
            "egress_requests_total",
            &[("tenant", tenant), ("outcome", outcome)],
        )
    };
    // hello, the redirect's first hop, big, silent (its head never came: a timeout).
    assert_eq!(requests("a", "ok"), 3.0, "{text}");
    assert_eq!(requests("a", "timeout"), 1.0, "{text}");
    let received = metric_in(
        &text,
        "egress_bytes_total",
        &[("tenant", "a"), ("direction", "received")],
    );
    assert!(received >= (1 << 20) as f64, "{received}");
    let log = host.log();
    // Written before the later turns' lines, which are in: all of them are in the log.
    let spam = log
        .lines()
        .filter(|l| l.contains("outbound request refused") && l.contains("actor=b:fetcher/spam"))
        .count();
    assert_eq!(spam, 8, "{log}");
    assert!(
        log.contains("outbound request refused")
            && log.contains("tenant=b")
            && log.contains("actor=b:fetcher/y"),
        "{log}"
    );
}

/// A host no pattern names, a name that resolves to loopback, a redirect to the cloud
/// metadata address, and a tenant with no policy: each refused with its own error.
async fn refusals_each_have_their_error(host: &Host, (a, b, c): (&str, &str, &str), port: u16) {
    let error = |answer: Value| answer["error"].as_str().unwrap_or_default().to_string();
    let other_name = json!({"url": format!("http://localhost:{port}/hello")});
    assert_eq!(
        error(host.fetch_as(a, "x", other_name).await),
        "HttpRequestDenied"
    );
    let loopback_name = json!({"url": format!("http://api.example.test:{port}/hello")});
    assert_eq!(
        error(host.fetch_as(c, "x", loopback_name).await),
        "DestinationIpProhibited"
    );
    let metadata = "http://169.254.169.254/latest/meta-data/";
    let hop = json!({"url": format!("http://127.0.0.1:{port}/redirect?to={metadata}")});
    assert_eq!(error(host.fetch_as(a, "x", hop).await), "HttpRequestDenied");
    // Tenant a's policy does not let tenant b out, even to the same address; twenty
    // tries in one turn are all counted, and the first eight logged.
    let allowed_for_a = json!({"url": format!("http://127.0.0.1:{port}/hello"), "times": 20});
    assert_eq!(
        error(host.fetch_as(b, "spam", allowed_for_a).await),
        "HttpRequestDenied"
    );
}

/// Ten megabytes against a one-megabyte limit: the guest gets exactly the limit, then an
/// error naming it.
async fn a_body_past_the_limit_is_cut_there(host: &Host, a: &str, url: &str) {
    let answer = host.fetch_as(a, "x", json!({"url": url})).await;
    assert_eq!(answer["received"], 1 << 20, "{answer}");
    let reason = answer["error"].as_str().unwrap_or_default();
    assert!(reason.contains("body size exceeds limit"), "{answer}");
}

/// A server that never answers fails the turn at its deadline, while another tenant's
/// turns go on meanwhile.
async fn a_silent_server_fails_only_its_own_turn(
    host: &Host,
    (a, b): (&str, &str),
    url: &str,
    upstream: &Upstream,
) {
    let hits = upstream.hits.load(Ordering::SeqCst);
    let waiting = {
        let host_url = host.url.clone();
        let client = host.client.clone();
        let a = a.to_string();
        let args = json!({"url": url}).to_string();
        tokio::spawn(async move {
            let response = client
                .post(format!("{host_url}/v1.0/actors/fetcher/z/method/fetch"))
                .bearer_auth(a)
                .body(args)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    // The other tenant is answered while tenant a's request waits at the server.
    let arrived = eventually(Duration::from_secs(10), || async {
        (upstream.hits.load(Ordering::SeqCst) > hits).then_some(())
    });
    assert!(
        arrived.await.is_some(),
        "the request never reached the server"
    );
    let denied = host.fetch_as(b, "y", json!({"url": url})).await;
    assert_eq!(denied["error"], "HttpRequestDenied");
    assert!(
        !waiting.is_finished(),
        "tenant a's turn ended before its deadline"
    );
    let (status, text) = waiting.await.unwrap();
    assert_ne!(status, 200, "{text}");
    assert!(text.contains("deadline"), "{text}");
}

/// A tenant whose reminders fetch every second keeps its schedule while another tenant's
/// actors all wait on a server that never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_that_fetch_keep_firing_while_a_slow_server_holds_another_tenant() {
    let (port, _upstream) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let host = admin_host(dir.path(), &[]);
    let allowed = json!([format!("http://127.0.0.1:{port}")]);
    let poller = host
        .tenant("poller", json!({"allowed_outbound_hosts": allowed}))
        .await;
    let slow = host
        .tenant(
            "slow",
            json!({"allowed_outbound_hosts": allowed, "turn_timeout_ms": 20000}),
        )
        .await;
    host.deploy_as(&poller, "fetcher").await;
    host.deploy_as(&slow, "fetcher").await;
    // Eight of the slow tenant's actors wait on the silent server (bounded by their
    // deadline), for the whole of the window below.
    let silent = json!({"url": format!("http://127.0.0.1:{port}/silent")}).to_string();
    let mut stuck = Vec::new();
    for i in 0..8 {
        let (client, url, token, args) = (
            host.client.clone(),
            host.url.clone(),
            slow.clone(),
            silent.clone(),
        );
        stuck.push(tokio::spawn(async move {
            let _ = client
                .post(format!("{url}/v1.0/actors/fetcher/s{i}/method/fetch"))
                .bearer_auth(token)
                .body(args)
                .send()
                .await;
        }));
    }
    let poll = json!({"url": format!("http://127.0.0.1:{port}/hello"), "every": "1s"});
    let (status, text) = host
        .invoke_as(&poller, "fetcher/p", "poll", &poll.to_string())
        .await;
    assert_eq!(status, 200, "{text}");
    let counts = || async {
        let (_, text) = host.invoke_as(&poller, "fetcher/p", "counts", "").await;
        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
    };
    let ticked = eventually(Duration::from_secs(12), || async {
        let now = counts().await;
        (now["ok"].as_u64().unwrap_or(0) >= 5).then_some(now)
    })
    .await;
    assert!(ticked.is_some(), "reminders stalled: {}", counts().await);
    assert_eq!(counts().await["failed"], 0);
    for s in &stuck {
        assert!(!s.is_finished(), "a slow tenant's turn ended early");
    }
    for s in stuck {
        s.abort();
    }
}

/// A guest in Rust, in JavaScript (`fetch()` of StarlingMonkey) and in Python
/// (`warren_actor.http`) fetch from the allowed host of the default tenant; a host not
/// allowed fails the JavaScript and Python fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_in_every_language_fetch_what_the_policy_allows() {
    let (port, upstream) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let policy = json!({"allowed_outbound_hosts": [format!("http://127.0.0.1:{port}")]});
    let (status, text) = host
        .call(
            Method::PATCH,
            "/admin/v1/tenants/default",
            None,
            policy.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    for name in ["fetcher", "fetcher_js", "fetcher_py"] {
        let (status, body) = host.deploy(std::fs::read(guest(name)).unwrap()).await;
        assert_eq!(status, 201, "{name}: {body}");
    }
    let hello = json!({"url": format!("http://127.0.0.1:{port}/hello")}).to_string();
    for actor_type in ["fetcher", "fetcher-js", "fetcher-py"] {
        let answer = host.invoke_ok(actor_type, "a", "fetch", &hello).await;
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["status"], 200, "{actor_type}: {answer}");
        assert_eq!(
            answer["body"], "hello from upstream",
            "{actor_type}: {answer}"
        );
    }
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 3);
    let elsewhere = json!({"url": format!("http://localhost:{port}/hello")}).to_string();
    for actor_type in ["fetcher-js", "fetcher-py"] {
        let answer = host.invoke_ok(actor_type, "a", "fetch", &elsewhere).await;
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert!(answer["error"].is_string(), "{actor_type}: {answer}");
    }
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 3);
    python_sends_bodies_and_follows_redirects(&host, port, &upstream).await;
}

/// The Python SDK's fetch: a POST's body and headers arrive, a redirect is followed (two
/// requests), a refusal names its WASI HTTP error code.
async fn python_sends_bodies_and_follows_redirects(host: &Host, port: u16, upstream: &Upstream) {
    let base = format!("http://127.0.0.1:{port}");
    let fetch = |args: Value| async move {
        let answer = host
            .invoke_ok("fetcher-py", "a", "fetch", &args.to_string())
            .await;
        serde_json::from_str::<Value>(&answer).unwrap()
    };
    let hits = upstream.hits.load(Ordering::SeqCst);
    let posted = fetch(json!({
        "url": format!("{base}/echo"), "method": "POST", "body": "ping from python",
        "headers": {"content-type": "text/plain"},
    }))
    .await;
    assert_eq!(posted["status"], 200, "{posted}");
    assert_eq!(posted["body"], "ping from python", "{posted}");
    assert_eq!(posted["type"], "text/plain", "{posted}");
    let redirected = fetch(json!({"url": format!("{base}/redirect?to=/hello")})).await;
    assert_eq!(redirected["body"], "hello from upstream", "{redirected}");
    assert_eq!(upstream.hits.load(Ordering::SeqCst), hits + 3);
    let denied = fetch(json!({"url": format!("http://localhost:{port}/hello")})).await;
    assert_eq!(denied["code"], "HttpRequestDenied", "{denied}");
    let bad = fetch(json!({"url": "ftp://127.0.0.1/file"})).await;
    assert_eq!(bad["code"], "BadUrl", "{bad}");
    assert_eq!(upstream.hits.load(Ordering::SeqCst), hits + 3);
}

/// The price-cache example fetches a quote from the API its configuration names, keeps
/// it in its state and answers it from there while it is fresh; `refresh` fetches again.
#[tokio::test]
async fn the_price_cache_example_keeps_what_it_fetched() {
    let (port, upstream) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let api = format!("http://127.0.0.1:{port}");
    let policy = json!({"allowed_outbound_hosts": [api]}).to_string();
    let (ok, _, err) = host.cli(&["tenant", "update", "default", &policy], "");
    assert!(ok, "{err}");
    let (status, body) = host
        .deploy(std::fs::read(guest("price_cache")).unwrap())
        .await;
    assert_eq!(status, 201, "{body}");
    // Without its API configured, the actor says what is missing.
    let (status, text) = host.invoke("price", "BTC", "get", "").await;
    assert!(status != 200 && text.contains("api_url"), "{status} {text}");
    let (ok, _, err) = host.cli(&["config", "set", "price-cache", "api_url", &api], "");
    assert!(ok, "{err}");
    for _ in 0..3 {
        let quote: Value =
            serde_json::from_str(&host.invoke_ok("price", "BTC", "get", "").await).unwrap();
        assert_eq!(quote["quote"]["price"], 97250.5, "{quote}");
        assert_eq!(quote["quote"]["symbol"], "BTC", "{quote}");
    }
    assert_eq!(
        upstream.hits.load(Ordering::SeqCst),
        1,
        "answered from its state"
    );
    host.invoke_ok("price", "BTC", "refresh", "").await;
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 2);
}
