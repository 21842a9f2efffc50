//! An OPACA agent that works through the platform instead of naming actors: it sums a list
//! by invoking `Add` on whichever agent offers it (a Wasm container, a process container,
//! or an agent on a connected platform), relays any invocation, and sends or broadcasts
//! messages the OPACA way. What it sends leaves only if its turn succeeds.

use serde::Deserialize;
use serde_json::{Value, json};
use warren_guest::platform::Route;
use warren_guest::prelude::*;

struct Assistant;

/// Where a request of the assistant's caller should go.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Where {
    agent: Option<String>,
    container_id: Option<String>,
    forward: Option<bool>,
    timeout: Option<u32>,
}

impl Where {
    fn route(&self) -> Route {
        let mut route = Route::new();
        if let Some(agent) = &self.agent {
            route = route.agent(agent);
        }
        if let Some(container) = &self.container_id {
            route = route.container(container);
        }
        if self.forward == Some(false) {
            route = route.local();
        }
        if let Some(secs) = self.timeout {
            route = route.timeout_secs(secs);
        }
        route
    }
}

#[derive(Deserialize)]
struct Sum {
    values: Vec<i64>,
    #[serde(flatten)]
    to: Where,
}

#[derive(Deserialize)]
struct Ask {
    action: String,
    #[serde(default)]
    arguments: Value,
    #[serde(flatten)]
    to: Where,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tell {
    /// The agent (for `Tell`) or channel (for `Announce`).
    to: String,
    payload: Value,
    container_id: Option<String>,
    forward: Option<bool>,
    /// Fail the turn after sending: nothing may leave.
    #[serde(default)]
    fail: bool,
}

impl Tell {
    fn route(&self) -> Route {
        Where {
            container_id: self.container_id.clone(),
            forward: self.forward,
            ..Where::default()
        }
        .route()
    }
}

fn failed_on_request(fail: bool) -> Result<(), Error> {
    if fail {
        return Err(Error::Failed("asked to fail after sending".into()));
    }
    Ok(())
}

impl Actor for Assistant {
    fn manifest() -> Manifest {
        let anywhere = r#""agent":{"type":"string","required":false},"containerId":{"type":"string","required":false},"forward":{"type":"boolean","required":false},"timeout":{"type":"integer","required":false}"#;
        let message = r#"{"to":{"type":"string"},"payload":{"type":"object","required":false},"containerId":{"type":"string","required":false},"forward":{"type":"boolean","required":false},"fail":{"type":"boolean","required":false}}"#;
        let sum =
            format!(r#"{{"values":{{"type":"array","items":{{"type":"integer"}}}},{anywhere}}}"#);
        let ask = format!(
            r#"{{"action":{{"type":"string"}},"arguments":{{"type":"object","required":false}},{anywhere}}}"#
        );
        Manifest::new("assistant").with_type(
            ActorType::new("assistant")
                .description("Sums, relays and tells through the agent platform")
                .action(
                    "Sum",
                    "The sum of the values, by invoking Add wherever it is offered",
                    Some(&sum),
                    Some(r#"{"type":"integer"}"#),
                )
                .action(
                    "Ask",
                    "Invoke any action through the platform",
                    Some(&ask),
                    None,
                )
                .action("Tell", "Send a message to an agent", Some(message), None)
                .action(
                    "Announce",
                    "Broadcast a message on a channel",
                    Some(message),
                    None,
                )
                .action(
                    "LastSum",
                    "The latest sum",
                    Some("{}"),
                    Some(r#"{"type":"integer"}"#),
                ),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let payload = if payload.is_empty() { b"{}" } else { payload };
        match action {
            "Sum" => {
                let Sum { values, to } = json(payload)?;
                let route = to.route();
                let mut total = 0i64;
                for value in values {
                    total = route.invoke("Add", &json!({"x": total, "y": value}))?;
                }
                state::set_json("lastSum", &total)?;
                to_json(&total)
            }
            "Ask" => {
                let Ask {
                    action,
                    arguments,
                    to,
                } = json(payload)?;
                let arguments = if arguments.is_null() {
                    json!({})
                } else {
                    arguments
                };
                let result: Value = to.route().invoke(&action, &arguments)?;
                to_json(&result)
            }
            "Tell" => {
                let tell: Tell = json(payload)?;
                tell.route().send(&tell.to, &tell.payload)?;
                failed_on_request(tell.fail)?;
                Ok(Vec::new())
            }
            "Announce" => {
                let tell: Tell = json(payload)?;
                tell.route().broadcast(&tell.to, &tell.payload)?;
                failed_on_request(tell.fail)?;
                Ok(Vec::new())
            }
            "LastSum" => to_json(&state::get_json::<i64>("lastSum")?.unwrap_or(0)),
            other => Err(Error::NotFound(format!(
                "assistant has no action {other:?}"
            ))),
        }
    }
}

warren_guest::actor!(Assistant);
