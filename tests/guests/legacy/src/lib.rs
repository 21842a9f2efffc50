//! An actor built straight on `wit-bindgen` against the `warren-actor` world, without the
//! `upgrade` interface: what every guest built before `on-upgrade` existed exports. It
//! must keep loading and serving, across new versions of itself too.
//!
//! Type `legacy`: `count` adds one to state key `n` and returns it.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "warren-actor",
    // The world imports `wasi:config`, which this guest never calls: the component
    // built from it imports only what it uses, as guests built before it existed.
    with: { "wasi:config/store@0.2.0-rc.1": generate },
});

use exports::warren::actor::actor::Guest;
use warren::actor::state;
use warren::actor::types::{ActorKind, ActorTypeInfo, Context, Error, Manifest};

struct Legacy;

impl Guest for Legacy {
    fn describe() -> Manifest {
        Manifest {
            name: "legacy".into(),
            version: "1.0.0".into(),
            actor_types: vec![ActorTypeInfo {
                name: "legacy".into(),
                kind: ActorKind::Named,
                idle_timeout_ms: None,
                reentrancy_depth: None,
                snapshot_interval_ms: None,
                activate_action: None,
                timer_actions: Vec::new(),
                channels: Vec::new(),
                actions: Vec::new(),
                description: None,
            }],
        }
    }

    fn handle_action(_ctx: Context, action: String, _payload: Vec<u8>) -> Result<Vec<u8>, Error> {
        if action != "count" {
            return Err(Error::NotFound(action));
        }
        let n = state::get("n")
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        state::set("n", n.to_string().as_bytes());
        Ok(n.to_string().into_bytes())
    }
}

export!(Legacy);
