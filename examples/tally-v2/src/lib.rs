//! Tally, version 2: the state moves from a bare integer (`total`) to an object that also
//! counts the adds (`tally: {"total": N, "adds": K}`). Its `on-upgrade` migrates an actor
//! written by version 1 on that actor's first turn under version 2; an actor that
//! version 1 marked with `poison` fails to migrate, and keeps its version 1 state.

use serde::{Deserialize, Serialize};
use warren_guest::prelude::*;

const VERSION: &str = "2.0.0";

struct Tally;

#[derive(Default, Deserialize, Serialize)]
struct State {
    total: i64,
    adds: u64,
}

#[derive(Serialize)]
struct Answer {
    version: &'static str,
    total: i64,
    adds: u64,
}

impl Actor for Tally {
    fn manifest() -> Manifest {
        Manifest::new("tally").version(VERSION).with_type(
            ActorType::new("tally")
                .description("A counter that reports its code's version and counts its adds")
                .actions(["add", "get", "poison"]),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let mut tally: State = state::get_json("tally")?.unwrap_or_default();
        match action {
            "add" => {
                tally.total += json::<i64>(payload)?;
                tally.adds += 1;
                state::set_json("tally", &tally)?;
            }
            "get" => {}
            "poison" => state::set("poison", b"true"),
            other => return Err(Error::NotFound(format!("tally has no action {other:?}"))),
        }
        to_json(&Answer {
            version: VERSION,
            total: tally.total,
            adds: tally.adds,
        })
    }

    /// From version 1: `total` becomes `tally.total` (its adds were not counted).
    fn on_upgrade(from_version: &str) -> Result<(), Error> {
        if state::get("poison").is_some() {
            panic!("tally {from_version} state is marked poison; refusing to migrate it");
        }
        let total: i64 = state::get_json("total")?.unwrap_or(0);
        state::set_json("tally", &State { total, adds: 0 })?;
        state::delete("total");
        Ok(())
    }
}

warren_guest::actor!(Tally);
