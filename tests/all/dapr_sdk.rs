//! Conformance: Dapr's own SDKs (Python and JS, installed by scripts/conformance-deps.sh)
//! against Warren, unchanged but for the port they point at.

use std::process::Command;

use crate::support::{
    App, Host, conformance_scripts, dapr_sdks, free_port, guest, port_of, python, run_app_client,
    run_client,
};

#[tokio::test]
async fn python_sdk_invokes_wasm_actors_and_registers_timers_and_reminders() {
    let dir = tempfile::tempdir().unwrap();
    let (counter, hostile) = (guest("counter"), guest("hostile"));
    let host = Host::start(
        dir.path(),
        &[
            "--deploy",
            counter.to_str().unwrap(),
            "--deploy",
            hostile.to_str().unwrap(),
        ],
    );
    run_client(python("wasm_client.py"), &host);
}

#[tokio::test]
async fn js_sdk_invokes_a_wasm_actor() {
    let dir = tempfile::tempdir().unwrap();
    let counter = guest("counter");
    let host = Host::start(dir.path(), &["--deploy", counter.to_str().unwrap()]);
    // ES modules resolve packages from the script's own directory upwards.
    let node = dapr_sdks().join("node");
    std::fs::copy(
        conformance_scripts("js").join("wasm_client.mjs"),
        node.join("wasm_client.mjs"),
    )
    .unwrap();
    let mut command = Command::new("node");
    command.arg("wasm_client.mjs").current_dir(&node);
    run_client(command, &host);
}

#[tokio::test]
async fn python_fastapi_actor_app_is_hosted_in_app_callback_mode() {
    let dir = tempfile::tempdir().unwrap();
    let app_port = free_port().to_string();
    let host = Host::start(
        dir.path(),
        &["--app-port", &app_port, "--idle-timeout", "1m"],
    );
    let mut app = python("counter_app.py");
    app.arg(&app_port).env("DAPR_HTTP_PORT", port_of(&host.url));
    let _app = App::spawn(app, "the Python app");
    run_app_client(&host).await;
}
