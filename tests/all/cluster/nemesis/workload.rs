//! The clients: appends and reads on list actors through Dapr's HTTP and gRPC APIs and
//! the Spawn proxy protocol, one-shot reminders whose firings append, and bank transfers.
//! Every loop stops when told to; every request has a timeout.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prost::Message;

use super::Rng;
use super::history::{History, Kind, Op, Outcome, Reminder, Transfer};
use crate::spawn_harness::{InvocationResponse, JsonType, OK, json_any, request};

/// List actors the clients write.
pub const LISTS: usize = 24;
/// Bank accounts, and what each starts with.
pub const ACCOUNTS: usize = 4;
pub const OPENING: i64 = 1000;
/// How long a client waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where the hosts are now (their ports change when they restart).
#[derive(Clone, Default)]
pub struct Endpoints(Arc<RwLock<Vec<(String, String)>>>);

impl Endpoints {
    /// HTTP and gRPC URLs of host `n`.
    pub fn get(&self, n: usize) -> (String, String) {
        self.0.read().unwrap()[n].clone()
    }

    pub fn set(&self, n: usize, http: String, grpc: String) {
        let mut all = self.0.write().unwrap();
        if all.len() <= n {
            all.resize(n + 1, Default::default());
        }
        all[n] = (http, grpc);
    }

    /// Forget the last host (it left).
    pub fn pop(&self) {
        self.0.write().unwrap().pop();
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap().len()
    }
}

/// What every client shares.
#[derive(Clone)]
pub struct Shared {
    pub endpoints: Endpoints,
    pub history: Arc<History>,
    pub stop: Arc<AtomicBool>,
    pub http: reqwest::Client,
    pub next_element: Arc<AtomicU64>,
}

/// The list actor `n`'s id.
pub fn list_id(n: usize) -> String {
    format!("l{n}")
}

/// One client of lists: appends (two in three) and reads, by a random protocol through a
/// random host, until stopped.
pub async fn list_client(client: usize, shared: Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    while !shared.stop.load(Ordering::Relaxed) {
        let actor = list_id(rng.below(LISTS as u64) as usize);
        let kind = if rng.below(3) < 2 {
            let n = shared.next_element.fetch_add(1, Ordering::Relaxed);
            Kind::Append(format!("c{client}-{n}"))
        } else {
            Kind::Read
        };
        let host = rng.below(shared.endpoints.len() as u64) as usize;
        let protocol = ["http", "grpc", "spawn"][rng.below(3) as usize];
        let (http, grpc) = shared.endpoints.get(host);
        let invoked = shared.history.now();
        let (action, payload) = match &kind {
            Kind::Append(e) => ("append", serde_json::to_string(e).unwrap()),
            Kind::Read => ("read", String::new()),
        };
        let answer = match protocol {
            "http" => {
                let url = format!("{http}/v1.0/actors/list/{actor}/method/{action}");
                post_text(&shared.http, url, &payload).await
            }
            "grpc" => via_grpc(&grpc, &actor, action, &payload).await,
            _ => via_spawn(&shared.http, &http, &actor, action, &payload).await,
        };
        let outcome = match answer.and_then(|text| {
            serde_json::from_str::<Vec<String>>(&text).map_err(|e| format!("{text:?}: {e}"))
        }) {
            Ok(list) => Outcome::Ok(list),
            Err(why) => Outcome::Unknown(why),
        };
        shared.history.ops.lock().unwrap().push(Op {
            client,
            actor: format!("list/{actor}"),
            kind,
            protocol,
            host,
            invoked,
            completed: shared.history.now(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// POST `body` to `url`; the answer's text if it succeeded.
async fn post_text(client: &reqwest::Client, url: String, body: &str) -> Result<String, String> {
    let response = client
        .post(url)
        .body(body.to_string())
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

async fn via_grpc(url: &str, actor: &str, action: &str, payload: &str) -> Result<String, String> {
    use warren_host::wire::dapr_proto::runtime as rt;
    let call = async {
        let mut client = rt::dapr_client::DaprClient::connect(url.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let mut request = tonic::Request::new(rt::InvokeActorRequest {
            actor_type: "list".into(),
            actor_id: actor.into(),
            method: action.into(),
            data: payload.as_bytes().to_vec(),
            metadata: Default::default(),
        });
        request.set_timeout(TIMEOUT);
        let reply = client
            .invoke_actor(request)
            .await
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
        String::from_utf8(reply.into_inner().data).map_err(|e| e.to_string())
    };
    tokio::time::timeout(TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err("no answer in time".into()))
}

async fn via_spawn(
    client: &reqwest::Client,
    url: &str,
    actor: &str,
    action: &str,
    payload: &str,
) -> Result<String, String> {
    let mut call = request("default", actor, action).spawning("list");
    if !payload.is_empty() {
        call = call.with_value(json_any(payload));
    }
    let response = client
        .post(format!("{url}/api/v1/system/default/actors/{actor}/invoke"))
        .header("content-type", "application/octet-stream")
        .body(call.encode_to_vec())
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let reply = InvocationResponse::decode(bytes.as_ref()).map_err(|e| e.to_string())?;
    let code = reply.status.as_ref().map_or(0, |s| s.status);
    if !status.is_success() || code != OK {
        return Err(format!("{status}: {:?}", reply.status));
    }
    let value = reply.value.ok_or("the reply has no value")?;
    JsonType::decode(value.value.as_slice())
        .map(|json| json.content)
        .map_err(|e| e.to_string())
}

/// Register a one-shot reminder every second, through a random host, until stopped.
pub async fn reminder_client(shared: Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut n = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        n += 1;
        let actor = list_id(rng.below(LISTS as u64) as usize);
        let element = format!("rem{n}");
        let (http, _) = shared
            .endpoints
            .get(rng.below(shared.endpoints.len() as u64) as usize);
        let due = shared.history.now() + Duration::from_secs(1);
        let registered = shared
            .http
            .post(format!(
                "{http}/v1.0/actors/list/{actor}/reminders/r-{element}"
            ))
            .json(&serde_json::json!({"dueTime": "1s"}))
            .timeout(TIMEOUT)
            .send()
            .await;
        let acknowledged = registered.is_ok_and(|r| r.status().is_success());
        shared.history.reminders.lock().unwrap().push(Reminder {
            actor: format!("list/{actor}"),
            element,
            due,
            acknowledged,
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Move money between the accounts, five times a second, until stopped.
pub async fn bank_client(shared: Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    while !shared.stop.load(Ordering::Relaxed) {
        let from = rng.below(ACCOUNTS as u64);
        let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1)) % ACCOUNTS as u64;
        let amount = 1 + rng.below(10) as i64;
        let (http, _) = shared
            .endpoints
            .get(rng.below(shared.endpoints.len() as u64) as usize);
        let body = serde_json::json!({"to": format!("acct{to}"), "amount": amount}).to_string();
        let url = format!("{http}/v1.0/actors/account/acct{from}/method/transfer");
        // Anything but success counts as unknown, which only widens what the bank
        // check allows.
        let answer = post_text(&shared.http, url, &body).await;
        shared.history.transfers.lock().unwrap().push(Transfer {
            amount,
            acknowledged: answer.is_ok(),
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
