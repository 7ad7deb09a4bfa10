//! The admin's simulator: walks a flow with typed keys, phrases and timeouts through the real engine in
//! virtual time, and tells which nodes the caller passes, what they hear and what the IVR learns.
//! Prompts play to their end before the next input; lookups are really made.

use super::engine::{Action, Ivr, Now};
use super::flow::{Flow, PromptSource};
use crate::events::EventKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One thing the simulated caller does.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SimInput {
    /// Keys pressed one after another, e.g. `"123456#"`.
    Keys { keys: String },
    /// What the caller says (as the transcriber would write it).
    Speech { speech: String },
    /// The caller does nothing until the IVR moves on.
    Timeout { timeout: bool },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimStep {
    pub node: String,
    #[serde(rename = "type")]
    pub node_type: String,
    /// What the caller hears in this node, in order.
    pub prompts: Vec<String>,
    /// Every variable once this node is done.
    pub vars: BTreeMap<String, String>,
    /// What else happened here: no input, no match, a lookup's answer, a recording.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimEnd {
    /// queue, transfer, voicemail or hangup.
    pub kind: String,
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Simulation {
    pub steps: Vec<SimStep>,
    /// How the IVR part ended; None when it still waits for the caller.
    pub ended: Option<SimEnd>,
    /// The node the caller is in when the inputs ran out.
    pub waiting_in: Option<String>,
}

/// Inputs beyond which a walk is cut short (a simulator request is not a load test).
const MAX_INPUTS: usize = 200;
/// Engine rounds (prompt ends, lookups) per input before the walk is declared stuck.
const MAX_ROUNDS: usize = 500;

struct Walk {
    ivr: Ivr,
    t: Duration,
    wall: jiff::Timestamp,
    steps: Vec<SimStep>,
    ended: Option<SimEnd>,
    playing: bool,
    lookup: Option<(String, String, Duration)>,
}

impl Walk {
    fn now(&self) -> Now {
        Now {
            elapsed: self.t,
            wall: self.wall,
        }
    }

    fn note(&mut self, note: String) {
        if let Some(s) = self.steps.last_mut() {
            s.notes.push(note);
        }
    }

    fn absorb(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Event(EventKind::IvrEntered { node, node_type, .. }) => self.steps.push(SimStep {
                    node,
                    node_type,
                    vars: self.ivr.record().vars.clone(),
                    ..SimStep::default()
                }),
                Action::Event(EventKind::IvrNoInput { attempt, .. }) => {
                    self.note(format!("no input (attempt {attempt})"))
                }
                Action::Event(EventKind::IvrNoMatch { attempt, input, .. }) => {
                    self.note(format!("no match for {input:?} (attempt {attempt})"))
                }
                Action::Event(EventKind::IntentDetected { intent, phrase, .. }) => {
                    self.note(format!("understood {intent:?} from the phrase {phrase:?}"))
                }
                Action::Event(EventKind::LanguageChanged { language }) => {
                    self.note(format!("language is now {language}"))
                }
                Action::Event(_) => {}
                Action::Play { source, .. } => {
                    let text = match source {
                        PromptSource::Text(t) => t,
                        PromptSource::Wav { wav } => format!("[recording {wav}]"),
                    };
                    if let Some(s) = self.steps.last_mut() {
                        s.prompts.push(text);
                    }
                    self.playing = true;
                }
                Action::StopPlayback => self.playing = false,
                Action::Lookup { url, method, timeout } => self.lookup = Some((url, method, timeout)),
                Action::StartRecording { max } => self.note(format!(
                    "records a message of up to {} s (# ends it)",
                    max.as_secs()
                )),
                Action::StopRecording => self.note("message recorded".into()),
                Action::Queue { queue, .. } => self.end("queue", Some(queue)),
                Action::Transfer { target } => self.end("transfer", Some(target)),
                Action::Hangup { cause } => {
                    let kind = if cause == "voicemail" {
                        "voicemail"
                    } else {
                        "hangup"
                    };
                    self.end(kind, None)
                }
            }
        }
        if let Some(s) = self.steps.last_mut() {
            s.vars = self.ivr.record().vars.clone();
        }
    }

    fn end(&mut self, kind: &str, target: Option<String>) {
        let node = self.steps.last().map(|s| s.node.clone()).unwrap_or_default();
        self.ended.get_or_insert(SimEnd {
            kind: kind.to_string(),
            node,
            target,
        });
    }

    /// Plays prompts to their end and answers lookups until the engine waits for the caller.
    async fn settle(&mut self) {
        for _ in 0..MAX_ROUNDS {
            if let Some((url, method, timeout)) = self.lookup.take() {
                let result = super::lookup::fetch(&url, &method, timeout).await;
                let note = match &result {
                    Ok(body) => format!("{method} {url} answered {body}"),
                    Err(e) => format!("{method} {url} failed: {e}"),
                };
                self.note(note);
                let now = self.now();
                let a = self.ivr.lookup_done(result, now);
                self.absorb(a);
            } else if self.playing && self.ended.is_none() {
                self.playing = false;
                self.t += Duration::from_secs(2);
                let now = self.now();
                let a = self.ivr.prompt_done(now);
                self.absorb(a);
            } else {
                return;
            }
        }
    }

    /// Lets time pass until the engine does something (a timeout), at most two minutes.
    fn wait(&mut self) {
        for _ in 0..1200 {
            self.t += Duration::from_millis(100);
            let now = self.now();
            let a = self.ivr.tick(now);
            if !a.is_empty() {
                self.absorb(a);
                return;
            }
        }
    }
}

pub async fn simulate(flow: Arc<Flow>, language: Option<&str>, inputs: &[SimInput]) -> Simulation {
    let mut ivr = Ivr::new(flow, 0, "sip:simulator@koe");
    if let Some(l) = language {
        ivr.set_language(l);
    }
    let mut walk = Walk {
        ivr,
        t: Duration::ZERO,
        wall: jiff::Timestamp::now(),
        steps: Vec::new(),
        ended: None,
        playing: false,
        lookup: None,
    };
    let now = walk.now();
    let a = walk.ivr.start(now);
    walk.absorb(a);
    walk.settle().await;
    for input in inputs.iter().take(MAX_INPUTS) {
        if walk.ended.is_some() && !matches!(input, SimInput::Keys { .. }) {
            break;
        }
        match input {
            SimInput::Keys { keys } => {
                for k in keys.chars() {
                    walk.t += Duration::from_millis(300);
                    let now = walk.now();
                    let a = walk.ivr.key(k, now);
                    walk.absorb(a);
                    walk.settle().await;
                }
            }
            SimInput::Speech { speech } => {
                walk.t += Duration::from_secs(1);
                let now = walk.now();
                let a = walk.ivr.speech(speech, now);
                walk.absorb(a);
            }
            SimInput::Timeout { .. } => walk.wait(),
        }
        walk.settle().await;
    }
    Simulation {
        waiting_in: if walk.ended.is_none() {
            walk.ivr.current_node().map(str::to_string)
        } else {
            None
        },
        steps: walk.steps,
        ended: walk.ended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Arc<Flow> {
        let text = include_str!("../../sip-config/ivr/support.json");
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        // Open all day: the walk must not depend on when the test runs.
        for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
            v["schedules"]["support"]["hours"][d] = serde_json::json!(["00:00-24:00"]);
        }
        v["schedules"]["support"]["holidays"] = serde_json::json!([]);
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn inputs(v: serde_json::Value) -> Vec<SimInput> {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn keys_through_the_demo_flow() {
        let sim = simulate(
            demo(),
            None,
            &inputs(serde_json::json!([{"keys": "1"}, {"keys": "1"}, {"keys": "123456#"}])),
        )
        .await;
        let nodes: Vec<&str> = sim.steps.iter().map(|s| s.node.as_str()).collect();
        assert_eq!(
            nodes,
            [
                "welcome",
                "choose_language",
                "english",
                "main_menu",
                "order_number",
                "orders_hours",
                "orders_queue"
            ]
        );
        assert_eq!(sim.steps[0].prompts, ["Thank you for calling Koe support."]);
        assert_eq!(
            sim.steps[1].prompts.len(),
            2,
            "the language choice in both languages"
        );
        let end = sim.ended.unwrap();
        assert_eq!(
            (end.kind.as_str(), end.node.as_str(), end.target.as_deref()),
            ("queue", "orders_queue", Some("orders"))
        );
        assert_eq!(
            sim.steps
                .last()
                .unwrap()
                .vars
                .get("order_number")
                .map(String::as_str),
            Some("123456")
        );
    }

    #[tokio::test]
    async fn japanese_speech_and_timeouts() {
        let sim = simulate(
            demo(),
            None,
            &inputs(serde_json::json!([{"keys": "2"}, {"speech": "請求について聞きたいです"}])),
        )
        .await;
        let end = sim.ended.clone().unwrap();
        assert_eq!(end.target.as_deref(), Some("billing"), "{sim:#?}");
        assert!(
            sim.steps
                .iter()
                .any(|s| s.notes.iter().any(|n| n.contains("\"billing\"")))
        );
        assert!(
            sim.steps[3].prompts[0].starts_with("ご注文と配送"),
            "{:?}",
            sim.steps[3]
        );

        let sim = simulate(
            demo(),
            Some("en"),
            &inputs(serde_json::json!([{"keys": "1"}, {"timeout": true}])),
        )
        .await;
        assert_eq!(sim.waiting_in.as_deref(), Some("main_menu"));
        let menu = sim.steps.iter().find(|s| s.node == "main_menu").unwrap();
        assert!(menu.notes.iter().any(|n| n.starts_with("no input")), "{menu:?}");
        assert_eq!(menu.prompts[1], "Sorry, I didn't hear anything.");
    }
}
