//! Tally, version 1: a counter that says which version of its code served each turn.
//! Deploy `tally-v2` over it to see a state migration (`on-upgrade`), and roll back to
//! this version to see one undone.
//!
//! State: `total`, a JSON integer. `add` takes a JSON integer, `get` reads; both reply
//! `{"version": "1.0.0", "total": N}`. `poison` marks the actor so that version 2's
//! migration of it fails (for trying out a failed upgrade).

use serde::{Deserialize, Serialize};
use warren_guest::prelude::*;

const VERSION: &str = "1.0.0";

struct Tally;

/// Version 2's state shape, read when rolling back from it.
#[derive(Deserialize)]
struct V2State {
    total: i64,
}

#[derive(Serialize)]
struct Answer {
    version: &'static str,
    total: i64,
}

impl Actor for Tally {
    fn manifest() -> Manifest {
        Manifest::new("tally").version(VERSION).with_type(
            ActorType::new("tally")
                .description("A counter that reports its code's version")
                .actions(["add", "get", "poison"]),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let mut total: i64 = state::get_json("total")?.unwrap_or(0);
        match action {
            "add" => {
                total += json::<i64>(payload)?;
                state::set_json("total", &total)?;
            }
            "get" => {}
            "poison" => state::set("poison", b"true"),
            other => return Err(Error::NotFound(format!("tally has no action {other:?}"))),
        }
        to_json(&Answer {
            version: VERSION,
            total,
        })
    }

    /// Back from version 2: its `tally` object becomes `total` again.
    fn on_upgrade(from_version: &str) -> Result<(), Error> {
        if let Some(v2) = state::get_json::<V2State>("tally")? {
            state::set_json("total", &v2.total)?;
            state::delete("tally");
        } else if !from_version.starts_with("1.") {
            return Err(Error::Failed(format!(
                "no state of version {from_version} to migrate"
            )));
        }
        Ok(())
    }
}

warren_guest::actor!(Tally);
