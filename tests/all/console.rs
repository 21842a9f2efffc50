//! The web console: refused without the admin token, then driven in a real browser
//! (Debian's Chromium through Playwright, installed by scripts/conformance-deps.sh).

use std::process::Command;

use crate::support::{Host, conformance_dir, conformance_scripts, guest, run_script, target_dir};
use crate::tenancy::ADMIN;

#[tokio::test]
async fn the_console_needs_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--admin-token", ADMIN]);
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = host.client.get(format!("{}{path}", host.url));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    // No token, or a cookie that is not the admin token: the sign-in page, not the console.
    for cookie in [None, Some("warren_console=wrong")] {
        let response = get("/console", cookie).await.unwrap();
        assert_eq!(response.status(), 401);
        let body = response.text().await.unwrap();
        assert!(body.contains("action=\"/console/login\""), "{body}");
        assert!(!body.contains("console.js"), "{body}");
        let metrics = get("/metrics", cookie).await.unwrap();
        assert_eq!(metrics.status(), 401, "/metrics without the admin token");
        let status = get("/admin/v1/status", cookie).await.unwrap();
        assert_eq!(
            status.status(),
            401,
            "/admin/v1/status without the admin token"
        );
    }
    // Signing in sets a same-site, HTTP-only cookie that stands for the token.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = no_redirects
        .post(format!("{}/console/login", host.url))
        .form(&[("token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("set-cookie").is_none());
    let signed_in = no_redirects
        .post(format!("{}/console/login", host.url))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let console = get("/console", Some(pair)).await.unwrap();
    assert_eq!(console.status(), 200);
    assert!(console.text().await.unwrap().contains("console.js"));
    let status: serde_json::Value = get("/admin/v1/status", Some(pair))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["tenants"], 1, "{status}");
}

#[tokio::test]
async fn the_console_works_in_a_browser() {
    let deps = conformance_dir(&["console.stamp"], "Playwright");
    let dir = tempfile::tempdir().unwrap();
    let hostile = guest("hostile");
    let host = Host::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN,
            "--deploy",
            hostile.to_str().unwrap(),
        ],
    );
    // An egress policy, which the tenants page shows.
    let policy = r#"{"allowed_outbound_hosts": ["https://api.example.org"]}"#;
    let updated = host
        .client
        .patch(format!("{}/admin/v1/tenants/default", host.url))
        .bearer_auth(ADMIN)
        .body(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let out = target_dir().join("test-output/console");
    std::fs::create_dir_all(&out).unwrap();
    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "these are not the bytes of a component").unwrap();
    let mut command = Command::new(deps.join("console-venv/bin/python"));
    command
        .arg("console_browser.py")
        .current_dir(conformance_scripts("python"))
        .env("WARREN_URL", &host.url)
        .env("ADMIN_TOKEN", ADMIN)
        .env("COUNTER_WASM", guest("counter"))
        .env("NOT_WASM", &not_wasm)
        .env("OUT_DIR", &out);
    run_script("the console in Chromium", command, &host, |stdout| {
        stdout.contains("console: ok")
    });
    // One screenshot per page.
    let shots = std::fs::read_dir(&out).unwrap().count();
    assert!(shots >= 9, "{shots} screenshots in {}", out.display());
    // What the page did went through the host: the counter it deployed and invoked.
    let status = host
        .client
        .get(format!("{}/admin/v1/actors/counter/browser", host.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let view: serde_json::Value = status.json().await.unwrap();
    assert_eq!(view["state"][0]["key"], "total", "{view}");
    assert_eq!(view["state"][0]["json"], 7, "{view}");
}
