//! Tests of the argument validator against OPACA's parameter models.
use serde_json::json;

use super::*;

fn action(parameters: Value) -> Action {
    serde_json::from_value(json!({ "name": "Test", "parameters": parameters }))
        .expect("a valid action")
}

fn arguments(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, got {other}"),
    }
}

fn definitions(value: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(value).expect("a definitions map")
}

fn check(action: &Action, args: Value, defs: &BTreeMap<String, Value>) -> Result<(), String> {
    validate_arguments(action, &arguments(args), defs)
}

#[test]
fn integer_accepts_only_integral_literals_of_32_bits() {
    let add = action(json!({ "x": { "type": "integer" } }));
    let none = BTreeMap::new();
    assert_eq!(check(&add, json!({ "x": 5 }), &none), Ok(()));
    assert_eq!(check(&add, json!({ "x": -5 }), &none), Ok(()));
    assert_eq!(check(&add, json!({ "x": i32::MAX }), &none), Ok(()));
    assert_eq!(check(&add, json!({ "x": i32::MIN }), &none), Ok(()));
    // The reference validates a Java `int`.
    for big in [
        json!(3_000_000_000u64),
        json!(u64::MAX),
        json!(i64::from(i32::MIN) - 1),
    ] {
        assert!(check(&add, json!({ "x": big }), &none).is_err(), "{big}");
    }
    assert_eq!(
        check(&add, json!({ "x": 5.5 }), &none),
        Err(r#"parameter "x" must be an integer, got 5.5"#.to_string())
    );
    // As parsed from the wire, `5.0` is a float and fails as well.
    let parsed: Value = serde_json::from_str(r#"{"x": 5.0}"#).unwrap();
    assert_eq!(
        check(&add, parsed, &none),
        Err(r#"parameter "x" must be an integer, got 5.0"#.to_string())
    );
    assert_eq!(
        check(&add, json!({ "x": "5" }), &none),
        Err(r#"parameter "x" must be an integer, got "5""#.to_string())
    );
}

#[test]
fn number_accepts_any_number() {
    let scale = action(json!({ "x": { "type": "number" } }));
    let none = BTreeMap::new();
    assert_eq!(check(&scale, json!({ "x": 5 }), &none), Ok(()));
    assert_eq!(check(&scale, json!({ "x": 5.5 }), &none), Ok(()));
    assert_eq!(
        check(&scale, json!({ "x": true }), &none),
        Err(r#"parameter "x" must be a number, got true"#.to_string())
    );
}

#[test]
fn other_json_types() {
    let all = action(json!({
        "s": { "type": "string" },
        "b": { "type": "boolean" },
        "o": { "type": "object" },
        "n": { "type": "null" },
    }));
    let none = BTreeMap::new();
    let good = json!({ "s": "hi", "b": false, "o": { "k": 1 }, "n": null });
    assert_eq!(check(&all, good, &none), Ok(()));
    let bad = json!({ "s": "hi", "b": false, "o": [1], "n": null });
    assert_eq!(
        check(&all, bad, &none),
        Err(r#"parameter "o" must be an object, got [1]"#.to_string())
    );
}

#[test]
fn required_optional_and_null() {
    let greet = action(json!({
        "y": { "type": "string" },
        "z": { "type": "integer", "required": false },
    }));
    let none = BTreeMap::new();
    assert_eq!(check(&greet, json!({ "y": "a" }), &none), Ok(()));
    assert_eq!(check(&greet, json!({ "y": "a", "z": null }), &none), Ok(()));
    assert_eq!(check(&greet, json!({ "y": "a", "z": 3 }), &none), Ok(()));
    assert_eq!(
        check(&greet, json!({ "z": 3 }), &none),
        Err(r#"missing required parameter "y""#.to_string())
    );
    assert_eq!(
        check(&greet, json!({ "y": null }), &none),
        Err(r#"required parameter "y" must not be null"#.to_string())
    );
    assert_eq!(
        check(&greet, json!({ "y": "a", "z": 1.5 }), &none),
        Err(r#"parameter "z" must be an integer, got 1.5"#.to_string())
    );
}

#[test]
fn unknown_key_is_rejected() {
    let greet = action(json!({ "y": { "type": "string" } }));
    assert_eq!(
        check(&greet, json!({ "y": "a", "z": 1 }), &BTreeMap::new()),
        Err(r#"unknown parameter "z""#.to_string())
    );
}

#[test]
fn nested_arrays_check_every_element() {
    let matrix = action(json!({
        "m": { "type": "array", "items": { "type": "array", "items": { "type": "integer" } } },
    }));
    let none = BTreeMap::new();
    assert_eq!(
        check(&matrix, json!({ "m": [[1, 2], [], [3]] }), &none),
        Ok(())
    );
    assert_eq!(
        check(&matrix, json!({ "m": [[1], [2.5]] }), &none),
        Err(r#"parameter "m"[1][0] must be an integer, got 2.5"#.to_string())
    );
    assert_eq!(
        check(&matrix, json!({ "m": [1] }), &none),
        Err(r#"parameter "m"[0] must be an array, got 1"#.to_string())
    );
    // `array` without `items` accepts any elements.
    let loose = action(json!({ "m": { "type": "array" } }));
    assert_eq!(check(&loose, json!({ "m": [1, "a", null] }), &none), Ok(()));
}

#[test]
fn definition_with_properties_and_required() {
    let defs = definitions(json!({
        "Point": {
            "type": "object",
            "properties": { "x": { "type": "integer" }, "y": { "type": "number" } },
            "required": ["x", "y"],
            "additionalProperties": false,
        },
        "Line": {
            "type": "object",
            "properties": {
                "from": { "$ref": "#/definitions/Point" },
                "to": { "$ref": "#/definitions/Point" },
            },
        },
    }));
    let draw = action(json!({
        "p": { "type": "Point" },
        "l": { "type": "Line", "required": false },
    }));
    assert_eq!(
        check(&draw, json!({ "p": { "x": 1, "y": 2.5 } }), &defs),
        Ok(())
    );
    assert_eq!(
        check(&draw, json!({ "p": { "x": 1 } }), &defs),
        Err(r#"parameter "p" is missing required property "y""#.to_string())
    );
    assert_eq!(
        check(&draw, json!({ "p": { "x": 1.5, "y": 2 } }), &defs),
        Err(r#"parameter "p".x must be an integer, got 1.5"#.to_string())
    );
    assert_eq!(
        check(&draw, json!({ "p": { "x": 1, "y": 2, "z": 3 } }), &defs),
        Err(r#"parameter "p" has unknown property "z""#.to_string())
    );
    assert_eq!(
        check(&draw, json!({ "p": "origin" }), &defs),
        Err(r#"parameter "p" must be an object, got "origin""#.to_string())
    );
    let line = json!({
        "p": { "x": 0, "y": 0 },
        "l": { "from": { "x": 0, "y": 0 }, "to": { "x": "1", "y": 0 } },
    });
    assert_eq!(
        check(&draw, line, &defs),
        Err(r#"parameter "l".to.x must be an integer, got "1""#.to_string())
    );
}

#[test]
fn enum_and_bounds() {
    let defs = definitions(json!({
        "Color": { "type": "string", "enum": ["red", "green"] },
        "Level": { "enum": [1, 2, 3] },
        "Percent": { "type": "number", "minimum": 0, "maximum": 100 },
    }));
    let paint = action(json!({
        "c": { "type": "Color" },
        "l": { "type": "Level", "required": false },
        "p": { "type": "Percent", "required": false },
    }));
    assert_eq!(check(&paint, json!({ "c": "red" }), &defs), Ok(()));
    assert_eq!(
        check(&paint, json!({ "c": "blue" }), &defs),
        Err(r#"parameter "c" must be one of ["red","green"], got "blue""#.to_string())
    );
    // Enum members compare as numbers, so 2.0 is the member 2.
    assert_eq!(
        check(&paint, json!({ "c": "red", "l": 2.0 }), &defs),
        Ok(())
    );
    assert_eq!(
        check(&paint, json!({ "c": "red", "p": 99.5 }), &defs),
        Ok(())
    );
    assert_eq!(
        check(&paint, json!({ "c": "red", "p": 101 }), &defs),
        Err(r#"parameter "p" must be at most 100, got 101"#.to_string())
    );
    assert_eq!(
        check(&paint, json!({ "c": "red", "p": -1 }), &defs),
        Err(r#"parameter "p" must be at least 0, got -1"#.to_string())
    );
}

#[test]
fn schema_type_lists_and_unknown_types() {
    let defs = definitions(json!({ "MaybeText": { "type": ["string", "null"] } }));
    let note = action(json!({ "t": { "type": "MaybeText" }, "u": { "type": "Unheard" } }));
    assert_eq!(
        check(&note, json!({ "t": "hi", "u": [1, 2] }), &defs),
        Ok(())
    );
    assert_eq!(
        check(&note, json!({ "t": 1, "u": 1 }), &defs),
        Err(r#"parameter "t" must be a string or null, got 1"#.to_string())
    );
}

#[test]
fn ref_cycle_ends_in_an_error() {
    let defs = definitions(json!({ "Loop": { "$ref": "#/definitions/Loop" } }));
    let spin = action(json!({ "x": { "type": "Loop" } }));
    let error = check(&spin, json!({ "x": 1 }), &defs).unwrap_err();
    assert!(error.contains("$ref cycle"), "{error}");
}

#[test]
fn check_value_names_the_value() {
    let result: Parameter =
        serde_json::from_value(json!({ "type": "array", "items": { "type": "string" } })).unwrap();
    let none = BTreeMap::new();
    assert_eq!(check_value(&result, &json!(["a"]), &none), Ok(()));
    assert_eq!(
        check_value(&result, &json!(["a", 2]), &none),
        Err("value[1] must be a string, got 2".to_string())
    );
}
