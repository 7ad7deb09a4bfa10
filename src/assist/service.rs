//! The assistant of every call, fed from the event stream: suggestions, sentiment and alerts as the
//! conversation goes, the summary at the end (stored with the call, made again with the wrap-up).

use super::{Assistant, CallContext, Knowledge, Output, WrapUp};
use crate::events::{Channel, EventBus, EventKind, TranscriptKind};
use crate::store::Store;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tracing::warn;

/// Ended calls whose assistant is kept for a late wrap-up.
const KEEP_ENDED: usize = 256;

struct CallAssist {
    context: CallContext,
    assistant: Assistant,
    /// Every final so far, to rebuild the assistant when the IVR context arrives.
    finals: Vec<(Channel, u64, String)>,
    wrapup: Option<WrapUp>,
}

impl CallAssist {
    fn new(kb: &Arc<Knowledge>, context: CallContext) -> Self {
        CallAssist {
            assistant: Assistant::new(kb.clone(), context.clone()),
            context,
            finals: Vec::new(),
            wrapup: None,
        }
    }

    /// A new assistant with the context as it is now, fed the finals so far; returns the suggestions
    /// it ends with (alerts and sentiment were already published by the previous one).
    fn rebuild(&mut self, kb: &Arc<Knowledge>) -> Option<Output> {
        self.assistant = Assistant::new(kb.clone(), self.context.clone());
        let mut last = None;
        for (channel, id, text) in &self.finals {
            for out in self
                .assistant
                .on_transcript(*channel, TranscriptKind::Final, *id, text)
            {
                if matches!(out, Output::Suggestions(_)) {
                    last = Some(out);
                }
            }
        }
        last
    }
}

/// Follows `events` and publishes the assistants' findings into it; summaries go to `store`.
pub fn start(kb: Arc<Knowledge>, events: Arc<EventBus>, store: Store, default_language: String) {
    let bus = events.clone();
    let mut calls: HashMap<String, CallAssist> = HashMap::new();
    let mut ended: VecDeque<String> = VecDeque::new();
    events.follow(move |e| {
        let id = e.call_id.as_str();
        let publish = |kind: EventKind| {
            bus.publish(id, kind);
        };
        match &e.kind {
            EventKind::CallStarted { .. } => {
                let context = CallContext {
                    language: default_language.clone(),
                    ..CallContext::default()
                };
                calls.insert(id.to_string(), CallAssist::new(&kb, context));
            }
            EventKind::LanguageChanged { language } => {
                if let Some(c) = calls.get_mut(id) {
                    c.context.language.clone_from(language);
                    c.rebuild(&kb);
                }
            }
            EventKind::CallQueued {
                queue,
                language,
                vars,
                ..
            } => {
                if let Some(c) = calls.get_mut(id) {
                    c.context.queue = Some(queue.clone());
                    c.context.language.clone_from(language);
                    c.context.ivr_intent = vars.get("intent").cloned();
                    c.context.variables = vars.clone();
                    if let Some(out) = c.rebuild(&kb) {
                        publish_output(out, &publish);
                    }
                }
            }
            EventKind::Transcript {
                channel,
                kind,
                utterance_id,
                text,
                ..
            } => {
                if let Some(c) = calls.get_mut(id) {
                    if *kind == TranscriptKind::Final {
                        c.finals.push((*channel, *utterance_id, text.clone()));
                    }
                    for out in c.assistant.on_transcript(*channel, *kind, *utterance_id, text) {
                        publish_output(out, &publish);
                    }
                }
            }
            EventKind::WrapUpSaved {
                reason,
                disposition,
                notes,
                ..
            } => {
                if let Some(c) = calls.get_mut(id) {
                    c.wrapup = Some(WrapUp {
                        reason: reason.clone(),
                        disposition: disposition.clone(),
                        notes: notes.clone(),
                    });
                    // A wrap-up after the end: the summary is made again with it.
                    if ended.iter().any(|x| x == id) {
                        summarise(id, c, &store, &publish);
                    }
                }
            }
            EventKind::CallEnded { .. } => {
                if let Some(c) = calls.get(id) {
                    summarise(id, c, &store, &publish);
                    ended.push_back(id.to_string());
                    if ended.len() > KEEP_ENDED
                        && let Some(old) = ended.pop_front()
                    {
                        calls.remove(&old);
                    }
                }
            }
            _ => {}
        }
    });
}

fn publish_output(out: Output, publish: &impl Fn(EventKind)) {
    publish(match out {
        Output::Suggestions(suggestions) => EventKind::Suggestion { suggestions },
        Output::Sentiment {
            utterance_id,
            score,
            trend,
        } => EventKind::SentimentChanged {
            utterance_id,
            score,
            trend,
        },
        Output::Alert(a) => EventKind::Alert(a),
    });
}

/// Stores the call's summary and publishes it.
fn summarise(id: &str, c: &CallAssist, store: &Store, publish: &impl Fn(EventKind)) {
    let summary = c.assistant.summary(c.wrapup.as_ref());
    let json = serde_json::to_value(&summary).expect("a summary serialises");
    let (store, id) = (store.clone(), id.to_string());
    tokio::spawn(async move {
        if let Err(e) = store.set_summary(&id, &json).await {
            warn!(call_id = %id, error = %e, "could not store the summary");
        }
    });
    publish(EventKind::Summary { summary });
}
