//! Checks `/invoke` arguments against an action's parameters, as OPACA's platform does before it
//! picks a container (a mismatch answers 400, not 404).
//!
//! Parameter types are JSON type names or names of `definitions`. A definition is a JSON Schema
//! (draft-07), of which a small subset is checked here: `type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, the numeric bounds and local `$ref`s. Other keywords
//! are ignored, and type names nobody defines are not checked, as OPACA skips them too.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{Action, ArrayItems, Parameter};

/// How deep schema checking may recurse: a `$ref` cycle must end in an error, not a stack
/// overflow, while real values (serde_json parses at most 128 levels) stay well inside it.
const MAX_DEPTH: usize = 256;

/// How much of an offending value an error message quotes.
const SHOWN_LIMIT: usize = 80;

/// Checks the arguments of a call to `action`; the error says which argument is wrong and why.
///
/// Unknown keys are rejected; required parameters must be present and non-null (unless their
/// type is `null`); optional ones may be omitted or null.
pub fn validate_arguments(
    action: &Action,
    arguments: &Map<String, Value>,
    definitions: &BTreeMap<String, Value>,
) -> Result<(), String> {
    // Unknown keys first: a misspelt name then points at the typo, not at the missing original.
    if let Some(unknown) = arguments
        .keys()
        .find(|key| !action.parameters.contains_key(*key))
    {
        return Err(format!("unknown parameter {unknown:?}"));
    }
    for (name, parameter) in &action.parameters {
        match arguments.get(name) {
            None if parameter.required => {
                return Err(format!("missing required parameter {name:?}"));
            }
            Some(Value::Null) if parameter.required && parameter.type_ != "null" => {
                return Err(format!("required parameter {name:?} must not be null"));
            }
            None | Some(Value::Null) => {}
            Some(value) => check_parameter(parameter, value, definitions, &Path::Parameter(name))?,
        }
    }
    Ok(())
}

/// Checks one value against a parameter's type (for instance an action's result); errors call
/// it `value`. Null passes when the parameter is optional.
pub fn check_value(
    parameter: &Parameter,
    value: &Value,
    definitions: &BTreeMap<String, Value>,
) -> Result<(), String> {
    check_parameter(parameter, value, definitions, &Path::Named("value"))
}

fn check_parameter(
    parameter: &Parameter,
    value: &Value,
    definitions: &BTreeMap<String, Value>,
    path: &Path<'_>,
) -> Result<(), String> {
    if value.is_null() && !parameter.required {
        return Ok(());
    }
    check_type(
        &parameter.type_,
        parameter.items.as_deref(),
        value,
        definitions,
        path,
    )
}

/// Checks a value against an OPACA type name, with `items` for arrays.
fn check_type(
    type_name: &str,
    items: Option<&ArrayItems>,
    value: &Value,
    definitions: &BTreeMap<String, Value>,
    path: &Path<'_>,
) -> Result<(), String> {
    match matches_type(type_name, value) {
        Some(false) => Err(format!(
            "{path} must be {}, got {}",
            describe(type_name),
            shown(value)
        )),
        Some(true) => {
            if let (Value::Array(elements), Some(items)) = (value, items) {
                for (index, element) in elements.iter().enumerate() {
                    let inner = items.items.as_deref();
                    check_type(
                        &items.type_,
                        inner,
                        element,
                        definitions,
                        &Path::Index(path, index),
                    )?;
                }
            }
            Ok(())
        }
        None => match definitions.get(type_name) {
            Some(schema) => check_schema(schema, value, definitions, path, 0),
            None => Ok(()),
        },
    }
}

/// Checks a value against a JSON Schema, in the subset the module documentation lists.
fn check_schema(
    schema: &Value,
    value: &Value,
    definitions: &BTreeMap<String, Value>,
    path: &Path<'_>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{path} cannot be checked: its schema nests too deeply (a $ref cycle?)"
        ));
    }
    let schema = match schema {
        Value::Object(schema) => schema,
        Value::Bool(false) => return Err(format!("{path} is not allowed, got {}", shown(value))),
        // `true` and anything that is no schema at all accept every value.
        _ => return Ok(()),
    };

    if let Some(reference) = schema.get("$ref") {
        // In draft-07 a `$ref` replaces its sibling keywords.
        return match reference
            .as_str()
            .and_then(|reference| resolve(reference, definitions))
        {
            Some(target) => check_schema(target, value, definitions, path, depth + 1),
            // A reference we cannot follow is skipped, like an unknown type name.
            None => Ok(()),
        };
    }

    if let Some(types) = schema.get("type") {
        check_schema_type(types, value, path)?;
    }

    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.iter().any(|option| json_eq(option, value))
    {
        return Err(format!(
            "{path} must be one of {}, got {}",
            shown(options),
            shown(value)
        ));
    }

    if value.is_number() {
        check_bounds(schema, value, path)?;
    }

    match value {
        Value::Object(fields) => check_object(schema, fields, definitions, path, depth),
        Value::Array(elements) => check_array(schema, elements, definitions, path, depth),
        _ => Ok(()),
    }
}

/// The `type` keyword: one name or a list of names, any of which may match.
fn check_schema_type(types: &Value, value: &Value, path: &Path<'_>) -> Result<(), String> {
    let names = match types {
        Value::String(_) => std::slice::from_ref(types),
        Value::Array(names) => names.as_slice(),
        _ => return Ok(()),
    };
    let names = names.iter().filter_map(Value::as_str);
    // A name that is no JSON type is a broken schema; it constrains nothing rather than all.
    if names.clone().next().is_none()
        || names
            .clone()
            .any(|name| matches_type(name, value) != Some(false))
    {
        return Ok(());
    }
    let expected = names.map(describe).collect::<Vec<_>>().join(" or ");
    Err(format!("{path} must be {expected}, got {}", shown(value)))
}

/// A bound keyword, how to say it, and whether a value meets it.
type Bound = (&'static str, &'static str, fn(f64, f64) -> bool);

/// `minimum`, `maximum` and their draft-07 exclusive forms, for a numeric value.
fn check_bounds(schema: &Map<String, Value>, value: &Value, path: &Path<'_>) -> Result<(), String> {
    let Some(number) = value.as_f64() else {
        return Ok(());
    };
    let bounds: [Bound; 4] = [
        ("minimum", "at least", |x, limit| x >= limit),
        ("maximum", "at most", |x, limit| x <= limit),
        ("exclusiveMinimum", "greater than", |x, limit| x > limit),
        ("exclusiveMaximum", "less than", |x, limit| x < limit),
    ];
    for (keyword, phrase, holds) in bounds {
        if let Some(limit) = schema.get(keyword)
            && let Some(limit_number) = limit.as_f64()
            && !holds(number, limit_number)
        {
            return Err(format!("{path} must be {phrase} {limit}, got {value}"));
        }
    }
    Ok(())
}

/// `required`, `properties` and `additionalProperties` for an object value.
fn check_object(
    schema: &Map<String, Value>,
    fields: &Map<String, Value>,
    definitions: &BTreeMap<String, Value>,
    path: &Path<'_>,
    depth: usize,
) -> Result<(), String> {
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                return Err(format!("{path} is missing required property {name:?}"));
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, field) in fields {
        let field_path = Path::Key(path, key);
        match properties.and_then(|properties| properties.get(key)) {
            Some(property) => check_schema(property, field, definitions, &field_path, depth + 1)?,
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    return Err(format!("{path} has unknown property {key:?}"));
                }
                Some(extra @ Value::Object(_)) => {
                    check_schema(extra, field, definitions, &field_path, depth + 1)?;
                }
                _ => {}
            },
        }
    }
    Ok(())
}

/// `items` for an array value: one schema for every element, or a list checked by position.
fn check_array(
    schema: &Map<String, Value>,
    elements: &[Value],
    definitions: &BTreeMap<String, Value>,
    path: &Path<'_>,
    depth: usize,
) -> Result<(), String> {
    match schema.get("items") {
        None => Ok(()),
        Some(Value::Array(positional)) => {
            for (index, (element, item)) in elements.iter().zip(positional).enumerate() {
                check_schema(
                    item,
                    element,
                    definitions,
                    &Path::Index(path, index),
                    depth + 1,
                )?;
            }
            Ok(())
        }
        Some(item) => {
            for (index, element) in elements.iter().enumerate() {
                check_schema(
                    item,
                    element,
                    definitions,
                    &Path::Index(path, index),
                    depth + 1,
                )?;
            }
            Ok(())
        }
    }
}

/// Follows `#/definitions/Name`; other references are not supported.
fn resolve<'d>(reference: &str, definitions: &'d BTreeMap<String, Value>) -> Option<&'d Value> {
    let name = reference.strip_prefix("#/definitions/")?;
    if name.contains('~') {
        // JSON Pointer escapes (RFC 6901), undone in this order: "~1" is "/", "~0" is "~".
        definitions.get(&name.replace("~1", "/").replace("~0", "~"))
    } else {
        definitions.get(name)
    }
}

/// Whether `value` has the JSON type `name`, or `None` if `name` is no JSON type.
fn matches_type(name: &str, value: &Value) -> Option<bool> {
    Some(match name {
        "string" => value.is_string(),
        // Integral literals only: serde_json reads `5.0` as a float, and OPACA rejects it too.
        // 32 bits, as the reference validates an `integer` (a Java `int`).
        "integer" => value.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => return None,
    })
}

/// A JSON type name with its article, for messages.
fn describe(name: &str) -> &str {
    match name {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        "object" => "an object",
        "array" => "an array",
        other => other,
    }
}

/// JSON Schema equality: numbers compare by value, so `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

/// Compact JSON for a message, cut short so a huge argument cannot flood the error.
fn shown<T: Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string(value).unwrap_or_default();
    if text.len() > SHOWN_LIMIT {
        let mut end = SHOWN_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Where a checked value sits; rendered only when an error is reported, so checking a large
/// argument allocates nothing.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// A top-level argument.
    Parameter(&'a str),
    /// A value with a fixed name, such as `value`.
    Named(&'a str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Parameter(name) => write!(f, "parameter {name:?}"),
            Path::Named(name) => f.write_str(name),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
            Path::Key(parent, key)
                if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_') =>
            {
                write!(f, "{parent}.{key}")
            }
            Path::Key(parent, key) => write!(f, "{parent}[{key:?}]"),
        }
    }
}

#[cfg(test)]
mod tests;
