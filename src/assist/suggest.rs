//! The suggestions shown for one call, kept steady: a new top suggestion replaces the shown one only
//! when it beats it by a margin on the same evidence; what partial transcripts propose is shown only
//! once two updates in a row agree on it (a final is settled and counts at once); and a list is sent
//! only when it changes materially (other intents, another order, or a confidence moved a step).

use super::knowledge::{Intent, Knowledge, localized};
use super::retrieve::Scored;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The least confidence for the top suggestion to be shown, and for the ones below it.
pub const SHOW_CONFIDENCE: f32 = 0.35;
const MIN_OTHER: f32 = 0.12;
const MAX_SHOWN: usize = 3;
/// A challenger must score this much more than the shown top suggestion to replace it.
const MARGIN: f32 = 0.25;
/// A change of confidence this big is worth sending on its own.
const CONFIDENCE_STEP: f32 = 0.15;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub intent: String,
    pub title: String,
    /// 0..1, two decimals.
    pub confidence: f32,
    /// The caller's words that matched.
    pub triggered_by: Vec<String>,
    pub next_steps: Vec<String>,
    pub script: String,
    pub article: String,
    pub data_to_check: Vec<DataItem>,
}

/// Data the agent should check, with its value when the IVR already has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataItem {
    pub name: String,
    pub value: Option<String>,
}

impl Suggestion {
    fn new(intent: &Intent, scored: &Scored, language: &str, known: &BTreeMap<String, String>) -> Suggestion {
        let text = |m| localized(m, language).cloned().unwrap_or_default();
        Suggestion {
            intent: intent.id.clone(),
            title: text(&intent.title),
            confidence: (scored.confidence * 100.0).round() / 100.0,
            triggered_by: scored.triggered_by.clone(),
            next_steps: localized(&intent.next_steps, language)
                .cloned()
                .unwrap_or_default(),
            script: text(&intent.script),
            article: intent.article.clone(),
            data_to_check: intent
                .data_to_check
                .iter()
                .map(|name| DataItem {
                    name: name.clone(),
                    value: known.get(name).cloned(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Suggester {
    /// What was last sent, and its intents' indices.
    shown: Vec<Suggestion>,
    shown_ids: Vec<usize>,
    /// What the previous update proposed.
    proposed: Vec<usize>,
}

impl Suggester {
    /// Takes the current ranking; the new list when it is to be shown.
    pub(super) fn update(
        &mut self,
        kb: &Knowledge,
        ranked: &[Scored],
        settled: bool,
        language: &str,
        known: &BTreeMap<String, String>,
    ) -> Option<Vec<Suggestion>> {
        let proposal = self.propose(ranked);
        let agreed = settled || proposal == self.proposed;
        self.proposed = proposal.clone();
        if !agreed || proposal.is_empty() {
            return None;
        }
        let list: Vec<Suggestion> = proposal
            .iter()
            .filter_map(|&i| ranked.iter().find(|r| r.intent == i))
            .map(|r| Suggestion::new(&kb.intents()[r.intent], r, language, known))
            .collect();
        let material = proposal != self.shown_ids
            || list
                .iter()
                .zip(&self.shown)
                .any(|(a, b)| (a.confidence - b.confidence).abs() >= CONFIDENCE_STEP);
        if !material {
            return None;
        }
        self.shown = list.clone();
        self.shown_ids = proposal;
        Some(list)
    }

    /// The intents to show for this ranking: the top one (the shown one unless beaten by the margin),
    /// then the next best.
    fn propose(&self, ranked: &[Scored]) -> Vec<usize> {
        let challenger = ranked.first().filter(|r| r.confidence >= SHOW_CONFIDENCE);
        let top = match (self.shown_ids.first(), challenger) {
            (Some(&shown), Some(c)) if c.intent != shown => {
                let held = ranked.iter().find(|r| r.intent == shown).map_or(0.0, |r| r.score);
                if c.score >= held * (1.0 + MARGIN) {
                    c.intent
                } else {
                    shown
                }
            }
            (Some(&shown), _) => shown,
            (None, Some(c)) => c.intent,
            (None, None) => return Vec::new(),
        };
        // The shown top one must still be matched by something to be listed again.
        if !ranked.iter().any(|r| r.intent == top) {
            return self.shown_ids.clone();
        }
        let mut ids = vec![top];
        ids.extend(
            ranked
                .iter()
                .filter(|r| r.intent != top && r.confidence >= MIN_OTHER)
                .map(|r| r.intent)
                .take(MAX_SHOWN - 1),
        );
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(intent: usize, score: f32, confidence: f32) -> Scored {
        Scored {
            intent,
            score,
            confidence,
            triggered_by: vec![],
        }
    }

    fn ids(list: Option<Vec<Suggestion>>) -> Option<Vec<String>> {
        list.map(|l| l.into_iter().map(|s| s.intent).collect())
    }

    #[test]
    fn hysteresis_keeps_the_shown_top_until_it_is_clearly_beaten() {
        let kb = Knowledge::embedded().unwrap();
        let name = |i: usize| kb.intents()[i].id.clone();
        let known = BTreeMap::new();
        let mut s = Suggester::default();
        let first = s.update(
            &kb,
            &[scored(0, 10.0, 0.6), scored(1, 5.0, 0.2)],
            true,
            "en",
            &known,
        );
        assert_eq!(ids(first), Some(vec![name(0), name(1)]));
        // Intent 1 now scores a little more: not enough, the shown one stays on top (the list is resent
        // because the confidences moved), and the same again is not resent.
        let ranked = [scored(1, 11.0, 0.45), scored(0, 10.0, 0.4)];
        assert_eq!(
            ids(s.update(&kb, &ranked, true, "en", &known)),
            Some(vec![name(0), name(1)])
        );
        assert_eq!(s.update(&kb, &ranked, true, "en", &known), None);
        // Clearly more: it takes the top.
        let beaten = s.update(
            &kb,
            &[scored(1, 14.0, 0.6), scored(0, 10.0, 0.3)],
            true,
            "en",
            &known,
        );
        assert_eq!(ids(beaten), Some(vec![name(1), name(0)]));
    }

    #[test]
    fn partials_must_agree_twice_and_weak_evidence_shows_nothing() {
        let kb = Knowledge::embedded().unwrap();
        let known = BTreeMap::new();
        let mut s = Suggester::default();
        assert_eq!(
            s.update(&kb, &[scored(2, 3.0, 0.2)], true, "en", &known),
            None,
            "too weak"
        );
        assert_eq!(
            s.update(&kb, &[scored(2, 9.0, 0.6)], false, "en", &known),
            None,
            "one partial"
        );
        assert_eq!(
            s.update(&kb, &[scored(3, 9.0, 0.6)], false, "en", &known),
            None,
            "it changed its mind"
        );
        let held = s.update(&kb, &[scored(3, 9.5, 0.62)], false, "en", &known);
        assert_eq!(ids(held), Some(vec![kb.intents()[3].id.clone()]));
        // The same list with a confidence a step higher is sent again; a small move is not.
        assert_eq!(s.update(&kb, &[scored(3, 12.0, 0.7)], true, "en", &known), None);
        let stronger = s
            .update(&kb, &[scored(3, 15.0, 0.8)], true, "en", &known)
            .unwrap();
        assert_eq!(stronger[0].confidence, 0.8);
    }

    #[test]
    fn a_suggestion_carries_what_the_agent_needs() {
        let kb = Knowledge::embedded().unwrap();
        let i = kb
            .intents()
            .iter()
            .position(|i| i.id == "order_tracking")
            .unwrap();
        let known = BTreeMap::from([("order_number".to_string(), "123456".to_string())]);
        let mut s = Suggester::default();
        let list = s
            .update(&kb, &[scored(i, 10.0, 0.7)], true, "ja", &known)
            .unwrap();
        let sug = &list[0];
        assert_eq!(sug.title, "注文の配送状況の確認（配送遅延）");
        assert!(sug.article.starts_with("https://support.example.com/"));
        assert!(!sug.next_steps.is_empty() && !sug.script.is_empty());
        assert_eq!(
            sug.data_to_check[0],
            DataItem {
                name: "order_number".into(),
                value: Some("123456".into())
            }
        );
        assert_eq!(sug.data_to_check[1].value, None);
    }
}
