//! The OpenAPI document of `GET /v3/api-docs/actions`: one `POST /invoke/{action}/{agentId}`
//! path per action, with the names written out, so LLM tooling can offer each action as a tool.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::model::{Action, AgentDescription, ArrayItems, Parameter};

/// Builds an OpenAPI 3.0.1 document for the actions of `agents`.
///
/// `definitions` (JSON Schemas by type name) become `components.schemas`, and parameters of
/// those types refer to them.
pub fn action_docs(
    title: &str,
    agents: &[AgentDescription],
    definitions: &BTreeMap<String, Value>,
) -> Value {
    let mut paths = Map::new();
    for agent in agents {
        for action in &agent.actions {
            let path = format!(
                "/invoke/{}/{}",
                path_segment(&action.name),
                path_segment(&agent.agent_id)
            );
            // An agent listed twice (it should not be) keeps its last description.
            paths.insert(
                path,
                json!({ "post": operation(agent, action, definitions) }),
            );
        }
    }
    let schemas: Map<String, Value> = definitions
        .iter()
        .map(|(name, schema)| (name.clone(), component_schema(schema)))
        .collect();
    json!({
        "openapi": "3.0.1",
        "info": { "title": title, "version": "1.0" },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

/// The operation invoking one action of one agent.
fn operation(
    agent: &AgentDescription,
    action: &Action,
    definitions: &BTreeMap<String, Value>,
) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, parameter) in &action.parameters {
        properties.insert(name.clone(), parameter_schema(parameter, definitions));
        if parameter.required {
            required.push(Value::String(name.clone()));
        }
    }
    let mut body = json!({ "type": "object", "properties": properties });
    // OpenAPI 3.0 forbids an empty `required` list.
    if !required.is_empty() {
        body["required"] = Value::Array(required);
    }

    let response = match &action.result {
        Some(result) => json!({
            "description": "The action's result.",
            "content": {
                "application/json": { "schema": parameter_schema(result, definitions) },
            },
        }),
        None => json!({ "description": "The action completed; it returns no result." }),
    };

    let mut post = json!({
        "operationId": format!("{}-{}", agent.agent_id, action.name),
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": body } },
        },
        "responses": { "200": response },
    });
    if let Some(description) = &action.description {
        post["description"] = Value::String(description.clone());
    }
    post
}

/// The schema of a parameter or result, with its default value when it has one.
fn parameter_schema(parameter: &Parameter, definitions: &BTreeMap<String, Value>) -> Value {
    let mut schema = type_schema(&parameter.type_, parameter.items.as_deref(), definitions);
    // OpenAPI 3.0 ignores siblings of `$ref`, so a default there would be lost anyway.
    if let Some(default) = &parameter.default_value
        && let Value::Object(schema) = &mut schema
        && !schema.contains_key("$ref")
    {
        schema.insert("default".into(), default.clone());
    }
    schema
}

/// The schema of an OPACA type name: a JSON type, or a reference to a definition.
fn type_schema(
    type_name: &str,
    items: Option<&ArrayItems>,
    definitions: &BTreeMap<String, Value>,
) -> Value {
    match type_name {
        "string" | "integer" | "number" | "boolean" | "object" => json!({ "type": type_name }),
        // OpenAPI 3.0 has no `null` type; a nullable schema with no type is the nearest.
        "null" => json!({ "nullable": true }),
        "array" => {
            // OpenAPI 3.0 requires `items`; `{}` admits any element.
            let items = items.map_or_else(
                || json!({}),
                |items| type_schema(&items.type_, items.items.as_deref(), definitions),
            );
            json!({ "type": "array", "items": items })
        }
        name if definitions.contains_key(name) => {
            json!({ "$ref": format!("#/components/schemas/{}", pointer_token(name)) })
        }
        // A reference to a missing schema would make the document invalid; describe it instead.
        name => json!({ "description": format!("A value of type {name} (no schema known).") }),
    }
}

/// A definition as a component schema: draft-07 `#/definitions/X` references must point to
/// `#/components/schemas/X` inside the OpenAPI document, and `$schema` is not allowed there.
fn component_schema(schema: &Value) -> Value {
    let mut schema = rewrite_refs(schema);
    if let Value::Object(fields) = &mut schema {
        fields.remove("$schema");
    }
    schema
}

/// `value` with every `$ref` to `#/definitions/X` pointing to `#/components/schemas/X`.
fn rewrite_refs(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, field)| {
                    let field = match (key.as_str(), field) {
                        ("$ref", Value::String(reference)) => {
                            match reference.strip_prefix("#/definitions/") {
                                Some(name) => Value::String(format!("#/components/schemas/{name}")),
                                None => field.clone(),
                            }
                        }
                        _ => rewrite_refs(field),
                    };
                    (key.clone(), field)
                })
                .collect(),
        ),
        Value::Array(elements) => Value::Array(elements.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}

/// A name as one URL path segment: unreserved characters (RFC 3986) stay literal, the rest is
/// percent-encoded, so a `/` or `{` in a name cannot change the path's shape.
fn path_segment(name: &str) -> Cow<'_, str> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let unreserved = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
    if name.bytes().all(unreserved) {
        return Cow::Borrowed(name);
    }
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if unreserved(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    Cow::Owned(encoded)
}

/// A name as a JSON Pointer token (RFC 6901): `~` becomes `~0`, `/` becomes `~1`.
fn pointer_token(name: &str) -> Cow<'_, str> {
    if name.contains(['~', '/']) {
        Cow::Owned(name.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(value: Value) -> AgentDescription {
        serde_json::from_value(value).expect("a valid agent description")
    }

    /// The document for two agents: `calc` (`Add` with a result, `Plot` with array and
    /// defined types) and `clock` (`Now`, with nothing), with a recursive `Point` schema.
    fn calculator_and_clock() -> Value {
        let agents = [
            agent(json!({
                "agentId": "calc",
                "actions": [
                    {
                        "name": "Add",
                        "description": "Adds two numbers.",
                        "parameters": {
                            "x": { "type": "integer" },
                            "y": { "type": "integer", "required": false, "defaultValue": 0 },
                        },
                        "result": { "type": "integer" },
                    },
                    {
                        "name": "Plot",
                        "parameters": {
                            "points": { "type": "array", "items": { "type": "Point" } },
                            "grid": {
                                "type": "array",
                                "items": { "type": "array", "items": { "type": "number" } },
                            },
                            "style": { "type": "Style" },
                        },
                    },
                ],
            })),
            agent(json!({ "agentId": "clock", "actions": [{ "name": "Now" }] })),
        ];
        let definitions: BTreeMap<String, Value> = serde_json::from_value(json!({
            "Point": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {
                    "x": { "type": "number" },
                    "next": { "$ref": "#/definitions/Point" },
                },
            },
        }))
        .unwrap();
        action_docs("Warren", &agents, &definitions)
    }

    #[test]
    fn one_path_per_action() {
        let docs = calculator_and_clock();
        assert_eq!(docs["openapi"], "3.0.1");
        assert_eq!(docs["info"], json!({ "title": "Warren", "version": "1.0" }));
        let paths = docs["paths"].as_object().unwrap();
        let names: Vec<&str> = paths.keys().map(String::as_str).collect();
        assert_eq!(names.len(), 3);
        for name in ["/invoke/Add/calc", "/invoke/Plot/calc", "/invoke/Now/clock"] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }

    #[test]
    fn an_operation_has_its_body_result_and_description() {
        let docs = calculator_and_clock();
        let add = &docs["paths"]["/invoke/Add/calc"]["post"];
        assert_eq!(add["operationId"], "calc-Add");
        assert_eq!(add["description"], "Adds two numbers.");
        assert_eq!(
            add["requestBody"]["content"]["application/json"]["schema"],
            json!({
                "type": "object",
                "properties": {
                    "x": { "type": "integer" },
                    "y": { "type": "integer", "default": 0 },
                },
                "required": ["x"],
            })
        );
        assert_eq!(
            add["responses"]["200"]["content"]["application/json"]["schema"],
            json!({ "type": "integer" })
        );
    }

    #[test]
    fn parameters_refer_to_known_definitions_only() {
        let docs = calculator_and_clock();
        let plot = &docs["paths"]["/invoke/Plot/calc"]["post"];
        assert!(plot.get("description").is_none());
        let properties =
            &plot["requestBody"]["content"]["application/json"]["schema"]["properties"];
        assert_eq!(
            properties["points"],
            json!({ "type": "array", "items": { "$ref": "#/components/schemas/Point" } })
        );
        assert_eq!(
            properties["grid"],
            json!({ "type": "array", "items": { "type": "array", "items": { "type": "number" } } })
        );
        // `Style` has no definition, so it must not become a dangling reference.
        assert!(properties["style"].get("$ref").is_none());
        assert!(plot["responses"]["200"].get("content").is_none());
    }

    #[test]
    fn an_action_without_parameters_has_no_required_list() {
        let docs = calculator_and_clock();
        let now = &docs["paths"]["/invoke/Now/clock"]["post"];
        assert_eq!(now["operationId"], "clock-Now");
        assert!(
            now["requestBody"]["content"]["application/json"]["schema"]
                .get("required")
                .is_none()
        );
    }

    #[test]
    fn definitions_become_component_schemas() {
        let docs = calculator_and_clock();
        assert_eq!(
            docs["components"]["schemas"]["Point"],
            json!({
                "type": "object",
                "properties": {
                    "x": { "type": "number" },
                    "next": { "$ref": "#/components/schemas/Point" },
                },
            })
        );
    }

    #[test]
    fn names_that_would_break_the_path_are_encoded() {
        let agents = [agent(
            json!({ "agentId": "a/b c", "actions": [{ "name": "Do{it}" }] }),
        )];
        let docs = action_docs("t", &agents, &BTreeMap::new());
        let paths = docs["paths"].as_object().unwrap();
        assert!(
            paths.contains_key("/invoke/Do%7Bit%7D/a%2Fb%20c"),
            "{paths:?}"
        );
        assert_eq!(
            paths["/invoke/Do%7Bit%7D/a%2Fb%20c"]["post"]["operationId"],
            "a/b c-Do{it}"
        );
    }
}
