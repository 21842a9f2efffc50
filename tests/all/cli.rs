//! The `warren` command-line client against a running host.

use std::process::Command;

use crate::support::{Host, guest};

fn warren(host: &Host, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(args)
        .env("WARREN_URL", &host.url)
        .output()
        .expect("cannot run warren");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn deploy_invoke_and_read_state_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let counter = guest("counter");
    let (ok, out, err) = warren(&host, &["deploy", counter.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("\"name\":\"counter\""), "{out}");

    let (ok, out, err) = warren(&host, &["invoke", "counter/cli", "add", "--data", "41"]);
    assert!(ok, "{err}");
    assert_eq!(out, "41");
    let (ok, out, _) = warren(&host, &["state", "get", "counter/cli", "total"]);
    assert!(ok);
    assert_eq!(out, "41");
    let (ok, _, err) = warren(&host, &["state", "get", "counter/cli", "nothing"]);
    assert!(!ok);
    assert!(err.contains("no state key"), "{err}");

    let (ok, out, _) = warren(&host, &["components"]);
    assert!(ok);
    assert!(out.contains("\"sha256\""), "{out}");
    let (ok, out, _) = warren(&host, &["actors"]);
    assert!(ok);
    assert_eq!(out, r#"[{"id":"cli","type":"counter"}]"#);

    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"nope").unwrap();
    let (ok, _, err) = warren(&host, &["deploy", garbage.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("400") && err.contains("not a valid WebAssembly component"),
        "{err}"
    );

    let (ok, _, err) = warren(&host, &["remove", "counter"]);
    assert!(ok, "{err}");
    let (ok, _, err) = warren(&host, &["invoke", "counter/cli", "get"]);
    assert!(!ok);
    assert!(err.contains("not hosted"), "{err}");
}
