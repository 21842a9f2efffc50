//! A newsroom of three actor types showing Spawn's actor features in a Wasm component.
//!
//! - `editor` publishes news to the `news` channel (`publish`), and hands numbers on to
//!   its `tally` after its turn: `pipe` sends its doubled reply, `forward` its input.
//! - `reader` listens on `news` and keeps what it heard (`receive`, `heard`); it counts its
//!   activations (`init`, run by the host when it is activated) and a 100 ms timer action
//!   (`tick`, read with `ticks`).
//! - `tally` keeps a running total (`add`, `get`).

use warren_guest::prelude::*;

struct Newsroom;

fn count(key: &str) -> Result<i64, Error> {
    Ok(state::get_json(key)?.unwrap_or(0))
}

fn bump(key: &str) -> Result<Vec<u8>, Error> {
    let n = count(key)? + 1;
    state::set_json(key, &n)?;
    to_json(&n)
}

fn editor(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let tally = actors::actor("tally", &ctx.target.id);
    match action {
        "publish" => {
            workflow::broadcast("news", payload);
            Ok(payload.to_vec())
        }
        "pipe" => {
            let n: i64 = json(payload)?;
            workflow::pipe(&tally, "add");
            to_json(&(n * 2))
        }
        "forward" => {
            workflow::forward(&tally, "add");
            Ok(Vec::new())
        }
        other => Err(Error::NotFound(format!("editor has no action {other:?}"))),
    }
}

fn reader(action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    match action {
        "init" => bump("inits"),
        "inits" => to_json(&count("inits")?),
        "tick" => bump("ticks"),
        "ticks" => to_json(&count("ticks")?),
        "receive" => {
            let mut heard: Vec<serde_json::Value> = state::get_json("heard")?.unwrap_or_default();
            heard.push(json(payload)?);
            state::set_json("heard", &heard)?;
            Ok(Vec::new())
        }
        "heard" => {
            let heard: Vec<serde_json::Value> = state::get_json("heard")?.unwrap_or_default();
            to_json(&heard)
        }
        other => Err(Error::NotFound(format!("reader has no action {other:?}"))),
    }
}

fn tally(action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let total = count("total")?;
    match action {
        "add" => {
            let total = total + json::<i64>(payload)?;
            state::set_json("total", &total)?;
            to_json(&total)
        }
        "get" => to_json(&total),
        other => Err(Error::NotFound(format!("tally has no action {other:?}"))),
    }
}

impl Actor for Newsroom {
    fn manifest() -> Manifest {
        Manifest::new("newsroom")
            .with_type(
                ActorType::new("editor")
                    .description("Publishes news and hands numbers on to its tally")
                    .actions(["publish", "pipe", "forward"]),
            )
            .with_type(
                ActorType::new("reader")
                    .description("Keeps the news it hears; counts activations and ticks")
                    .actions(["receive", "heard", "init", "inits", "tick", "ticks"])
                    .channel("news")
                    .on_activate("init")
                    .timer_action("tick", 100),
            )
            .with_type(
                ActorType::new("tally")
                    .description("A running total")
                    .actions(["add", "get"]),
            )
    }

    fn handle(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        match ctx.target.actor_type.as_str() {
            "editor" => editor(ctx, action, payload),
            "reader" => reader(action, payload),
            "tally" => tally(action, payload),
            other => Err(Error::NotFound(format!("no actor type {other:?}"))),
        }
    }
}

warren_guest::actor!(Newsroom);
