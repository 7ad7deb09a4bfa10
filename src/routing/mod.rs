//! Routing queued callers to human agents: the sans-IO [`router::Router`] and the task that runs it.

pub mod router;
pub mod service;

pub use service::{Notice, Routing};

use router::AgentDef;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The demo agents, embedded so that `koe serve` has them from any directory.
pub const EMBEDDED_AGENTS: &str = include_str!("../../sip-config/agents.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsFile {
    #[serde(default)]
    agent: Vec<AgentEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    id: String,
    name: String,
    #[serde(default)]
    skills: BTreeMap<String, u8>,
    #[serde(default)]
    languages: Vec<String>,
}

/// Parses an agents file (`[[agent]]` tables); every agent needs an id usable as a SIP user name.
pub fn parse_agents(text: &str) -> Result<Vec<AgentDef>, String> {
    let file: AgentsFile = toml::from_str(text).map_err(|e| e.to_string())?;
    file.agent
        .into_iter()
        .map(|a| {
            check_id(&a.id)?;
            Ok(AgentDef {
                id: a.id,
                name: a.name,
                skills: a.skills,
                languages: a.languages,
            })
        })
        .collect()
}

/// An agent id is their sign-in name and their phone's SIP user: 1–32 of a-z, 0-9, `.`, `_`, `-`.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("agent id {id:?}: use 1 to 32 of a-z, 0-9, '.', '_', '-'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_agents_parse_and_bad_ids_are_refused() {
        let agents = parse_agents(EMBEDDED_AGENTS).unwrap();
        assert!(agents.len() >= 3);
        assert!(agents.iter().any(|a| a.skills.contains_key("orders")));
        let bad = "[[agent]]\nid = \"Ann Lee\"\nname = \"Ann\"\n";
        assert!(parse_agents(bad).unwrap_err().contains("Ann Lee"));
        assert!(
            parse_agents("[[agent]]\nid = \"a\"\n").is_err(),
            "a name is needed"
        );
    }
}
