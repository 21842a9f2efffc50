//! A real `warren` process on a free port with a temp data dir, and helpers to talk to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod conformance;
pub use conformance::*;

/// The workspace root: the conformance scripts live under it, and so does the default
/// target dir.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run `scripts/NAME` with `args` and `env`; its standard output, trimmed. Panics with its
/// standard error if it fails.
pub fn script(name: &str, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> String {
    let out = Command::new(workspace().join("scripts").join(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/{name}: {e}"));
    assert!(
        out.status.success(),
        "scripts/{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Cargo's target dir, where the guests and the conformance SDKs are built or installed.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// The path of a guest component built by `scripts/build-guests.sh`.
pub fn guest(name: &str) -> PathBuf {
    let dir = std::env::var_os("WARREN_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("wasm32-wasip2/release"));
    // Cargo names a cdylib's file with underscores and a binary's as the package.
    let path = [name.replace('-', "_"), name.to_string()]
        .iter()
        .map(|n| dir.join(format!("{n}.wasm")))
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join(format!("{name}.wasm")));
    assert!(
        path.exists(),
        "{} is missing: build the guests first with scripts/build-guests.sh",
        path.display()
    );
    path
}

/// A running host. Killed when dropped.
pub struct Host {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// `http://127.0.0.1:PORT` of the gRPC listener.
    pub grpc_url: String,
    /// `http://127.0.0.1:PORT` of the OPACA runtime-platform listener.
    pub opaca_url: String,
    data_dir: PathBuf,
    args: Vec<String>,
    /// Its `RUST_LOG`.
    log_filter: String,
    /// Extra environment variables (`FAILPOINTS`, ...).
    env: Vec<(String, String)>,
    /// Where it runs: a network namespace (none: the test's own) and the address its
    /// listeners bind.
    place: Place,
    log: Arc<Mutex<String>>,
    pub client: reqwest::Client,
}

/// Where a host runs.
#[derive(Clone)]
pub struct Place {
    /// The network namespace to run in (`scripts/netns.sh`); none for the test's own.
    pub netns: Option<String>,
    /// The address its listeners bind.
    pub ip: String,
}

impl Default for Place {
    fn default() -> Self {
        Place {
            netns: None,
            ip: "127.0.0.1".into(),
        }
    }
}

impl Host {
    /// Start `warren serve` on a free port with `data_dir` and extra `args`.
    pub fn start(data_dir: &Path, args: &[&str]) -> Host {
        Host::start_logging(data_dir, args, "info")
    }

    /// [`Host::start`] with `filter` as its `RUST_LOG`.
    pub fn start_logging(data_dir: &Path, args: &[&str], filter: &str) -> Host {
        Host::start_with(data_dir, args, filter, &[])
    }

    /// [`Host::start_logging`] with extra environment variables.
    pub fn start_with(data_dir: &Path, args: &[&str], filter: &str, env: &[(&str, &str)]) -> Host {
        Host::start_at(Place::default(), data_dir, args, filter, env)
    }

    /// [`Host::start_with`] at `place` (in a network namespace, on its address).
    pub fn start_at(
        place: Place,
        data_dir: &Path,
        args: &[&str],
        filter: &str,
        env: &[(&str, &str)],
    ) -> Host {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, [url, grpc_url, opaca_url], log) = spawn(&place, data_dir, &args, filter, &env);
        Host {
            child,
            url,
            grpc_url,
            opaca_url,
            data_dir: data_dir.to_path_buf(),
            args,
            log_filter: filter.to_string(),
            env,
            place,
            log,
            // Idle connections are dropped before the host closes them (after its header
            // read timeout, 30 s): a request sent on one the host is closing just then
            // would fail with an incomplete message.
            client: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(20))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Stop with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send a signal (`STOP`, `CONT`, ...) to the host process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -{name} {pid} failed"
        );
    }

    /// Stop with SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }

    /// Kill and start again on the same data dir with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        let (child, [url, grpc_url, opaca_url], log) = spawn(
            &self.place,
            &self.data_dir,
            &self.args,
            &self.log_filter,
            &self.env,
        );
        // The earlier run's lines stay, so a test can read the host's whole story.
        let earlier = self.log();
        log.lock().unwrap().insert_str(0, &earlier);
        self.child = child;
        self.url = url;
        self.grpc_url = grpc_url;
        self.opaca_url = opaca_url;
        self.log = log;
    }

    /// [`Host::restart`] with these extra environment variables instead of the earlier.
    pub fn restart_with(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.restart();
    }

    /// Wait for the host process to exit by itself; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The file descriptors the host process has open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// Run the `warren` CLI against this host with `args`, `stdin` on its standard input;
    /// returns whether it succeeded, its standard output (trimmed) and its standard error.
    pub fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
            .args(args)
            .env("WARREN_URL", &self.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run warren");
        let mut input = child.stdin.take().expect("a piped stdin");
        input.write_all(stdin.as_bytes()).expect("stdin written");
        drop(input);
        let out = child.wait_with_output().expect("warren ends");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// Everything the host logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the host's log shows `text` within 10 s. Another thread reads the log from
    /// the host's stdout, and on a loaded machine it can lag behind the host's answers.
    pub async fn logged(&self, text: &str) -> bool {
        eventually(Duration::from_secs(10), || async {
            self.log().contains(text).then_some(())
        })
        .await
        .is_some()
    }

    /// POST an actor method through the Dapr API; returns the status and body.
    pub async fn invoke(
        &self,
        actor_type: &str,
        id: &str,
        method: &str,
        body: &str,
    ) -> (u16, String) {
        let response = self
            .client
            .post(format!(
                "{}/v1.0/actors/{actor_type}/{id}/method/{method}",
                self.url
            ))
            .body(body.to_string())
            .send()
            .await
            .expect("request failed");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Invoke and expect 200; returns the body.
    pub async fn invoke_ok(&self, actor_type: &str, id: &str, method: &str, body: &str) -> String {
        let (status, text) = self.invoke(actor_type, id, method, body).await;
        assert_eq!(
            status, 200,
            "{actor_type}/{id}.{method}({body}) failed: {text}"
        );
        text
    }

    /// GET `path`, whatever the status: for tests that look at the status or the raw body.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// GET a JSON document from the host.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Upload a component through the admin API; returns the status and body.
    pub async fn deploy(&self, wasm: Vec<u8>) -> (u16, Value) {
        self.deploy_with("", wasm).await
    }

    /// [`Host::deploy`] with query parameters (`name=…`, `force=true`, `canary=…`).
    pub async fn deploy_with(&self, query: &str, wasm: Vec<u8>) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/admin/v1/components?{query}", self.url))
            .body(wasm)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `name=` in a log line (or of field `name` in a JSON one).
fn log_field(line: &str, name: &str) -> String {
    if let Ok(json) = serde_json::from_str::<Value>(line) {
        return json[name].as_str().unwrap_or_default().to_string();
    }
    line.split(&format!(" {name}="))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

/// Start the host with `args` and `filter` as its `RUST_LOG`; returns it with the URLs of
/// its HTTP, gRPC and OPACA listeners.
fn spawn(
    place: &Place,
    data_dir: &Path,
    args: &[String],
    filter: &str,
    env: &[(String, String)],
) -> (Child, [String; 3], Arc<Mutex<String>>) {
    let mut child = start_process(place, data_dir, args, filter, env);
    let stdout = child.stdout.take().expect("stdout is piped");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || read_log(stdout, &sink, tx));
    let [http, grpc, opaca] = wait_for_listeners(&mut child, &rx, &log);
    (
        child,
        [http, grpc, opaca].map(|addr| format!("http://{addr}")),
        log,
    )
}

/// `warren serve` at `place`, its listeners on any port, its stdout piped.
fn start_process(
    place: &Place,
    data_dir: &Path,
    args: &[String],
    filter: &str,
    env: &[(String, String)],
) -> Child {
    let binary = env!("CARGO_BIN_EXE_warren");
    // `ip netns exec` runs the host in the namespace as the same process (its pid is the
    // host's, for signals).
    let mut command = match &place.netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns, binary]);
            command
        }
        None => Command::new(binary),
    };
    let any_port = format!("{}:0", place.ip);
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http", &any_port, "--grpc", &any_port])
        .args(["--opaca", &any_port])
        .args(args)
        .env("RUST_LOG", filter)
        .env("NO_COLOR", "1")
        // A host's fatal error in one line: CI sets RUST_BACKTRACE, and the backtraces of
        // hosts a test stops on purpose would crowd out the test's own failure.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start warren")
}

/// Append the host's `stdout` to `log`, line by line, and send the addresses of its
/// HTTP, gRPC and OPACA listeners on `tx` once it serves.
fn read_log(
    stdout: std::process::ChildStdout,
    log: &Mutex<String>,
    tx: std::sync::mpsc::Sender<[String; 3]>,
) {
    let mut tx = Some(tx);
    // Each listener logs its address ("listening listener=grpc address=..."), then
    // the host says it serves.
    let mut listening = HashMap::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("listening") {
            listening.insert(log_field(&line, "listener"), log_field(&line, "address"));
        }
        if line.contains("warren is serving")
            && let Some(tx) = tx.take()
        {
            let address = |name: &str| listening.get(name).cloned().unwrap_or_default();
            let _ = tx.send(["http", "grpc", "opaca"].map(address));
        }
        let mut log = log.lock().unwrap();
        log.push_str(&line);
        log.push('\n');
    }
}

/// The listener addresses [`read_log`] sends; panics with the log if the host exits
/// first or does not serve within 120 s.
fn wait_for_listeners(
    child: &mut Child,
    rx: &std::sync::mpsc::Receiver<[String; 3]>,
    log: &Mutex<String>,
) -> [String; 3] {
    let started = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(addrs) => return addrs,
            Err(_) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "warren exited at start with {status}:\n{}",
                        log.lock().unwrap()
                    );
                }
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "warren did not start in time:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }
}

/// Poll `check` until it returns `Some`, for up to `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `warren serve` with `args` and expects it to exit by itself; a host that
/// keeps serving for 30 s is killed and fails the test instead of hanging it.
pub fn serve_fails(args: &[&str]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--opaca",
            "127.0.0.1:0",
        ])
        .args(["--cluster-listen", "127.0.0.1:0"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run warren");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut kept_serving = false;
    while child.try_wait().expect("wait for warren").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            kept_serving = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("collect warren's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !kept_serving,
        "the host was expected to refuse to start, but it served:\n{text}"
    );
    (out.status, text)
}
