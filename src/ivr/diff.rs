//! What changed between two versions of a flow, node by node and field by field: the flow's own fields
//! (`start`, `languages`, …) have no node; everything under `nodes.<name>` names its node. Objects are
//! compared key by key, arrays element by element (index by index), anything else by value.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference. `path` is from the flow's root, e.g. `nodes.main.prompt.en` or `languages[1]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub node: Option<String>,
    pub path: String,
    pub kind: ChangeKind,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The changes that turn `a` into `b`, keys in sorted order, array elements by index.
pub fn diff(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, before, after) in pairs(a, b) {
                let path = join(String::new(), key);
                match (key.as_str(), before, after) {
                    ("nodes", Some(Value::Object(na)), Some(Value::Object(nb))) => {
                        for (name, before, after) in pairs(na, nb) {
                            let path = join(path.clone(), name);
                            walk(Some(name), path, before, after, &mut out);
                        }
                    }
                    _ => walk(None, path, before, after, &mut out),
                }
            }
        }
        _ => walk(None, String::new(), Some(a), Some(b), &mut out),
    }
    out
}

/// Every key of either object, sorted (whatever order the map keeps), with its value on each side.
fn pairs<'a>(
    a: &'a serde_json::Map<String, Value>,
    b: &'a serde_json::Map<String, Value>,
) -> Vec<(&'a String, Option<&'a Value>, Option<&'a Value>)> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().map(|k| (k, a.get(k), b.get(k))).collect()
}

fn walk(node: Option<&str>, path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Change>) {
    let change = |kind, path| Change {
        node: node.map(str::to_string),
        path,
        kind,
        before: a.cloned(),
        after: b.cloned(),
    };
    match (a, b) {
        (None, None) => {}
        (None, Some(_)) => out.push(change(ChangeKind::Added, path)),
        (Some(_), None) => out.push(change(ChangeKind::Removed, path)),
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            for (key, before, after) in pairs(x, y) {
                walk(node, join(path.clone(), key), before, after, out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(node, format!("{path}[{i}]"), x.get(i), y.get(i), out);
            }
        }
        (Some(x), Some(y)) if x == y => {}
        (Some(_), Some(_)) => out.push(change(ChangeKind::Changed, path)),
    }
}

/// `path.key`, or `path["key"]` for a key that would be ambiguous after a dot.
fn join(path: String, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, path.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{}]", Value::String(key.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow() -> Value {
        json!({
            "id": "support",
            "start": "welcome",
            "languages": ["en", "ja"],
            "agent_node": "agent",
            "nodes": {
                "welcome": {"type": "play", "prompt": {"en": "Hello.", "ja": "こんにちは。"}, "next": "main"},
                "main": {
                    "type": "menu",
                    "prompt": {"en": "Press 1 for billing."},
                    "options": [{"key": "1", "next": "agent"}]
                },
                "agent": {"type": "queue", "queue": "support"}
            }
        })
    }

    fn summary(changes: &[Change]) -> Vec<(Option<&str>, &str, ChangeKind)> {
        changes
            .iter()
            .map(|c| (c.node.as_deref(), c.path.as_str(), c.kind))
            .collect()
    }

    #[test]
    fn identical_flows_have_no_changes() {
        assert!(diff(&flow(), &flow()).is_empty());
    }

    #[test]
    fn a_changed_prompt_text_is_one_change_on_its_node() {
        let mut b = flow();
        b["nodes"]["welcome"]["prompt"]["en"] = json!("Welcome to koe.");
        let changes = diff(&flow(), &b);
        assert_eq!(
            changes,
            [Change {
                node: Some("welcome".into()),
                path: "nodes.welcome.prompt.en".into(),
                kind: ChangeKind::Changed,
                before: Some(json!("Hello.")),
                after: Some(json!("Welcome to koe.")),
            }]
        );
        let wire = serde_json::to_value(&changes[0]).unwrap();
        assert_eq!(wire["kind"], "changed");
    }

    #[test]
    fn nodes_added_and_removed_whole_fields_by_field() {
        let mut b = flow();
        let nodes = b["nodes"].as_object_mut().unwrap();
        nodes.remove("welcome");
        nodes.insert("closed".into(), json!({"type": "hangup"}));
        b["start"] = json!("main");
        b["nodes"]["main"]["timeout_s"] = json!(8);
        b["nodes"]["main"]["options"][0]["next"] = json!("closed");
        b["nodes"]["main"]["options"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "2", "next": "agent"}));
        let changes = diff(&flow(), &b);
        assert_eq!(
            summary(&changes),
            [
                (Some("closed"), "nodes.closed", ChangeKind::Added),
                (Some("main"), "nodes.main.options[0].next", ChangeKind::Changed),
                (Some("main"), "nodes.main.options[1]", ChangeKind::Added),
                (Some("main"), "nodes.main.timeout_s", ChangeKind::Added),
                (Some("welcome"), "nodes.welcome", ChangeKind::Removed),
                (None, "start", ChangeKind::Changed),
            ]
        );
        assert_eq!(changes[0].before, None);
        assert_eq!(changes[0].after, Some(json!({"type": "hangup"})));
        let removed = &changes[4];
        assert_eq!(removed.before.as_ref(), Some(&flow()["nodes"]["welcome"]));
        assert_eq!(removed.after, None);
    }

    #[test]
    fn arrays_compare_by_index_and_types_change_whole() {
        let mut b = flow();
        b["languages"] = json!(["en"]);
        b["nodes"]["agent"]["queue"] = json!({"name": "support"});
        assert_eq!(
            summary(&diff(&flow(), &b)),
            [
                (None, "languages[1]", ChangeKind::Removed),
                (Some("agent"), "nodes.agent.queue", ChangeKind::Changed),
            ]
        );
    }

    #[test]
    fn odd_keys_are_quoted_and_non_objects_compare_whole() {
        let a = json!({"nodes": {"a.b": {"x": 1}}, "": 1});
        let b = json!({"nodes": {"a.b": {"x": 2}}, "": 2});
        assert_eq!(
            summary(&diff(&a, &b)),
            [
                (None, r#"[""]"#, ChangeKind::Changed),
                (Some("a.b"), r#"nodes["a.b"].x"#, ChangeKind::Changed),
            ]
        );
        assert_eq!(
            summary(&diff(&json!([1]), &json!("x"))),
            [(None, "", ChangeKind::Changed)]
        );
        // `nodes` that is not an object on one side is compared as a plain field.
        assert_eq!(
            summary(&diff(&json!({"nodes": []}), &json!({"nodes": {}}))),
            [(None, "nodes", ChangeKind::Changed)]
        );
    }
}
