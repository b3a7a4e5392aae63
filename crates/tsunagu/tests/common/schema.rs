//! A small JSON Schema checker for the OpenAPI document utoipa writes: `$ref` to the
//! components, `allOf`, `oneOf`/`anyOf`, `enum`, `type` (one or several, `null` included),
//! `items`, `properties` (no field outside them unless `additionalProperties`) and
//! `required`.

use serde_json::{json, Value};

/// Checks `v` against `schema` (a subset of JSON Schema as utoipa writes it), returning
/// what does not match, each with the JSON path.
pub fn check(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        match doc["components"]["schemas"].get(name) {
            Some(s) => check(doc, s, v, at, out),
            None => out.push(format!("{at}: unknown schema {r}")),
        }
        return;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        // The parts describe one object together: check each field against the part that
        // has it, and that no field is undocumented in all of them.
        let mut merged = json!({ "type": "object", "properties": {}, "required": [] });
        for part in all {
            let part = resolve(doc, part);
            if let Some(p) = part["properties"].as_object() {
                for (k, s) in p {
                    merged["properties"][k] = s.clone();
                }
            }
            if let Some(r) = part["required"].as_array() {
                merged["required"]
                    .as_array_mut()
                    .unwrap()
                    .extend(r.iter().cloned());
            }
        }
        check(doc, &merged, v, at, out);
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let fits = alts.iter().any(|a| {
                let mut e = Vec::new();
                check(doc, a, v, at, &mut e);
                e.is_empty()
            });
            if !fits {
                out.push(format!("{at}: {v} matches none of {key} {schema}"));
            }
            return;
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        if !choices.contains(v) {
            out.push(format!("{at}: {v} is not one of {choices:?}"));
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return, // any value
    };
    let fits = |t: &str| match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    };
    if !types.iter().any(|t| fits(t)) {
        out.push(format!("{at}: {v} is not {types:?}"));
        return;
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            check(doc, items, x, &format!("{at}[{i}]"), out);
        }
    }
    if let Some(o) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                out.push(format!("{at}.{r}: required but missing"));
            }
        }
        if let Some(props) = props {
            for (k, x) in o {
                match props.get(k) {
                    Some(s) => check(doc, s, x, &format!("{at}.{k}"), out),
                    None if schema.get("additionalProperties").is_some() => {}
                    None => out.push(format!("{at}.{k}: not in the schema")),
                }
            }
        }
    }
}

pub fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => s,
    }
}
