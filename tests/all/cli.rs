//! The `warren` command-line client against a running host.

use std::process::Command;

use crate::support::{Host, guest};

fn warren(host: &Host, args: &[&str]) -> (bool, String, String) {
    host.cli(args, "")
}

#[tokio::test]
async fn deploy_invoke_and_read_state_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let counter = guest("counter");
    let (ok, out, err) = warren(&host, &["deploy", counter.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("\"name\":\"counter\""), "{out}");
    // Progress on stderr (plain lines off a terminal): the upload, the compile, the end.
    assert!(err.contains("uploading") && err.contains("bytes"), "{err}");
    assert!(err.contains("the host is compiling"), "{err}");
    assert!(err.contains("deployed") && err.contains(" s"), "{err}");

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

    // The console's front page as text, and as JSON.
    let (ok, out, err) = warren(&host, &["invoke", "counter/cli", "no-such-action"]);
    assert!(!ok, "{out}");
    assert!(err.contains("no-such-action"), "{err}");
    let (ok, out, err) = warren(&host, &["status"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("warren "), "{out}");
    let figure = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {name:?} in {out}"))
    };
    assert_eq!(figure("active actors"), "1", "{out}");
    assert_eq!(figure("components"), "1", "{out}");
    assert_eq!(figure("failed turns since start"), "1", "{out}");
    let kept = out
        .lines()
        .find(|l| l.trim_start().starts_with("kept memory / budget"))
        .unwrap_or_else(|| panic!("no kept memory in {out}"));
    assert!(kept.ends_with("/ 1024.0 MiB (evicted 0)"), "{out}");
    assert!(
        out.contains("default/counter/cli no-such-action [error]"),
        "{out}"
    );
    let (ok, out, err) = warren(&host, &["status", "--json"]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["failed_total"], 1, "{json}");
    assert!(json["turns_total"].as_u64().unwrap() >= 2, "{json}");

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

#[tokio::test]
async fn versions_are_listed_rolled_back_and_canaried_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let (v1, v2) = (guest("tally"), guest("tally_v2"));
    let deploy = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["deploy", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        warren(&host, &args)
    };
    let (ok, _, err) = deploy(&v1, &[]);
    assert!(ok, "{err}");
    let (ok, out, err) = deploy(&v2, &["--canary", "40"]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""percent":40"#), "{out}");
    let (ok, _, err) = deploy(&v2, &["--canary", "100"]);
    assert!(!ok);
    assert!(err.contains("100"), "{err}");

    let (ok, out, err) = warren(&host, &["versions", "list", "tally"]);
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["current"], true, "{listed}");
    assert_eq!(listed[1]["canary_percent"], 40, "{listed}");
    // The CLI names who deploys (from $USER) beside the credential the host checked.
    if let Ok(user) = std::env::var("USER") {
        assert_eq!(listed[0]["deployed_by"], format!("{user} (no token)"));
    }

    let (ok, out, err) = warren(&host, &["versions", "promote", "tally"]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""number":2"#), "{out}");
    let (ok, out, err) = warren(&host, &["versions", "use", "tally", "1"]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""version":"1.0.0""#), "{out}");
    let (ok, _, err) = warren(&host, &["versions", "delete", "tally", "1"]);
    assert!(!ok);
    assert!(err.contains("409") && err.contains("current"), "{err}");
    let (ok, _, err) = warren(&host, &["versions", "delete", "tally", "2"]);
    assert!(ok, "{err}");
    let (ok, _, err) = warren(&host, &["versions", "stop-canary", "tally"]);
    assert!(!ok);
    assert!(err.contains("no canary"), "{err}");
}

/// `warren new LANG NAME`, `warren build` and `warren deploy` give a working actor in each
/// language (the Python one built with `--http`, importing `wasi:http`). The toolchains
/// come from scripts/guest-tools.sh (WARREN_GUEST_TOOLS); the Rust project builds in a
/// target dir of its own, kept between runs.
#[tokio::test]
async fn new_projects_build_and_deploy_in_every_language() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let projects = tempfile::tempdir().unwrap();
    let tools = crate::support::target_dir().join("guest-tools");
    assert!(
        tools.join("py.stamp").exists(),
        "run scripts/guest-tools.sh first"
    );
    for language in ["rust", "python", "js"] {
        let name = format!("{language}-demo");
        let (ok, _, err) = warren(
            &host,
            &[
                "new",
                language,
                &name,
                "--dir",
                projects.path().to_str().unwrap(),
            ],
        );
        assert!(ok, "{language}: {err}");
        let project = projects.path().join(&name);
        // The Python one is built to send HTTP requests too (warren_actor.http).
        let http = language == "python";
        let out = Command::new(env!("CARGO_BIN_EXE_warren"))
            .arg("build")
            .args(http.then_some("--http"))
            .current_dir(&project)
            .env("WARREN_GUEST_TOOLS", &tools)
            .env(
                "CARGO_TARGET_DIR",
                crate::support::target_dir().join("new-projects"),
            )
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{language}: {err}");
        assert!(err.contains(&format!("{name}.wasm")), "{language}: {err}");

        let wasm = project.join(format!("{name}.wasm"));
        let bytes = std::fs::read(&wasm).unwrap();
        let names_http = bytes
            .windows(26)
            .any(|w| w == b"wasi:http/outgoing-handler");
        assert_eq!(names_http, http, "{language}: imports wasi:http");
        let (ok, out, err) = warren(&host, &["deploy", wasm.to_str().unwrap()]);
        assert!(ok, "{language}: {err}");
        assert!(
            out.contains(&format!(r#""actor_types":["{name}"]"#)),
            "{out}"
        );
        assert_eq!(host.invoke_ok(&name, "a", "add", "4").await, "4");
        let body = r#"{"target":"b","n":2}"#;
        assert_eq!(host.invoke_ok(&name, "a", "call-add", body).await, "2");
        assert_eq!(host.invoke_ok(&name, "b", "get", "").await, "2");
        // The template reads a configuration value; a change reaches the next turn.
        let label = format!("\"{name}\"");
        assert_eq!(host.invoke_ok(&name, "a", "label", "").await, label);
        let (ok, _, err) = warren(&host, &["config", "set", &name, "label", "shop floor"]);
        assert!(ok, "{language}: {err}");
        assert_eq!(
            host.invoke_ok(&name, "a", "label", "").await,
            r#""shop floor""#
        );
    }

    // Refused: a name no language takes, an existing directory, a directory without a
    // project.
    let (ok, _, err) = warren(&host, &["new", "rust", "Bad_Name"]);
    assert!(!ok && err.contains("cannot name a project"), "{err}");
    let dir_arg = projects.path().to_str().unwrap();
    let (ok, _, err) = warren(&host, &["new", "js", "js-demo", "--dir", dir_arg]);
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = warren(&host, &["build", dir_arg]);
    assert!(!ok && err.contains("holds no actor project"), "{err}");
}

#[tokio::test]
async fn tenants_are_managed_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    // Without limits: the host's defaults.
    let (ok, out, err) = warren(&host, &["tenant", "create", "acme"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"name\":\"acme\""), "{out}");
    let (ok, out, err) = warren(
        &host,
        &[
            "tenant",
            "create",
            "beta",
            "--limits",
            r#"{"max_components": 3}"#,
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"max_components\":3"), "{out}");
    let (ok, _, err) = warren(
        &host,
        &["tenant", "update", "acme", r#"{"max_components": 2}"#],
    );
    assert!(ok, "{err}");
    let (ok, out, _) = warren(&host, &["tenant", "list"]);
    assert!(ok);
    assert!(
        out.contains("\"acme\"") && out.contains("\"beta\""),
        "{out}"
    );
    let (ok, _, err) = warren(&host, &["tenant", "create", "acme"]);
    assert!(!ok, "a tenant was created twice");
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = warren(&host, &["tenant", "delete", "beta"]);
    assert!(ok, "{err}");
}
