//! One list per actor, for the cluster's history checker (`tests/all/cluster/nemesis`):
//! `append` takes a JSON string, adds it to the end of the list and returns the whole
//! list; `read` returns the list. A reminder named `r-E` appends `E` when it fires, so a
//! reminder's firing shows in the list like any append.

use warren_guest::prelude::*;

struct Appender;

impl Actor for Appender {
    fn manifest() -> Manifest {
        Manifest::new("appender").with_type(
            ActorType::new("list")
                .description("A list that only grows")
                .actions(["append", "read"]),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let mut items: Vec<String> = state::get_json("items")?.unwrap_or_default();
        let element = match (action, action.strip_prefix("r-")) {
            (_, Some(fired)) => fired.to_string(),
            ("append", None) => json::<String>(payload)?,
            ("read", None) => return to_json(&items),
            (other, None) => return Err(Error::NotFound(format!("list has no action {other:?}"))),
        };
        items.push(element);
        state::set_json("items", &items)?;
        to_json(&items)
    }
}

warren_guest::actor!(Appender);
