//! Conformance: real SDKs and clients (installed by scripts/conformance-deps.sh) run
//! against a host, and the ports and processes they need.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Host, eventually, target_dir, workspace};

/// Where scripts/conformance-deps.sh installs the SDKs: `WARREN_CONFORMANCE_DIR`, else
/// `conformance` in the target dir. Asserts that each of `stamps` (written when an install
/// finishes) is there, so a missing install says how to fix it; `what` names the install.
pub fn conformance_dir(stamps: &[&str], what: &str) -> PathBuf {
    let dir = std::env::var_os("WARREN_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("conformance"));
    assert!(
        stamps.iter().all(|stamp| dir.join(stamp).exists()),
        "{} lacks {what}: run scripts/conformance-deps.sh",
        dir.display()
    );
    dir
}

/// The conformance scripts written in `lang` (tests/conformance/LANG).
pub fn conformance_scripts(lang: &str) -> PathBuf {
    workspace().join("tests/conformance").join(lang)
}

/// The port of a `http://HOST:PORT` URL: the SDKs are configured by port alone.
pub fn port_of(url: &str) -> String {
    url.rsplit(':').next().unwrap().to_string()
}

/// A loopback port that is free now, for a process that must be told where to listen.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something listens on a loopback port.
pub async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// Wait up to `timeout` until nothing listens on a loopback port: a stopped process's
/// port closes a little after it is told to stop. Whether it closed in time.
pub async fn stops_listening(port: u16, timeout: Duration) -> bool {
    eventually(
        timeout,
        || async move { (!listening(port).await).then_some(()) },
    )
    .await
    .is_some()
}

/// Run the client script `what` to completion; its stdout. It passes if it exits 0 and
/// `passed` accepts its stdout; otherwise panic with both outputs and the host's log, as
/// the reason for a mismatch is in one of the three.
pub fn run_script(
    what: &str,
    mut command: Command,
    host: &Host,
    passed: impl Fn(&str) -> bool,
) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && passed(&stdout),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}\nwarren log:\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
    stdout
}

/// The conformance dir with Dapr's Python and JS SDKs installed.
pub fn dapr_sdks() -> PathBuf {
    conformance_dir(&["python.stamp", "js.stamp"], "the SDKs")
}

/// The Python of the Dapr SDKs' venv, running `script` from tests/conformance/python.
pub fn python(script: &str) -> Command {
    let mut c = Command::new(dapr_sdks().join("venv/bin/python"));
    c.arg(script).current_dir(conformance_scripts("python"));
    c
}

/// Run a Dapr SDK client script against `host` to completion; it prints `: ok` when it
/// passes and exits non-zero with its reason on a mismatch.
pub fn run_client(mut command: Command, host: &Host) {
    command
        .env("DAPR_HTTP_PORT", port_of(&host.url))
        .env("DAPR_RUNTIME_HOST", "127.0.0.1")
        .env("DAPR_HEALTH_TIMEOUT", "10");
    run_script("the client", command, host, |stdout| {
        stdout.contains(": ok")
    });
}

/// Run app_client.py (ActorProxy over HTTP) against `host`, where an app hosts
/// `PyCounter`, and check the total it leaves: the app's state lives in Warren's store.
pub async fn run_app_client(host: &Host) {
    run_client(python("app_client.py"), host);
    let total = host.get("/v1.0/actors/PyCounter/p1/state/total").await;
    assert_eq!(total.text().await.unwrap(), "8");
}

/// An app process hosting actors for a host. Killed when dropped, so a failing test
/// leaves no app behind.
pub struct App(pub Child);

impl App {
    /// Start `command`, `what`, with its Dapr SDK pointed at loopback and its output
    /// discarded.
    pub fn spawn(mut command: Command, what: &str) -> App {
        let child = command
            .env("DAPR_RUNTIME_HOST", "127.0.0.1")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        App(child)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
