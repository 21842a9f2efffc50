//! Sends outbound HTTP requests through `wasi:http`, for the tests of Warren's egress.
//! `fetch` takes `{"url", "method"?, "body"?, "timeout_ms"?}` and answers
//! `{"status", "body", "bytes", "traceparent"}` or `{"error", "received"?}` (with
//! `"times": n`, the last of n tries): a refused or
//! failed request is an answer, not a failed turn, so a test reads the error code.
//! `poll` takes `{"url", "every"}` and sets a reminder `tick` that fetches the URL each
//! time and counts the outcomes in state (`counts` returns them).

use serde::{Deserialize, Serialize};
use warren_guest::http::{FetchError, Request};
use warren_guest::prelude::*;

struct Fetcher;

#[derive(Deserialize)]
struct Fetch {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// Send it this many times (default once); the answer is the last one's.
    #[serde(default)]
    times: Option<u32>,
}

#[derive(Serialize, Deserialize, Default)]
struct Counts {
    ok: u64,
    failed: u64,
}

#[derive(Deserialize)]
struct Poll {
    url: String,
    every: String,
}

fn fetch(args: &Fetch) -> serde_json::Value {
    let mut request = Request::new(args.method.as_deref().unwrap_or("GET"), &args.url);
    if let Some(body) = &args.body {
        request = request.body(body.as_bytes());
    }
    request.timeout = args.timeout_ms.map(std::time::Duration::from_millis);
    match request.send() {
        Ok(response) => serde_json::json!({
            "status": response.status,
            "bytes": response.body.len(),
            "body": String::from_utf8_lossy(&response.body[..response.body.len().min(4096)]),
            "echoed_traceparent": response.header("x-seen-traceparent"),
        }),
        Err(FetchError::Body { received, reason }) => {
            serde_json::json!({ "error": reason, "received": received })
        }
        Err(FetchError::Http(code)) => serde_json::json!({ "error": code }),
        Err(other) => serde_json::json!({ "error": other.to_string() }),
    }
}

impl Actor for Fetcher {
    fn manifest() -> Manifest {
        Manifest::new("fetcher").with_type(
            ActorType::new("fetcher")
                .description("Sends outbound HTTP requests")
                .actions(["fetch", "poll", "tick", "counts"]),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        match action {
            "fetch" => {
                let args: Fetch = json(payload)?;
                let mut answer = fetch(&args);
                for _ in 1..args.times.unwrap_or(1) {
                    answer = fetch(&args);
                }
                to_json(&answer)
            }
            "poll" => {
                let args: Poll = json(payload)?;
                schedule::set_reminder("tick", &args.every, &args.every, "", args.url.as_bytes())?;
                to_json(&"polling")
            }
            "tick" => {
                let url = String::from_utf8_lossy(payload).into_owned();
                let outcome = warren_guest::http::get(&url);
                let mut counts: Counts = state::get_json("counts")?.unwrap_or_default();
                match outcome {
                    Ok(r) if r.status == 200 => counts.ok += 1,
                    _ => counts.failed += 1,
                }
                state::set_json("counts", &counts)?;
                to_json(&"ticked")
            }
            "counts" => to_json(&state::get_json::<Counts>("counts")?.unwrap_or_default()),
            other => Err(Error::NotFound(format!("fetcher has no action {other:?}"))),
        }
    }
}

warren_guest::actor!(Fetcher);
