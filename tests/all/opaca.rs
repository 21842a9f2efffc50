//! OPACA: Warren's runtime-platform API (shared/protocols/opaca.md) against real peers: an
//! agent container written with the Python `opaca` package run as a process container, Wasm
//! components as containers, the package's `AsyncOpacaClient`, and a second Warren.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Host, eventually, guest};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The script `name` of tests/conformance/python, as an absolute path.
fn script(name: &str) -> PathBuf {
    workspace().join("tests/conformance/python").join(name)
}

/// The interpreter of the venv scripts/conformance-deps.sh installs `opaca` into. Not
/// canonicalized: the venv's python is a symlink, and only its own path finds the venv.
fn opaca_python() -> PathBuf {
    let dir = std::env::var_os("WARREN_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace().join("target"))
                .join("conformance")
        });
    assert!(
        dir.join("opaca.stamp").exists(),
        "{} lacks the opaca package: run scripts/conformance-deps.sh",
        dir.display()
    );
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
fn calculator_container() -> Value {
    json!({"image": {"imageName": "calculator"}, "arguments": {}})
}

/// Deploy the calculator component into the default tenant.
async fn deploy_calculator(host: &Host) {
    let (status, body) = host
        .deploy(std::fs::read(guest("calculator")).unwrap())
        .await;
    assert_eq!(status, 201, "deploying the calculator: {body}");
}

/// A status and body from the RP API.
struct Reply {
    what: String,
    status: u16,
    text: String,
}

impl Reply {
    /// Expect 200; the body as JSON.
    #[track_caller]
    fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}: {}", self.what, self.text);
        self.json()
    }

    #[track_caller]
    fn json(&self) -> Value {
        // The reference answers send, broadcast and a few others with an empty body.
        if self.text.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {:?}", self.what, self.text))
    }

    /// Expect `status` with an `ErrorResponse` naming the same status.
    #[track_caller]
    fn error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}: {}", self.what, self.text);
        let body = self.json();
        assert_eq!(body["statusCode"], status, "{}: {}", self.what, self.text);
        assert!(body["message"].is_string(), "{}: {}", self.what, self.text);
        body
    }

    /// Expect `status`, whatever the body (the auth filter answers in plain text).
    #[track_caller]
    fn status_is(&self, status: u16) {
        assert_eq!(self.status, status, "{}: {}", self.what, self.text);
    }
}

/// A client of one platform's RP API, with a bearer token or none.
#[derive(Clone)]
struct Rp {
    url: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Rp {
    fn of(host: &Host) -> Rp {
        Rp {
            url: host.opaca_url.clone(),
            token: None,
            http: reqwest::Client::new(),
        }
    }

    fn with_token(&self, token: &str) -> Rp {
        Rp {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<(&str, String)>) -> Reply {
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply { what, status, text }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(("application/json", body.to_string())),
        )
        .await
    }

    async fn post_text(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send(Method::POST, path, Some((content_type, body.to_string())))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(
            Method::PUT,
            path,
            Some(("application/json", body.to_string())),
        )
        .await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    async fn delete_json(&self, path: &str, body: Value) -> Reply {
        self.send(
            Method::DELETE,
            path,
            Some(("application/json", body.to_string())),
        )
        .await
    }

    /// Start a container (waiting up to a minute for it); its id, checked to be raw text.
    async fn start(&self, body: Value) -> String {
        let reply = self.post("/containers?timeout=60", body).await;
        assert_eq!(reply.status, 200, "POST /containers: {}", reply.text);
        let id = reply.text;
        assert!(
            !id.is_empty() && !id.contains('"') && !id.contains(char::is_whitespace),
            "a container id is raw text, got {id:?}"
        );
        id
    }

    /// Log in; the raw JWT.
    async fn login(&self, username: &str, password: &str) -> String {
        let reply = self
            .post(
                "/login",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(reply.status, 200, "login as {username}: {}", reply.text);
        assert_jwt(&reply.text);
        reply.text
    }

    /// The payload of the last message the calculator in `container` got.
    async fn last_message(&self, container: &str) -> Value {
        let path = format!("/invoke/LastMessage/calculator?containerId={container}");
        self.post(&path, json!({})).await.ok()
    }

    /// Wait until the calculator in `container` has got a message with `want`.
    async fn wait_last_message(&self, container: &str, want: Value) {
        let want = &want;
        let got = eventually(Duration::from_secs(10), || async move {
            (self.last_message(container).await == *want).then_some(())
        })
        .await;
        assert!(
            got.is_some(),
            "the calculator in {container} never got {want}; its last message: {}",
            self.last_message(container).await
        );
    }
}

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

/// Whether something listens on a loopback port.
async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// Run tests/conformance/python/opaca_client.py against `host`; the JSON it printed.
fn run_opaca_client(host: &Host, login: &[&str]) -> Value {
    let out = Command::new(opaca_python())
        .arg(script("opaca_client.py"))
        .arg(&host.opaca_url)
        .args(login)
        .output()
        .expect("cannot run opaca_client.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "opaca_client.py failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\nwarren log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
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

/// An agent container written with the Python `opaca` package runs as a process container:
/// POST /containers answers its raw id after Warren has pulled the AC's `/info`; the
/// container's description shows its agent and hides the confidential argument; `Double`
/// is invoked with and without agent id and container id, Warren rejects bad arguments
/// (400) and unknown actions (404) before the AC sees them, and the AC's 400 for a raising
/// action comes back as 502 with the AC's answer as `cause`; the container's environment
/// holds CONTAINER_ID, OWNER, PLATFORM_URL, PORT, PORT_MAPPING and the image parameters
/// (argument or default, the confidential one too); sent and broadcast messages reach the
/// agent (with and without `replyTo`); notify re-pulls `/info`; DELETE ends the process;
/// unknown images give 404 and a missing required parameter 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_container_runs_as_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--opaca-image", &sample_image()]);
    let rp = Rp::of(&host);

    rp.post(
        "/containers",
        json!({"image": {"imageName": "no-such-image"}, "arguments": {}}),
    )
    .await
    .error(404);
    let mut strict = sample_container(json!({}));
    strict["image"]["parameters"][0] =
        json!({"name": "greeting", "type": "string", "required": true});
    rp.post("/containers", strict).await.error(400);

    let id = rp
        .start(sample_container(
            json!({"greeting": "salut", "secret": "s3cret"}),
        ))
        .await;
    let container = rp.get(&format!("/containers/{id}")).await.ok();
    assert_eq!(container["containerId"], id.as_str(), "{container}");
    assert_eq!(container["image"]["imageName"], SAMPLE, "{container}");
    assert_eq!(
        container["arguments"],
        json!({"greeting": "salut"}),
        "the confidential argument is hidden: {container}"
    );
    let sample = agent(&container["agents"], "sample-agent");
    for name in [
        "Double",
        "RaiseError",
        "GetEnv",
        "GetMessages",
        "CallPlatform",
    ] {
        action(sample, name);
    }
    assert_eq!(
        action(sample, "Double")["parameters"]["x"]["type"],
        "integer"
    );
    let info = rp.get("/info").await.ok();
    assert!(!info.to_string().contains("s3cret"), "{info}");
    let listed = info["containers"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["containerId"] == id.as_str()))
        .unwrap_or_else(|| panic!("{id} is not in /info: {info}"));
    assert_eq!(listed["arguments"], json!({"greeting": "salut"}));
    assert!(!rp.get("/containers").await.text.contains("s3cret"));
    agent(&rp.get("/agents").await.ok(), "sample-agent");

    // Invocations, with the arguments checked against the AC's own description.
    let double = |path: String, x: Value| {
        let rp = rp.clone();
        async move { rp.post(&path, json!({ "x": x })).await }
    };
    assert_eq!(
        double("/invoke/Double/sample-agent".into(), json!(21))
            .await
            .ok(),
        42
    );
    assert_eq!(double("/invoke/Double".into(), json!(-4)).await.ok(), -8);
    assert_eq!(
        double(format!("/invoke/Double?containerId={id}"), json!(5))
            .await
            .ok(),
        10
    );
    double(
        "/invoke/Double?containerId=no-such-container".into(),
        json!(5),
    )
    .await
    .error(404);
    double("/invoke/Double/nobody".into(), json!(5))
        .await
        .error(404);
    for bad in [
        json!({"x": 2.5}),
        json!({"x": "3"}),
        json!({"x": null}),
        json!({}),
        json!({"x": 1, "y": 2}),
    ] {
        let reply = rp.post("/invoke/Double/sample-agent", bad.clone()).await;
        assert_eq!(reply.status, 400, "Double({bad}): {}", reply.text);
        reply.error(400);
    }
    rp.post("/invoke/Triple/sample-agent", json!({"x": 1}))
        .await
        .error(404);

    let failed = rp.post("/invoke/RaiseError/sample-agent", json!({})).await;
    let failure = failed.error(502);
    let cause = &failure["cause"];
    assert_eq!(cause["statusCode"], 400, "{}", failed.text);
    assert!(
        cause["message"]
            .as_str()
            .is_some_and(|m| m.contains("the sample agent was asked to fail")),
        "the AC's answer is the cause: {}",
        failed.text
    );

    // The container's environment.
    let env = rp.post("/invoke/GetEnv/sample-agent", json!({})).await.ok();
    assert_eq!(env["containerId"], id.as_str(), "{env}");
    assert_eq!(env["sdkContainerId"], id.as_str(), "{env}");
    assert_eq!(env["owner"], "admin", "{env}");
    assert_eq!(env["platformUrl"], host.opaca_url.as_str(), "{env}");
    assert_eq!(env["tokenSet"], false, "no TOKEN with auth off: {env}");
    assert_eq!(env["greeting"], "salut", "{env}");
    assert_eq!(env["secretSet"], true, "{env}");
    assert_eq!(env["secret"], "s3cret", "{env}");
    let port: u16 = env["port"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no PORT: {env}"));
    assert_eq!(env["portMapping"], format!("8082:{port}"), "{env}");
    assert_eq!(
        container["connectivity"]["apiPortMapping"], port,
        "{container}"
    );

    // Messages: to the agent, and on the channel it subscribed.
    rp.post(
        "/send/sample-agent",
        json!({"payload": {"n": 1}, "replyTo": "tester"}),
    )
    .await
    .ok();
    // Without replyTo: the package's Message model refuses `"replyTo": null`.
    rp.post("/send/sample-agent", json!({"payload": "no reply"}))
        .await
        .ok();
    rp.post("/broadcast/news", json!({"payload": "extra"}))
        .await
        .ok();
    rp.post("/send/nobody", json!({"payload": 1}))
        .await
        .error(404);
    rp.post(
        "/send/sample-agent?containerId=no-such-container",
        json!({"payload": 1}),
    )
    .await
    .error(404);
    let want = json!([
        {"payload": {"n": 1}, "replyTo": "tester"},
        {"payload": "no reply", "replyTo": ""},
        {"payload": "extra", "replyTo": ""},
    ]);
    let want = &want;
    let rp_ref = &rp;
    let got = eventually(Duration::from_secs(10), || async move {
        let got = rp_ref
            .post("/invoke/GetMessages/sample-agent", json!({}))
            .await
            .ok();
        (got == *want).then_some(())
    })
    .await;
    assert!(
        got.is_some(),
        "GetMessages: {}",
        rp.post("/invoke/GetMessages/sample-agent", json!({}))
            .await
            .text
    );

    // Notify, with the id quoted (as the Python client sends it) or not.
    let notified = rp
        .post_text(
            "/containers/notify",
            "application/json",
            &format!("\"{id}\""),
        )
        .await;
    assert_eq!(notified.ok(), true);
    assert_eq!(
        rp.post_text("/containers/notify", "text/plain", &id)
            .await
            .ok(),
        true
    );
    rp.post_text(
        "/containers/notify",
        "application/json",
        "\"no-such-container\"",
    )
    .await
    .error(404);

    // A second container without arguments gets the default and no secret.
    let plain = rp.start(sample_container(json!({}))).await;
    assert_ne!(plain, id);
    let env = rp
        .post(
            &format!("/invoke/GetEnv/sample-agent?containerId={plain}"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(env["containerId"], plain.as_str(), "{env}");
    assert_eq!(env["greeting"], "hello", "{env}");
    assert_eq!(env["secretSet"], false, "{env}");
    let plain_port: u16 = env["port"].as_str().unwrap().parse().unwrap();

    // DELETE ends the process.
    assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), true);
    assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), false);
    double(format!("/invoke/Double?containerId={id}"), json!(1))
        .await
        .error(404);
    let gone = eventually(Duration::from_secs(10), || async move {
        (!listening(port).await).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the deleted container still listens on {port}"
    );
    assert_eq!(double("/invoke/Double".into(), json!(3)).await.ok(), 6);
    assert_eq!(rp.delete(&format!("/containers/{plain}")).await.ok(), true);
    let gone = eventually(Duration::from_secs(10), || async move {
        (!listening(plain_port).await).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the deleted container still listens on {plain_port}"
    );
    double("/invoke/Double".into(), json!(3)).await.error(404);
    assert_eq!(rp.get("/containers").await.ok(), json!([]));
}

/// A Wasm component deployed in the tenant is a container image: each POST /containers
/// makes a container whose agent (the actor type, `calculator`) offers the manifest's
/// actions with their OPACA types; Warren validates arguments before the actor runs
/// (integer vs number, required vs optional, null, unknown keys, array items), answers 404
/// for unknown actions and 422 for a body that is not JSON, and 502 with a cause when the
/// actor fails; two containers of one image keep separate state, `containerId` picks one,
/// and send and broadcast without it reach both; `/v3/api-docs/actions` lists the actions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_components_are_containers_with_validated_actions() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    deploy_calculator(&host).await;
    let rp = Rp::of(&host);

    let one = rp.start(calculator_container()).await;
    let agents = rp.get("/agents").await.ok();
    let calculator = agent(&agents, "calculator");
    for name in ["Add", "Mean", "Greet", "Fail", "LastMessage"] {
        action(calculator, name);
    }
    let add = action(calculator, "Add");
    assert_eq!(add["parameters"]["x"]["type"], "integer", "{add}");
    assert_eq!(add["parameters"]["y"]["type"], "integer", "{add}");
    assert_eq!(add["result"]["type"], "integer", "{add}");
    let mean = action(calculator, "Mean");
    assert_eq!(mean["parameters"]["values"]["type"], "array", "{mean}");
    assert_eq!(
        mean["parameters"]["values"]["items"]["type"], "number",
        "{mean}"
    );
    let greet = action(calculator, "Greet");
    assert_eq!(greet["parameters"]["name"]["required"], true, "{greet}");
    assert_eq!(greet["parameters"]["polite"]["required"], false, "{greet}");
    assert_eq!(
        rp.get("/agents/calculator").await.ok()["agentId"],
        "calculator"
    );
    let container = rp.get(&format!("/containers/{one}")).await.ok();
    assert_eq!(container["image"]["imageName"], "calculator", "{container}");
    agent(&container["agents"], "calculator");

    for (name, args, want) in [
        ("Add", json!({"x": 1, "y": 2}), Ok(json!(3))),
        ("Add", json!({"x": -5, "y": 2}), Ok(json!(-3))),
        ("Add", json!({"x": 1, "y": 2.5}), Err(400)),
        ("Add", json!({"x": "1", "y": 2}), Err(400)),
        ("Add", json!({"x": 1}), Err(400)),
        ("Add", json!({"x": null, "y": 2}), Err(400)),
        ("Add", json!({"x": 1, "y": 2, "z": 3}), Err(400)),
        ("Mean", json!({"values": [1, 2, 4.5]}), Ok(json!(2.5))),
        ("Mean", json!({"values": [1, "2"]}), Err(400)),
        ("Mean", json!({"values": [[1]]}), Err(400)),
        ("Mean", json!({"values": 3}), Err(400)),
        ("Greet", json!({"name": "Ada"}), Ok(json!("Hi Ada"))),
        (
            "Greet",
            json!({"name": "Ada", "polite": true}),
            Ok(json!("Good day, Ada.")),
        ),
        (
            "Greet",
            json!({"name": "Ada", "polite": null}),
            Ok(json!("Hi Ada")),
        ),
        ("Greet", json!({"name": "Ada", "polite": "yes"}), Err(400)),
        ("Greet", json!({"name": 7}), Err(400)),
        ("Greet", json!({"polite": true}), Err(400)),
        ("Nope", json!({}), Err(404)),
    ] {
        let reply = rp
            .post(&format!("/invoke/{name}/calculator"), args.clone())
            .await;
        match want {
            Ok(value) => assert_eq!(reply.ok(), value, "{name}({args})"),
            Err(status) => {
                assert_eq!(reply.status, status, "{name}({args}): {}", reply.text);
                reply.error(status);
            }
        }
    }
    assert_eq!(
        rp.post("/invoke/Add", json!({"x": 2, "y": 2})).await.ok(),
        4
    );
    rp.post("/invoke/Add/nobody", json!({"x": 1, "y": 2}))
        .await
        .error(404);
    rp.post_text("/invoke/Add/calculator", "application/json", "{not json")
        .await
        .error(422);
    let failed = rp.post("/invoke/Fail/calculator", json!({})).await;
    let failure = failed.error(502);
    let cause = &failure["cause"];
    assert!(cause["statusCode"].is_u64(), "{}", failed.text);
    assert!(
        cause["message"]
            .as_str()
            .is_some_and(|m| m.contains("asked to fail")),
        "the actor's error is the cause: {}",
        failed.text
    );

    // Two containers of one image: one actor each.
    let two = rp.start(calculator_container()).await;
    assert_ne!(one, two);
    assert_eq!(count_agents(&rp.get("/agents").await.ok(), "calculator"), 2);
    assert_eq!(rp.last_message(&one).await, Value::Null);
    rp.post(
        &format!("/send/calculator?containerId={one}"),
        json!({"payload": "for one"}),
    )
    .await
    .ok();
    rp.wait_last_message(&one, json!("for one")).await;
    assert_eq!(rp.last_message(&two).await, Value::Null);
    rp.post("/send/calculator", json!({"payload": "for both"}))
        .await
        .ok();
    rp.wait_last_message(&one, json!("for both")).await;
    rp.wait_last_message(&two, json!("for both")).await;
    rp.post("/broadcast/news", json!({"payload": {"headline": "extra"}}))
        .await
        .ok();
    rp.wait_last_message(&one, json!({"headline": "extra"}))
        .await;
    rp.wait_last_message(&two, json!({"headline": "extra"}))
        .await;
    rp.post("/broadcast/nobody-listens", json!({"payload": 1}))
        .await
        .ok();
    rp.post("/send/nobody", json!({"payload": 1}))
        .await
        .error(404);

    let docs = rp.get("/v3/api-docs/actions").await.ok();
    assert!(
        docs["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{docs}"
    );
    for path in [
        "/invoke/Add/calculator",
        "/invoke/Mean/calculator",
        "/invoke/Greet/calculator",
    ] {
        assert!(docs["paths"].get(path).is_some(), "{path} in {docs}");
    }

    assert_eq!(rp.delete(&format!("/containers/{one}")).await.ok(), true);
    rp.post(
        &format!("/invoke/LastMessage/calculator?containerId={one}"),
        json!({}),
    )
    .await
    .error(404);
    assert_eq!(rp.last_message(&two).await, json!({"headline": "extra"}));
    assert_eq!(count_agents(&rp.get("/agents").await.ok(), "calculator"), 1);
}

/// With `--opaca-require-auth`, the Python package's `AsyncOpacaClient` logs in, reads
/// info, config and agents, starts, invokes, messages, notifies and deletes a Wasm
/// container, renews its token and reads the history; directly: bad credentials give 403,
/// no or a bad token 401, `/token` a working JWT; admins manage users (201, 409, 404);
/// GUEST, USER and CONTRIBUTOR each reach exactly their routes (403 beyond), a contributor
/// deletes only its own containers, and a process container gets its owner and a TOKEN
/// that works against the platform; history records CALL then SUCCESS, or ERROR with the
/// status code, for invocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaca_client_and_roles_on_a_platform_requiring_login() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        dir.path(),
        &[
            "--opaca-require-auth",
            "--opaca-admin-password",
            "admin-pw",
            "--opaca-secret",
            "a-secret-of-at-least-32-bytes-for-hs256",
            "--opaca-image",
            &sample_image(),
        ],
    );
    deploy_calculator(&host).await;
    let anon = Rp::of(&host);

    // The package's own client.
    let seen = run_opaca_client(&host, &["admin", "admin-pw"]);
    assert_eq!(
        seen["loginToken"],
        json!({"parts": 3, "quoted": false}),
        "{seen}"
    );
    assert_eq!(seen["info"]["baseUrl"], host.opaca_url.as_str(), "{seen}");
    assert_eq!(seen["config"], "dict", "{seen}");
    let actions = &seen["agents"]["calculator"];
    for name in ["Add", "Fail", "Greet", "LastMessage", "Mean"] {
        assert!(
            actions.as_array().is_some_and(|a| a.contains(&json!(name))),
            "{name} in {seen}"
        );
    }
    assert_eq!(
        seen["addParameters"],
        json!({"x": "integer", "y": "integer"}),
        "{seen}"
    );
    assert_eq!(seen["add"], 42, "{seen}");
    assert_eq!(seen["addWithoutAgent"], 3, "{seen}");
    assert_eq!(seen["addInContainer"], 5, "{seen}");
    assert_eq!(seen["addNotForwarded"], 7, "{seen}");
    assert_eq!(seen["greet"], "Good day, Ada.", "{seen}");
    assert_eq!(seen["addBadArguments"]["status"], 400, "{seen}");
    assert_eq!(seen["unknownAction"]["status"], 404, "{seen}");
    assert_eq!(seen["fail"]["status"], 502, "{seen}");
    assert!(seen["fail"]["body"]["cause"].is_object(), "{seen}");
    assert_eq!(
        seen["lastMessageAfterSend"],
        json!({"hello": "opaca"}),
        "{seen}"
    );
    assert_eq!(seen["lastMessageAfterBroadcast"], "breaking", "{seen}");
    assert_eq!(
        seen["container"],
        json!({"imageName": "calculator", "owner": "admin", "agents": ["calculator"]}),
        "{seen}"
    );
    assert_eq!(seen["notify"], true, "{seen}");
    assert_eq!(seen["renewedToken"], json!({"parts": 3}), "{seen}");
    let history = events(&seen["history"]);
    // The first Add succeeded; the newest ran after the container was deleted.
    let call = history
        .iter()
        .position(|e| e["eventType"] == "CALL" && e["route"] == "POST /invoke/Add/calculator")
        .expect("no CALL of Add");
    assert_eq!(history[outcome(history, call)]["eventType"], "SUCCESS");
    let call = newest(history, "CALL", "POST /invoke/Fail/calculator");
    let error = &history[outcome(history, call)];
    assert_eq!(error["eventType"], "ERROR", "{error}");
    assert_eq!(error["statusCode"], 502, "{error}");
    newest(history, "SUCCESS", "POST /login");
    assert_eq!(seen["deleted"], true, "{seen}");
    assert_eq!(seen["deletedAgain"], false, "{seen}");
    assert!(
        !seen["agentsAfterDelete"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("calculator"))),
        "{seen}"
    );
    assert_eq!(seen["invokeAfterDelete"]["status"], 404, "{seen}");

    // Logging in, tokens.
    anon.post("/login", json!({"username": "admin", "password": "wrong"}))
        .await
        .status_is(403);
    anon.post(
        "/login",
        json!({"username": "nobody", "password": "admin-pw"}),
    )
    .await
    .status_is(403);
    anon.post_text("/login", "application/json", "")
        .await
        .status_is(400);
    let token = anon.login("admin", "admin-pw").await;
    let admin = anon.with_token(&token);
    for path in ["/info", "/agents", "/containers", "/history"] {
        anon.get(path).await.status_is(401);
        anon.with_token("not-a-jwt").get(path).await.status_is(401);
    }
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, flipped);
    anon.with_token(&parts.join("."))
        .get("/agents")
        .await
        .status_is(401);
    anon.post("/invoke/Add/calculator", json!({"x": 1, "y": 2}))
        .await
        .status_is(401);
    let renewed = admin.get("/token").await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_jwt(&renewed.text);
    anon.with_token(&renewed.text).get("/agents").await.ok();

    // Users.
    for (name, role) in [
        ("guest", "GUEST"),
        ("user", "USER"),
        ("contributor", "CONTRIBUTOR"),
    ] {
        let password = format!("{name}-pw");
        let body = json!({"username": name, "password": password, "role": role, "privileges": []});
        let created = admin.post("/users", body.clone()).await;
        assert_eq!(created.status, 201, "creating {name}: {}", created.text);
        assert!(
            !created.text.contains("-pw"),
            "the password is write-only: {}",
            created.text
        );
        admin.post("/users", body).await.status_is(409);
    }
    let users = admin.get("/users").await.ok();
    for name in ["admin", "guest", "user", "contributor"] {
        assert!(
            users
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u["username"] == name)),
            "{name} in {users}"
        );
    }
    assert!(!users.to_string().contains("-pw"), "{users}");
    admin.get("/users/nobody").await.status_is(404);
    let guest = anon.with_token(&anon.login("guest", "guest-pw").await);
    let user = anon.with_token(&anon.login("user", "user-pw").await);
    let contributor = anon.with_token(&anon.login("contributor", "contributor-pw").await);

    // Roles.
    let owned_by_admin = admin.start(calculator_container()).await;
    let add = json!({"x": 1, "y": 2});
    for path in ["/info", "/agents", "/containers", "/v3/api-docs/actions"] {
        guest.get(path).await.ok();
    }
    assert_eq!(guest.get("/users/guest").await.ok()["role"], "GUEST");
    guest.get("/users/user").await.status_is(403);
    guest.get("/users").await.status_is(403);
    guest.get("/history").await.status_is(403);
    guest
        .post("/invoke/Add/calculator", add.clone())
        .await
        .status_is(403);
    guest
        .post("/send/calculator", json!({"payload": 1}))
        .await
        .status_is(403);
    guest
        .post("/containers", calculator_container())
        .await
        .status_is(403);

    assert_eq!(
        user.post("/invoke/Add/calculator", add.clone()).await.ok(),
        3
    );
    user.post("/send/calculator", json!({"payload": 1}))
        .await
        .ok();
    user.post("/broadcast/news", json!({"payload": 2}))
        .await
        .ok();
    user.get("/history").await.ok();
    user.get("/connections").await.ok();
    user.post("/containers", calculator_container())
        .await
        .status_is(403);
    user.delete(&format!("/containers/{owned_by_admin}"))
        .await
        .status_is(403);
    user.post("/connections", json!({"url": "http://127.0.0.1:1"}))
        .await
        .status_is(403);
    user.get("/users").await.status_is(403);

    let owned = contributor.start(calculator_container()).await;
    let container = contributor.get(&format!("/containers/{owned}")).await.ok();
    assert_eq!(container["owner"], "contributor", "{container}");
    contributor
        .delete(&format!("/containers/{owned_by_admin}"))
        .await
        .status_is(403);
    contributor.get("/users").await.status_is(403);
    assert_eq!(
        contributor
            .delete(&format!("/containers/{owned}"))
            .await
            .ok(),
        true
    );

    // A process container started by the contributor: its owner, and a TOKEN that works.
    let process = contributor.start(sample_container(json!({}))).await;
    let env = contributor
        .post("/invoke/GetEnv/sample-agent", json!({}))
        .await
        .ok();
    assert_eq!(env["containerId"], process.as_str(), "{env}");
    assert_eq!(env["owner"], "contributor", "{env}");
    assert_eq!(env["tokenSet"], true, "{env}");
    assert_eq!(env["platformUrl"], host.opaca_url.as_str(), "{env}");
    let called = contributor
        .post(
            "/invoke/CallPlatform/sample-agent",
            json!({"path": "/agents"}),
        )
        .await
        .ok();
    assert_eq!(called["status"], 200, "the container's TOKEN: {called}");
    assert!(
        called["body"]
            .as_str()
            .is_some_and(|b| b.contains("sample-agent")),
        "{called}"
    );
    assert_eq!(
        contributor
            .delete(&format!("/containers/{process}"))
            .await
            .ok(),
        true
    );

    // History of an invocation that succeeds and one that fails.
    assert_eq!(
        admin.post("/invoke/Add/calculator", add.clone()).await.ok(),
        3
    );
    admin
        .post("/invoke/Fail/calculator", json!({}))
        .await
        .error(502);
    let history = admin.get("/history").await.ok();
    let history = events(&history);
    assert!(
        history
            .iter()
            .all(|e| e["id"].is_string() && e["timestamp"].is_i64()),
        "{history:?}"
    );
    let add_call = newest(history, "CALL", "POST /invoke/Add/calculator");
    assert_eq!(history[outcome(history, add_call)]["eventType"], "SUCCESS");
    let fail_call = newest(history, "CALL", "POST /invoke/Fail/calculator");
    assert!(fail_call > add_call, "newest last: {history:?}");
    let error = &history[outcome(history, fail_call)];
    assert_eq!(error["eventType"], "ERROR", "{error}");
    assert_eq!(error["statusCode"], 502, "{error}");

    // Updating and deleting users.
    let updated = admin
        .put(
            "/users/user",
            json!({"username": "user", "password": "user-pw2", "role": "USER"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    anon.post("/login", json!({"username": "user", "password": "user-pw"}))
        .await
        .status_is(403);
    anon.login("user", "user-pw2").await;
    admin.delete("/users/guest").await.ok();
    admin.get("/users/guest").await.status_is(404);
    anon.post(
        "/login",
        json!({"username": "guest", "password": "guest-pw"}),
    )
    .await
    .status_is(403);
    assert_eq!(
        admin
            .delete(&format!("/containers/{owned_by_admin}"))
            .await
            .ok(),
        true
    );
}

/// Two Warren platforms connected both ways (`connectBack`): the calculator runs only on B,
/// yet invoke (with and without agent and container id), send and broadcast through A reach
/// it, A validates arguments against B's description and records a FORWARD, and B sees A as
/// the sender; `forward=false` stops at A (404); A lists B's agents with
/// `includeConnected`, and containers started or deleted on B later show through A; bad,
/// own, unreachable and repeated connections are refused; after DELETE /connections
/// neither lists the other and nothing is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_platforms_forward_invocations_and_messages() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Host::start(dir_a.path(), &[]);
    let b = Host::start(dir_b.path(), &[]);
    deploy_calculator(&b).await;
    let (rp_a, rp_b) = (Rp::of(&a), Rp::of(&b));
    let on_b = rp_b.start(calculator_container()).await;
    let add = json!({"x": 2, "y": 3});
    rp_a.post("/invoke/Add/calculator", add.clone())
        .await
        .error(404);

    rp_a.post("/connections", json!({"url": "not a url"}))
        .await
        .error(400);
    rp_a.post("/connections", json!({"url": "http://127.0.0.1:1"}))
        .await
        .error(502);
    assert_eq!(
        rp_a.post("/connections", json!({"url": a.opaca_url}))
            .await
            .ok(),
        false,
        "a platform does not connect to itself"
    );
    let connect = json!({"url": b.opaca_url, "connectBack": true, "token": null});
    assert_eq!(rp_a.post("/connections", connect.clone()).await.ok(), true);
    assert_eq!(rp_a.post("/connections", connect).await.ok(), false);
    assert_eq!(rp_a.get("/connections").await.ok(), json!([b.opaca_url]));
    assert_eq!(rp_b.get("/connections").await.ok(), json!([a.opaca_url]));
    assert_eq!(
        rp_a.get("/info").await.ok()["connections"],
        json!([b.opaca_url])
    );

    // Invocations through A.
    assert_eq!(
        rp_a.post("/invoke/Add/calculator", add.clone()).await.ok(),
        5
    );
    assert_eq!(rp_a.post("/invoke/Add", add.clone()).await.ok(), 5);
    assert_eq!(
        rp_a.post(
            &format!("/invoke/Add/calculator?containerId={on_b}"),
            add.clone()
        )
        .await
        .ok(),
        5
    );
    rp_a.post("/invoke/Add/calculator?forward=false", add.clone())
        .await
        .error(404);
    rp_a.post("/invoke/Add/calculator", json!({"x": 1.5, "y": 1}))
        .await
        .error(400);
    rp_a.post("/invoke/Nope/calculator", json!({}))
        .await
        .error(404);
    let failed = rp_a.post("/invoke/Fail/calculator", json!({})).await;
    assert!(failed.error(502)["cause"].is_object(), "{}", failed.text);
    let history = rp_a.get("/history").await.ok();
    assert!(
        events(&history)
            .iter()
            .any(|e| e["eventType"] == "FORWARD" && e["receiver"] == b.opaca_url.as_str()),
        "A records forwarding to B: {history}"
    );
    let history = rp_b.get("/history").await.ok();
    assert!(
        events(&history).iter().any(|e| e["eventType"] == "CALL"
            && e["route"] == "POST /invoke/Add/calculator"
            && e["senderId"] == a.opaca_url.as_str()),
        "B sees A as the sender: {history}"
    );

    // Messages through A.
    rp_a.post("/send/calculator", json!({"payload": "via A"}))
        .await
        .ok();
    rp_b.wait_last_message(&on_b, json!("via A")).await;
    rp_a.post("/send/calculator?forward=false", json!({"payload": "lost"}))
        .await
        .error(404);
    rp_a.post("/broadcast/news", json!({"payload": "news via A"}))
        .await
        .ok();
    rp_b.wait_last_message(&on_b, json!("news via A")).await;
    rp_a.post(
        "/broadcast/news?forward=false",
        json!({"payload": "stays on A"}),
    )
    .await
    .ok();
    assert_eq!(rp_b.last_message(&on_b).await, "news via A");

    // Agents of B through A, and B's later changes.
    assert_eq!(
        count_agents(&rp_a.get("/agents").await.ok(), "calculator"),
        0
    );
    let connected = rp_a.get("/agents?includeConnected=true").await.ok();
    assert_eq!(count_agents(&connected, "calculator"), 1, "{connected}");
    assert_eq!(
        rp_a.get("/agents/calculator").await.ok()["agentId"],
        "calculator"
    );
    let later = rp_b.start(calculator_container()).await;
    let (rp_a_ref, later_ref) = (&rp_a, &later);
    let seen = eventually(Duration::from_secs(15), || async move {
        let path = format!("/invoke/LastMessage/calculator?containerId={later_ref}");
        (rp_a_ref.post(&path, json!({})).await.status == 200).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "A never learnt of B's new container {later}"
    );
    let agents = rp_a.get("/agents?includeConnected=true").await.ok();
    assert_eq!(count_agents(&agents, "calculator"), 2, "{agents}");
    assert_eq!(
        rp_b.delete(&format!("/containers/{later}")).await.ok(),
        true
    );
    let forgotten = eventually(Duration::from_secs(15), || async move {
        let agents = rp_a_ref.get("/agents?includeConnected=true").await.ok();
        (count_agents(&agents, "calculator") == 1).then_some(())
    })
    .await;
    assert!(forgotten.is_some(), "A never learnt that {later} is gone");
    rp_a.post(
        &format!("/invoke/LastMessage/calculator?containerId={later}"),
        json!({}),
    )
    .await
    .error(404);

    // Disconnecting.
    let disconnect = json!({"url": b.opaca_url, "connectBack": true});
    assert_eq!(
        rp_a.delete_json("/connections", disconnect.clone())
            .await
            .ok(),
        true
    );
    assert_eq!(rp_a.get("/connections").await.ok(), json!([]));
    assert_eq!(rp_b.get("/connections").await.ok(), json!([]));
    assert_eq!(
        rp_a.delete_json("/connections", disconnect).await.ok(),
        false
    );
    rp_a.post("/invoke/Add/calculator", add.clone())
        .await
        .error(404);
    rp_a.post("/send/calculator", json!({"payload": "after"}))
        .await
        .error(404);
    let connected = rp_a.get("/agents?includeConnected=true").await.ok();
    assert_eq!(count_agents(&connected, "calculator"), 0, "{connected}");
    assert_eq!(rp_b.post("/invoke/Add/calculator", add).await.ok(), 5);
}

/// Arguments of a platform that requires login, with `admin`/`admin-pw` as its admin.
const REQUIRE_AUTH: [&str; 5] = [
    "--opaca-require-auth",
    "--opaca-admin-password",
    "admin-pw",
    "--opaca-secret",
    "a-secret-of-at-least-32-bytes-for-hs256",
];

/// Create Warren tenant `name` through the admin API (open: no admin token is set).
async fn create_tenant(host: &Host, name: &str) {
    let body = json!({ "name": name }).to_string().into_bytes();
    let (status, text) = host
        .call(Method::POST, "/admin/v1/tenants", None, body)
        .await;
    assert_eq!(status, 201, "creating tenant {name}: {text}");
}

/// Deploy the calculator component into `tenant`.
async fn deploy_calculator_into(host: &Host, tenant: &str) {
    let wasm = std::fs::read(guest("calculator")).unwrap();
    let path = format!("/admin/v1/components?tenant={tenant}");
    let (status, text) = host.call(Method::POST, &path, None, wasm).await;
    assert_eq!(
        status, 201,
        "deploying the calculator into {tenant}: {text}"
    );
}

/// The usernames in a list of users, sorted.
#[track_caller]
fn usernames(users: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = users
        .as_array()
        .unwrap_or_else(|| panic!("not a list of users: {users}"))
        .iter()
        .map(|u| {
            u["username"]
                .as_str()
                .unwrap_or_else(|| panic!("a user without a username: {u}"))
        })
        .collect();
    names.sort();
    names
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

/// Whether `/history` has an event of `route`.
fn has_route(history: &Value, route: &str) -> bool {
    events(history).iter().any(|e| e["route"] == route)
}

impl Rp {
    /// POST `body` without a content type.
    async fn post_untyped(&self, path: &str, body: &str) -> Reply {
        let what = format!("POST {path} (no content type)");
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply { what, status, text }
    }
}

/// An image run as a process like the Python agent, through `env`, which sets the agent's
/// `greeting` (what GetEnv reports) to Warren's own RUST_LOG and NO_COLOR (the harness
/// starts Warren with both) and whether PATH is set, as the container's shell sees them.
const PROBE: &str = "py-env-probe";

/// `--opaca-image` mapping the probe's image to its command.
fn probe_image() -> String {
    format!(
        "{PROBE}=env \"greeting=${{RUST_LOG-unset}}/${{NO_COLOR-unset}}/${{PATH+path}}\" {}",
        agent_command()
    )
}

/// OPACA users act in one Warren tenant: the platform admin creates ADMIN ann in
/// `default` and ADMIN bob in `blue` (where the calculator is deployed too); bob neither
/// lists (/containers, /agents, /info, /containers/{id}) nor reaches (invoke, send,
/// containerId, DELETE) ann's container, and invoking finds nothing (404) until bob starts
/// his own, which then answers and is the only one either sees of the other's; bob's
/// broadcast stays in blue; each tenant's /history holds only its own calls while the
/// platform admin's holds both; bob lists, reads and changes only blue users (ann is 404 to
/// him, and he may not create or move users into `default`: 403), his users act in blue;
/// neither ann nor bob, only the platform admin, may change connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaca_users_of_one_tenant_never_reach_another() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &REQUIRE_AUTH);
    create_tenant(&host, "blue").await;
    deploy_calculator(&host).await;
    deploy_calculator_into(&host, "blue").await;
    let anon = Rp::of(&host);
    let admin = anon.with_token(&anon.login("admin", "admin-pw").await);

    let created = admin
        .post(
            "/users",
            json!({"username": "ann", "password": "ann-pw", "role": "ADMIN", "privileges": []}),
        )
        .await;
    assert_eq!(created.status, 201, "creating ann: {}", created.text);
    assert_eq!(created.json()["tenant"], "default", "{}", created.text);
    let created = admin
        .post(
            "/users",
            json!({"username": "bob", "password": "bob-pw", "role": "ADMIN",
                   "privileges": [], "tenant": "blue"}),
        )
        .await;
    assert_eq!(created.status, 201, "creating bob: {}", created.text);
    assert_eq!(created.json()["tenant"], "blue", "{}", created.text);
    let ann = anon.with_token(&anon.login("ann", "ann-pw").await);
    let bob = anon.with_token(&anon.login("bob", "bob-pw").await);

    // Ann's container: invisible to bob, and out of his reach.
    let anns = ann.start(calculator_container()).await;
    assert_eq!(
        ann.post("/invoke/Greet/calculator", json!({"name": "Ann"}))
            .await
            .ok(),
        "Hi Ann"
    );
    assert_eq!(bob.get("/containers").await.ok(), json!([]));
    assert_eq!(
        count_agents(&bob.get("/agents").await.ok(), "calculator"),
        0
    );
    assert_eq!(bob.get("/agents/calculator").await.ok(), Value::Null);
    let info = bob.get("/info").await.ok();
    assert_eq!(info["containers"], json!([]), "{info}");
    assert_eq!(
        bob.get(&format!("/containers/{anns}")).await.ok(),
        Value::Null
    );
    let add = json!({"x": 2, "y": 3});
    bob.post("/invoke/Add/calculator", add.clone())
        .await
        .error(404);
    bob.post(
        &format!("/invoke/Add/calculator?containerId={anns}"),
        add.clone(),
    )
    .await
    .error(404);
    bob.post("/send/calculator", json!({"payload": "from bob"}))
        .await
        .error(404);
    assert_eq!(bob.delete(&format!("/containers/{anns}")).await.ok(), false);
    assert_eq!(ann.last_message(&anns).await, Value::Null);

    // Bob's own container in blue.
    let bobs = bob.start(calculator_container()).await;
    assert_eq!(
        bob.post("/invoke/Add/calculator", add.clone()).await.ok(),
        5
    );
    let listed = bob.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [bobs.as_str()], "{listed}");
    let listed = ann.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [anns.as_str()], "{listed}");
    assert_eq!(
        count_agents(&bob.get("/agents").await.ok(), "calculator"),
        1
    );
    bob.post(
        &format!("/invoke/Add/calculator?containerId={anns}"),
        add.clone(),
    )
    .await
    .error(404);
    ann.post(
        &format!("/invoke/LastMessage/calculator?containerId={bobs}"),
        json!({}),
    )
    .await
    .error(404);

    // History per tenant (ann never calls Add, bob never Greet).
    let greet = "POST /invoke/Greet/calculator";
    let add_route = "POST /invoke/Add/calculator";
    let history = bob.get("/history").await.ok();
    assert!(has_route(&history, add_route), "{history}");
    assert!(
        !has_route(&history, greet),
        "ann's call in bob's history: {history}"
    );
    let history = ann.get("/history").await.ok();
    assert!(has_route(&history, greet), "{history}");
    assert!(
        !has_route(&history, add_route),
        "bob's call in ann's history: {history}"
    );
    let history = admin.get("/history").await.ok();
    assert!(
        has_route(&history, greet) && has_route(&history, add_route),
        "the platform admin sees every tenant's history: {history}"
    );

    // Broadcasts.
    bob.post("/broadcast/news", json!({"payload": "blue news"}))
        .await
        .ok();
    bob.wait_last_message(&bobs, json!("blue news")).await;
    assert_eq!(
        ann.last_message(&anns).await,
        Value::Null,
        "bob's broadcast stays in blue"
    );

    // Users.
    bob.get("/users/ann").await.error(404);
    bob.get("/users/admin").await.error(404);
    bob.put("/users/ann", json!({"role": "GUEST"}))
        .await
        .error(404);
    bob.delete("/users/ann").await.error(404);
    assert_eq!(admin.get("/users/ann").await.ok()["role"], "ADMIN");
    bob.post(
        "/users",
        json!({"username": "carl", "password": "carl-pw", "role": "USER",
               "privileges": [], "tenant": "default"}),
    )
    .await
    .error(403);
    admin.get("/users/carl").await.error(404);
    let created = bob
        .post(
            "/users",
            json!({"username": "cat", "password": "cat-pw", "role": "USER", "privileges": []}),
        )
        .await;
    assert_eq!(created.status, 201, "bob creating cat: {}", created.text);
    assert_eq!(created.json()["tenant"], "blue", "{}", created.text);
    bob.put("/users/cat", json!({"tenant": "default"}))
        .await
        .error(403);
    assert_eq!(bob.get("/users/cat").await.ok()["tenant"], "blue");
    let users = bob.get("/users").await.ok();
    assert_eq!(usernames(&users), ["bob", "cat"], "{users}");
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["tenant"] == "blue"),
        "{users}"
    );
    let users = ann.get("/users").await.ok();
    assert_eq!(usernames(&users), ["admin", "ann"], "{users}");
    let users = admin.get("/users").await.ok();
    assert_eq!(usernames(&users), ["admin", "ann", "bob", "cat"], "{users}");
    let cat = anon.with_token(&anon.login("cat", "cat-pw").await);
    assert_eq!(
        cat.post("/invoke/Add/calculator", add.clone()).await.ok(),
        5
    );
    let listed = cat.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [bobs.as_str()], "{listed}");

    // Connections: the platform admin's alone.
    let elsewhere = json!({"url": "http://127.0.0.1:1"});
    for (name, rp) in [("bob", &bob), ("ann", &ann)] {
        let reply = rp.post("/connections", elsewhere.clone()).await;
        assert_eq!(reply.status, 403, "{name}: {}", reply.text);
        reply.error(403);
        let reply = rp.delete_json("/connections", elsewhere.clone()).await;
        assert_eq!(reply.status, 403, "{name}: {}", reply.text);
        reply.error(403);
    }
    admin.post("/connections", elsewhere).await.error(502);

    assert_eq!(bob.delete(&format!("/containers/{bobs}")).await.ok(), true);
    assert_eq!(ann.delete(&format!("/containers/{anns}")).await.ok(), true);
}

/// PUT /users/{name} changes only the fields it is given: the platform admin puts just a
/// new password for bob (ADMIN in tenant blue, with a privilege), and bob keeps his role,
/// tenant and privileges, logs in with the new password and no longer with the old (403),
/// and still acts in blue; putting just a role keeps the password and the tenant, and bob's
/// token then has only the new role (403 on /users); an unknown user is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_user_changes_only_the_fields_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &REQUIRE_AUTH);
    create_tenant(&host, "blue").await;
    let anon = Rp::of(&host);
    let admin = anon.with_token(&anon.login("admin", "admin-pw").await);
    let created = admin
        .post(
            "/users",
            json!({"username": "bob", "password": "bob-pw", "role": "ADMIN",
                   "privileges": ["p1"], "tenant": "blue"}),
        )
        .await;
    assert_eq!(created.status, 201, "creating bob: {}", created.text);

    let updated = admin
        .put("/users/bob", json!({"password": "new-pw"}))
        .await
        .ok();
    for user in [updated, admin.get("/users/bob").await.ok()] {
        assert_eq!(user["username"], "bob", "{user}");
        assert_eq!(user["role"], "ADMIN", "{user}");
        assert_eq!(user["tenant"], "blue", "{user}");
        assert_eq!(user["privileges"], json!(["p1"]), "{user}");
        assert!(!user.to_string().contains("new-pw"), "{user}");
    }
    anon.post("/login", json!({"username": "bob", "password": "bob-pw"}))
        .await
        .status_is(403);
    let bob = anon.with_token(&anon.login("bob", "new-pw").await);
    let users = bob.get("/users").await.ok();
    assert_eq!(
        usernames(&users),
        ["bob"],
        "bob still acts in blue: {users}"
    );

    let updated = admin.put("/users/bob", json!({"role": "USER"})).await.ok();
    assert_eq!(updated["role"], "USER", "{updated}");
    assert_eq!(updated["tenant"], "blue", "{updated}");
    assert_eq!(updated["privileges"], json!(["p1"]), "{updated}");
    anon.login("bob", "new-pw").await;
    bob.get("/users").await.error(403);
    assert_eq!(bob.get("/users/bob").await.ok()["role"], "USER");

    admin
        .put("/users/nobody", json!({"password": "x"}))
        .await
        .error(404);
}

/// Bodies of the JSON routes must say they are JSON: POST /containers with a valid
/// container as `text/plain`, form data or no content type is 415 with an ErrorResponse
/// and starts nothing; invoke with a JSON object as `text/plain` or without a content type
/// is 415, while `application/json` answers in any case and with a charset; an empty body
/// without a content type is no arguments (Add, which needs x and y, gives 400, LastMessage
/// 200); send and broadcast as `text/plain` are 415 and deliver nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_need_the_json_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    deploy_calculator(&host).await;
    let rp = Rp::of(&host);

    let container = calculator_container().to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let reply = rp.post_text("/containers", content_type, &container).await;
        assert_eq!(reply.status, 415, "{content_type}: {}", reply.text);
        reply.error(415);
    }
    rp.post_untyped("/containers", &container).await.error(415);
    assert_eq!(rp.get("/containers").await.ok(), json!([]));
    let id = rp.start(calculator_container()).await;
    let listed = rp.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [id.as_str()], "{listed}");

    let args = r#"{"x": 1, "y": 2}"#;
    rp.post_text("/invoke/Add/calculator", "text/plain", args)
        .await
        .error(415);
    rp.post_untyped("/invoke/Add/calculator", args)
        .await
        .error(415);
    for content_type in [
        "application/json",
        "application/json; charset=UTF-8",
        "Application/JSON",
    ] {
        let reply = rp
            .post_text("/invoke/Add/calculator", content_type, args)
            .await;
        assert_eq!(reply.ok(), 3, "{content_type}");
    }
    rp.post_untyped("/invoke/Add/calculator", "")
        .await
        .error(400);
    assert_eq!(
        rp.post_untyped("/invoke/LastMessage/calculator", "")
            .await
            .ok(),
        Value::Null
    );

    rp.post_text("/send/calculator", "text/plain", r#"{"payload": "plain"}"#)
        .await
        .error(415);
    rp.post_text("/broadcast/news", "text/plain", r#"{"payload": "plain"}"#)
        .await
        .error(415);
    assert_eq!(rp.last_message(&id).await, Value::Null);
    assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), true);
}

/// A process container's image parameters become environment variables only if they
/// cannot change how the process starts: a parameter given a value (an argument or a
/// default) named LD_PRELOAD, PYTHONPATH, ld_preload, PATH, TOKEN, token, BASH_ENV,
/// PYTHONSTARTUP or `not a name` is 400 naming it, and no container starts; and the
/// container's environment has PATH but none of Warren's own (its RUST_LOG and NO_COLOR,
/// which the harness sets, read by a command that runs the agent through `env`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_containers_refuse_loader_variables_and_get_a_clean_environment() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        dir.path(),
        &[
            "--opaca-image",
            &sample_image(),
            "--opaca-image",
            &probe_image(),
        ],
    );
    let rp = Rp::of(&host);

    for name in [
        "LD_PRELOAD",
        "PYTHONPATH",
        "ld_preload",
        "PATH",
        "TOKEN",
        "token",
        "BASH_ENV",
        "not a name",
    ] {
        let mut arguments = serde_json::Map::new();
        arguments.insert(name.to_string(), json!("not-there.so"));
        let mut request = sample_container(Value::Object(arguments));
        request["image"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "type": "string", "required": false,
                         "confidential": false}));
        let reply = rp.post("/containers", request).await;
        assert_eq!(reply.status, 400, "parameter {name}: {}", reply.text);
        let error = reply.error(400);
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(name)),
            "the message names {name}: {error}"
        );
    }
    let mut request = sample_container(json!({}));
    request["image"]["parameters"].as_array_mut().unwrap().push(
        json!({"name": "PYTHONSTARTUP", "type": "string", "required": false,
                     "confidential": false, "defaultValue": "startup.py"}),
    );
    let reply = rp.post("/containers", request).await;
    let error = reply.error(400);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("PYTHONSTARTUP")),
        "{error}"
    );
    assert_eq!(
        rp.get("/containers").await.ok(),
        json!([]),
        "no container started"
    );
    rp.post("/invoke/GetEnv/sample-agent", json!({}))
        .await
        .error(404);

    // Warren's environment stays with Warren.
    let probe = rp
        .start(json!({
            "image": {"imageName": PROBE, "apiPort": 8082, "parameters": []},
            "arguments": {},
        }))
        .await;
    let env = rp.post("/invoke/GetEnv/sample-agent", json!({})).await.ok();
    assert_eq!(env["containerId"], probe.as_str(), "{env}");
    assert_eq!(
        env["greeting"], "unset/unset/path",
        "RUST_LOG/NO_COLOR/PATH as the container saw them: {env}"
    );
    assert_eq!(env["tokenSet"], false, "{env}");
    assert_eq!(env["secretSet"], false, "{env}");
    let port: u16 = env["port"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no PORT: {env}"));
    assert_eq!(rp.delete(&format!("/containers/{probe}")).await.ok(), true);
    let gone = eventually(Duration::from_secs(10), || async move {
        (!listening(port).await).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the deleted container still listens on {port}"
    );
}

/// A `timeout` that is no usable duration (infinite, NaN, beyond what a duration holds,
/// negative, zero, not a number, empty) means none: POST /containers still starts a
/// container, and invoke with valid arguments answers 200 with the sum, with and without
/// `containerId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_timeouts_mean_no_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    deploy_calculator(&host).await;
    let rp = Rp::of(&host);

    let mut ids = Vec::new();
    for timeout in ["inf", "1e20"] {
        let reply = rp
            .post(
                &format!("/containers?timeout={timeout}"),
                calculator_container(),
            )
            .await;
        reply.status_is(200);
        assert!(!reply.text.is_empty(), "{}", reply.what);
        ids.push(reply.text);
    }
    assert_eq!(count_agents(&rp.get("/agents").await.ok(), "calculator"), 2);

    for timeout in [
        "inf",
        "1e20",
        "-inf",
        "NaN",
        "1e308",
        "18446744073709551616",
        "1e15",
        "-1",
        "0",
        "soon",
        "",
    ] {
        let add = json!({"x": 20, "y": 22});
        let path = format!("/invoke/Add/calculator?timeout={timeout}");
        assert_eq!(
            rp.post(&path, add.clone()).await.ok(),
            42,
            "timeout={timeout}"
        );
        for id in &ids {
            let path = format!("/invoke/Add/calculator?containerId={id}&timeout={timeout}");
            assert_eq!(
                rp.post(&path, add.clone()).await.ok(),
                42,
                "timeout={timeout}"
            );
        }
    }
    for id in &ids {
        assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), true);
    }
}
