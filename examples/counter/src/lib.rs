//! The counter actor: `add` takes a JSON integer and returns the new total; `get` returns it.
//! `add` also takes a one-element array (`[5]`), which is how the Dapr JS SDK's actor
//! proxies send their arguments.

use warren_guest::prelude::*;

struct Counter;

impl Actor for Counter {
    fn manifest() -> Manifest {
        Manifest::new("counter").with_type(
            ActorType::new("counter")
                .description("Keeps a running total")
                .actions(["add", "get"]),
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
            other => Err(Error::NotFound(format!("counter has no action {other:?}"))),
        }
    }
}

warren_guest::actor!(Counter);
