//! The sans-IO IVR engine one call runs: inputs (keys, spoken finals, the end of a prompt, a lookup's
//! answer, time) in, actions (play, stop, look up, record, queue, transfer, hang up, events) out. The
//! call task does the I/O; tests and the admin's simulator drive it in virtual time.
//!
//! Invariant: the engine never ends a call's IVR part without an outcome the flow chose. Callers who
//! press nothing or say nothing useful reach the flow's `agent_node` (a queue of humans, normally),
//! never a silent hangup, unless the flow's own `on_failure` says otherwise.

use super::flow::{
    Collect, Condition, Flow, Menu, Node, NodeId, Prompt, PromptSource, default_agent_phrases,
};
use super::{matcher, schedule};
use crate::events::EventKind;
use crate::store::{IvrOutcome, IvrRecord, IvrStep};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Instant nodes (set, branch, language, lookup answers) followed in a row before the engine decides
/// the flow loops; validation refuses such flows, this only protects a call from one that slipped by.
const MAX_INSTANT_STEPS: usize = 64;
/// How often a queued caller hears the queue's prompt again while waiting.
const QUEUE_REANNOUNCE: Duration = Duration::from_secs(30);
/// Slack beyond a lookup's own timeout before the engine stops waiting for the call task's answer.
const LOOKUP_SLACK: Duration = Duration::from_secs(1);

/// The time, as the call task knows it.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Since the call was answered (monotonic).
    pub elapsed: Duration,
    /// The wall clock, for opening hours.
    pub wall: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Stop whatever plays and play this prompt; the engine expects `prompt_done` when it ends.
    Play {
        node: NodeId,
        source: PromptSource,
        language: String,
    },
    /// Stop the prompt playing (barge-in); no `prompt_done` is expected for it.
    StopPlayback,
    /// An HTTP request; answer with `lookup_done`.
    Lookup {
        url: String,
        method: String,
        timeout: Duration,
    },
    /// Play a short tone, then record the caller for at most `max`; `stop_recording` ends it early.
    StartRecording {
        max: Duration,
    },
    StopRecording,
    /// Hand the caller to a queue of agents (the IVR part ends; the call goes on).
    Queue {
        queue: String,
        skills: Vec<String>,
        /// The queue node has an overflow: the caller may leave by it when nobody answers in time.
        overflow: bool,
    },
    /// Send the caller to another SIP destination.
    Transfer {
        target: String,
    },
    Hangup {
        cause: String,
    },
    /// Publish this event for the call.
    Event(EventKind),
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Before `start`.
    Idle,
    /// A play node: its prompts, then `next`.
    Play {
        node: NodeId,
        barge_in: bool,
    },
    Menu(Wait),
    Collect {
        wait: Wait,
        digits: String,
    },
    Lookup {
        node: NodeId,
        deadline: Duration,
    },
    Voicemail {
        node: NodeId,
        phase: Message,
    },
    /// A terminal node's prompt is playing; then its action.
    Closing {
        node: NodeId,
    },
    Queued {
        node: NodeId,
        next_announce: Duration,
    },
    Done,
}

#[derive(Debug, Clone, PartialEq)]
struct Wait {
    node: NodeId,
    /// Failed attempts so far (no input or no match).
    attempt: u32,
    /// When the caller's time is up; None while the prompt plays.
    deadline: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
/// The phases of a voicemail node.
enum Message {
    Prompt,
    Recording { until: Duration },
    Goodbye,
}

pub struct Ivr {
    flow: Arc<Flow>,
    record: IvrRecord,
    /// Real values of variables masked in the record (sensitive collects), for lookups.
    secrets: BTreeMap<String, String>,
    state: State,
    /// Prompts still to play for the current node, after the one playing.
    queue: VecDeque<(PromptSource, String)>,
    playing: bool,
    actions: Vec<Action>,
    now: Now,
}

impl Ivr {
    /// A run of `flow` (published as `version`) for a call from `caller`.
    pub fn new(flow: Arc<Flow>, version: i64, caller: &str) -> Ivr {
        let mut vars = BTreeMap::new();
        vars.insert("caller".to_string(), caller.to_string());
        let record = IvrRecord {
            flow_id: flow.id.clone(),
            version,
            language: flow.languages.first().cloned().unwrap_or_else(|| "en".into()),
            vars,
            ..IvrRecord::default()
        };
        Ivr {
            flow,
            record,
            secrets: BTreeMap::new(),
            state: State::Idle,
            queue: VecDeque::new(),
            playing: false,
            actions: Vec::new(),
            now: Now {
                elapsed: Duration::ZERO,
                wall: jiff::Timestamp::UNIX_EPOCH,
            },
        }
    }

    /// What the IVR learned so far (kept with the call).
    pub fn record(&self) -> &IvrRecord {
        &self.record
    }

    /// The language the call starts in, when it is known before the flow says (the simulator's choice).
    pub fn set_language(&mut self, language: &str) {
        self.record.language = language.to_string();
    }

    pub fn language(&self) -> &str {
        &self.record.language
    }

    /// Whether keys are being collected for a sensitive variable: the call then masks them.
    pub fn is_sensitive(&self) -> bool {
        match &self.state {
            State::Collect { wait, .. } => {
                matches!(self.node(&wait.node), Some(Node::Collect(c)) if c.sensitive)
            }
            _ => false,
        }
    }

    /// Whether the IVR has handed the call on (queue, transfer) or ended it.
    pub fn finished(&self) -> bool {
        matches!(self.state, State::Done | State::Queued { .. })
    }

    /// The flow's node the call is in.
    pub fn current_node(&self) -> Option<&str> {
        match &self.state {
            State::Idle | State::Done => None,
            State::Play { node, .. }
            | State::Lookup { node, .. }
            | State::Voicemail { node, .. }
            | State::Closing { node }
            | State::Queued { node, .. } => Some(node),
            State::Menu(w) | State::Collect { wait: w, .. } => Some(&w.node),
        }
    }

    pub fn start(&mut self, now: Now) -> Vec<Action> {
        self.now = now;
        if self.state == State::Idle {
            let start = self.flow.start.clone();
            self.enter(start);
        }
        self.take()
    }

    pub fn key(&mut self, key: char, now: Now) -> Vec<Action> {
        self.now = now;
        self.on_key(key);
        self.take()
    }

    /// A final transcript of what the caller said.
    pub fn speech(&mut self, text: &str, now: Now) -> Vec<Action> {
        self.now = now;
        self.on_speech(text);
        self.take()
    }

    /// The prompt that was playing ended.
    pub fn prompt_done(&mut self, now: Now) -> Vec<Action> {
        self.now = now;
        if self.playing {
            self.playing = false;
            if !self.play_next() {
                self.prompts_finished();
            }
        }
        self.take()
    }

    /// The answer to the last `Lookup`: the JSON body, or why there is none.
    pub fn lookup_done(&mut self, result: Result<serde_json::Value, String>, now: Now) -> Vec<Action> {
        self.now = now;
        if let State::Lookup { node, .. } = &self.state {
            let node = node.clone();
            self.finish_lookup(&node, result);
        }
        self.take()
    }

    /// How the transfer went: reached, the call hangs up (the caller talks to the target now); refused
    /// or failed, the caller goes to a human here instead of being lost.
    pub fn transfer_done(&mut self, result: Result<(), String>, now: Now) -> Vec<Action> {
        self.now = now;
        let transferring = matches!(&self.record.outcome, Some(o) if o.kind == "transfer");
        if transferring && self.state == State::Done {
            match result {
                Ok(()) => self.actions.push(Action::Hangup {
                    cause: "transferred".into(),
                }),
                Err(why) => {
                    self.record.outcome = None;
                    self.set_var("transfer_error", why, false);
                    let agent = self.flow.agent_node.clone();
                    self.enter(agent);
                }
            }
        }
        self.take()
    }

    /// The caller's place in the queue changed: it is announced now, or after the prompt playing.
    pub fn queue_position(&mut self, position: usize, now: Now) -> Vec<Action> {
        self.now = now;
        if let State::Queued { .. } = self.state
            && let Some(text) = crate::ivr::prompts::position_text(&self.record.language, position)
        {
            self.queue
                .push_back((PromptSource::Text(text), self.record.language.clone()));
            if !self.playing {
                self.play_next();
            }
        }
        self.take()
    }

    /// Nobody took the call in time: the caller goes to the queue's overflow node. None when the IVR
    /// has no overflow for the caller (no such node, or the IVR is done: a transfer nobody took).
    pub fn overflow(&mut self, now: Now) -> Option<Vec<Action>> {
        self.now = now;
        let State::Queued { node, .. } = &self.state else {
            return None;
        };
        let Some(Node::Queue {
            overflow: Some(next), ..
        }) = self.node(node).cloned()
        else {
            return None;
        };
        self.set_var("ivr_exit", "overflow".into(), false);
        self.stop_playing();
        self.enter(next);
        Some(self.take())
    }

    /// An agent took the call: the IVR says nothing more.
    pub fn connected(&mut self, now: Now) -> Vec<Action> {
        self.now = now;
        self.stop_playing();
        self.state = State::Done;
        self.take()
    }

    /// Time passes: timeouts.
    pub fn tick(&mut self, now: Now) -> Vec<Action> {
        self.now = now;
        let t = now.elapsed;
        match self.state.clone() {
            State::Menu(w) if w.deadline.is_some_and(|d| t >= d) => self.no_input(w),
            State::Collect { wait, digits } if wait.deadline.is_some_and(|d| t >= d) => {
                if digits.is_empty() {
                    self.no_input(wait)
                } else {
                    self.finish_collect(wait, digits)
                }
            }
            State::Lookup { node, deadline } if t >= deadline => {
                self.finish_lookup(&node, Err("no answer in time".into()))
            }
            State::Voicemail {
                node,
                phase: Message::Recording { until },
            } if t >= until => self.end_recording(node),
            State::Queued { node, next_announce } if t >= next_announce && !self.playing => {
                self.state = State::Queued {
                    node: node.clone(),
                    next_announce: t + QUEUE_REANNOUNCE,
                };
                if let Some(Node::Queue { prompt: Some(p), .. }) = self.node(&node).cloned() {
                    self.say(&p, false);
                }
            }
            _ => {}
        }
        self.take()
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    fn node(&self, id: &str) -> Option<&Node> {
        self.flow.nodes.get(id)
    }

    fn emit(&mut self, e: EventKind) {
        self.actions.push(Action::Event(e));
    }

    fn set_var(&mut self, name: &str, value: String, sensitive: bool) {
        let shown = if sensitive {
            self.secrets.insert(name.to_string(), value.clone());
            mask(&value)
        } else {
            self.secrets.remove(name);
            value
        };
        self.emit(EventKind::IvrVariable {
            name: name.to_string(),
            value: shown.clone(),
        });
        self.record.vars.insert(name.to_string(), shown);
    }

    /// `{name}` replaced by the variable's real value (empty when unset), through `escape`.
    fn expand(&self, template: &str, escape: fn(&str) -> String) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let name = &after[..close];
                    let value = self
                        .secrets
                        .get(name)
                        .or_else(|| self.record.vars.get(name))
                        .map(String::as_str)
                        .unwrap_or("");
                    out.push_str(&escape(value));
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    // --- prompts ------------------------------------------------------------------------------------

    /// Stops what plays and queues `prompt` (in the call's language, or every flow language).
    fn say(&mut self, prompt: &Prompt, all_languages: bool) {
        self.stop_playing();
        self.enqueue(prompt, all_languages);
        self.play_next();
    }

    /// Adds `prompt` after what is queued.
    fn enqueue(&mut self, prompt: &Prompt, all_languages: bool) {
        let languages: Vec<String> = if all_languages {
            // The call's language first, then the others in the flow's order.
            let mut l = vec![self.record.language.clone()];
            l.extend(
                self.flow
                    .languages
                    .iter()
                    .filter(|x| **x != self.record.language)
                    .cloned(),
            );
            l
        } else {
            vec![self.record.language.clone()]
        };
        for lang in languages {
            let source = prompt
                .get(&lang)
                .or_else(|| self.flow.languages.first().and_then(|l| prompt.get(l)))
                .or_else(|| prompt.values().next());
            if let Some(source) = source {
                self.queue.push_back((source.clone(), lang));
            }
        }
    }

    /// Starts the next queued prompt; false when there is none.
    fn play_next(&mut self) -> bool {
        let Some((source, language)) = self.queue.pop_front() else {
            return false;
        };
        let node = self.current_node().unwrap_or_default().to_string();
        let text = match &source {
            PromptSource::Text(t) => t.clone(),
            PromptSource::Wav { wav } => format!("[{wav}]"),
        };
        self.emit(EventKind::IvrPrompt {
            node: node.clone(),
            language: language.clone(),
            text,
        });
        self.actions.push(Action::Play {
            node,
            source,
            language,
        });
        self.playing = true;
        true
    }

    fn stop_playing(&mut self) {
        self.queue.clear();
        if self.playing {
            self.playing = false;
            self.actions.push(Action::StopPlayback);
        }
    }

    /// The current node's prompts have all been played.
    fn prompts_finished(&mut self) {
        let t = self.now.elapsed;
        match self.state.clone() {
            State::Play { node, .. } => {
                if let Some(Node::Play { next, .. }) = self.node(&node) {
                    let next = next.clone();
                    self.enter(next);
                }
            }
            State::Menu(mut w) => {
                let timeout = self.menu(&w.node).map_or(5, |m| m.timeout_s);
                w.deadline = Some(t + secs(timeout));
                self.state = State::Menu(w);
            }
            State::Collect { mut wait, digits } => {
                let timeout = self.collect(&wait.node).map_or(5, |c| c.timeout_s);
                wait.deadline = Some(t + secs(timeout));
                self.state = State::Collect { wait, digits };
            }
            State::Voicemail { node, phase } => match phase {
                Message::Prompt => {
                    let max = match self.node(&node) {
                        Some(Node::Voicemail { max_s, .. }) => secs(*max_s),
                        _ => secs(60),
                    };
                    self.actions.push(Action::StartRecording { max });
                    self.state = State::Voicemail {
                        node,
                        phase: Message::Recording { until: t + max },
                    };
                }
                Message::Goodbye => self.hangup("voicemail"),
                Message::Recording { .. } => {}
            },
            State::Closing { node } => self.close(&node),
            State::Idle | State::Lookup { .. } | State::Queued { .. } | State::Done => {}
        }
    }

    // --- nodes --------------------------------------------------------------------------------------

    fn menu(&self, id: &str) -> Option<&Menu> {
        match self.node(id) {
            Some(Node::Menu(m)) => Some(m),
            _ => None,
        }
    }

    fn collect(&self, id: &str) -> Option<&Collect> {
        match self.node(id) {
            Some(Node::Collect(c)) => Some(c),
            _ => None,
        }
    }

    /// Goes to `id` and runs instant nodes until one waits for the caller, the network or the end.
    fn enter(&mut self, id: NodeId) {
        let mut id = id;
        for _ in 0..MAX_INSTANT_STEPS {
            match self.step(id) {
                Some(next) => id = next,
                None => return,
            }
        }
        tracing::warn!(flow = %self.flow.id, "IVR followed {MAX_INSTANT_STEPS} instant nodes in a row");
        if self
            .record
            .path
            .iter()
            .rev()
            .take(MAX_INSTANT_STEPS)
            .any(|s| s.node == self.flow.agent_node)
        {
            self.hangup("ivr-loop");
        } else {
            let agent = self.flow.agent_node.clone();
            self.enter(agent);
        }
    }

    /// Enters one node; the next node when this one is instant.
    fn step(&mut self, id: NodeId) -> Option<NodeId> {
        self.stop_playing();
        let Some(node) = self.node(&id).cloned() else {
            // Validation refuses dangling references; a call that meets one still reaches a human.
            tracing::warn!(flow = %self.flow.id, node = %id, "IVR reference to a missing node");
            if id == self.flow.agent_node {
                self.hangup("ivr-missing-node");
                return None;
            }
            return Some(self.flow.agent_node.clone());
        };
        self.record.path.push(IvrStep {
            node: id.clone(),
            at_ms: self.now.elapsed.as_millis() as u64,
        });
        self.emit(EventKind::IvrEntered {
            flow_id: self.flow.id.clone(),
            version: self.record.version,
            node: id.clone(),
            node_type: node.kind().to_string(),
        });
        match node {
            Node::Play {
                prompt,
                barge_in,
                all_languages,
                ..
            } => {
                self.state = State::Play {
                    node: id.clone(),
                    barge_in,
                };
                self.say(&prompt, all_languages);
                None
            }
            Node::Menu(m) => {
                self.state = State::Menu(Wait {
                    node: id.clone(),
                    attempt: 0,
                    deadline: None,
                });
                self.say(&m.prompt, m.all_languages);
                None
            }
            Node::Collect(c) => {
                self.state = State::Collect {
                    wait: Wait {
                        node: id.clone(),
                        attempt: 0,
                        deadline: None,
                    },
                    digits: String::new(),
                };
                self.say(&c.prompt, false);
                None
            }
            Node::Branch { cases, default } => Some(
                cases
                    .iter()
                    .find(|c| self.holds(&c.when))
                    .map_or(default, |c| c.next.clone()),
            ),
            Node::Set { vars, next } => {
                for (name, template) in vars {
                    let value = self.expand(&template, |s| s.to_string());
                    self.set_var(&name, value, false);
                }
                Some(next)
            }
            Node::Language { language, next } => {
                if self.record.language != language {
                    self.record.language = language.clone();
                    self.emit(EventKind::LanguageChanged { language });
                }
                Some(next)
            }
            Node::Lookup(l) => {
                let url = self.expand(&l.url, url_encode);
                let timeout = Duration::from_millis(l.timeout_ms);
                self.state = State::Lookup {
                    node: id,
                    deadline: self.now.elapsed + timeout + LOOKUP_SLACK,
                };
                self.actions.push(Action::Lookup {
                    url,
                    method: l.method,
                    timeout,
                });
                None
            }
            Node::Voicemail { prompt, .. } => {
                self.state = State::Voicemail {
                    node: id.clone(),
                    phase: Message::Prompt,
                };
                self.say(&prompt, false);
                None
            }
            Node::Queue { prompt, .. } | Node::Transfer { prompt, .. } | Node::Hangup { prompt } => {
                match prompt {
                    Some(p) => {
                        self.state = State::Closing { node: id.clone() };
                        self.say(&p, false);
                    }
                    None => self.close(&id),
                }
                None
            }
        }
    }

    /// A terminal node's action, after its prompt.
    fn close(&mut self, id: &str) {
        let Some(node) = self.node(id).cloned() else {
            return;
        };
        let outcome = |kind: &str, target: Option<String>, skills: Vec<String>| IvrOutcome {
            kind: kind.to_string(),
            node: id.to_string(),
            target,
            skills,
        };
        match node {
            Node::Queue {
                queue,
                skills,
                overflow,
                ..
            } => {
                self.record.outcome = Some(outcome("queue", Some(queue.clone()), skills.clone()));
                self.emit(EventKind::CallQueued {
                    queue: queue.clone(),
                    skills: skills.clone(),
                    language: self.record.language.clone(),
                    path: self.record.path.iter().map(|s| s.node.clone()).collect(),
                    vars: self.record.vars.clone(),
                });
                self.actions.push(Action::Queue {
                    queue,
                    skills,
                    overflow: overflow.is_some(),
                });
                self.state = State::Queued {
                    node: id.to_string(),
                    next_announce: self.now.elapsed + QUEUE_REANNOUNCE,
                };
            }
            Node::Transfer { target, .. } => {
                self.record.outcome = Some(outcome("transfer", Some(target.clone()), vec![]));
                self.emit(EventKind::CallTransferred {
                    target: target.clone(),
                });
                self.actions.push(Action::Transfer { target });
                self.state = State::Done;
            }
            Node::Hangup { .. } => {
                self.record.outcome = Some(outcome("hangup", None, vec![]));
                self.hangup("ivr-hangup");
            }
            _ => {}
        }
    }

    fn hangup(&mut self, cause: &str) {
        if self.state != State::Done {
            self.state = State::Done;
            self.actions.push(Action::Hangup {
                cause: cause.to_string(),
            });
        }
    }

    fn holds(&self, c: &Condition) -> bool {
        let var = |name: &str| {
            self.secrets
                .get(name)
                .or_else(|| self.record.vars.get(name))
                .map(String::as_str)
        };
        match c {
            Condition::Equals { var: v, value } => var(v) == Some(value.as_str()),
            Condition::Matches { var: v, pattern } => regex::Regex::new(pattern)
                .map(|re| re.is_match(var(v).unwrap_or("")))
                .unwrap_or(false),
            Condition::Exists(v) => var(v).is_some_and(|s| !s.is_empty()),
            Condition::Open(s) => self
                .flow
                .schedules
                .get(s)
                .is_some_and(|s| schedule::is_open(s, self.now.wall)),
            Condition::Holiday(s) => self
                .flow
                .schedules
                .get(s)
                .is_some_and(|s| schedule::is_holiday(s, self.now.wall)),
            Condition::All(cs) => cs.iter().all(|c| self.holds(c)),
            Condition::Any(cs) => cs.iter().any(|c| self.holds(c)),
            Condition::Not(c) => !self.holds(c),
        }
    }

    // --- caller input -------------------------------------------------------------------------------

    fn on_key(&mut self, key: char) {
        match self.state.clone() {
            State::Play { node, barge_in: true } => {
                // Type-ahead: the key ends the prompt and is the first input of what follows.
                if let Some(Node::Play { next, .. }) = self.node(&node).cloned() {
                    self.enter(next);
                    if matches!(self.state, State::Menu(_) | State::Collect { .. }) {
                        self.on_key(key);
                    }
                }
            }
            State::Menu(w) => {
                let Some(m) = self.menu(&w.node).cloned() else {
                    return;
                };
                if m.agent && key == self.flow.agent_key {
                    self.hand_to_agent("agent_key");
                } else if let Some(o) = m.options.iter().find(|o| o.key == Some(key)) {
                    self.choose(o.intent.clone(), o.next.clone());
                } else {
                    self.no_match(w, key.to_string());
                }
            }
            State::Collect { mut wait, mut digits } => {
                let Some(c) = self.collect(&wait.node).cloned() else {
                    return;
                };
                self.stop_playing();
                if c.terminator == Some(key) {
                    self.finish_collect(wait, digits);
                    return;
                }
                digits.push(key);
                if digits.chars().count() >= c.max_digits as usize {
                    self.finish_collect(wait, digits);
                } else {
                    wait.deadline = Some(self.now.elapsed + secs(c.timeout_s));
                    self.state = State::Collect { wait, digits };
                }
            }
            State::Voicemail {
                node,
                phase: Message::Recording { .. },
            } if key == '#' => self.end_recording(node),
            _ => {}
        }
    }

    fn on_speech(&mut self, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        let menu_node = match &self.state {
            State::Menu(w) => Some(w.node.clone()),
            // Speaking over a welcome that allows barge-in answers the menu that follows it.
            State::Play { node, barge_in: true } => match self.node(node) {
                Some(Node::Play { next, .. }) if self.menu(next).is_some() => Some(next.clone()),
                _ => None,
            },
            _ => None,
        };
        let Some(menu_node) = menu_node else { return };
        let Some(m) = self.menu(&menu_node).cloned() else {
            return;
        };
        if !m.speech {
            return;
        }
        if !matches!(self.state, State::Menu(_)) {
            self.enter(menu_node.clone());
        }
        let lang = self.record.language.clone();
        let agent: Vec<String> = match self.flow.agent_phrases.get(&lang) {
            Some(p) => p.clone(),
            None => default_agent_phrases(&lang)
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let said = text.trim().to_string();
        if m.agent
            && let Some((_, phrase)) = matcher::best(&said, agent.iter().map(|p| (0, p.as_str())))
        {
            let phrase = phrase.to_string();
            self.spoken(&menu_node, "agent", &said, &phrase);
            self.hand_to_agent("agent_phrase");
            return;
        }
        let phrases = m.options.iter().enumerate().flat_map(|(i, o)| {
            o.phrases
                .get(&lang)
                .into_iter()
                .flatten()
                .map(move |p| (i, p.as_str()))
        });
        match matcher::best(&said, phrases) {
            Some((i, phrase)) => {
                let o = &m.options[i];
                let intent = o.intent.clone().unwrap_or_else(|| o.next.clone());
                let phrase = phrase.to_string();
                self.spoken(&menu_node, &intent, &said, &phrase);
                self.choose(o.intent.clone(), o.next.clone());
            }
            None => {
                if let State::Menu(w) = self.state.clone() {
                    self.no_match(w, said);
                }
            }
        }
    }

    /// Keeps what the caller said: the agent should never have to ask again.
    fn spoken(&mut self, node: &str, intent: &str, said: &str, phrase: &str) {
        self.emit(EventKind::IntentDetected {
            node: node.to_string(),
            intent: intent.to_string(),
            text: said.to_string(),
            phrase: phrase.to_string(),
        });
        self.set_var("spoken_reason", said.to_string(), false);
    }

    fn choose(&mut self, intent: Option<String>, next: NodeId) {
        if let Some(intent) = intent {
            self.set_var("intent", intent, false);
        }
        self.enter(next);
    }

    fn hand_to_agent(&mut self, why: &str) {
        self.set_var("ivr_exit", why.to_string(), false);
        let agent = self.flow.agent_node.clone();
        self.enter(agent);
    }

    /// A failed attempt: say why and try again, or give up to the failure node (a human by default).
    fn retry(
        &mut self,
        w: Wait,
        extra: Option<Prompt>,
        prompt: Prompt,
        retries: u32,
        on_failure: Option<NodeId>,
        why: &str,
    ) {
        let attempt = w.attempt + 1;
        if attempt > retries {
            self.set_var("ivr_exit", why.to_string(), false);
            let target = on_failure.unwrap_or_else(|| self.flow.agent_node.clone());
            self.enter(target);
            return;
        }
        let node = w.node.clone();
        let retry = Wait {
            attempt,
            deadline: None,
            ..w
        };
        self.state = match &self.state {
            State::Collect { .. } => State::Collect {
                wait: retry,
                digits: String::new(),
            },
            _ => State::Menu(retry),
        };
        self.stop_playing();
        if let Some(p) = extra {
            self.enqueue(&p, false);
        }
        let all = self.menu(&node).is_some_and(|m| m.all_languages);
        self.enqueue(&prompt, all);
        self.play_next();
    }

    fn no_input(&mut self, w: Wait) {
        self.emit(EventKind::IvrNoInput {
            node: w.node.clone(),
            attempt: w.attempt + 1,
        });
        match self.node(&w.node).cloned() {
            Some(Node::Menu(m)) => self.retry(
                w,
                m.no_input_prompt,
                m.prompt,
                m.retries,
                m.on_failure,
                "no_input",
            ),
            Some(Node::Collect(c)) => self.retry(
                w,
                c.no_input_prompt,
                c.prompt,
                c.retries,
                c.on_failure,
                "no_input",
            ),
            _ => {}
        }
    }

    fn no_match(&mut self, w: Wait, input: String) {
        self.emit(EventKind::IvrNoMatch {
            node: w.node.clone(),
            attempt: w.attempt + 1,
            input,
        });
        match self.node(&w.node).cloned() {
            Some(Node::Menu(m)) => self.retry(
                w,
                m.no_match_prompt,
                m.prompt,
                m.retries,
                m.on_failure,
                "no_match",
            ),
            Some(Node::Collect(c)) => {
                self.retry(w, c.invalid_prompt, c.prompt, c.retries, c.on_failure, "invalid")
            }
            _ => {}
        }
    }

    fn finish_collect(&mut self, wait: Wait, digits: String) {
        let Some(c) = self.collect(&wait.node).cloned() else {
            return;
        };
        if valid_digits(&c, &digits) {
            self.set_var(&c.var, digits, c.sensitive);
            self.enter(c.next);
        } else {
            let shown = if c.sensitive { mask(&digits) } else { digits };
            self.no_match(wait, shown);
        }
    }

    fn finish_lookup(&mut self, node: &str, result: Result<serde_json::Value, String>) {
        let Some(Node::Lookup(l)) = self.node(node).cloned() else {
            return;
        };
        match result {
            Ok(body) => {
                for (var, pointer) in &l.assign {
                    let value = match body.pointer(pointer) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Null) | None => continue,
                        Some(v) => v.to_string(),
                    };
                    self.set_var(var, value, false);
                }
                self.enter(l.next);
            }
            Err(why) => {
                tracing::info!(node, %why, "IVR lookup failed; taking its fallback");
                self.set_var("lookup_error", why, false);
                self.enter(l.fallback);
            }
        }
    }

    fn end_recording(&mut self, node: NodeId) {
        self.actions.push(Action::StopRecording);
        let goodbye = match self.node(&node) {
            Some(Node::Voicemail { goodbye, .. }) => goodbye.clone(),
            _ => None,
        };
        self.record.outcome = Some(IvrOutcome {
            kind: "voicemail".into(),
            node: node.clone(),
            target: None,
            skills: vec![],
        });
        match goodbye {
            Some(p) => {
                self.state = State::Voicemail {
                    node: node.clone(),
                    phase: Message::Goodbye,
                };
                self.say(&p, false);
            }
            None => self.hangup("voicemail"),
        }
    }

    /// The voicemail file the call task wrote (relative to the data directory).
    pub fn voicemail_saved(&mut self, path: String) {
        self.record.voicemail_path = Some(path);
    }
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// All but the last four characters hidden.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '•' } else { c })
        .collect()
}

fn valid_digits(c: &Collect, digits: &str) -> bool {
    let n = digits.chars().count() as u32;
    n >= c.min_digits
        && n <= c.max_digits
        && c.pattern
            .as_ref()
            .is_none_or(|p| regex::Regex::new(p).is_ok_and(|re| re.is_match(digits)))
        && c.check.is_none_or(|_| luhn(digits))
}

/// The Luhn check (ISO/IEC 7812-1): doubling every second digit from the right.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(d) = c.to_digit(10) else { return false };
        sum += if i % 2 == 1 {
            let x = d * 2;
            if x > 9 { x - 9 } else { x }
        } else {
            d
        };
    }
    !digits.is_empty() && sum % 10 == 0
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
