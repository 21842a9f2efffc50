//! A data dir written in the first store layout (a state tree per tenant, one entry per
//! key, multi-key commits through intents) opens under the layout of one record per actor:
//! migrated on the first start, with its state, an interrupted commit, reminders, tenants
//! and components; the second start finds nothing left to migrate.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use warren_host::runtime::scheduler::{FailurePolicy, Job, JobKind, JobRequest};
use warren_host::runtime::tenants::{LimitOverrides, TenantRecord};

use crate::support::{Host, guest};

/// Key parts in the first layout are separated by NUL.
fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// An intent of the first layout: tree name, then each write (key, presence, value), all
/// with `u32` little-endian lengths.
fn intent(tree: &str, writes: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let put = |bytes: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    put(tree.as_bytes(), &mut out);
    for (k, v) in writes {
        put(k, &mut out);
        out.push(1);
        put(v, &mut out);
    }
    out
}

/// Write `store` as the first layout did: the default tenant with the counter component,
/// counter c1 at 5, a reminder of c1, and a commit of c2 interrupted after its intent.
fn write_first_layout(store: &Path) {
    let db = sled::open(store).unwrap();
    let tenant = TenantRecord {
        name: "default".into(),
        limits: LimitOverrides::default(),
        tokens: Vec::new(),
        created_at: 1,
        config: Default::default(),
    };
    db.open_tree("tenants")
        .unwrap()
        .insert("default", serde_json::to_vec(&tenant).unwrap())
        .unwrap();
    let wasm = std::fs::read(guest("counter")).unwrap();
    // As stored before versions were kept: no number, no canary.
    let component = serde_json::json!({
        "tenant": "default",
        "name": "counter",
        "sha256": "0".repeat(64),
        "deployed_at": 1,
    });
    let component_key = key(&["default", "counter"]);
    db.open_tree("components")
        .unwrap()
        .insert(&component_key, serde_json::to_vec(&component).unwrap())
        .unwrap();
    db.open_tree("component_wasm")
        .unwrap()
        .insert(&component_key, wasm)
        .unwrap();
    db.open_tree("state/default")
        .unwrap()
        .insert(key(&["counter", "c1", "total"]), b"5".as_slice())
        .unwrap();
    let reminder = Job::new(
        JobRequest {
            kind: JobKind::Reminder,
            name: "tick",
            due_time: "1h",
            period: "1h",
            ttl: "",
            data: b"\"hello\"".to_vec(),
            callback: None,
            failure_policy: FailurePolicy::default(),
        },
        chrono::Utc::now(),
    )
    .unwrap();
    db.open_tree("reminders")
        .unwrap()
        .insert(
            key(&["default", "counter", "c1", "tick"]),
            serde_json::to_vec(&reminder).unwrap(),
        )
        .unwrap();
    let c2 = key(&["counter", "c2", "total"]);
    db.open_tree("intents")
        .unwrap()
        .insert(
            0u64.to_be_bytes(),
            intent(
                "state/default",
                &[(&c2, b"9"), (&key(&["counter", "c2", "x"]), b"1")],
            ),
        )
        .unwrap();
    db.flush().unwrap();
}

/// The tree names of the store at `store`, once the host that held it is gone.
async fn tree_names(store: &Path) -> Vec<String> {
    for _ in 0..50 {
        if let Ok(db) = sled::open(store) {
            return db
                .tree_names()
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the store stayed locked");
}

#[tokio::test]
async fn a_first_layout_data_dir_is_migrated_on_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    write_first_layout(&dir.path().join("store"));

    let mut host = Host::start(dir.path(), &[]);
    assert_eq!(
        host.get_json("/v1.0/actors/counter/c1/state/total").await,
        json!(5)
    );
    assert_eq!(
        host.get_json("/v1.0/actors/counter/c2/state/total").await,
        json!(9),
        "the interrupted commit was finished"
    );
    assert_eq!(host.invoke_ok("counter", "c1", "add", "3").await, "8");
    let reminder = host
        .get_json("/v1.0/actors/counter/c1/reminders/tick")
        .await;
    assert_eq!(reminder["period"], "1h", "{reminder}");
    let components = host.get_json("/admin/v1/components").await;
    assert!(components.to_string().contains("counter"), "{components}");
    assert!(host.log().contains("migrat"), "the migration is logged");

    // The second start has nothing to migrate and keeps what the first wrote.
    host.terminate();
    let names = tree_names(&dir.path().join("store")).await;
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("state/") || n == "intents"),
        "first-layout trees left: {names:?}"
    );
    let host = Host::start(dir.path(), &[]);
    assert_eq!(
        host.get_json("/v1.0/actors/counter/c1/state/total").await,
        json!(8)
    );
    assert_eq!(host.invoke_ok("counter", "c1", "add", "1").await, "9");
    assert!(!host.log().contains("migrat"), "{}", host.log());

    // A component stored before versions were kept becomes version 1 on the next deploy,
    // so it can still be rolled back to.
    let (status, info) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["number"], 2, "{info}");
    let versions = host.get_json("/admin/v1/components/counter/versions").await;
    assert_eq!(versions[0]["number"], 1, "{versions}");
    assert_eq!(
        versions[0]["deployed_by"], "unknown (deployed before versions were kept)",
        "{versions}"
    );
    assert_eq!(versions[0]["manifest"]["actor_types"][0]["name"], "counter");
    assert_eq!(versions[1]["current"], true, "{versions}");
}
