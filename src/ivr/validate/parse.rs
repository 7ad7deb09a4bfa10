//! The schema pass: the flow's shape, with the JSON path of every error. The top level and each node
//! are parsed separately, so that errors in several nodes are all reported.
//!
//! serde stops at the first error, and inside an internally tagged enum (a node, tagged by `type`) it
//! loses the error's path, since it reads the node from a buffer. So when an object does not parse, its
//! fields are parsed again one by one (`FLOW`, `NODES`) to find every error and where it is.

use super::{Issue, join};
use crate::ivr::flow::{CheckDigit, Flow, MenuOption, Node, NodeId, Prompt, Schedule};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// An error: the JSON path inside the value parsed, and a message for a flow author.
pub(super) type Error = (String, String);

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
    // The top level with no nodes in it: they are parsed one by one below.
    let nodes = object.get("nodes").and_then(Value::as_object);
    let top: Map<String, Value> = object
        .iter()
        .map(|(k, v)| match (k.as_str(), nodes) {
            ("nodes", Some(_)) => (k.clone(), Value::Object(Map::new())),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    match parse_object::<Flow>(&top, FLOW) {
        Ok(flow) => parsed.flow = Some(flow),
        Err(errors) => {
            let issues = errors
                .into_iter()
                .map(|(path, message)| Issue::flow(path, message));
            parsed.issues.extend(issues);
        }
    }
    let mut good = BTreeMap::new();
    for (name, value) in nodes.into_iter().flatten() {
        if !is_node_name(name) {
            let message = "a node name uses only letters, digits, _ and -";
            parsed.issues.push(Issue::node(name, "", message));
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

fn node(value: &Value) -> Result<Node, Vec<Error>> {
    let Some(object) = value.as_object() else {
        return Err(vec![(
            String::new(),
            "a node is a JSON object with a \"type\"".into(),
        )]);
    };
    let kinds = || NODES.iter().map(|(kind, _)| *kind).collect::<Vec<_>>().join(", ");
    let fields = match object.get("type") {
        Some(Value::String(kind)) => match NODES.iter().find(|(k, _)| k == kind) {
            Some((_, fields)) => fields,
            None => {
                let message = format!("unknown node type \"{kind}\" (one of {})", kinds());
                return Err(vec![("type".into(), message)]);
            }
        },
        _ => {
            let message = format!("a node needs a \"type\": one of {}", kinds());
            return Err(vec![("type".into(), message)]);
        }
    };
    parse_object(object, fields)
}

/// Parses an object's field on its own; its errors, with paths inside the field's value.
pub(super) type Check = fn(&Value) -> Vec<Error>;

/// A field of type `T`.
fn one<T: DeserializeOwned>(value: &Value) -> Vec<Error> {
    parse_as::<T>(value).err().into_iter().collect()
}

/// An array of `T`: every item's errors.
fn each<T: DeserializeOwned>(value: &Value) -> Vec<Error> {
    let Some(items) = value.as_array() else {
        return one::<Vec<T>>(value);
    };
    let errors = items.iter().enumerate().flat_map(|(i, item)| {
        let at = format!("[{i}]");
        one::<T>(item)
            .into_iter()
            .map(move |(rel, message)| (join(&at, &rel), message))
    });
    errors.collect()
}

/// A map of names to `T`: every entry's errors.
fn every<T: DeserializeOwned>(value: &Value) -> Vec<Error> {
    let Some(entries) = value.as_object() else {
        return one::<BTreeMap<String, T>>(value);
    };
    let errors = entries.iter().flat_map(|(name, entry)| {
        one::<T>(entry)
            .into_iter()
            .map(move |(rel, message)| (join(name, &rel), message))
    });
    errors.collect()
}

pub(super) type Fields = &'static [(&'static str, Check)];

/// The fields of the top level of a flow; kept equal to `Flow` by a test.
pub(super) static FLOW: Fields = &[
    ("id", one::<String>),
    ("name", one::<String>),
    ("start", one::<NodeId>),
    ("languages", one::<Vec<String>>),
    ("agent_node", one::<NodeId>),
    ("agent_key", one::<char>),
    ("agent_phrases", one::<BTreeMap<String, Vec<String>>>),
    ("schedules", every::<Schedule>),
    ("nodes", one::<Map<String, Value>>),
];

/// The fields of each node type (besides `type`); kept equal to `Node` by a test.
pub(super) static NODES: [(&str, Fields); 11] = [
    (
        "play",
        &[
            ("prompt", one::<Prompt>),
            ("barge_in", one::<bool>),
            ("all_languages", one::<bool>),
            ("next", one::<NodeId>),
        ],
    ),
    (
        "menu",
        &[
            ("prompt", one::<Prompt>),
            ("options", each::<MenuOption>),
            ("timeout_s", one::<u32>),
            ("retries", one::<u32>),
            ("no_match_prompt", one::<Option<Prompt>>),
            ("no_input_prompt", one::<Option<Prompt>>),
            ("on_failure", one::<Option<NodeId>>),
            ("agent", one::<bool>),
            ("speech", one::<bool>),
            ("all_languages", one::<bool>),
        ],
    ),
    (
        "collect",
        &[
            ("prompt", one::<Prompt>),
            ("var", one::<String>),
            ("min_digits", one::<u32>),
            ("max_digits", one::<u32>),
            ("terminator", one::<Option<char>>),
            ("pattern", one::<Option<String>>),
            ("check", one::<Option<CheckDigit>>),
            ("timeout_s", one::<u32>),
            ("retries", one::<u32>),
            ("invalid_prompt", one::<Option<Prompt>>),
            ("no_input_prompt", one::<Option<Prompt>>),
            ("on_failure", one::<Option<NodeId>>),
            ("sensitive", one::<bool>),
            ("next", one::<NodeId>),
        ],
    ),
    (
        "branch",
        &[
            ("cases", each::<crate::ivr::flow::Case>),
            ("default", one::<NodeId>),
        ],
    ),
    (
        "set",
        &[("vars", one::<BTreeMap<String, String>>), ("next", one::<NodeId>)],
    ),
    (
        "lookup",
        &[
            ("url", one::<String>),
            ("method", one::<String>),
            ("timeout_ms", one::<u64>),
            ("assign", one::<BTreeMap<String, String>>),
            ("next", one::<NodeId>),
            ("fallback", one::<NodeId>),
        ],
    ),
    (
        "queue",
        &[
            ("queue", one::<String>),
            ("skills", one::<Vec<String>>),
            ("prompt", one::<Option<Prompt>>),
            ("overflow", one::<Option<NodeId>>),
        ],
    ),
    (
        "voicemail",
        &[
            ("prompt", one::<Prompt>),
            ("max_s", one::<u32>),
            ("goodbye", one::<Option<Prompt>>),
        ],
    ),
    (
        "transfer",
        &[("target", one::<String>), ("prompt", one::<Option<Prompt>>)],
    ),
    (
        "language",
        &[("language", one::<String>), ("next", one::<NodeId>)],
    ),
    ("hangup", &[("prompt", one::<Option<Prompt>>)]),
];

/// Parses `object` as `T`; or every error of its fields, each with its path.
fn parse_object<T: DeserializeOwned>(object: &Map<String, Value>, fields: Fields) -> Result<T, Vec<Error>> {
    if let Ok(parsed) = parse_as::<T>(&Value::Object(object.clone())) {
        return Ok(parsed);
    }
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let check_of = |key: &str| {
        fields
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, check)| *check)
    };
    let mut errors = Vec::new();
    // The object with a stand-in for each field in error, to find what else is wrong.
    let mut rest = object.clone();
    // A node's tag: already checked, and not one of its fields.
    for (key, value) in object.iter().filter(|(key, _)| *key != "type") {
        let found = match check_of(key) {
            None => vec![(String::new(), unknown_field(key, &names))],
            Some(check) => check(value),
        };
        if found.is_empty() {
            continue;
        }
        errors.extend(found.into_iter().map(|(rel, message)| (join(key, &rel), message)));
        match check_of(key).and_then(stand_in) {
            Some(stand_in) => rest.insert(key.clone(), stand_in),
            None => rest.remove(key),
        };
    }
    // What is left is what the fields alone do not show: required fields that are missing, which serde
    // reports one at a time (each then gets a stand-in).
    for _ in 0..=fields.len() {
        let Err((path, message)) = parse_as::<T>(&Value::Object(rest.clone())) else {
            break;
        };
        let missing = message.starts_with("the required field");
        let error = (path.clone(), message);
        if !errors.contains(&error) {
            errors.push(error);
        }
        match check_of(&path).and_then(stand_in) {
            Some(stand_in) if missing => rest.insert(path, stand_in),
            _ => break,
        };
    }
    Err(errors)
}

/// A value that `check` accepts, to stand in for a field whose own value is reported already.
fn stand_in(check: Check) -> Option<Value> {
    let candidates = [
        json!(null),
        json!(""),
        json!(0),
        json!(false),
        json!([]),
        json!({}),
        json!("#"),
    ];
    candidates.into_iter().find(|v| check(v).is_empty())
}

/// Parses `value` as `T`; the error with its JSON path and a message for a flow author.
fn parse_as<T: DeserializeOwned>(value: &Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "" } else { &path };
        humanise(path, &e.into_inner().to_string())
    })
}

/// serde's messages, reworded where they speak of Rust (`untagged enum PromptSource`) or would name
/// the wrong place (a missing field is reported at its parent).
fn humanise(path: &str, message: &str) -> Error {
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
    format!(
        "unknown field \"{field}\" (expected one of {})",
        expected.join(", ")
    )
}
