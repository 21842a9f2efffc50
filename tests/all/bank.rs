//! The bank example: money moves between accounts through actor calls.

use crate::support::{Host, guest};

#[tokio::test]
async fn transfer_between_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let bank = guest("bank");
    let host = Host::start(dir.path(), &["--deploy", bank.to_str().unwrap()]);
    assert_eq!(
        host.invoke_ok("account", "alice", "deposit", "100").await,
        "100"
    );
    let transfer = r#"{"to":"bob","amount":30}"#;
    assert_eq!(
        host.invoke_ok("account", "alice", "transfer", transfer)
            .await,
        "70"
    );
    assert_eq!(host.invoke_ok("account", "bob", "balance", "").await, "30");

    // Too much: refused, nothing moves.
    let (status, body) = host
        .invoke(
            "account",
            "alice",
            "transfer",
            r#"{"to":"bob","amount":1000}"#,
        )
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("insufficient funds"), "{body}");
    // A failing deposit on the other side drops this side's debit too.
    let (status, body) = host
        .invoke(
            "account",
            "alice",
            "transfer",
            r#"{"to":"bad/id","amount":5}"#,
        )
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("forbidden character"), "{body}");
    assert_eq!(
        host.invoke_ok("account", "alice", "balance", "").await,
        "70"
    );
    assert_eq!(host.invoke_ok("account", "bob", "balance", "").await, "30");
}
