//! Rules on the flow as a graph: references that name nodes, nodes a call can reach, and an end (a
//! queue, voicemail, transfer or hangup) within reach of every node.

use super::{Issue, quoted_list};
use crate::ivr::flow::{Flow, Node};
use std::collections::{BTreeSet, HashMap};

const ENDS: &str = "a queue, voicemail, transfer or hangup";

/// `start`, `agent_node` and every node's targets name a node (`broken`: nodes that did not parse).
pub(super) fn references(flow: &Flow, broken: &BTreeSet<String>) -> Vec<Issue> {
    let exists = |name: &str| flow.nodes.contains_key(name) || broken.contains(name);
    let mut issues = Vec::new();
    if !exists(&flow.start) {
        let message = format!("the flow starts at \"{}\", which is not a node", flow.start);
        issues.push(Issue::flow("start", message));
    }
    if !exists(&flow.agent_node) {
        let message = format!(
            "agent_node is \"{}\", which is not a node (menus send callers there when they ask for a \
             person or give up)",
            flow.agent_node
        );
        issues.push(Issue::flow("agent_node", message));
    }
    for (name, node) in &flow.nodes {
        for (rel, target) in node.targets(flow) {
            // The implicit edges to the agent node are reported once, above.
            if !rel.starts_with('(') && !exists(target) {
                let message = format!("{} leads to \"{target}\", which is not a node", what(node, &rel));
                issues.push(Issue::node(name, &rel, message));
            }
        }
    }
    issues
}

/// What the reference at `rel` is, for a message: `option 2`, `case 1`, `the fallback`.
fn what(node: &Node, rel: &str) -> String {
    let index = |prefix: &str| {
        rel.strip_prefix(prefix)
            .and_then(|r| r.split_once(']'))
            .and_then(|(i, _)| i.parse::<usize>().ok())
    };
    if let (Node::Menu(m), Some(i)) = (node, index("options[")) {
        return match m.options[i].key {
            Some(key) => format!("option {key}"),
            None => format!("option #{} (no key)", i + 1),
        };
    }
    if let Some(i) = index("cases[") {
        return format!("case #{}", i + 1);
    }
    match rel {
        "default" => "the default".into(),
        "fallback" => "the fallback".into(),
        other => other.into(),
    }
}

/// Reachability from the start, an end within reach of every node, loops with no way out. Needs every
/// node parsed. A reference to a missing node is reported by `references` and counts here as a way
/// on, so that one wrong name is reported once and not again by every node before it.
pub(super) fn shape(flow: &Flow) -> Vec<Issue> {
    let graph = Graph::new(flow);
    let mut issues = Vec::new();
    if let Some(&start) = graph.index.get(flow.start.as_str()) {
        let reached = graph.reach([start], &graph.next);
        for (name, _) in graph.names.iter().zip(&reached).filter(|(_, r)| !**r) {
            let message = format!("no path from the start (\"{}\") reaches this node", flow.start);
            issues.push(Issue::node(name, "", message));
        }
    }
    let ends = (0..graph.names.len()).filter(|&i| graph.open[i]);
    let can_end = graph.reach(ends, &graph.prev);
    let stuck: Vec<bool> = can_end.iter().map(|c| !c).collect();
    let mut in_loop = vec![false; graph.names.len()];
    for members in graph.components(&stuck) {
        let looped = members.len() > 1 || graph.next[members[0]].contains(&members[0]);
        if !looped {
            continue;
        }
        let mut names: Vec<&str> = members.iter().map(|&i| graph.names[i]).collect();
        names.sort_unstable();
        members.iter().for_each(|&i| in_loop[i] = true);
        let message = format!(
            "the loop of {} has no way out: no path from it reaches {ENDS}",
            quoted_list(&names)
        );
        issues.push(Issue::node(names[0], "", message));
    }
    for (i, name) in graph.names.iter().enumerate() {
        if stuck[i] && !in_loop[i] {
            issues.push(Issue::node(
                name,
                "",
                format!("no path from this node reaches {ENDS}"),
            ));
        }
    }
    issues
}

/// The nodes by index, with their edges both ways.
struct Graph<'a> {
    names: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
    next: Vec<Vec<usize>>,
    prev: Vec<Vec<usize>>,
    /// Ends the IVR part, or leads to a missing node (see `shape`).
    open: Vec<bool>,
}

impl<'a> Graph<'a> {
    fn new(flow: &'a Flow) -> Self {
        let names: Vec<&str> = flow.nodes.keys().map(String::as_str).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut next = vec![Vec::new(); names.len()];
        let mut prev = vec![Vec::new(); names.len()];
        let mut open = vec![false; names.len()];
        for (i, node) in flow.nodes.values().enumerate() {
            open[i] = node.is_terminal();
            for (_, target) in node.targets(flow) {
                match index.get(target.as_str()) {
                    Some(&j) => {
                        next[i].push(j);
                        prev[j].push(i);
                    }
                    None => open[i] = true,
                }
            }
        }
        Graph {
            names,
            index,
            next,
            prev,
            open,
        }
    }

    /// The nodes reachable from `from` along `edges`.
    fn reach(&self, from: impl IntoIterator<Item = usize>, edges: &[Vec<usize>]) -> Vec<bool> {
        let mut seen = vec![false; self.names.len()];
        let mut todo: Vec<usize> = from.into_iter().collect();
        todo.iter().for_each(|&i| seen[i] = true);
        while let Some(i) = todo.pop() {
            for &j in &edges[i] {
                if !seen[j] {
                    seen[j] = true;
                    todo.push(j);
                }
            }
        }
        seen
    }

    /// The strongly connected components of the nodes in `within` (Kosaraju, without recursion so
    /// that a long chain of nodes cannot overflow the stack).
    fn components(&self, within: &[bool]) -> Vec<Vec<usize>> {
        let n = self.names.len();
        let mut seen = vec![false; n];
        let mut finished = Vec::with_capacity(n);
        for root in (0..n).filter(|&i| within[i]) {
            if seen[root] {
                continue;
            }
            seen[root] = true;
            let mut stack = vec![(root, 0)];
            while let Some(&(i, k)) = stack.last() {
                match self.next[i].get(k) {
                    Some(&j) => {
                        stack.last_mut().expect("not empty").1 += 1;
                        if within[j] && !seen[j] {
                            seen[j] = true;
                            stack.push((j, 0));
                        }
                    }
                    None => {
                        finished.push(i);
                        stack.pop();
                    }
                }
            }
        }
        let mut assigned = vec![false; n];
        let mut components = Vec::new();
        for &root in finished.iter().rev() {
            if assigned[root] {
                continue;
            }
            assigned[root] = true;
            let (mut members, mut todo) = (Vec::new(), vec![root]);
            while let Some(i) = todo.pop() {
                members.push(i);
                for &j in &self.prev[i] {
                    if within[j] && !assigned[j] {
                        assigned[j] = true;
                        todo.push(j);
                    }
                }
            }
            components.push(members);
        }
        components
    }
}
