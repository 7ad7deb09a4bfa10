//! The schema pass: the flow's shape, with the JSON path of every error. The top level and each node
//! are parsed separately, so that errors in several nodes are all reported.
//!
//! serde reads an internally tagged enum (a node, tagged by `type`) from a buffer and so loses the path
//! of an error inside it; when a node does not parse, its fields are parsed again one by one (`SHAPES`)
//! to find where.

use super::{Issue, join};
use crate::ivr::flow::{Case, Collect, Flow, Lookup, Menu, Node, NodeId, Prompt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct Parsed {
    /// The flow with the nodes that parsed; None when its top level did not.
    pub flow: Option<Flow>,
    /// Nodes that exist but did not parse.
    pub broken: BTreeSet<String>,
    pub issues: Vec<Issue>,
}

pub(super) fn parse(json: &Value) -> Parsed {
    let mut parsed = Parsed {
        flow: None,
        broken: BTreeSet::new(),
        issues: Vec::new(),
    };
    let Some(object) = json.as_object() else {
        parsed.issues.push(Issue::flow(
            "",
            "a flow is a JSON object with id, start, languages, agent_node and nodes",
        ));
        return parsed;
    };
    let nodes = object.get("nodes").and_then(Value::as_object);
    let top: Map<String, Value> = object
        .iter()
        .map(|(k, v)| match (k.as_str(), nodes) {
            ("nodes", Some(_)) => (k.clone(), Value::Object(Map::new())),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    match parse_as::<Flow>(&Value::Object(top)) {
        Ok(flow) => parsed.flow = Some(flow),
        Err((path, message)) => parsed.issues.push(Issue::flow(path, message)),
    }
    let mut good = BTreeMap::new();
    for (name, value) in nodes.into_iter().flatten() {
        if !is_node_name(name) {
            parsed.issues.push(Issue::node(
                name,
                "",
                "a node name uses only letters, digits, _ and -",
            ));
        }
        match node(value) {
            Ok(node) => {
                good.insert(name.clone(), node);
            }
            Err(errors) => {
                parsed.broken.insert(name.clone());
                for (rel, message) in errors {
                    parsed.issues.push(Issue::node(name, &rel, message));
                }
            }
        }
    }
    if let Some(flow) = &mut parsed.flow {
        flow.nodes = good;
    }
    parsed
}

fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A node, or its errors as (path inside the node, message).
fn node(value: &Value) -> Result<Node, Vec<(String, String)>> {
    let first = match parse_as::<Node>(value) {
        Ok(node) => return Ok(node),
        Err(e) => e,
    };
    let Some(object) = value.as_object() else {
        return Err(vec![(
            String::new(),
            "a node is a JSON object with a \"type\"".into(),
        )]);
    };
    let kinds = || {
        SHAPES
            .iter()
            .map(|(kind, _)| *kind)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind,
        _ => {
            let message = format!("a node needs a \"type\": one of {}", kinds());
            return Err(vec![("type".into(), message)]);
        }
    };
    let Some((_, shape)) = SHAPES.iter().find(|(k, _)| k == kind) else {
        let message = format!("unknown node type \"{kind}\" (one of {})", kinds());
        return Err(vec![("type".into(), message)]);
    };
    let mut found = shape.locate(object);
    // serde stops at the first error; it is the only one found when the shape could not place it
    // (a missing field, say).
    if !found.iter().any(|(_, message)| *message == first.1) {
        found.push(first);
    }
    Err(found)
}

/// Parses one value of a node's field; the error as (path inside the value, message).
type Check = fn(&Value) -> Result<(), (String, String)>;

fn check<T: DeserializeOwned>(value: &Value) -> Result<(), (String, String)> {
    parse_as::<T>(value).map(drop)
}

pub(super) enum Shape {
    /// A variant holding a struct: parsed as that struct, which keeps serde's paths.
    Struct(Check),
    /// A struct variant: its fields, each parsed on its own.
    Fields(&'static [(&'static str, Check)]),
}

/// How each node type is parsed again to place its errors; kept equal to `Node` by a test.
pub(super) static SHAPES: [(&str, Shape); 11] = [
    (
        "play",
        Shape::Fields(&[
            ("prompt", check::<Prompt>),
            ("barge_in", check::<bool>),
            ("next", check::<NodeId>),
        ]),
    ),
    ("menu", Shape::Struct(check::<Menu>)),
    ("collect", Shape::Struct(check::<Collect>)),
    (
        "branch",
        Shape::Fields(&[("cases", check::<Vec<Case>>), ("default", check::<NodeId>)]),
    ),
    (
        "set",
        Shape::Fields(&[
            ("vars", check::<BTreeMap<String, String>>),
            ("next", check::<NodeId>),
        ]),
    ),
    ("lookup", Shape::Struct(check::<Lookup>)),
    (
        "queue",
        Shape::Fields(&[
            ("queue", check::<String>),
            ("skills", check::<Vec<String>>),
            ("prompt", check::<Option<Prompt>>),
            ("overflow", check::<Option<NodeId>>),
        ]),
    ),
    (
        "voicemail",
        Shape::Fields(&[
            ("prompt", check::<Prompt>),
            ("max_s", check::<u32>),
            ("goodbye", check::<Option<Prompt>>),
        ]),
    ),
    (
        "transfer",
        Shape::Fields(&[("target", check::<String>), ("prompt", check::<Option<Prompt>>)]),
    ),
    (
        "language",
        Shape::Fields(&[("language", check::<String>), ("next", check::<NodeId>)]),
    ),
    ("hangup", Shape::Fields(&[("prompt", check::<Option<Prompt>>)])),
];

impl Shape {
    /// Every error that can be placed in the node's fields (the `type` is known to be right).
    fn locate(&self, object: &Map<String, Value>) -> Vec<(String, String)> {
        match self {
            Shape::Struct(check) => {
                let mut rest = object.clone();
                rest.remove("type");
                check(&Value::Object(rest)).err().into_iter().collect()
            }
            Shape::Fields(fields) => {
                let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                let mut found = Vec::new();
                for (key, value) in object.iter().filter(|(key, _)| *key != "type") {
                    match fields.iter().find(|(name, _)| name == key) {
                        None => found.push((key.clone(), unknown_field(key, &names))),
                        Some((_, check)) => {
                            if let Err((rel, message)) = check(value) {
                                found.push((join(key, &rel), message));
                            }
                        }
                    }
                }
                found
            }
        }
    }
}

/// Parses `value` as `T`; an error as (JSON path, a message for a flow author).
fn parse_as<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "" } else { &path };
        humanise(path, &e.into_inner().to_string())
    })
}

/// serde's messages, reworded where they speak of Rust (`untagged enum PromptSource`) or would name
/// the wrong place (a missing field is reported at its parent).
fn humanise(path: &str, message: &str) -> (String, String) {
    // The names serde quotes in backticks: the field or variant, then what was expected.
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if message.starts_with("missing field `") {
        let field = quoted[0];
        return (
            join(path, field),
            format!("the required field \"{field}\" is missing"),
        );
    }
    if message.starts_with("unknown field `") {
        return (path.into(), unknown_field(quoted[0], &quoted[1..]));
    }
    if message.starts_with("unknown variant `") {
        let list = quoted[1..].join(", ");
        return (path.into(), format!("\"{}\" is not one of {list}", quoted[0]));
    }
    if message.contains("untagged enum PromptSource") {
        let message = "a prompt is a text, or {\"wav\": \"name\"} for an uploaded recording";
        return (path.into(), message.into());
    }
    (path.into(), message.replace('`', ""))
}

fn unknown_field(field: &str, expected: &[&str]) -> String {
    if expected.is_empty() {
        format!("unknown field \"{field}\" (this takes no fields)")
    } else {
        format!(
            "unknown field \"{field}\" (expected one of {})",
            expected.join(", ")
        )
    }
}
