//! Configuration values and secrets per component (`wasi:config/store`): set with the
//! CLI, seen by the next turn without a redeploy, kept over a restart; a secret is used
//! by the guest and never answered by the admin API nor written to the host's log.

use crate::support::{Host, guest};

const SECRET: &str = "sk-live-5eb3c0ffee9d";

#[tokio::test]
async fn values_set_with_the_cli_reach_the_next_turn_and_secrets_stay_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::start(dir.path(), &[]);
    let (status, body) = host
        .deploy(std::fs::read(guest("configured")).unwrap())
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        host.invoke_ok("reader", "a", "get", r#""greeting""#).await,
        "null"
    );
    values_reach_the_next_turn(&host).await;
    a_secret_is_used_and_never_shown(&host).await;
    refusals_say_why_and_deletes_take_effect(&host).await;

    // Kept with the tenant in the store, over a restart.
    host.restart();
    assert_eq!(
        host.invoke_ok("reader", "b", "get", r#""api_key""#).await,
        format!("\"{SECRET}\"")
    );
    assert!(
        !host.log().contains(SECRET),
        "the secret is in the host's log"
    );
}

/// A value, then a change to it: each seen by the next turn, no redeploy.
async fn values_reach_the_next_turn(host: &Host) {
    let (ok, out, err) = host.cli(&["config", "set", "configured", "greeting", "hello"], "");
    assert!(ok, "{err}");
    assert_eq!(out, r#"{"key":"greeting","secret":false,"value":"hello"}"#);
    assert_eq!(
        host.invoke_ok("reader", "a", "get", r#""greeting""#).await,
        r#""hello""#
    );
    let (ok, _, err) = host.cli(&["config", "set", "configured", "greeting", "hi"], "");
    assert!(ok, "{err}");
    assert_eq!(
        host.invoke_ok("reader", "a", "get", r#""greeting""#).await,
        r#""hi""#
    );
}

/// A secret from standard input: the guest uses it, the host never answers it, and the
/// line the guest prints with it is in the host's log redacted.
async fn a_secret_is_used_and_never_shown(host: &Host) {
    let args = ["config", "set", "configured", "api_key", "-", "--secret"];
    let (ok, out, err) = host.cli(&args, &format!("{SECRET}\n"));
    assert!(ok, "{err}");
    assert_eq!(out, r#"{"key":"api_key","secret":true}"#);
    assert_eq!(
        host.invoke_ok("reader", "a", "get", r#""api_key""#).await,
        format!("\"{SECRET}\"")
    );
    let (ok, out, _) = host.cli(&["config", "get", "configured", "api_key"], "");
    assert!(ok && !out.contains(SECRET), "{out}");
    let (ok, out, _) = host.cli(&["config", "list", "configured"], "");
    assert!(ok, "{out}");
    assert_eq!(
        out,
        r#"[{"key":"api_key","secret":true},{"key":"greeting","secret":false,"value":"hi"}]"#
    );
    for path in ["/admin/v1/components", "/admin/v1/tenants/default"] {
        let text = host.get(path).await.text().await.unwrap();
        assert!(!text.contains(SECRET), "{path}: {text}");
    }
    assert_eq!(
        host.invoke_ok("reader", "a", "keys", "").await,
        r#"["api_key","greeting"]"#
    );
    let printed = host.invoke_ok("reader", "a", "log", r#""api_key""#).await;
    assert_eq!(printed, SECRET.len().to_string());
    assert!(
        host.logged("the value is [redacted], used here").await,
        "{}",
        host.log()
    );
    assert!(
        !host.log().contains(SECRET),
        "the secret is in the host's log"
    );
}

/// Refusals say why; a deleted value is gone for the next turn.
async fn refusals_say_why_and_deletes_take_effect(host: &Host) {
    let (ok, _, err) = host.cli(&["config", "set", "configured", "no spaces", "x"], "");
    assert!(
        !ok && err.contains("400") && err.contains("invalid key"),
        "{err}"
    );
    let (ok, _, err) = host.cli(&["config", "get", "configured", "nothing"], "");
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, _, err) = host.cli(&["config", "delete", "configured", "greeting"], "");
    assert!(ok, "{err}");
    assert_eq!(
        host.invoke_ok("reader", "a", "get", r#""greeting""#).await,
        "null"
    );
    let (ok, _, err) = host.cli(&["config", "delete", "configured", "greeting"], "");
    assert!(
        !ok && err.contains("404") && err.contains("no value"),
        "{err}"
    );
}
