//! Rules about one node's own settings: menu keys, digit collection, conditions, lookups, variables,
//! queues, transfers and timeouts.

use super::{NodeIssues, is_phone_key, not_a_key, quoted_list};
use crate::ivr::flow::{Collect, Condition, Flow, Lookup, Menu, Node};
use std::collections::BTreeMap;

/// The longest a lookup may keep a caller waiting.
const LOOKUP_MAX_MS: u64 = 30_000;

pub(super) fn check(flow: &Flow, node: &Node, found: &mut NodeIssues) {
    match node {
        Node::Menu(m) => menu(flow, m, found),
        Node::Collect(c) => collect(c, found),
        Node::Branch { cases, .. } => {
            for (i, case) in cases.iter().enumerate() {
                condition(flow, &case.when, &format!("cases[{i}].when"), found);
            }
        }
        Node::Set { vars, .. } => {
            for var in vars.keys() {
                variable(var, &format!("vars.{var}"), found);
            }
        }
        Node::Lookup(l) => lookup(l, found),
        Node::Queue { queue, .. } => {
            if queue.trim().is_empty() {
                found.add("queue", "the queue name is empty");
            }
        }
        Node::Voicemail { max_s, .. } => {
            if *max_s == 0 {
                found.add("max_s", "max_s is 0: the caller could not leave a message");
            }
        }
        Node::Transfer { target, .. } => {
            if !is_sip_uri(target) {
                let message = format!(
                    "\"{target}\" is not a SIP URI: it starts with sip: or sips: (sip:desk@pbx.example.com)"
                );
                found.add("target", message);
            }
        }
        Node::Play { .. } | Node::Language { .. } | Node::Hangup { .. } => {}
    }
}

fn menu(flow: &Flow, m: &Menu, found: &mut NodeIssues) {
    if m.options.is_empty() {
        found.add("options", "the menu has no options");
    }
    if m.timeout_s == 0 {
        found.add("timeout_s", no_time());
    }
    let mut first_with: BTreeMap<char, usize> = BTreeMap::new();
    for (i, option) in m.options.iter().enumerate() {
        let at = format!("options[{i}]");
        if let Some(key) = option.key {
            let key_at = format!("{at}.key");
            if !is_phone_key(key) {
                found.add(&key_at, not_a_key(key));
            } else if let Some(j) = first_with.get(&key) {
                found.add(&key_at, format!("key {key} is also the key of options[{j}]"));
            } else {
                first_with.insert(key, i);
            }
            if m.agent && key == flow.agent_key {
                let message = format!(
                    "key {key} is the flow's agent key, which this menu also listens for: \
                     choose another key, or set \"agent\": false on the menu"
                );
                found.add(&key_at, message);
            }
        }
        let has_phrases = option.phrases.values().flatten().any(|p| !p.trim().is_empty());
        match (option.key, has_phrases, m.speech) {
            (None, false, _) => found.add(
                &at,
                "the option has neither a key nor phrases, so no caller can choose it",
            ),
            (None, true, false) => found.add(
                &at,
                "the option has only phrases, but the menu does not listen for speech \
                 (\"speech\": false), so no caller can choose it",
            ),
            _ => {}
        }
        for (language, phrases) in &option.phrases {
            for (j, phrase) in phrases.iter().enumerate() {
                if phrase.trim().is_empty() {
                    found.add(&format!("{at}.phrases.{language}[{j}]"), "the phrase is empty");
                }
            }
        }
    }
}

fn collect(c: &Collect, found: &mut NodeIssues) {
    variable(&c.var, "var", found);
    if c.max_digits == 0 {
        found.add("max_digits", "max_digits is 0: it must allow at least one digit");
    } else if c.min_digits > c.max_digits {
        let message = format!(
            "min_digits ({}) is more than max_digits ({})",
            c.min_digits, c.max_digits
        );
        found.add("min_digits", message);
    }
    if let Some(t) = c.terminator {
        if !is_phone_key(t) {
            found.add(
                "terminator",
                format!("{}: the terminator is * or #", not_a_key(t)),
            );
        } else if t.is_ascii_digit() {
            let message =
                format!("the terminator is the digit {t}, so callers could not enter {t}: use * or #");
            found.add("terminator", message);
        }
    }
    if let Some(pattern) = &c.pattern {
        regex(pattern, "pattern", found);
    }
    if c.timeout_s == 0 {
        found.add("timeout_s", no_time());
    }
}

fn no_time() -> &'static str {
    "timeout_s is 0: the caller would have no time to answer"
}

fn condition(flow: &Flow, c: &Condition, at: &str, found: &mut NodeIssues) {
    let schedule = |name: &str, rel: &str, found: &mut NodeIssues| {
        if !flow.schedules.contains_key(name) {
            let names: Vec<&String> = flow.schedules.keys().collect();
            let known = match names.as_slice() {
                [] => "the flow has none".to_string(),
                _ => format!("the flow has {}", quoted_list(&names)),
            };
            found.add(
                &format!("{at}.{rel}"),
                format!("there is no schedule named \"{name}\" ({known})"),
            );
        }
    };
    match c {
        Condition::Equals { .. } | Condition::Exists(_) => {}
        Condition::Matches { pattern, .. } => regex(pattern, &format!("{at}.matches.pattern"), found),
        Condition::Open(name) => schedule(name, "open", found),
        Condition::Holiday(name) => schedule(name, "holiday", found),
        Condition::All(cs) | Condition::Any(cs) => {
            let op = if matches!(c, Condition::All(_)) {
                "all"
            } else {
                "any"
            };
            for (i, c) in cs.iter().enumerate() {
                condition(flow, c, &format!("{at}.{op}[{i}]"), found);
            }
        }
        Condition::Not(c) => condition(flow, c, &format!("{at}.not"), found),
    }
}

fn lookup(l: &Lookup, found: &mut NodeIssues) {
    // koe's lookup client speaks plain HTTP (a service beside koe, not the internet).
    if l.url.strip_prefix("http://").is_none_or(str::is_empty) {
        let message = format!("\"{}\" is not an http:// URL", l.url);
        found.add("url", message);
    }
    if l.timeout_ms == 0 || l.timeout_ms > LOOKUP_MAX_MS {
        let message = format!(
            "timeout_ms is {}: it must be between 1 and {LOOKUP_MAX_MS} (30 s)",
            l.timeout_ms
        );
        found.add("timeout_ms", message);
    }
    for (var, pointer) in &l.assign {
        let at = format!("assign.{var}");
        variable(var, &at, found);
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            let message =
                format!("\"{pointer}\" is not a JSON pointer into the answer (like /customer/name)");
            found.add(&at, message);
        }
    }
}

/// Variable names are `[a-z_][a-z0-9_]*`, so that `{name}` in a text or URL is unambiguous.
fn variable(name: &str, at: &str, found: &mut NodeIssues) {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        let message = format!(
            "\"{name}\" is not a variable name: use lower-case letters, digits and _, not starting with a digit"
        );
        found.add(at, message);
    }
}

fn regex(pattern: &str, at: &str, found: &mut NodeIssues) {
    if let Err(e) = regex::Regex::new(pattern) {
        // A syntax error's last line says what is wrong (the lines above draw the pattern).
        let why = match &e {
            regex::Error::Syntax(text) => {
                let last = text.lines().last().unwrap_or(text);
                last.strip_prefix("error: ").unwrap_or(last).to_string()
            }
            other => other.to_string(),
        };
        found.add(
            at,
            format!("the pattern is not a valid regular expression: {why}"),
        );
    }
}

fn is_sip_uri(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    let rest = lower.strip_prefix("sips:").or_else(|| lower.strip_prefix("sip:"));
    rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace))
}
