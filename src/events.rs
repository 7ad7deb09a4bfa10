//! The one typed event stream every part publishes to and every screen follows.
//!
//! Each event gets a sequence number when it is published; the bus keeps the most recent ones so that a
//! subscriber that lost its connection resumes from the last sequence number it saw, with no gap and no
//! duplicate.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::broadcast;

/// Which side of the call an audio-derived event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Caller,
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptKind {
    Partial,
    Final,
}

/// How a DTMF key reached koe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfMethod {
    Rfc4733,
    SipInfo,
    Inband,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    CallStarted {
        from: String,
        to: String,
    },
    CallAnswered {
        codec: String,
    },
    DtmfReceived {
        key: char,
        method: DtmfMethod,
    },
    CallHeld,
    CallResumed,
    Transcript {
        channel: Channel,
        kind: TranscriptKind,
        utterance_id: u64,
        text: String,
        start_ms: u64,
        end_ms: u64,
    },
    CallEnded {
        cause: String,
        hangup_by: String,
    },
    /// The call entered an IVR node.
    IvrEntered {
        flow_id: String,
        version: i64,
        node: String,
        node_type: String,
    },
    /// A prompt started playing (its text, or the uploaded prompt's name).
    IvrPrompt {
        node: String,
        language: String,
        text: String,
    },
    /// A variable was set (collected digits are masked when the collect node is sensitive).
    IvrVariable {
        name: String,
        value: String,
    },
    /// A spoken choice was understood in a menu.
    IntentDetected {
        node: String,
        intent: String,
        text: String,
        /// The phrase that matched.
        phrase: String,
    },
    /// No key or phrase arrived in time, or it matched nothing.
    IvrNoInput {
        node: String,
        attempt: u32,
    },
    IvrNoMatch {
        node: String,
        attempt: u32,
        input: String,
    },
    LanguageChanged {
        language: String,
    },
    /// The IVR handed the caller to a queue of agents, with everything it learned.
    CallQueued {
        queue: String,
        skills: Vec<String>,
        language: String,
        path: Vec<String>,
        vars: std::collections::BTreeMap<String, String>,
    },
    VoicemailRecorded {
        path: String,
        duration_ms: u64,
    },
    CallTransferred {
        target: String,
    },
    /// An agent's presence changed (`call_id` is empty: it is about the agent, not a call).
    AgentPresence {
        agent: String,
        presence: crate::routing::router::Presence,
    },
    /// The caller's place in its queue (1 = next).
    QueuePosition {
        queue: String,
        position: usize,
        waiting: usize,
    },
    /// koe rings this agent's phone for the call.
    AgentOffered {
        agent: String,
        queue: String,
        attempt: u32,
    },
    /// The agent did not take the call: "no-answer", "busy", "declined", "not-registered", "caller-left"…
    AgentNoAnswer {
        agent: String,
        cause: String,
    },
    /// The agent answered: caller and agent hear each other.
    AgentConnected {
        agent: String,
    },
    /// The agent's leg ended; `by`: "agent" (hung up), "caller" or "koe" (a transfer).
    AgentLeft {
        agent: String,
        by: String,
    },
    /// Nobody took the call in time: the caller left the queue by its overflow.
    CallOverflow {
        queue: String,
        cause: String,
    },
    /// The agent's wrap-up of the call was saved.
    WrapUpSaved {
        agent: String,
        reason: String,
        disposition: String,
        notes: String,
    },
    /// Recording stopped for a sensitive span (a card number); `reason`: "api" or "ivr" or "card-number".
    RecordingPaused {
        reason: String,
    },
    RecordingResumed,
    /// A span already recorded was silenced (`reason` `card-number`: one was read out there).
    RecordingRedacted {
        from_ms: u64,
        to_ms: u64,
        reason: String,
    },
    /// The suggested next actions for the agent now, best first (replaces the previous list).
    Suggestion {
        suggestions: Vec<crate::assist::Suggestion>,
    },
    /// The sentiment of a caller's utterance (-1..1) and the call's trend.
    SentimentChanged {
        utterance_id: u64,
        score: f32,
        trend: f32,
    },
    /// A phrase rule matched (cancellation, complaint, legal threat, a card number read out…).
    Alert(crate::assist::Alert),
    /// The call's summary: at its end, and again when the agent's wrap-up is saved.
    Summary {
        summary: crate::assist::Summary,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub call_id: String,
    /// Milliseconds since the process started (monotonic).
    pub ts_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Publishes events in order and replays recent history to late subscribers.
pub struct EventBus {
    started: Instant,
    inner: Mutex<History>,
    tx: broadcast::Sender<Event>,
}

struct History {
    next_seq: u64,
    recent: VecDeque<Event>,
    capacity: usize,
}

impl EventBus {
    /// Keeps the last `history` events (at least 16). The live channel is smaller than the history, so a
    /// subscriber that falls behind it can still catch up from the history without a gap.
    pub fn new(history: usize) -> Self {
        let capacity = history.max(16);
        let (tx, _) = broadcast::channel((capacity / 4).clamp(16, 1024));
        EventBus {
            started: Instant::now(),
            inner: Mutex::new(History {
                next_seq: 1,
                recent: VecDeque::new(),
                capacity,
            }),
            tx,
        }
    }

    /// Stamps the event with the next sequence number and sends it to every subscriber.
    pub fn publish(&self, call_id: &str, kind: EventKind) -> u64 {
        let mut h = self.inner.lock().expect("event history lock");
        let event = Event {
            seq: h.next_seq,
            call_id: call_id.to_string(),
            ts_ms: self.started.elapsed().as_millis() as u64,
            kind,
        };
        h.next_seq += 1;
        if h.recent.len() == h.capacity {
            h.recent.pop_front();
        }
        h.recent.push_back(event.clone());
        // Sent under the lock so that the live stream is in sequence order; no receiver is not an error.
        let _ = self.tx.send(event.clone());
        event.seq
    }

    /// Events after `after_seq` still in history, and a receiver for what follows them.
    pub fn subscribe_from(&self, after_seq: u64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.inner.lock().expect("event history lock");
        let backlog = h.recent.iter().filter(|e| e.seq > after_seq).cloned().collect();
        (backlog, self.tx.subscribe())
    }

    /// The sequence number of the newest event (0 before the first): a screen that loads state now
    /// follows the events after it.
    pub fn last_seq(&self) -> u64 {
        self.inner.lock().expect("event history lock").next_seq - 1
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Runs `f` on every event from now on, in order and without a gap (a follower that falls behind
    /// the live channel catches up from the history), for as long as the bus lives.
    pub fn follow(self: &Arc<Self>, mut f: impl FnMut(&Event) + Send + 'static) {
        let bus = self.clone();
        let mut rx = self.subscribe();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        last = e.seq;
                        f(&e);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (missed, fresh) = bus.subscribe_from(last);
                        for e in missed {
                            last = e.seq;
                            f(&e);
                        }
                        rx = fresh;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_has_no_gap_and_no_duplicate() {
        let bus = EventBus::new(100);
        for _ in 0..5 {
            bus.publish("c1", EventKind::CallHeld);
        }
        let (backlog, mut rx) = bus.subscribe_from(3);
        assert_eq!(backlog.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        bus.publish("c1", EventKind::CallResumed);
        assert_eq!(rx.try_recv().unwrap().seq, 6);
    }

    #[test]
    fn json_shape_is_flat_and_tagged() {
        let bus = EventBus::new(4);
        bus.publish(
            "abc",
            EventKind::DtmfReceived {
                key: '5',
                method: DtmfMethod::Rfc4733,
            },
        );
        let (ev, _) = bus.subscribe_from(0);
        let json = serde_json::to_value(&ev[0]).unwrap();
        assert_eq!(json["type"], "DtmfReceived");
        assert_eq!(json["call_id"], "abc");
        assert_eq!(json["key"], "5");
        assert_eq!(json["method"], "rfc4733");
    }
}
