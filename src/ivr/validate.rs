//! Validation of a flow before anything accepts it: schema errors with their JSON path, then the rules
//! (dangling references, unreachable nodes, paths with no end, loops with no way out, duplicate keys,
//! missing prompts, languages without a TTS voice, settings that cannot work). Every problem is reported
//! at once.
//!
//! When some nodes do not parse, the rules still run on the nodes that do, except the ones that need
//! the whole graph (reachability, ends, loops): a broken node's edges are unknown, so those would only
//! report noise.

mod graph;
mod nodes;
mod parse;
mod schedule;
mod speech;
#[cfg(test)]
mod tests;

use super::flow::Flow;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// One problem: the node it is about (None for the flow as a whole), the JSON path, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub node: Option<String>,
    pub path: String,
    pub message: String,
}

impl Issue {
    /// A problem of the flow as a whole, at `path` from the top (`start`, `schedules.office.timezone`).
    pub fn flow(path: impl Into<String>, message: impl Into<String>) -> Issue {
        Issue {
            node: None,
            path: path.into(),
            message: message.into(),
        }
    }

    /// A problem of node `name`, at `rel` inside it (`options[2].next`; empty for the node itself).
    pub fn node(name: &str, rel: &str, message: impl Into<String>) -> Issue {
        Issue {
            node: Some(name.to_string()),
            path: join(&format!("nodes.{name}"), rel),
            message: message.into(),
        }
    }
}

/// `node: path: message`, the flow's own problems under `(flow)`.
impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = self.node.as_deref().unwrap_or("(flow)");
        write!(f, "{node}: {}: {}", self.path, self.message)
    }
}

/// What a flow may refer to outside itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Languages with a TTS voice.
    pub tts_languages: BTreeSet<String>,
    /// Names of uploaded WAV prompts.
    pub wav_prompts: BTreeSet<String>,
}

/// Parses and checks a flow given as JSON; the flow, or every problem found.
pub fn validate(json: &serde_json::Value, ctx: &Context) -> Result<Flow, Vec<Issue>> {
    let parse::Parsed {
        flow,
        broken,
        mut issues,
    } = parse::parse(json);
    if let Some(flow) = &flow {
        issues.extend(rules(flow, &broken, ctx));
    }
    match flow {
        Some(flow) if issues.is_empty() => Ok(flow),
        _ => {
            // The flow's own problems first, then node by node; within a node, in the order found.
            issues.sort_by(|a, b| a.node.cmp(&b.node));
            Err(issues)
        }
    }
}

/// Every rule after the schema; `broken` names nodes that exist but did not parse.
fn rules(flow: &Flow, broken: &BTreeSet<String>, ctx: &Context) -> Vec<Issue> {
    let mut issues = Vec::new();
    if flow.id.trim().is_empty() {
        issues.push(Issue::flow("id", "the flow id is empty"));
    }
    if !is_phone_key(flow.agent_key) {
        issues.push(Issue::flow("agent_key", not_a_key(flow.agent_key)));
    }
    issues.extend(speech::flow_languages(flow));
    issues.extend(schedule::check(flow));
    for (name, node) in &flow.nodes {
        let mut found = NodeIssues::new(name);
        nodes::check(flow, node, &mut found);
        speech::check(flow, ctx, node, &mut found);
        issues.extend(found.issues);
    }
    issues.extend(graph::references(flow, broken));
    if broken.is_empty() {
        issues.extend(graph::shape(flow));
    }
    issues
}

/// The problems found in one node.
struct NodeIssues<'a> {
    name: &'a str,
    issues: Vec<Issue>,
}

impl<'a> NodeIssues<'a> {
    fn new(name: &'a str) -> Self {
        NodeIssues {
            name,
            issues: Vec::new(),
        }
    }

    fn add(&mut self, rel: &str, message: impl Into<String>) {
        self.issues.push(Issue::node(self.name, rel, message));
    }
}

/// `a` + `b` as a JSON path: `options` + `[2].next`, `nodes.main` + `prompt`.
fn join(a: &str, b: &str) -> String {
    match (a, b) {
        (a, "") => a.to_string(),
        ("", b) => b.to_string(),
        (a, b) if b.starts_with('[') => format!("{a}{b}"),
        (a, b) => format!("{a}.{b}"),
    }
}

/// The keys of a phone keypad.
fn is_phone_key(c: char) -> bool {
    c.is_ascii_digit() || c == '*' || c == '#'
}

fn not_a_key(c: char) -> String {
    format!("\"{c}\" is not a phone key (0-9, * or #)")
}

/// `"a"`, `"a" and "b"`, `"a", "b" and "c"`.
fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{}\"", s.as_ref())).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
