//! The counter actor: `add` takes a JSON integer and returns the new total; `get` returns it.
//! `add` also takes a one-element array (`[5]`), which is how the Dapr JS SDK's actor
//! proxies send their arguments. `remind` takes `{"due": "1s", "n": 5}` and adds `n` when
//! the reminder fires; `call-add` takes `{"target": "id", "n": 3}` and adds `n` to another
//! counter, returning its reply. `label` returns the component's configuration value
//! `label` (`warren config set counter label ...`), or `"counter"` while it is unset. The
//! Python and JavaScript counters do the same.

use warren_guest::prelude::*;

struct Counter;

#[derive(serde::Deserialize)]
struct Remind {
    #[serde(default)]
    due: String,
    n: i64,
}

#[derive(serde::Deserialize)]
struct CallAdd {
    target: String,
    n: i64,
}

impl Actor for Counter {
    fn manifest() -> Manifest {
        Manifest::new("counter").with_type(
            ActorType::new("counter")
                .description("Keeps a running total")
                .actions(["add", "get", "remind", "call-add", "label"]),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let total: i64 = state::get_json("total")?.unwrap_or(0);
        match action {
            "add" => {
                let arg = match json::<serde_json::Value>(payload)? {
                    serde_json::Value::Array(mut args) if args.len() == 1 => args.remove(0),
                    other => other,
                };
                let n: i64 = serde_json::from_value(arg)
                    .map_err(|e| Error::InvalidArgument(format!("add takes an integer: {e}")))?;
                let total = total + n;
                state::set_json("total", &total)?;
                to_json(&total)
            }
            "get" => to_json(&total),
            "remind" => {
                let args: Remind = json(payload)?;
                schedule::set_reminder("add", &args.due, "", "", args.n.to_string().as_bytes())?;
                Ok(Vec::new())
            }
            "call-add" => {
                let args: CallAdd = json(payload)?;
                let target = actors::actor("counter", &args.target);
                actors::call(&target, "add", args.n.to_string().as_bytes())
            }
            "label" => to_json(&config::get("label")?.unwrap_or_else(|| "counter".into())),
            other => Err(Error::NotFound(format!("counter has no action {other:?}"))),
        }
    }
}

warren_guest::actor!(Counter);
