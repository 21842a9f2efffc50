//! A calculator agent for OPACA: its actions declare OPACA parameter and result types in
//! the manifest, so the platform validates arguments before the actor runs. Messages sent
//! to it (or broadcast on `news`) arrive as `receive`; `LastMessage` returns the latest.

use serde_json::{Value, json};
use warren_guest::prelude::*;

struct Calculator;

fn argument<T: serde::de::DeserializeOwned>(args: &Value, name: &str) -> Result<T, Error> {
    serde_json::from_value(args.get(name).cloned().unwrap_or(Value::Null))
        .map_err(|e| Error::InvalidArgument(format!("argument {name:?}: {e}")))
}

impl Actor for Calculator {
    fn manifest() -> Manifest {
        let integer = r#"{"type":"integer"}"#;
        let number = r#"{"type":"number"}"#;
        let string = r#"{"type":"string"}"#;
        Manifest::new("calculator").with_type(
            ActorType::new("calculator")
                .description("Adds, averages and greets")
                .action(
                    "Add",
                    "The sum of two integers",
                    Some(r#"{"x":{"type":"integer"},"y":{"type":"integer"}}"#),
                    Some(integer),
                )
                .action(
                    "Mean",
                    "The mean of a list of numbers",
                    Some(r#"{"values":{"type":"array","items":{"type":"number"}}}"#),
                    Some(number),
                )
                .action(
                    "Greet",
                    "A greeting, politer on request",
                    Some(r#"{"name":{"type":"string"},"polite":{"type":"boolean","required":false}}"#),
                    Some(string),
                )
                .action("Fail", "Always fails", Some("{}"), None)
                .action("LastMessage", "The payload of the latest message", Some("{}"), None)
                .action("receive", "Takes a message", None, None)
                .channel("news"),
        )
    }

    fn handle(_ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let args: Value = if payload.is_empty() {
            json!({})
        } else {
            json(payload)?
        };
        match action {
            "Add" => to_json(&(argument::<i64>(&args, "x")? + argument::<i64>(&args, "y")?)),
            "Mean" => {
                let values: Vec<f64> = argument(&args, "values")?;
                if values.is_empty() {
                    return Err(Error::InvalidArgument("no values".into()));
                }
                to_json(&(values.iter().sum::<f64>() / values.len() as f64))
            }
            "Greet" => {
                let name: String = argument(&args, "name")?;
                let polite: Option<bool> = argument(&args, "polite")?;
                let greeting = if polite == Some(true) {
                    format!("Good day, {name}.")
                } else {
                    format!("Hi {name}")
                };
                to_json(&greeting)
            }
            "Fail" => Err(Error::Failed("the calculator was asked to fail".into())),
            "receive" => {
                state::set_json("last", &args.get("payload").cloned().unwrap_or(Value::Null))?;
                Ok(Vec::new())
            }
            "LastMessage" => to_json(&state::get_json::<Value>("last")?.unwrap_or(Value::Null)),
            other => Err(Error::NotFound(format!(
                "calculator has no action {other:?}"
            ))),
        }
    }
}

warren_guest::actor!(Calculator);
