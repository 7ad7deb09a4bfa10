//! What screens show about calls in progress, folded from the event stream: state, queue, agent, and
//! (from the assist module) sentiment, alerts and suggestions. A follower of the stream like any screen,
//! so that it can never disagree with what the screens received.

use crate::events::{Event, EventBus, EventKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveCall {
    pub call_id: String,
    pub from: String,
    /// Event-stream time (ms since koe started) of the call's start, and of its queueing.
    pub started_ts_ms: u64,
    pub queued_ts_ms: Option<u64>,
    /// "ringing", "ivr", "queued", "offered", "connected".
    pub state: String,
    pub queue: Option<String>,
    pub language: Option<String>,
    pub agent: Option<String>,
    pub offered_to: Option<String>,
    pub recording_paused: bool,
    /// The latest of each, as the assist module published it (JSON of its events' fields).
    pub suggestions: Option<serde_json::Value>,
    pub sentiment: Option<serde_json::Value>,
    pub alerts: Vec<serde_json::Value>,
}

#[derive(Default)]
pub struct LiveCalls {
    calls: Mutex<BTreeMap<String, LiveCall>>,
}

impl LiveCalls {
    /// Follows `events` from now on, for as long as the bus lives.
    pub fn start(events: Arc<EventBus>) -> Arc<LiveCalls> {
        let live = Arc::new(LiveCalls::default());
        let me = live.clone();
        events.follow(move |e| me.apply(e));
        live
    }

    pub fn all(&self) -> Vec<LiveCall> {
        self.calls.lock().expect("live calls").values().cloned().collect()
    }

    pub fn get(&self, call_id: &str) -> Option<LiveCall> {
        self.calls.lock().expect("live calls").get(call_id).cloned()
    }

    pub fn apply(&self, e: &Event) {
        let mut calls = self.calls.lock().expect("live calls");
        if let EventKind::CallStarted { from, .. } = &e.kind {
            calls.insert(
                e.call_id.clone(),
                LiveCall {
                    call_id: e.call_id.clone(),
                    from: from.clone(),
                    started_ts_ms: e.ts_ms,
                    queued_ts_ms: None,
                    state: "ringing".into(),
                    queue: None,
                    language: None,
                    agent: None,
                    offered_to: None,
                    recording_paused: false,
                    suggestions: None,
                    sentiment: None,
                    alerts: Vec::new(),
                },
            );
            return;
        }
        if let EventKind::CallEnded { .. } = &e.kind {
            calls.remove(&e.call_id);
            return;
        }
        let Some(c) = calls.get_mut(&e.call_id) else {
            return;
        };
        let fields = || {
            let mut v = serde_json::to_value(&e.kind).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.remove("type");
                o.insert("seq".into(), e.seq.into());
            }
            v
        };
        match &e.kind {
            EventKind::Suggestion { .. } => c.suggestions = Some(fields()),
            EventKind::SentimentChanged { .. } => c.sentiment = Some(fields()),
            EventKind::Alert(_) => c.alerts.push(fields()),
            EventKind::CallAnswered { .. } | EventKind::IvrEntered { .. } if c.state == "ringing" => {
                c.state = "ivr".into()
            }
            EventKind::CallQueued { queue, language, .. } => {
                c.state = "queued".into();
                c.queue = Some(queue.clone());
                c.language = Some(language.clone());
                c.queued_ts_ms = Some(e.ts_ms);
            }
            EventKind::LanguageChanged { language } => c.language = Some(language.clone()),
            EventKind::AgentOffered { agent, .. } => {
                c.offered_to = Some(agent.clone());
                if c.agent.is_none() {
                    c.state = "offered".into();
                }
            }
            EventKind::AgentNoAnswer { .. } => {
                c.offered_to = None;
                if c.agent.is_none() {
                    c.state = "queued".into();
                }
            }
            EventKind::AgentConnected { agent } => {
                c.state = "connected".into();
                c.agent = Some(agent.clone());
                c.offered_to = None;
            }
            EventKind::AgentLeft { agent, .. } if c.agent.as_ref() == Some(agent) => {
                c.agent = None;
                c.state = "queued".into();
            }
            EventKind::CallOverflow { .. } => c.state = "ivr".into(),
            EventKind::RecordingPaused { .. } => c.recording_paused = true,
            EventKind::RecordingResumed => c.recording_paused = false,
            _ => {}
        }
    }
}
