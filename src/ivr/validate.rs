//! Validation of a flow before anything accepts it: schema errors with their JSON path, then the rules
//! (dangling references, unreachable nodes, paths with no end, loops with no way out, duplicate keys,
//! missing prompts, languages without a TTS voice). Every problem is reported at once.

use super::flow::Flow;
use serde::Serialize;
use std::collections::BTreeSet;

/// One problem: the node it is about (None for the flow as a whole), the JSON path, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub node: Option<String>,
    pub path: String,
    pub message: String,
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
    let _ = (json, ctx);
    todo!("validation helper")
}
