//! The counter actor: `add` takes a JSON integer and returns the new total; `get` returns it.

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
                let total = total + json::<i64>(payload)?;
                state::set_json("total", &total)?;
                to_json(&total)
            }
            "get" => to_json(&total),
            other => Err(Error::NotFound(format!("counter has no action {other:?}"))),
        }
    }
}

warren_guest::actor!(Counter);
