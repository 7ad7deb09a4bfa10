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
    /// The mean of the intent document's score and the best phrase's: words spread over several
    /// phrases count, and so does one phrase matched closely.
    Hybrid,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalOptions {
    pub unit: Unit,
    pub ja: JaTokens,
    /// An intent listing the caller's IVR intent or queue has its score multiplied by `1 + prior_boost`:
    /// a bonus, not a filter, and nothing for an intent nothing said matches.
    pub prior_boost: f32,
}

/// The unit and the Japanese terms are what the evaluation (tests/assist_eval.rs) measured best on its
/// dev cases. The prior's weight is a judgement it informs: 0.5 lets the IVR choice settle a close call
/// (tests/assist/prior.toml) while a caller who pressed the wrong key still mostly gets the right one.
impl Default for RetrievalOptions {
    fn default() -> Self {
        RetrievalOptions {
            unit: Unit::IntentDocument,
            ja: JaTokens {
                kanji_unigrams: true,
                katakana_words: true,
            },
            prior_boost: 0.5,
        }
    }
}

/// Softmax temperature of the confidence, and the score of "none of these" that a weak match has to
/// beat, in the calibrated unit (1: as good as an example phrase): one common word gets a low
/// confidence however alone it is.
const TEMPERATURE: f32 = 0.3;
const NONE_SCORE: f32 = 0.4;
const SOFTMAX_TAU: f32 = 1.0;
const MAX_TRIGGERS: usize = 8;

#[derive(Debug, Clone)]
struct LangIndex {
    /// One document per phrase, and the intent of each.
    phrases: Bm25,
    phrase_intent: Vec<usize>,
    /// One document per intent (all its phrases).
    intents: Bm25,
    /// The median score of a phrase of the knowledge base against itself: scores are divided by it,
    /// so that 1 means "as good as an example phrase" in every language (Japanese bigrams make raw
    /// scores several times larger than English words do).
    scale: f32,
}

impl LangIndex {
    /// The raw score of each intent something matched, and the phrase whose words are its triggers
    /// (None: any phrase of the intent).
    fn score(&self, unit: Unit, query: &[(&str, f32)]) -> Vec<(usize, f32, Option<usize>)> {
        // Per intent: Σ exp(s/τ) over its matching phrases, its best phrase and that phrase's score.
        let mut per_intent: BTreeMap<usize, (f32, usize, f32)> = BTreeMap::new();
        for (d, &s) in self
            .phrases
            .scores(query)
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0.0)
        {
            let (sum_exp, best_doc, best) = per_intent.entry(self.phrase_intent[d]).or_insert((0.0, d, 0.0));
            *sum_exp += (s / SOFTMAX_TAU).exp();
            if s > *best {
                (*best_doc, *best) = (d, s);
            }
        }
        let pooled = if matches!(unit, Unit::IntentDocument | Unit::Hybrid) {
            self.intents.scores(query)
        } else {
            Vec::new()
        };
        per_intent
            .into_iter()
            .map(|(i, (sum_exp, best_doc, best))| match unit {
                Unit::PhraseMax => (i, best, Some(best_doc)),
                Unit::PhraseSoftMax => (i, SOFTMAX_TAU * sum_exp.ln(), None),
                Unit::IntentDocument => (i, pooled[i], None),
                Unit::Hybrid => (i, (pooled[i] + best) / 2.0, None),
            })
            .collect()
    }

    fn calibrate(mut self, unit: Unit, phrases: &[Vec<String>]) -> LangIndex {
        let mut own: Vec<f32> = phrases
            .iter()
            .zip(&self.phrase_intent)
            .filter_map(|(terms, &intent)| {
                let mut q: Vec<&str> = terms.iter().map(String::as_str).collect();
                q.sort_unstable();
                q.dedup();
                let q: Vec<(&str, f32)> = q.into_iter().map(|t| (t, 1.0)).collect();
                self.score(unit, &q)
                    .into_iter()
                    .find(|r| r.0 == intent)
                    .map(|r| r.1)
            })
            .collect();
        own.sort_by(f32::total_cmp);
        self.scale = own
            .get(own.len() / 2)
            .copied()
            .filter(|s| *s > 0.0)
            .unwrap_or(1.0);
        self
    }
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
        // Per language: the phrases' terms with their intents, and each intent's terms together.
        type Docs = (Vec<Vec<String>>, Vec<usize>, Vec<Vec<String>>);
        let mut docs: BTreeMap<&str, Docs> = BTreeMap::new();
        for (i, intent) in intents.iter().enumerate() {
            for (lang, phrases) in &intent.phrases {
                let (texts, owners, whole) = docs.entry(lang).or_default();
                let terms: Vec<Vec<String>> = phrases.iter().map(|p| terms_of(p, opts.ja)).collect();
                // Every intent has a document in every index, empty where it lacks the language.
                whole.resize(i, Vec::new());
                whole.push(terms.concat());
                owners.extend(std::iter::repeat_n(i, terms.len()));
                texts.extend(terms);
            }
        }
        let indexes = docs
            .into_iter()
            .map(|(lang, (texts, phrase_intent, mut whole))| {
                whole.resize(intents.len(), Vec::new());
                let index = LangIndex {
                    phrases: Bm25::new(&texts),
                    phrase_intent,
                    intents: Bm25::new(&whole),
                    scale: 1.0,
                };
                (lang.to_string(), index.calibrate(opts.unit, &texts))
            })
            .collect();
        Retriever {
            opts,
            indexes,
            priors: intents.iter().map(|i| i.ivr_intents.clone()).collect(),
        }
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
        let mut ranked: Vec<Scored> = index
            .score(self.opts.unit, &query)
            .into_iter()
            .map(|(intent, score, phrase)| {
                let boosted = self.priors[intent].iter().any(|p| prior.contains(&p.as_str()));
                let score = score / index.scale;
                let triggered_by = match phrase {
                    Some(d) => triggers(&said, |term| index.phrases.contains(d, term)),
                    None => triggers(&said, |term| index.intents.contains(intent, term)),
                };
                Scored {
                    intent,
                    score: if boosted {
                        score * (1.0 + self.opts.prior_boost)
                    } else {
                        score
                    },
                    confidence: 0.0,
                    triggered_by,
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
