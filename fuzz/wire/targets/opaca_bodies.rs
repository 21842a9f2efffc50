//! OPACA's JSON bodies and the argument validator: any bytes parse as each model the
//! platform reads or are refused; an action declared by the input validates any arguments
//! against any definitions with an answer, never a panic or a stack overflow.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use warren_wire::opaca::model;
use warren_wire::opaca::validate::{check_value, validate_arguments};

fuzz_target!(|input: (&[u8], &[u8], &[u8])| {
    let (action, arguments, definitions) = input;
    let _ = serde_json::from_slice::<model::PostAgentContainer>(action);
    let _ = serde_json::from_slice::<model::Message>(action);
    let _ = serde_json::from_slice::<model::Login>(action);
    let _ = serde_json::from_slice::<model::ConnectionRequest>(action);
    let _ = serde_json::from_slice::<model::AgentContainerImage>(action);
    let _ = serde_json::from_slice::<model::RuntimePlatform>(action);
    let Ok(action) = serde_json::from_slice::<model::Action>(action) else {
        return;
    };
    let definitions: BTreeMap<String, Value> =
        serde_json::from_slice(definitions).unwrap_or_default();
    if let Ok(Value::Object(arguments)) = serde_json::from_slice::<Value>(arguments) {
        let _ = validate_arguments(&action, &arguments, &definitions);
        if let Some(result) = &action.result {
            for value in arguments.values() {
                let _ = check_value(result, value, &definitions);
            }
        }
    }
});
