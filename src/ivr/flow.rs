//! The IVR flow format: a graph of named nodes, stored and exchanged as JSON
//! (schema: `sip-config/ivr/flow.schema.json`).
//!
//! These types are the parsed form only; whether a flow makes sense (references resolve, every path ends
//! with a human or a deliberate end, prompts exist) is `validate`'s job.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A node's name, unique within its flow.
pub type NodeId = String;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Stable identifier of the flow (`support`); versions are numbered per flow.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The node a call starts in.
    pub start: NodeId,
    /// Languages the flow speaks; the first is the call's language until a `language` node changes it.
    pub languages: Vec<String>,
    /// Where a caller goes when a menu or collect gives up (no input / no match too often) and for the
    /// "human at any time" key or phrase. Required: no menu is a dead end.
    pub agent_node: NodeId,
    /// The key that reaches `agent_node` from any menu or collect, unless the menu turns it off.
    #[serde(default = "default_agent_key")]
    pub agent_key: char,
    /// Phrases that reach `agent_node` from any menu, per language.
    #[serde(default)]
    pub agent_phrases: BTreeMap<String, Vec<String>>,
    /// Named opening hours, used by `branch` conditions.
    #[serde(default)]
    pub schedules: BTreeMap<String, Schedule>,
    pub nodes: BTreeMap<NodeId, Node>,
}

fn default_agent_key() -> char {
    '0'
}

/// Opening hours in a time zone, with holidays (closed all day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA time zone, e.g. `Asia/Tokyo`.
    pub timezone: String,
    /// Day (`mon` … `sun`) → open intervals `"09:00-18:00"`.
    pub hours: BTreeMap<String, Vec<String>>,
    /// Dates `YYYY-MM-DD` on which the line is closed.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// What to say, per language.
pub type Prompt = BTreeMap<String, PromptSource>;

/// Text for the TTS engine of the language, or an uploaded WAV prompt by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PromptSource {
    Text(String),
    Wav { wav: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    Play {
        prompt: Prompt,
        /// Whether a key press (or speech) interrupts the prompt.
        #[serde(default = "yes")]
        barge_in: bool,
        /// Say the prompt in every language of the flow, one after another (a language choice).
        #[serde(default)]
        all_languages: bool,
        next: NodeId,
    },
    Menu(Menu),
    Collect(Collect),
    Branch {
        cases: Vec<Case>,
        /// Taken when no case holds.
        default: NodeId,
    },
    Set {
        /// Variable → value; `{name}` in a value is replaced by that variable.
        vars: BTreeMap<String, String>,
        next: NodeId,
    },
    Lookup(Lookup),
    Queue {
        queue: String,
        #[serde(default)]
        skills: Vec<String>,
        /// Said once before the caller waits.
        #[serde(default)]
        prompt: Option<Prompt>,
        /// Where the caller goes when no agent takes the call in time (issue: routing); optional.
        #[serde(default)]
        overflow: Option<NodeId>,
    },
    Voicemail {
        prompt: Prompt,
        /// Longest message, in seconds.
        #[serde(default = "default_voicemail_s")]
        max_s: u32,
        /// Said after the message, before hanging up.
        #[serde(default)]
        goodbye: Option<Prompt>,
    },
    Transfer {
        /// A SIP URI.
        target: String,
        #[serde(default)]
        prompt: Option<Prompt>,
    },
    Language {
        language: String,
        next: NodeId,
    },
    Hangup {
        #[serde(default)]
        prompt: Option<Prompt>,
    },
}

fn yes() -> bool {
    true
}

fn default_voicemail_s() -> u32 {
    60
}

fn default_timeout_s() -> u32 {
    5
}

fn default_retries() -> u32 {
    2
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub prompt: Prompt,
    pub options: Vec<MenuOption>,
    /// Seconds to wait for a choice after the prompt ends.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u32,
    /// How many times the prompt is repeated after no input or no match before giving up.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Said when the key or phrase matches no option (then the prompt again).
    #[serde(default)]
    pub no_match_prompt: Option<Prompt>,
    /// Said when nothing came before the timeout (then the prompt again).
    #[serde(default)]
    pub no_input_prompt: Option<Prompt>,
    /// Where to go after the retries are used up; the flow's `agent_node` when absent.
    #[serde(default)]
    pub on_failure: Option<NodeId>,
    /// Whether the flow's agent key and phrases work in this menu.
    #[serde(default = "yes")]
    pub agent: bool,
    /// Whether the caller may speak their choice (needs live transcription).
    #[serde(default = "yes")]
    pub speech: bool,
    /// Say the prompt in every language of the flow, one after another (a language choice).
    #[serde(default)]
    pub all_languages: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuOption {
    /// The DTMF key, if the option has one.
    #[serde(default)]
    pub key: Option<char>,
    /// Phrases per language that choose this option when spoken; the best overlap wins.
    #[serde(default)]
    pub phrases: BTreeMap<String, Vec<String>>,
    /// Stored as the variable `intent` when chosen, and shown to the agent.
    #[serde(default)]
    pub intent: Option<String>,
    pub next: NodeId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collect {
    pub prompt: Prompt,
    /// The variable the digits are stored in.
    pub var: String,
    #[serde(default = "one")]
    pub min_digits: u32,
    pub max_digits: u32,
    /// Ends the input early; not stored.
    #[serde(default = "default_terminator")]
    pub terminator: Option<char>,
    /// A regular expression the whole input must match.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub check: Option<CheckDigit>,
    /// Seconds to wait for the first digit after the prompt, and between digits.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u32,
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Said when the input is too short, fails the pattern or the check digit.
    #[serde(default)]
    pub invalid_prompt: Option<Prompt>,
    #[serde(default)]
    pub no_input_prompt: Option<Prompt>,
    #[serde(default)]
    pub on_failure: Option<NodeId>,
    /// Digits are masked in events and the record (card numbers and the like).
    #[serde(default)]
    pub sensitive: bool,
    pub next: NodeId,
}

fn one() -> u32 {
    1
}

fn default_terminator() -> Option<char> {
    Some('#')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckDigit {
    /// The last digit is the Luhn check digit (payment cards, many account numbers).
    Luhn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub when: Condition,
    pub next: NodeId,
}

/// A condition on the call: its variables, the caller's number, the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The variable equals the value.
    Equals {
        var: String,
        value: String,
    },
    /// The variable matches the regular expression.
    Matches {
        var: String,
        pattern: String,
    },
    /// The variable is set and not empty.
    Exists(String),
    /// The schedule is open now (inside its hours, not a holiday).
    Open(String),
    /// Today is one of the schedule's holidays.
    Holiday(String),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// `http://…`; `{name}` is replaced by the variable, URL-encoded.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_lookup_timeout_ms")]
    pub timeout_ms: u64,
    /// Variable → JSON pointer into the response (`/status`, `/customer/name`).
    #[serde(default)]
    pub assign: BTreeMap<String, String>,
    pub next: NodeId,
    /// Taken on a timeout, a failed request, a non-2xx answer or a body that is not JSON.
    pub fallback: NodeId,
}

fn default_method() -> String {
    "GET".into()
}

fn default_lookup_timeout_ms() -> u64 {
    2000
}

impl Node {
    /// Every node this one can lead to, with the JSON path (relative to the node) of the reference.
    pub fn targets<'a>(&'a self, flow: &'a Flow) -> Vec<(String, &'a NodeId)> {
        let mut out: Vec<(String, &'a NodeId)> = Vec::new();
        match self {
            Node::Play { next, .. } | Node::Set { next, .. } | Node::Language { next, .. } => {
                out.push(("next".into(), next))
            }
            Node::Menu(m) => {
                for (i, o) in m.options.iter().enumerate() {
                    out.push((format!("options[{i}].next"), &o.next));
                }
                match &m.on_failure {
                    Some(n) => out.push(("on_failure".into(), n)),
                    None => out.push(("(agent_node)".into(), &flow.agent_node)),
                }
                if m.agent {
                    out.push(("(agent_key)".into(), &flow.agent_node));
                }
            }
            Node::Collect(c) => {
                out.push(("next".into(), &c.next));
                match &c.on_failure {
                    Some(n) => out.push(("on_failure".into(), n)),
                    None => out.push(("(agent_node)".into(), &flow.agent_node)),
                }
            }
            Node::Branch { cases, default } => {
                for (i, c) in cases.iter().enumerate() {
                    out.push((format!("cases[{i}].next"), &c.next));
                }
                out.push(("default".into(), default));
            }
            Node::Lookup(l) => {
                out.push(("next".into(), &l.next));
                out.push(("fallback".into(), &l.fallback));
            }
            Node::Queue { overflow, .. } => {
                if let Some(n) = overflow {
                    out.push(("overflow".into(), n));
                }
            }
            Node::Voicemail { .. } | Node::Transfer { .. } | Node::Hangup { .. } => {}
        }
        out
    }

    /// Whether a call's IVR part ends here (a human, a message, another destination or a deliberate end).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Node::Queue { .. } | Node::Voicemail { .. } | Node::Transfer { .. } | Node::Hangup { .. }
        )
    }

    /// Every prompt of the node with its path relative to the node.
    pub fn prompts(&self) -> Vec<(&'static str, &Prompt)> {
        let slots: Vec<(&'static str, Option<&Prompt>)> = match self {
            Node::Play { prompt, .. } => vec![("prompt", Some(prompt))],
            Node::Menu(m) => vec![
                ("prompt", Some(&m.prompt)),
                ("no_match_prompt", m.no_match_prompt.as_ref()),
                ("no_input_prompt", m.no_input_prompt.as_ref()),
            ],
            Node::Collect(c) => vec![
                ("prompt", Some(&c.prompt)),
                ("invalid_prompt", c.invalid_prompt.as_ref()),
                ("no_input_prompt", c.no_input_prompt.as_ref()),
            ],
            Node::Queue { prompt, .. } | Node::Transfer { prompt, .. } | Node::Hangup { prompt } => {
                vec![("prompt", prompt.as_ref())]
            }
            Node::Voicemail { prompt, goodbye, .. } => {
                vec![("prompt", Some(prompt)), ("goodbye", goodbye.as_ref())]
            }
            Node::Branch { .. } | Node::Set { .. } | Node::Lookup(_) | Node::Language { .. } => vec![],
        };
        slots.into_iter().filter_map(|(n, p)| p.map(|p| (n, p))).collect()
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Play { .. } => "play",
            Node::Menu(_) => "menu",
            Node::Collect(_) => "collect",
            Node::Branch { .. } => "branch",
            Node::Set { .. } => "set",
            Node::Lookup(_) => "lookup",
            Node::Queue { .. } => "queue",
            Node::Voicemail { .. } => "voicemail",
            Node::Transfer { .. } => "transfer",
            Node::Language { .. } => "language",
            Node::Hangup { .. } => "hangup",
        }
    }
}

/// Default agent phrases, used when a flow names none for a language.
pub fn default_agent_phrases(language: &str) -> &'static [&'static str] {
    match language {
        "ja" => &["オペレーター", "オペレータ", "担当者", "人と話したい"],
        _ => &[
            "agent",
            "operator",
            "representative",
            "a human",
            "a person",
            "speak to someone",
        ],
    }
}
