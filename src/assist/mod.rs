//! The agent's assistant: suggested next actions from a knowledge base, sentiment, alerts, the
//! end-of-call summary and card-number masking.
//!
//! A pure library: no I/O but loading the knowledge files, no clock, no tasks. The call's task makes an
//! [`Assistant`] when the caller reaches an agent, feeds it every transcript event, and publishes what
//! it returns; at the end it asks for the [`Summary`].
//!
//! ```text
//! transcript ─▶ mask ─┬▶ alerts (once per rule) ────────────────────────────────▶ Output::Alert
//!                     ├▶ caller's words ▶ retrieve (BM25, IVR prior) ▶ suggest ─▶ Output::Suggestions
//!                     └▶ caller's finals ▶ sentiment (lexicon, trend) ─────────▶ Output::Sentiment
//! finals + IVR context + wrap-up ▶ summary ▶ Summary
//! ```

mod alerts;
mod bm25;
mod knowledge;
mod mask;
mod retrieve;
mod sentiment;
pub mod service;
mod suggest;
mod summary;
mod text;

pub use alerts::{Alert, Severity};
pub use knowledge::{Intent, Knowledge, KnowledgeError, Sources};
pub use mask::{CARD_MIN_DIGITS, CARD_START_DIGITS, is_masked, looks_like_card_start, mask_card_numbers};
pub use retrieve::{RetrievalOptions, Retriever, Scored, Unit};
pub use suggest::{DataItem, SHOW_CONFIDENCE, Suggestion};
pub use summary::{Summary, SummaryInput, WrapUp, summarise};
pub use text::JaTokens;

use crate::events::{Channel, TranscriptKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the IVR learned before the caller reached an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallContext {
    /// `en`, `ja` (a tag such as `ja-JP` counts as `ja`; an unknown language is read as English).
    pub language: String,
    /// The IVR's `intent` variable (`orders`, `billing`, …).
    pub ivr_intent: Option<String>,
    /// The queue the call waited in.
    pub queue: Option<String>,
    pub variables: BTreeMap<String, String>,
}

impl CallContext {
    /// The IVR choices that make an intent more likely.
    fn prior(&self) -> Vec<&str> {
        self.ivr_intent
            .iter()
            .chain(&self.queue)
            .map(String::as_str)
            .collect()
    }
}

/// What changed after a transcript event, for the integrator to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The suggestions to show now, best first (replaces the previous list).
    Suggestions(Vec<Suggestion>),
    /// A caller's final utterance's sentiment in -1..1 and the call's trend.
    Sentiment {
        utterance_id: u64,
        score: f32,
        trend: f32,
    },
    Alert(Alert),
}

/// The caller's utterances the suggestions look at, and how fast older ones fade.
const RECENT_UTTERANCES: usize = 8;
const DECAY: f32 = 0.6;

/// The assistant of one call.
pub struct Assistant {
    kb: Arc<Knowledge>,
    context: CallContext,
    language: String,
    /// Both sides' finals (utterance id, masked text) in order, and the caller's partial in progress.
    finals: Vec<(Channel, u64, String)>,
    caller_partial: Option<(u64, String)>,
    suggester: suggest::Suggester,
    trend: sentiment::Trend,
    alerter: alerts::Alerter,
}

impl Assistant {
    pub fn new(kb: Arc<Knowledge>, context: CallContext) -> Assistant {
        let language = kb.language_for(&context.language);
        Assistant {
            kb,
            context,
            language,
            finals: Vec::new(),
            caller_partial: None,
            suggester: Default::default(),
            trend: Default::default(),
            alerter: Default::default(),
        }
    }

    /// Takes one transcript event (a partial replaces the previous partial of its utterance; a final
    /// settles it); returns what changed: alerts first, then suggestions, then sentiment.
    pub fn on_transcript(
        &mut self,
        channel: Channel,
        kind: TranscriptKind,
        utterance_id: u64,
        text: &str,
    ) -> Vec<Output> {
        let text = text.trim();
        if text.is_empty() {
            return Vec::new();
        }
        let (masked, _) = mask_card_numbers(text);
        let mut out: Vec<Output> = self
            .alerter
            .on_text(&self.kb.alerts, &self.language, channel, kind, utterance_id, text)
            .into_iter()
            .map(Output::Alert)
            .collect();
        let settled = kind == TranscriptKind::Final;
        if settled {
            match self
                .finals
                .iter_mut()
                .find(|(c, id, _)| (*c, *id) == (channel, utterance_id))
            {
                Some((_, _, t)) => t.clone_from(&masked),
                None => self.finals.push((channel, utterance_id, masked.clone())),
            }
        }
        if channel != Channel::Caller {
            return out;
        }
        if !settled {
            self.caller_partial = Some((utterance_id, masked.clone()));
        } else if self
            .caller_partial
            .as_ref()
            .is_some_and(|(id, _)| *id == utterance_id)
        {
            self.caller_partial = None;
        }
        let ranked = self
            .kb
            .retriever()
            .rank(&self.language, &self.recent(), &self.context.prior());
        if let Some(list) = self.suggester.update(
            &self.kb,
            &ranked,
            settled,
            &self.language,
            &self.context.variables,
        ) {
            out.push(Output::Suggestions(list));
        }
        if settled {
            let score = self.kb.sentiment.score(&masked);
            if let Some(trend) = self.trend.update(score) {
                out.push(Output::Sentiment {
                    utterance_id,
                    score: round2(score),
                    trend: round2(trend),
                });
            }
        }
        out
    }

    /// The caller's recent utterances with their weights: the newest (the partial, if one is in
    /// progress) 1, each older one [`DECAY`] times the one after it.
    fn recent(&self) -> Vec<(&str, f32)> {
        let finals = self
            .finals
            .iter()
            .rev()
            .filter(|(c, _, _)| *c == Channel::Caller)
            .map(|(_, _, t)| t);
        let newest_first = self.caller_partial.iter().map(|(_, t)| t).chain(finals);
        let mut w = 1.0;
        let mut out: Vec<(&str, f32)> = newest_first
            .take(RECENT_UTTERANCES)
            .map(|t| {
                let item = (t.as_str(), w);
                w *= DECAY;
                item
            })
            .collect();
        out.reverse();
        out
    }

    /// The summary of the call so far (at its end: of the call).
    pub fn summary(&self, wrapup: Option<&WrapUp>) -> Summary {
        let finals: Vec<(Channel, String)> = self.finals.iter().map(|(c, _, t)| (*c, t.clone())).collect();
        summarise(
            &self.kb,
            &SummaryInput {
                context: &self.context,
                finals: &finals,
                wrapup,
            },
        )
    }
}

fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
