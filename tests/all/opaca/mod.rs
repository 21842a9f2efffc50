//! OPACA: Warren's runtime-platform API (shared/protocols/opaca.md) against real peers: an
//! agent container written with the Python `opaca` package run as a process container, Wasm
//! components as containers, the package's `AsyncOpacaClient`, and a second Warren.

mod agent_platform;
mod auth_and_roles;
mod bad_input;
pub(crate) mod client;
mod connections;
mod process_containers;
mod tenants;
mod wasm_containers;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Host, conformance_dir, conformance_scripts, guest, run_script, stops_listening,
};

/// The script `name` of tests/conformance/python, as an absolute path.
fn script(name: &str) -> PathBuf {
    conformance_scripts("python").join(name)
}

/// The interpreter of the venv scripts/conformance-deps.sh installs `opaca` into. Not
/// canonicalized: the venv's python is a symlink, and only its own path finds the venv.
fn opaca_python() -> PathBuf {
    let dir = conformance_dir(&["opaca.stamp"], "the opaca package");
    std::path::absolute(dir.join("opaca-venv/bin/python")).unwrap()
}

/// A path quoted for `sh -c`.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The image name of the Python agent container.
const SAMPLE: &str = "py-sample";

/// The shell command that runs the Python agent.
fn agent_command() -> String {
    format!(
        "{} {}",
        quoted(&opaca_python()),
        quoted(&script("opaca_agent.py"))
    )
}

/// `--opaca-image` mapping the Python agent's image to its command.
fn sample_image() -> String {
    format!("{SAMPLE}={}", agent_command())
}

/// A `PostAgentContainer` for the Python agent: `greeting` has a default, `secret` is
/// confidential (as in its opaca_container.json).
fn sample_container(arguments: Value) -> Value {
    json!({
        "image": {
            "imageName": SAMPLE,
            "apiPort": 8082,
            "parameters": [
                {"name": "greeting", "type": "string", "required": false,
                 "confidential": false, "defaultValue": "hello"},
                {"name": "secret", "type": "string", "required": false,
                 "confidential": true},
            ],
        },
        "arguments": arguments,
    })
}

/// A `PostAgentContainer` for the Wasm calculator component.
pub(crate) fn calculator_container() -> Value {
    json!({"image": {"imageName": "calculator"}, "arguments": {}})
}

/// Deploy the calculator component into the default tenant.
pub(crate) async fn deploy_calculator(host: &Host) {
    let (status, body) = host
        .deploy(std::fs::read(guest("calculator")).unwrap())
        .await;
    assert_eq!(status, 201, "deploying the calculator: {body}");
}

/// Arguments of a platform that requires login, with `admin`/`admin-pw` as its admin.
const REQUIRE_AUTH: [&str; 5] = [
    "--opaca-require-auth",
    "--opaca-admin-password",
    "admin-pw",
    "--opaca-secret",
    "a-secret-of-at-least-32-bytes-for-hs256",
];

/// A raw (unquoted) JWT: three dot-separated parts.
#[track_caller]
fn assert_jwt(token: &str) {
    assert_eq!(
        token.split('.').filter(|p| !p.is_empty()).count(),
        3,
        "not a raw JWT: {token:?}"
    );
}

/// The agent `id` in a list of `AgentDescription`s.
#[track_caller]
fn agent<'a>(agents: &'a Value, id: &str) -> &'a Value {
    agents
        .as_array()
        .and_then(|agents| agents.iter().find(|a| a["agentId"] == id))
        .unwrap_or_else(|| panic!("no agent {id} in {agents}"))
}

/// How many agents `id` a list of `AgentDescription`s has.
fn count_agents(agents: &Value, id: &str) -> usize {
    agents.as_array().map_or(0, |agents| {
        agents.iter().filter(|a| a["agentId"] == id).count()
    })
}

/// The action `name` of an `AgentDescription`.
#[track_caller]
fn action<'a>(agent: &'a Value, name: &str) -> &'a Value {
    agent["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["name"] == name))
        .unwrap_or_else(|| panic!("no action {name} in {agent}"))
}

/// The ids in a list of `AgentContainer`s.
#[track_caller]
fn container_ids(containers: &Value) -> Vec<&str> {
    containers
        .as_array()
        .unwrap_or_else(|| panic!("not a list of containers: {containers}"))
        .iter()
        .filter_map(|c| c["containerId"].as_str())
        .collect()
}

/// Whether `value` is a string containing `text`: messages and bodies are checked for what
/// they mention, not matched whole.
fn mentions(value: &Value, text: &str) -> bool {
    value.as_str().is_some_and(|s| s.contains(text))
}

/// The port a process container listens on, from what its GetEnv action reports.
#[track_caller]
fn env_port(env: &Value) -> u16 {
    env["port"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no PORT: {env}"))
}

/// Wait until a deleted process container no longer listens on `port`: DELETE answers
/// before the process has exited.
async fn assert_stopped_listening(port: u16) {
    assert!(
        stops_listening(port, Duration::from_secs(10)).await,
        "the deleted container still listens on {port}"
    );
}

/// Run tests/conformance/python/opaca_client.py against `host`; the JSON it printed.
pub(crate) fn run_opaca_client(host: &Host, login: &[&str]) -> Value {
    let mut command = Command::new(opaca_python());
    command
        .arg(script("opaca_client.py"))
        .arg(&host.opaca_url)
        .args(login);
    let stdout = run_script("opaca_client.py", command, host, |_| true);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("opaca_client.py printed {last:?}: {e}"))
}

/// The events of `/history` as a list.
fn events(history: &Value) -> &Vec<Value> {
    history
        .as_array()
        .unwrap_or_else(|| panic!("/history is not a list: {history}"))
}

/// The position of the newest event of `kind` with `route`.
#[track_caller]
fn newest(events: &[Value], kind: &str, route: &str) -> usize {
    events
        .iter()
        .rposition(|e| e["eventType"] == kind && e["route"] == route)
        .unwrap_or_else(|| panic!("no {kind} event for {route} in {events:?}"))
}

/// The event answering the CALL at `call` (same `relatedId`), after it; its position.
#[track_caller]
fn outcome(events: &[Value], call: usize) -> usize {
    let id = &events[call]["id"];
    assert!(id.is_string(), "an event without id: {}", events[call]);
    let at = events
        .iter()
        .position(|e| e["relatedId"] == *id)
        .unwrap_or_else(|| panic!("nothing answers {} in {events:?}", events[call]));
    assert!(
        at > call,
        "the outcome precedes its CALL (newest last): {events:?}"
    );
    at
}
