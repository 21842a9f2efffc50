//! Conformance: Dapr's own SDKs (Python and JS, installed by scripts/conformance-deps.sh)
//! against Warren, unchanged but for the port they point at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::{Host, guest};

fn conformance_dir() -> PathBuf {
    let dir = std::env::var_os("WARREN_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace().join("target"))
                .join("conformance")
        });
    assert!(
        dir.join("python.stamp").exists() && dir.join("js.stamp").exists(),
        "{} lacks the SDKs: run scripts/conformance-deps.sh",
        dir.display()
    );
    dir
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scripts(lang: &str) -> PathBuf {
    workspace().join("tests/conformance").join(lang)
}

fn port_of(url: &str) -> String {
    url.rsplit(':').next().unwrap().to_string()
}

/// Run a client script to completion; it exits non-zero with its reason on a mismatch.
pub fn run_client(mut command: Command, host: &Host) {
    let out = command
        .env("DAPR_HTTP_PORT", port_of(&host.url))
        .env("DAPR_RUNTIME_HOST", "127.0.0.1")
        .env("DAPR_HEALTH_TIMEOUT", "10")
        .output()
        .expect("cannot run the client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(": ok"),
        "client failed ({}):\nstdout:\n{}\nstderr:\n{}\nwarren log:\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
}

pub fn python(script: &str) -> Command {
    let mut c = Command::new(conformance_dir().join("venv/bin/python"));
    c.arg(script).current_dir(scripts("python"));
    c
}

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
    let node = conformance_dir().join("node");
    std::fs::copy(
        scripts("js").join("wasm_client.mjs"),
        node.join("wasm_client.mjs"),
    )
    .unwrap();
    let mut command = Command::new("node");
    command.arg("wasm_client.mjs").current_dir(&node);
    run_client(command, &host);
}

/// A child process killed when dropped.
pub struct App(pub Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn python_fastapi_actor_app_is_hosted_in_app_callback_mode() {
    let dir = tempfile::tempdir().unwrap();
    let app_port = free_port().to_string();
    let host = Host::start(
        dir.path(),
        &["--app-port", &app_port, "--idle-timeout", "1m"],
    );
    let _app = App(python("counter_app.py")
        .arg(&app_port)
        .env("DAPR_HTTP_PORT", port_of(&host.url))
        .env("DAPR_RUNTIME_HOST", "127.0.0.1")
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start the Python app"));
    run_client(python("app_client.py"), &host);
    // The app's state lives in Warren's store.
    let total = host
        .client
        .get(format!("{}/v1.0/actors/PyCounter/p1/state/total", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(total.text().await.unwrap(), "8");
}
