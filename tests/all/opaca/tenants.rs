//! OPACA users in Warren tenants: what a tenant's users list and reach, and how PUT
//! /users changes a user.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::Rp;
use super::{
    REQUIRE_AUTH, calculator_container, container_ids, count_agents, deploy_calculator, events,
};
use crate::support::{Host, guest};

/// Create Warren tenant `name` through the admin API (open: no admin token is set).
async fn create_tenant(host: &Host, name: &str) {
    let body = json!({ "name": name }).to_string().into_bytes();
    let (status, text) = host
        .call(Method::POST, "/admin/v1/tenants", None, body)
        .await;
    assert_eq!(status, 201, "creating tenant {name}: {text}");
}

/// Deploy the calculator component into `tenant`.
async fn deploy_calculator_into(host: &Host, tenant: &str) {
    let wasm = std::fs::read(guest("calculator")).unwrap();
    let path = format!("/admin/v1/components?tenant={tenant}");
    let (status, text) = host.call(Method::POST, &path, None, wasm).await;
    assert_eq!(
        status, 201,
        "deploying the calculator into {tenant}: {text}"
    );
}

/// The usernames in a list of users, sorted.
#[track_caller]
fn usernames(users: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = users
        .as_array()
        .unwrap_or_else(|| panic!("not a list of users: {users}"))
        .iter()
        .map(|u| {
            u["username"]
                .as_str()
                .unwrap_or_else(|| panic!("a user without a username: {u}"))
        })
        .collect();
    names.sort();
    names
}

/// Whether `/history` has an event of `route`.
fn has_route(history: &Value, route: &str) -> bool {
    events(history).iter().any(|e| e["route"] == route)
}

/// OPACA users act in one Warren tenant: the platform admin creates ADMIN ann in
/// `default` and ADMIN bob in `blue` (where the calculator is deployed too); bob neither
/// lists (/containers, /agents, /info, /containers/{id}) nor reaches (invoke, send,
/// containerId, DELETE) ann's container, and invoking finds nothing (404) until bob starts
/// his own, which then answers and is the only one either sees of the other's; bob's
/// broadcast stays in blue; each tenant's /history holds only its own calls while the
/// platform admin's holds both; bob lists, reads and changes only blue users (ann is 404 to
/// him, and he may not create or move users into `default`: 403), his users act in blue;
/// neither ann nor bob, only the platform admin, may change connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaca_users_of_one_tenant_never_reach_another() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &REQUIRE_AUTH);
    create_tenant(&host, "blue").await;
    deploy_calculator(&host).await;
    deploy_calculator_into(&host, "blue").await;
    let anon = Rp::of(&host);
    let admin = anon.with_token(&anon.login("admin", "admin-pw").await);
    let (ann, bob) = create_ann_and_bob(&anon, &admin).await;

    let anns = ann.start(calculator_container()).await;
    check_anns_container_is_out_of_bobs_reach(&ann, &bob, &anns).await;
    let bobs = bob.start(calculator_container()).await;
    check_each_sees_only_their_own_container(&ann, &bob, &anns, &bobs).await;
    check_history_is_per_tenant(&admin, &ann, &bob).await;
    check_broadcasts_stay_in_their_tenant(&ann, &bob, &anns, &bobs).await;
    check_bob_manages_only_blue_users(&admin, &bob).await;
    check_users_are_listed_per_tenant(&admin, &ann, &bob).await;
    check_bobs_user_acts_in_blue(&anon, &bobs).await;
    check_only_the_platform_admin_changes_connections(&admin, &ann, &bob).await;

    assert_eq!(bob.delete(&format!("/containers/{bobs}")).await.ok(), true);
    assert_eq!(ann.delete(&format!("/containers/{anns}")).await.ok(), true);
}

/// The body both tenants' calculators add.
fn add_body() -> Value {
    json!({"x": 2, "y": 3})
}

/// The platform admin creates ADMIN ann in `default` (the tenant a user gets when none is
/// given) and ADMIN bob in `blue`; both are then logged in.
async fn create_ann_and_bob(anon: &Rp, admin: &Rp) -> (Rp, Rp) {
    let created = admin
        .post(
            "/users",
            json!({"username": "ann", "password": "ann-pw", "role": "ADMIN", "privileges": []}),
        )
        .await;
    assert_eq!(created.status, 201, "creating ann: {}", created.text);
    assert_eq!(created.json()["tenant"], "default", "{}", created.text);
    let created = admin
        .post(
            "/users",
            json!({"username": "bob", "password": "bob-pw", "role": "ADMIN",
                   "privileges": [], "tenant": "blue"}),
        )
        .await;
    assert_eq!(created.status, 201, "creating bob: {}", created.text);
    assert_eq!(created.json()["tenant"], "blue", "{}", created.text);
    let ann = anon.with_token(&anon.login("ann", "ann-pw").await);
    let bob = anon.with_token(&anon.login("bob", "bob-pw").await);
    (ann, bob)
}

/// Ann's container answers her, and is invisible to bob and out of his reach.
async fn check_anns_container_is_out_of_bobs_reach(ann: &Rp, bob: &Rp, anns: &str) {
    assert_eq!(
        ann.post("/invoke/Greet/calculator", json!({"name": "Ann"}))
            .await
            .ok(),
        "Hi Ann"
    );
    assert_eq!(bob.get("/containers").await.ok(), json!([]));
    assert_eq!(
        count_agents(&bob.get("/agents").await.ok(), "calculator"),
        0
    );
    assert_eq!(bob.get("/agents/calculator").await.ok(), Value::Null);
    let info = bob.get("/info").await.ok();
    assert_eq!(info["containers"], json!([]), "{info}");
    assert_eq!(
        bob.get(&format!("/containers/{anns}")).await.ok(),
        Value::Null
    );
    bob.post("/invoke/Add/calculator", add_body())
        .await
        .error(404);
    bob.post(
        &format!("/invoke/Add/calculator?containerId={anns}"),
        add_body(),
    )
    .await
    .error(404);
    bob.post("/send/calculator", json!({"payload": "from bob"}))
        .await
        .error(404);
    assert_eq!(bob.delete(&format!("/containers/{anns}")).await.ok(), false);
    assert_eq!(ann.last_message(anns).await, Value::Null);
}

/// Bob's own container in blue answers him; each lists only their own container and
/// neither reaches the other's by containerId.
async fn check_each_sees_only_their_own_container(ann: &Rp, bob: &Rp, anns: &str, bobs: &str) {
    assert_eq!(bob.post("/invoke/Add/calculator", add_body()).await.ok(), 5);
    let listed = bob.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [bobs], "{listed}");
    let listed = ann.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [anns], "{listed}");
    assert_eq!(
        count_agents(&bob.get("/agents").await.ok(), "calculator"),
        1
    );
    bob.post(
        &format!("/invoke/Add/calculator?containerId={anns}"),
        add_body(),
    )
    .await
    .error(404);
    ann.post(
        &format!("/invoke/LastMessage/calculator?containerId={bobs}"),
        json!({}),
    )
    .await
    .error(404);
}

/// Each tenant's /history holds only its own calls (ann never calls Add, bob never Greet);
/// the platform admin's holds both.
async fn check_history_is_per_tenant(admin: &Rp, ann: &Rp, bob: &Rp) {
    let greet = "POST /invoke/Greet/calculator";
    let add_route = "POST /invoke/Add/calculator";
    let history = bob.get("/history").await.ok();
    assert!(has_route(&history, add_route), "{history}");
    assert!(
        !has_route(&history, greet),
        "ann's call in bob's history: {history}"
    );
    let history = ann.get("/history").await.ok();
    assert!(has_route(&history, greet), "{history}");
    assert!(
        !has_route(&history, add_route),
        "bob's call in ann's history: {history}"
    );
    let history = admin.get("/history").await.ok();
    assert!(
        has_route(&history, greet) && has_route(&history, add_route),
        "the platform admin sees every tenant's history: {history}"
    );
}

/// Bob's broadcast reaches his container and not ann's.
async fn check_broadcasts_stay_in_their_tenant(ann: &Rp, bob: &Rp, anns: &str, bobs: &str) {
    bob.post("/broadcast/news", json!({"payload": "blue news"}))
        .await
        .ok();
    bob.wait_last_message(bobs, json!("blue news")).await;
    assert_eq!(
        ann.last_message(anns).await,
        Value::Null,
        "bob's broadcast stays in blue"
    );
}

/// Bob reads and changes only blue users: ann (and admin) are 404 to him, he may not
/// create a user in `default` nor move one there (403), and cat, whom he creates, is blue.
async fn check_bob_manages_only_blue_users(admin: &Rp, bob: &Rp) {
    bob.get("/users/ann").await.error(404);
    bob.get("/users/admin").await.error(404);
    bob.put("/users/ann", json!({"role": "GUEST"}))
        .await
        .error(404);
    bob.delete("/users/ann").await.error(404);
    assert_eq!(admin.get("/users/ann").await.ok()["role"], "ADMIN");
    bob.post(
        "/users",
        json!({"username": "carl", "password": "carl-pw", "role": "USER",
               "privileges": [], "tenant": "default"}),
    )
    .await
    .error(403);
    admin.get("/users/carl").await.error(404);
    let created = bob
        .post(
            "/users",
            json!({"username": "cat", "password": "cat-pw", "role": "USER", "privileges": []}),
        )
        .await;
    assert_eq!(created.status, 201, "bob creating cat: {}", created.text);
    assert_eq!(created.json()["tenant"], "blue", "{}", created.text);
    bob.put("/users/cat", json!({"tenant": "default"}))
        .await
        .error(403);
    assert_eq!(bob.get("/users/cat").await.ok()["tenant"], "blue");
}

/// /users lists a tenant admin's own tenant's users, and every user to the platform admin.
async fn check_users_are_listed_per_tenant(admin: &Rp, ann: &Rp, bob: &Rp) {
    let users = bob.get("/users").await.ok();
    assert_eq!(usernames(&users), ["bob", "cat"], "{users}");
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["tenant"] == "blue"),
        "{users}"
    );
    let users = ann.get("/users").await.ok();
    assert_eq!(usernames(&users), ["admin", "ann"], "{users}");
    let users = admin.get("/users").await.ok();
    assert_eq!(usernames(&users), ["admin", "ann", "bob", "cat"], "{users}");
}

/// Cat, a user bob created, reaches and lists bob's blue container.
async fn check_bobs_user_acts_in_blue(anon: &Rp, bobs: &str) {
    let cat = anon.with_token(&anon.login("cat", "cat-pw").await);
    assert_eq!(cat.post("/invoke/Add/calculator", add_body()).await.ok(), 5);
    let listed = cat.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [bobs], "{listed}");
}

/// Neither tenant admin may add or remove a connection (403); the platform admin may (and
/// gets 502 here, as nothing listens at the URL).
async fn check_only_the_platform_admin_changes_connections(admin: &Rp, ann: &Rp, bob: &Rp) {
    let elsewhere = json!({"url": "http://127.0.0.1:1"});
    for (name, rp) in [("bob", bob), ("ann", ann)] {
        let reply = rp.post("/connections", elsewhere.clone()).await;
        assert_eq!(reply.status, 403, "{name}: {}", reply.text);
        reply.error(403);
        let reply = rp.delete_json("/connections", elsewhere.clone()).await;
        assert_eq!(reply.status, 403, "{name}: {}", reply.text);
        reply.error(403);
    }
    admin.post("/connections", elsewhere).await.error(502);
}

/// PUT /users/{name} changes only the fields it is given: the platform admin puts just a
/// new password for bob (ADMIN in tenant blue, with a privilege), and bob keeps his role,
/// tenant and privileges, logs in with the new password and no longer with the old (403),
/// and still acts in blue; putting just a role keeps the password and the tenant, and bob's
/// token then has only the new role (403 on /users); an unknown user is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_user_changes_only_the_fields_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &REQUIRE_AUTH);
    create_tenant(&host, "blue").await;
    let anon = Rp::of(&host);
    let admin = anon.with_token(&anon.login("admin", "admin-pw").await);
    let created = admin
        .post(
            "/users",
            json!({"username": "bob", "password": "bob-pw", "role": "ADMIN",
                   "privileges": ["p1"], "tenant": "blue"}),
        )
        .await;
    assert_eq!(created.status, 201, "creating bob: {}", created.text);

    let updated = admin
        .put("/users/bob", json!({"password": "new-pw"}))
        .await
        .ok();
    for user in [updated, admin.get("/users/bob").await.ok()] {
        assert_eq!(user["username"], "bob", "{user}");
        assert_eq!(user["role"], "ADMIN", "{user}");
        assert_eq!(user["tenant"], "blue", "{user}");
        assert_eq!(user["privileges"], json!(["p1"]), "{user}");
        assert!(!user.to_string().contains("new-pw"), "{user}");
    }
    anon.post("/login", json!({"username": "bob", "password": "bob-pw"}))
        .await
        .status_is(403);
    let bob = anon.with_token(&anon.login("bob", "new-pw").await);
    let users = bob.get("/users").await.ok();
    assert_eq!(
        usernames(&users),
        ["bob"],
        "bob still acts in blue: {users}"
    );

    let updated = admin.put("/users/bob", json!({"role": "USER"})).await.ok();
    assert_eq!(updated["role"], "USER", "{updated}");
    assert_eq!(updated["tenant"], "blue", "{updated}");
    assert_eq!(updated["privileges"], json!(["p1"]), "{updated}");
    anon.login("bob", "new-pw").await;
    bob.get("/users").await.error(403);
    assert_eq!(bob.get("/users/bob").await.ok()["role"], "USER");

    admin
        .put("/users/nobody", json!({"password": "x"}))
        .await
        .error(404);
}
