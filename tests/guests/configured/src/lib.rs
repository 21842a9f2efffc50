//! Reads its component's configuration through `wasi:config`, for the tests: `get` takes
//! a key (JSON string) and returns its value or null; `keys` returns the keys set; `log`
//! prints the value of a key to stdout (where the host's log redacts secrets) and returns
//! how long it was.

use warren_guest::prelude::*;

struct Configured;

impl Actor for Configured {
    fn manifest() -> Manifest {
        Manifest::new("configured").with_type(
            ActorType::new("reader")
                .description("Reads its component's configuration")
                .actions(["get", "keys", "log"]),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        match action {
            "get" => to_json(&config::get(&json::<String>(payload)?)?),
            "keys" => {
                let mut keys: Vec<String> = config::all()?.into_iter().map(|(k, _)| k).collect();
                keys.sort();
                to_json(&keys)
            }
            "log" => {
                let value = config::require(&json::<String>(payload)?)?;
                println!("the value is {value}, used here");
                to_json(&value.len())
            }
            other => Err(Error::NotFound(format!("reader has no action {other:?}"))),
        }
    }
}

warren_guest::actor!(Configured);
