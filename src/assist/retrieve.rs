//! Ranking intents for what a caller said: BM25 over the knowledge base's example phrases, one index
//! per language, the caller's IVR choice as a prior, a confidence in 0..1 and the words that matched.

use super::bm25::Bm25;
use super::knowledge::Intent;
use super::text::{JaTokens, Token, normalize, tokens};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

/// What a BM25 document is, and how phrase scores make an intent's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// Each phrase is a document; an intent scores its best phrase.
    PhraseMax,
    /// Each phrase is a document; an intent scores τ·ln Σ exp(s/τ) over its matching phrases, so that
    /// several phrases matching count a little more than one.
    PhraseSoftMax,
    /// All phrases of an intent are one document.
    IntentDocument,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalOptions {
    pub unit: Unit,
    pub ja: JaTokens,
    /// An intent listing the caller's IVR intent or queue has its score multiplied by `1 + prior_boost`:
    /// a bonus, not a filter, and nothing for an intent nothing said matches.
    pub prior_boost: f32,
}

/// The choices the evaluation (tests/assist_eval.rs) measured best.
impl Default for RetrievalOptions {
    fn default() -> Self {
        RetrievalOptions {
            unit: Unit::PhraseSoftMax,
            ja: JaTokens {
                kanji_unigrams: false,
                katakana_words: true,
            },
            prior_boost: 0.3,
        }
    }
}

/// Softmax temperature of the confidence, and the score of "none of these" that a weak match has to
/// beat: one common word (a score of about 2) gets a low confidence however alone it is.
const TEMPERATURE: f32 = 2.0;
const NONE_SCORE: f32 = 4.0;
const SOFTMAX_TAU: f32 = 1.0;
const MAX_TRIGGERS: usize = 8;

#[derive(Debug, Clone)]
struct LangIndex {
    bm25: Bm25,
    /// The intent of each document.
    doc_intent: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Retriever {
    opts: RetrievalOptions,
    indexes: BTreeMap<String, LangIndex>,
    priors: Vec<Vec<String>>,
}

/// One ranked intent: its index in the knowledge base, score, confidence and triggering words.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub intent: usize,
    pub score: f32,
    pub confidence: f32,
    pub triggered_by: Vec<String>,
}

impl Retriever {
    pub fn build(intents: &[Intent], opts: RetrievalOptions) -> Retriever {
        let mut docs: BTreeMap<&str, (Vec<Vec<String>>, Vec<usize>)> = BTreeMap::new();
        for (i, intent) in intents.iter().enumerate() {
            for (lang, phrases) in &intent.phrases {
                let (texts, owners) = docs.entry(lang).or_default();
                let terms: Vec<Vec<String>> = phrases.iter().map(|p| terms_of(p, opts.ja)).collect();
                if opts.unit == Unit::IntentDocument {
                    texts.push(terms.concat());
                    owners.push(i);
                } else {
                    owners.extend(std::iter::repeat_n(i, terms.len()));
                    texts.extend(terms);
                }
            }
        }
        let indexes = docs
            .into_iter()
            .map(|(lang, (texts, doc_intent))| {
                let index = LangIndex {
                    bm25: Bm25::new(&texts),
                    doc_intent,
                };
                (lang.to_string(), index)
            })
            .collect();
        Retriever {
            opts,
            indexes,
            priors: intents.iter().map(|i| i.ivr_intents.clone()).collect(),
        }
    }

    pub fn options(&self) -> RetrievalOptions {
        self.opts
    }

    /// Intents for `utterances` (text, weight; a term counts once per utterance, with its weight), best
    /// first, only those something matched. `prior` holds the caller's IVR intent and queue.
    pub fn rank(&self, language: &str, utterances: &[(&str, f32)], prior: &[&str]) -> Vec<Scored> {
        let Some(index) = self.indexes.get(language).or_else(|| self.indexes.get("en")) else {
            return Vec::new();
        };
        let said: Vec<(String, Vec<Token>, f32)> = utterances
            .iter()
            .map(|&(text, w)| {
                let norm = normalize(text);
                let toks = tokens(&norm, self.opts.ja);
                (norm, toks, w)
            })
            .collect();
        let mut weights: HashMap<&str, f32> = HashMap::new();
        for (_, toks, w) in &said {
            let mut seen: Vec<&str> = toks.iter().map(|t| t.term.as_str()).collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *weights.entry(t).or_default() += w;
            }
        }
        let query: Vec<(&str, f32)> = weights.into_iter().collect();
        let doc_scores = index.bm25.scores(&query);

        // Per intent: Σ exp(s/τ) over its matching documents, the best score, and the documents that
        // count (whose words are shown as what triggered it).
        let mut per_intent: BTreeMap<usize, (f32, f32, Vec<usize>)> = BTreeMap::new();
        for (d, &s) in doc_scores.iter().enumerate().filter(|(_, s)| **s > 0.0) {
            let (sum_exp, best, docs) =
                per_intent
                    .entry(index.doc_intent[d])
                    .or_insert((0.0, 0.0, Vec::new()));
            *sum_exp += (s / SOFTMAX_TAU).exp();
            if self.opts.unit != Unit::PhraseMax {
                docs.push(d);
            } else if s > *best {
                *docs = vec![d];
            }
            *best = best.max(s);
        }
        let mut ranked: Vec<Scored> = per_intent
            .into_iter()
            .map(|(intent, (sum_exp, best, docs))| {
                let score = match self.opts.unit {
                    Unit::PhraseSoftMax => SOFTMAX_TAU * sum_exp.ln(),
                    Unit::PhraseMax | Unit::IntentDocument => best,
                };
                let boosted = self.priors[intent].iter().any(|p| prior.contains(&p.as_str()));
                Scored {
                    intent,
                    score: if boosted {
                        score * (1.0 + self.opts.prior_boost)
                    } else {
                        score
                    },
                    confidence: 0.0,
                    triggered_by: triggers(&said, |term| docs.iter().any(|&d| index.bm25.contains(d, term))),
                }
            })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.intent.cmp(&b.intent)));
        let z = (NONE_SCORE / TEMPERATURE).exp()
            + ranked.iter().map(|r| (r.score / TEMPERATURE).exp()).sum::<f32>();
        for r in &mut ranked {
            r.confidence = (r.score / TEMPERATURE).exp() / z;
        }
        ranked
    }
}

fn terms_of(phrase: &str, ja: JaTokens) -> Vec<String> {
    tokens(&normalize(phrase), ja)
        .into_iter()
        .map(|t| t.term)
        .collect()
}

/// The caller's words behind the matched terms, most weighted utterance first; overlapping spans (the
/// bigrams of one Japanese word) are merged back into the word.
fn triggers(said: &[(String, Vec<Token>, f32)], matched: impl Fn(&str) -> bool) -> Vec<String> {
    let mut order: Vec<usize> = (0..said.len()).collect();
    order.sort_by(|&a, &b| said[b].2.total_cmp(&said[a].2).then(b.cmp(&a)));
    let mut out: Vec<String> = Vec::new();
    for u in order {
        let (text, toks, _) = &said[u];
        let mut spans: Vec<Range<usize>> = toks
            .iter()
            .filter(|t| matched(&t.term))
            .map(|t| t.span.clone())
            .collect();
        spans.sort_by_key(|s| s.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for s in spans {
            match merged.last_mut() {
                Some(last) if s.start < last.end => last.end = last.end.max(s.end),
                _ => merged.push(s),
            }
        }
        for s in merged {
            let word = text[s].to_string();
            if !out.contains(&word) {
                out.push(word);
            }
        }
    }
    out.truncate(MAX_TRIGGERS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assist::knowledge::Knowledge;

    fn top(kb: &Knowledge, lang: &str, text: &str, prior: &[&str]) -> (String, Scored) {
        let r = kb.retriever().rank(lang, &[(text, 1.0)], prior).remove(0);
        (kb.intents()[r.intent].id.clone(), r)
    }

    #[test]
    fn finds_the_intent_and_says_why() {
        let kb = Knowledge::embedded().unwrap();
        let (id, r) = top(
            &kb,
            "en",
            "Hi, my parcel still hasn't arrived and it's been a week",
            &[],
        );
        assert_eq!(id, "order_tracking");
        assert!(r.triggered_by.contains(&"parcel".to_string()), "{r:?}");
        let (id, r) = top(&kb, "ja", "パスワードを忘れてしまってログインできないんです", &[]);
        assert_eq!(id, "password_reset");
        assert!(r.triggered_by.iter().any(|w| w.contains("ログイン")), "{r:?}");
    }

    #[test]
    fn confidence_is_a_probability_and_grows_with_evidence() {
        let kb = Knowledge::embedded().unwrap();
        let ranked = kb
            .retriever()
            .rank("en", &[("I was charged twice for one order", 1.0)], &[]);
        let total: f32 = ranked.iter().map(|r| r.confidence).sum();
        assert!(total < 1.0 && ranked.iter().all(|r| (0.0..=1.0).contains(&r.confidence)));
        assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
        let weak = top(&kb, "en", "my order", &[]).1;
        assert!(ranked[0].confidence > weak.confidence, "{ranked:?} vs {weak:?}");
        assert!(
            kb.retriever()
                .rank("en", &[("the weather is nice", 1.0)], &[])
                .is_empty()
        );
    }

    #[test]
    fn the_ivr_prior_is_a_bonus_not_a_filter() {
        let kb = Knowledge::embedded().unwrap();
        let text = "I'd like my money back";
        let without = kb.retriever().rank("en", &[(text, 1.0)], &[]);
        let with = kb.retriever().rank("en", &[(text, 1.0)], &["billing"]);
        let boosted = |r: &Scored| {
            kb.intents()[r.intent]
                .ivr_intents
                .contains(&"billing".to_string())
        };
        for w in &with {
            let before = without.iter().find(|b| b.intent == w.intent).unwrap();
            if boosted(w) {
                assert!(w.score > before.score);
            } else {
                assert_eq!(w.score, before.score);
            }
        }
        assert_eq!(
            with.len(),
            without.len(),
            "the prior adds no intent nothing matched"
        );
    }

    #[test]
    fn recent_utterances_weigh_more() {
        let kb = Knowledge::embedded().unwrap();
        let old = "I forgot my password";
        let new = "and also my card has expired";
        let r = kb.retriever().rank("en", &[(old, 0.3), (new, 1.0)], &[]);
        assert_eq!(kb.intents()[r[0].intent].id, "card_update");
        let r = kb.retriever().rank("en", &[(old, 1.0), (new, 0.3)], &[]);
        assert_eq!(kb.intents()[r[0].intent].id, "password_reset");
    }
}
