//! A platform that requires login: the Python package's `AsyncOpacaClient` against it,
//! tokens, users, and what each role may do.

use serde_json::json;

use super::client::Rp;
use super::{
    REQUIRE_AUTH, assert_jwt, calculator_container, deploy_calculator, events, mentions, newest,
    outcome, run_opaca_client, sample_container, sample_image,
};
use crate::support::Host;

/// With `--opaca-require-auth`, the Python package's `AsyncOpacaClient` logs in, reads
/// info, config and agents, starts, invokes, messages, notifies and deletes a Wasm
/// container, renews its token and reads the history; directly: bad credentials give 403,
/// no or a bad token 401, `/token` a working JWT; admins manage users (201, 409, 404);
/// GUEST, USER and CONTRIBUTOR each reach exactly their routes (403 beyond), a contributor
/// deletes only its own containers, and a process container gets its owner and a TOKEN
/// that works against the platform; history records CALL then SUCCESS, or ERROR with the
/// status code, for invocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaca_client_and_roles_on_a_platform_requiring_login() {
    let dir = tempfile::tempdir().unwrap();
    let image = sample_image();
    let args = [&REQUIRE_AUTH[..], &["--opaca-image", &image]].concat();
    let host = Host::start(dir.path(), &args);
    deploy_calculator(&host).await;
    let anon = Rp::of(&host);

    the_package_client_does_everything(&host);
    let admin = login_gives_tokens_and_nothing_works_without_one(&anon).await;
    let [guest, user, contributor] = the_admin_creates_users(&anon, &admin).await;
    let owned_by_admin =
        each_role_reaches_exactly_its_routes(&admin, &guest, &user, &contributor).await;
    a_process_container_gets_its_owner_and_a_working_token(&host, &contributor).await;
    history_records_calls_and_their_outcomes(&admin).await;
    users_are_updated_and_deleted(&anon, &admin, &owned_by_admin).await;
}

/// The package's own client logs in and does everything it can; it reports what it saw.
fn the_package_client_does_everything(host: &Host) {
    let seen = run_opaca_client(host, &["admin", "admin-pw"]);
    assert_eq!(
        seen["loginToken"],
        json!({"parts": 3, "quoted": false}),
        "{seen}"
    );
    assert_eq!(seen["info"]["baseUrl"], host.opaca_url.as_str(), "{seen}");
    assert_eq!(seen["config"], "dict", "{seen}");
    let actions = &seen["agents"]["calculator"];
    for name in ["Add", "Fail", "Greet", "LastMessage", "Mean"] {
        assert!(
            actions.as_array().is_some_and(|a| a.contains(&json!(name))),
            "{name} in {seen}"
        );
    }
    assert_eq!(
        seen["addParameters"],
        json!({"x": "integer", "y": "integer"}),
        "{seen}"
    );
    assert_eq!(seen["add"], 42, "{seen}");
    assert_eq!(seen["addWithoutAgent"], 3, "{seen}");
    assert_eq!(seen["addInContainer"], 5, "{seen}");
    assert_eq!(seen["addNotForwarded"], 7, "{seen}");
    assert_eq!(seen["greet"], "Good day, Ada.", "{seen}");
    assert_eq!(seen["addBadArguments"]["status"], 400, "{seen}");
    assert_eq!(seen["unknownAction"]["status"], 404, "{seen}");
    assert_eq!(seen["fail"]["status"], 502, "{seen}");
    assert!(seen["fail"]["body"]["cause"].is_object(), "{seen}");
    assert_eq!(
        seen["lastMessageAfterSend"],
        json!({"hello": "opaca"}),
        "{seen}"
    );
    assert_eq!(seen["lastMessageAfterBroadcast"], "breaking", "{seen}");
    assert_eq!(
        seen["container"],
        json!({"imageName": "calculator", "owner": "admin", "agents": ["calculator"]}),
        "{seen}"
    );
    assert_eq!(seen["notify"], true, "{seen}");
    assert_eq!(seen["renewedToken"], json!({"parts": 3}), "{seen}");
    let history = events(&seen["history"]);
    // The first Add succeeded; the newest ran after the container was deleted.
    let call = history
        .iter()
        .position(|e| e["eventType"] == "CALL" && e["route"] == "POST /invoke/Add/calculator")
        .expect("no CALL of Add");
    assert_eq!(history[outcome(history, call)]["eventType"], "SUCCESS");
    let call = newest(history, "CALL", "POST /invoke/Fail/calculator");
    let error = &history[outcome(history, call)];
    assert_eq!(error["eventType"], "ERROR", "{error}");
    assert_eq!(error["statusCode"], 502, "{error}");
    newest(history, "SUCCESS", "POST /login");
    assert_eq!(seen["deleted"], true, "{seen}");
    assert_eq!(seen["deletedAgain"], false, "{seen}");
    assert!(
        !seen["agentsAfterDelete"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("calculator"))),
        "{seen}"
    );
    assert_eq!(seen["invokeAfterDelete"]["status"], 404, "{seen}");
}

/// Bad credentials are 403; no token or a bad one 401; `/token` renews a working JWT.
/// The admin's client.
async fn login_gives_tokens_and_nothing_works_without_one(anon: &Rp) -> Rp {
    anon.post("/login", json!({"username": "admin", "password": "wrong"}))
        .await
        .status_is(403);
    anon.post(
        "/login",
        json!({"username": "nobody", "password": "admin-pw"}),
    )
    .await
    .status_is(403);
    anon.post_text("/login", "application/json", "")
        .await
        .status_is(400);
    let token = anon.login("admin", "admin-pw").await;
    let admin = anon.with_token(&token);
    for path in ["/info", "/agents", "/containers", "/history"] {
        anon.get(path).await.status_is(401);
        anon.with_token("not-a-jwt").get(path).await.status_is(401);
    }
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, flipped);
    anon.with_token(&parts.join("."))
        .get("/agents")
        .await
        .status_is(401);
    anon.post("/invoke/Add/calculator", json!({"x": 1, "y": 2}))
        .await
        .status_is(401);
    let renewed = admin.get("/token").await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_jwt(&renewed.text);
    anon.with_token(&renewed.text).get("/agents").await.ok();
    admin
}

/// The admin creates a GUEST, a USER and a CONTRIBUTOR (201, then 409 for the same again)
/// whose passwords are never shown; their clients, logged in.
async fn the_admin_creates_users(anon: &Rp, admin: &Rp) -> [Rp; 3] {
    for (name, role) in [
        ("guest", "GUEST"),
        ("user", "USER"),
        ("contributor", "CONTRIBUTOR"),
    ] {
        let password = format!("{name}-pw");
        let body = json!({"username": name, "password": password, "role": role, "privileges": []});
        let created = admin.post("/users", body.clone()).await;
        assert_eq!(created.status, 201, "creating {name}: {}", created.text);
        assert!(
            !created.text.contains("-pw"),
            "the password is write-only: {}",
            created.text
        );
        admin.post("/users", body).await.status_is(409);
    }
    let users = admin.get("/users").await.ok();
    for name in ["admin", "guest", "user", "contributor"] {
        assert!(
            users
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u["username"] == name)),
            "{name} in {users}"
        );
    }
    assert!(!users.to_string().contains("-pw"), "{users}");
    admin.get("/users/nobody").await.status_is(404);
    let guest = anon.with_token(&anon.login("guest", "guest-pw").await);
    let user = anon.with_token(&anon.login("user", "user-pw").await);
    let contributor = anon.with_token(&anon.login("contributor", "contributor-pw").await);
    [guest, user, contributor]
}

/// GUEST, USER and CONTRIBUTOR each reach exactly their routes (403 beyond); a contributor
/// deletes only its own containers. The id of a container the admin owns.
async fn each_role_reaches_exactly_its_routes(
    admin: &Rp,
    guest: &Rp,
    user: &Rp,
    contributor: &Rp,
) -> String {
    let owned_by_admin = admin.start(calculator_container()).await;
    let add = json!({"x": 1, "y": 2});
    for path in ["/info", "/agents", "/containers", "/v3/api-docs/actions"] {
        guest.get(path).await.ok();
    }
    assert_eq!(guest.get("/users/guest").await.ok()["role"], "GUEST");
    guest.get("/users/user").await.status_is(403);
    guest.get("/users").await.status_is(403);
    guest.get("/history").await.status_is(403);
    guest
        .post("/invoke/Add/calculator", add.clone())
        .await
        .status_is(403);
    guest
        .post("/send/calculator", json!({"payload": 1}))
        .await
        .status_is(403);
    guest
        .post("/containers", calculator_container())
        .await
        .status_is(403);

    assert_eq!(
        user.post("/invoke/Add/calculator", add.clone()).await.ok(),
        3
    );
    user.post("/send/calculator", json!({"payload": 1}))
        .await
        .ok();
    user.post("/broadcast/news", json!({"payload": 2}))
        .await
        .ok();
    user.get("/history").await.ok();
    user.get("/connections").await.ok();
    user.post("/containers", calculator_container())
        .await
        .status_is(403);
    user.delete(&format!("/containers/{owned_by_admin}"))
        .await
        .status_is(403);
    user.post("/connections", json!({"url": "http://127.0.0.1:1"}))
        .await
        .status_is(403);
    user.get("/users").await.status_is(403);

    let owned = contributor.start(calculator_container()).await;
    let container = contributor.get(&format!("/containers/{owned}")).await.ok();
    assert_eq!(container["owner"], "contributor", "{container}");
    contributor
        .delete(&format!("/containers/{owned_by_admin}"))
        .await
        .status_is(403);
    contributor.get("/users").await.status_is(403);
    assert_eq!(
        contributor
            .delete(&format!("/containers/{owned}"))
            .await
            .ok(),
        true
    );
    owned_by_admin
}

/// A process container started by the contributor: its owner, and a TOKEN that works.
async fn a_process_container_gets_its_owner_and_a_working_token(host: &Host, contributor: &Rp) {
    let process = contributor.start(sample_container(json!({}))).await;
    let env = contributor
        .post("/invoke/GetEnv/sample-agent", json!({}))
        .await
        .ok();
    assert_eq!(env["containerId"], process.as_str(), "{env}");
    assert_eq!(env["owner"], "contributor", "{env}");
    assert_eq!(env["tokenSet"], true, "{env}");
    assert_eq!(env["platformUrl"], host.opaca_url.as_str(), "{env}");
    let called = contributor
        .post(
            "/invoke/CallPlatform/sample-agent",
            json!({"path": "/agents"}),
        )
        .await
        .ok();
    assert_eq!(called["status"], 200, "the container's TOKEN: {called}");
    assert!(mentions(&called["body"], "sample-agent"), "{called}");
    assert_eq!(
        contributor
            .delete(&format!("/containers/{process}"))
            .await
            .ok(),
        true
    );
}

/// History of an invocation that succeeds and one that fails.
async fn history_records_calls_and_their_outcomes(admin: &Rp) {
    let add = json!({"x": 1, "y": 2});
    assert_eq!(
        admin.post("/invoke/Add/calculator", add.clone()).await.ok(),
        3
    );
    admin
        .post("/invoke/Fail/calculator", json!({}))
        .await
        .error(502);
    let history = admin.get("/history").await.ok();
    let history = events(&history);
    assert!(
        history
            .iter()
            .all(|e| e["id"].is_string() && e["timestamp"].is_i64()),
        "{history:?}"
    );
    let add_call = newest(history, "CALL", "POST /invoke/Add/calculator");
    assert_eq!(history[outcome(history, add_call)]["eventType"], "SUCCESS");
    let fail_call = newest(history, "CALL", "POST /invoke/Fail/calculator");
    assert!(fail_call > add_call, "newest last: {history:?}");
    let error = &history[outcome(history, fail_call)];
    assert_eq!(error["eventType"], "ERROR", "{error}");
    assert_eq!(error["statusCode"], 502, "{error}");
}

/// Updating and deleting users: the old password stops working, a deleted user is gone.
async fn users_are_updated_and_deleted(anon: &Rp, admin: &Rp, owned_by_admin: &str) {
    let updated = admin
        .put(
            "/users/user",
            json!({"username": "user", "password": "user-pw2", "role": "USER"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    anon.post("/login", json!({"username": "user", "password": "user-pw"}))
        .await
        .status_is(403);
    anon.login("user", "user-pw2").await;
    admin.delete("/users/guest").await.ok();
    admin.get("/users/guest").await.status_is(404);
    anon.post(
        "/login",
        json!({"username": "guest", "password": "guest-pw"}),
    )
    .await
    .status_is(403);
    assert_eq!(
        admin
            .delete(&format!("/containers/{owned_by_admin}"))
            .await
            .ok(),
        true
    );
}
