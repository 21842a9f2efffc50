//! Actors that misbehave on purpose, for Warren's tests. One component, several types.

use warren_guest::prelude::*;

struct Hostile;

impl Actor for Hostile {
    fn manifest() -> Manifest {
        Manifest::new("hostile")
            .with_type(ActorType::new("looper").actions(["spin"]))
            .with_type(ActorType::new("bomb").actions(["grow"]))
            .with_type(ActorType::new("trapper").actions(["write-then-trap", "write", "read"]))
            .with_type(ActorType::new("sleeper").actions(["sleep"]))
            .with_type(ActorType::new("caller").actions(["call", "cast", "count"]))
            .with_type(ActorType::new("chatty").actions(["print"]))
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        match action {
            "spin" => {
                // An endless loop the optimiser cannot remove.
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "grow" => {
                // Allocate 1 MiB chunks and touch them until the memory limit stops us.
                let mut chunks: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 1 << 20];
                    chunk[0] = 1;
                    chunks.push(std::hint::black_box(chunk));
                }
            }
            "write-then-trap" => {
                state::set("value", payload);
                state::delete("keep");
                panic!("trapping after a state write");
            }
            "write" => {
                state::set("value", payload);
                state::set("keep", b"yes");
                Ok(Vec::new())
            }
            "read" => Ok(state::get("value").unwrap_or_default()),
            "sleep" => {
                let ms: u64 = json(payload)?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(b"\"slept\"".to_vec())
            }
            "call" | "cast" => {
                // payload: {"type": "...", "id": "...", "action": "...", "payload": <json>}
                let req: serde_json::Value = json(payload)?;
                let field = |k: &str| req[k].as_str().unwrap_or_default().to_string();
                let target = actors::actor(&field("type"), &field("id"));
                let inner = serde_json::to_vec(&req["payload"]).unwrap_or_default();
                if action == "call" {
                    actors::call(&target, &field("action"), &inner)
                } else {
                    let count: i64 = state::get_json("casts")?.unwrap_or(0);
                    state::set_json("casts", &(count + 1))?;
                    actors::cast(&target, &field("action"), &inner).map(|()| b"null".to_vec())
                }
            }
            "count" => to_json(&state::get_json::<i64>("casts")?.unwrap_or(0)),
            "print" => {
                let text = String::from_utf8_lossy(payload);
                println!("{text}");
                eprintln!("err: {text}");
                Ok(Vec::new())
            }
            other => Err(Error::NotFound(other.to_string())),
        }
    }
}

warren_guest::actor!(Hostile);
