//! The `{{name}}` actor: `add` takes a JSON integer and returns the new total, `get`
//! returns it, `remind` (`{"due": "10s", "n": 5}`) adds `n` when a reminder fires, and
//! `call-add` (`{"target": "id", "n": 3}`) adds to another `{{name}}` actor.
//!
//! Build with `warren build`, deploy with `warren deploy {{name}}.wasm`.

use serde_json::Value;
use warren_guest::prelude::*;

struct Actor;

impl warren_guest::Actor for Actor {
    fn manifest() -> Manifest {
        Manifest::new("{{name}}").version("0.1.0").with_type(
            ActorType::new("{{name}}")
                .description("Keeps a running total")
                .actions(["add", "get", "remind", "call-add"]),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let total: i64 = state::get_json("total")?.unwrap_or(0);
        match action {
            "add" => {
                let total = total + json::<i64>(payload)?;
                state::set_json("total", &total)?;
                to_json(&total)
            }
            "get" => to_json(&total),
            "remind" => {
                let args: Value = json(payload)?;
                let due = args["due"].as_str().unwrap_or_default();
                let n = args["n"].to_string();
                schedule::set_reminder("add", due, "", "", n.as_bytes())?;
                Ok(Vec::new())
            }
            "call-add" => {
                let args: Value = json(payload)?;
                let target = args["target"].as_str().unwrap_or_default();
                let n = args["n"].to_string();
                actors::call(&actors::actor("{{name}}", target), "add", n.as_bytes())
            }
            other => Err(Error::NotFound(format!("no action {other:?}"))),
        }
    }
}

warren_guest::actor!(Actor);
