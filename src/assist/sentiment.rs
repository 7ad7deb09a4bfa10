//! Sentiment: a lexicon score per utterance in -1..1, with negation ("not happy", 良くない),
//! intensifiers ("very", とても) and contrast ("…, but", けど), and the call's trend, an exponential
//! moving average. The lexicon is sip-config/knowledge/sentiment.toml.

use super::knowledge::{KnowledgeError, SENTIMENT_FILE};
use super::text::{is_japanese, normalize, split_contraction};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A negated word counts this much of its weight, the other way ("not bad" is mildly good).
const NEGATION: f32 = -0.7;
/// English: how many words before a word a negator may stand. Japanese: how much kana after it is read.
const NEGATION_WORDS: usize = 3;
const NEGATION_KANA: usize = 8;
/// Before a contrast word the words count less, after it more.
const BEFORE_CONTRAST: f32 = 0.5;
const AFTER_CONTRAST: f32 = 1.5;
/// Squashes a sum of weights into -1..1 (VADER's normalisation): one strong word ≈ 0.5.
const SQUASH: f32 = 15.0;
/// The trend's smoothing, and how far it moves, or how strong one utterance is, before it is worth
/// showing.
const TREND_ALPHA: f32 = 0.35;
const TREND_STEP: f32 = 0.1;
const NOTABLE_SCORE: f32 = 0.25;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    words: BTreeMap<String, f32>,
    #[serde(default)]
    negators: Vec<String>,
    #[serde(default)]
    intensifiers: BTreeMap<String, f32>,
    #[serde(default)]
    contrast: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    en: Part,
    ja: Part,
}

#[derive(Debug, Clone)]
pub struct Lexicon {
    en: Part,
    ja: Part,
    /// The Japanese entries longest first, so that 届いていない wins over a shorter entry inside it.
    ja_order: Vec<(String, f32)>,
}

impl Lexicon {
    pub(super) fn parse(src: &str) -> Result<Lexicon, KnowledgeError> {
        let file: LexiconFile =
            toml::from_str(src).map_err(|e| KnowledgeError::new(SENTIMENT_FILE, e.to_string()))?;
        let mut problems = Vec::new();
        for (lang, part) in [("en", &file.en), ("ja", &file.ja)] {
            for (w, &v) in &part.words {
                if w.trim().is_empty() || v == 0.0 || !(-4.0..=4.0).contains(&v) {
                    problems.push(format!(
                        "`{lang}.words` {w:?} = {v}: need a non-empty word and a weight in -4..4, not 0"
                    ));
                }
            }
            for (w, &v) in &part.intensifiers {
                if w.trim().is_empty() || !(v > 0.0 && v <= 3.0) {
                    problems.push(format!(
                        "`{lang}.intensifiers` {w:?} = {v}: need a word and a factor in (0, 3]"
                    ));
                }
            }
            if part
                .negators
                .iter()
                .chain(&part.contrast)
                .any(|w| w.trim().is_empty())
            {
                problems.push(format!("`{lang}`: an empty negator or contrast word"));
            }
        }
        KnowledgeError::check(SENTIMENT_FILE, problems)?;
        let mut ja_order: Vec<(String, f32)> =
            file.ja.words.iter().map(|(w, &v)| (normalize(w), v)).collect();
        ja_order.sort_by_key(|(w, _)| std::cmp::Reverse(w.chars().count()));
        Ok(Lexicon {
            en: file.en,
            ja: file.ja,
            ja_order,
        })
    }

    /// The sentiment of one utterance in -1..1 (0 when no word of the lexicon is in it). Text in
    /// Japanese script is read with the Japanese lexicon, anything else with the English one.
    pub fn score(&self, text: &str) -> f32 {
        let norm = normalize(text);
        let weights = if norm.chars().any(is_japanese) {
            self.japanese(&norm)
        } else {
            self.english(&norm)
        };
        let sum: f32 = weights.found.iter().sum();
        sum / (sum * sum + SQUASH).sqrt()
    }

    /// The weight of each sentiment word of English text, in order, contrast applied.
    fn english(&self, norm: &str) -> Weights {
        let mut words: Vec<String> = Vec::new();
        let mut at = 0;
        for w in norm.split(' ') {
            words.extend(
                split_contraction(norm, at..at + w.len())
                    .into_iter()
                    .map(|(w, _)| w),
            );
            at += w.len() + 1;
        }
        let part = &self.en;
        let longest = part.words.keys().map(|k| k.split(' ').count()).max().unwrap_or(1);
        let mut out = Weights::default();
        let mut i = 0;
        while i < words.len() {
            if part.contrast.contains(&words[i]) {
                out.contrast();
                i += 1;
                continue;
            }
            let hit = (1..=longest.min(words.len() - i))
                .rev()
                .find_map(|n| part.words.get(&words[i..i + n].join(" ")).map(|&v| (n, v)));
            let Some((n, mut v)) = hit else {
                i += 1;
                continue;
            };
            if let Some(f) = i.checked_sub(1).and_then(|p| part.intensifiers.get(&words[p])) {
                v *= f;
            }
            if words[i.saturating_sub(NEGATION_WORDS)..i]
                .iter()
                .any(|w| part.negators.contains(w))
            {
                v *= NEGATION;
            }
            out.push(v);
            i += n;
        }
        out
    }

    /// The same for Japanese: entries found in the text longest first, negation read in the kana after.
    fn japanese(&self, norm: &str) -> Weights {
        let chars: Vec<char> = norm.chars().filter(|c| *c != ' ').collect();
        let part = &self.ja;
        let mut out = Weights::default();
        let mut i = 0;
        while i < chars.len() {
            let rest: String = chars[i..].iter().collect();
            if let Some(c) = part.contrast.iter().find(|c| rest.starts_with(c.as_str())) {
                out.contrast();
                i += c.chars().count();
                continue;
            }
            let Some((word, v)) = self.ja_order.iter().find(|(w, _)| rest.starts_with(w.as_str())) else {
                i += 1;
                continue;
            };
            let mut v = *v;
            let before: String = chars[..i].iter().collect();
            if let Some((_, f)) = part
                .intensifiers
                .iter()
                .find(|(w, _)| before.ends_with(w.as_str()))
            {
                v *= f;
            }
            let end = i + word.chars().count();
            let kana: String = chars[end..]
                .iter()
                .take(NEGATION_KANA)
                .take_while(|c| matches!(**c as u32, 0x3040..=0x309F))
                .collect();
            i = end;
            if part.negators.iter().any(|n| kana.contains(n.as_str())) {
                v *= NEGATION;
                // The negated tail is this word's; do not read できない in it again.
                i += kana.chars().count();
            }
            out.push(v);
        }
        out
    }
}

/// The weights of an utterance's sentiment words as they are found, contrast applied.
#[derive(Default)]
struct Weights {
    found: Vec<f32>,
    after_contrast: bool,
}

impl Weights {
    fn push(&mut self, v: f32) {
        self.found.push(if self.after_contrast {
            v * AFTER_CONTRAST
        } else {
            v
        });
    }

    fn contrast(&mut self) {
        self.found.iter_mut().for_each(|v| *v *= BEFORE_CONTRAST);
        self.after_contrast = true;
    }
}

/// The call's trend over its utterances.
#[derive(Debug, Default)]
pub(super) struct Trend {
    value: f32,
    shown: Option<f32>,
}

impl Trend {
    /// Takes an utterance's score; the trend when it is worth showing: the utterance is notably
    /// positive or negative, or the trend moved since it was last shown.
    pub(super) fn update(&mut self, score: f32) -> Option<f32> {
        self.value += TREND_ALPHA * (score - self.value);
        let moved = (self.value - self.shown.unwrap_or(0.0)).abs() >= TREND_STEP;
        if moved || score.abs() >= NOTABLE_SCORE {
            self.shown = Some(self.value);
            Some(self.value)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assist::knowledge::Sources;

    fn lexicon() -> Lexicon {
        Lexicon::parse(Sources::EMBEDDED.sentiment).unwrap()
    }

    #[test]
    fn english_polarity_negation_and_intensifiers() {
        let l = lexicon();
        let happy = l.score("I'm happy with it");
        assert!(happy > 0.3, "{happy}");
        assert!(l.score("I'm not happy with it") < 0.0);
        assert!(l.score("I'm really not happy, this is terrible") < -0.5);
        assert!(l.score("I'm very happy with it") > happy);
        assert!(l.score("it wasn't bad") > 0.0);
        assert!(l.score("I'm fed up") < -0.3);
        assert_eq!(l.score("my order number is 123456"), 0.0);
        // What comes after "but" decides.
        assert!(l.score("thanks, but this is useless") < 0.0);
        assert!(l.score("it was late, but you were very helpful") > 0.0);
    }

    #[test]
    fn japanese_polarity_negation_and_intensifiers() {
        let l = lexicon();
        let glad = l.score("とても助かりました。ありがとうございます");
        assert!(glad > 0.5, "{glad}");
        assert!(l.score("満足していません") < 0.0);
        assert!(l.score("全く良くない") < l.score("良くない"));
        assert!(l.score("問題ありません") > 0.0);
        assert!(l.score("本当に最悪です。もう二週間も届いていない") < -0.6);
        assert!(l.score("解決できないんですか") < 0.0);
        assert!(l.score("遅れたけど、親切に対応してもらえて嬉しいです") > 0.0);
        assert_eq!(l.score("注文番号は１２３４５６です"), 0.0);
    }

    #[test]
    fn scores_stay_in_range() {
        let l = lexicon();
        let rant = "terrible awful worst horrible useless ridiculous unacceptable ".repeat(20);
        let s = l.score(&rant);
        assert!((-1.0..-0.9).contains(&s), "{s}");
    }

    #[test]
    fn the_trend_moves_smoothly_and_is_shown_when_it_moves() {
        let mut t = Trend::default();
        assert_eq!(t.update(0.0), None);
        assert_eq!(t.update(0.05), None);
        let after_anger = t.update(-0.8).unwrap();
        assert!(after_anger < -0.2 && after_anger > -0.8, "{after_anger}");
        let calmer = t.update(0.1).unwrap();
        assert!(calmer > after_anger);
        assert_eq!(t.update(calmer + 0.01), None, "a tiny move is not shown");
    }

    #[test]
    fn bad_weights_are_named() {
        let src = "[en]\nwords = { good = 0.0 }\n[ja]\nwords = {}\nintensifiers = { \"とても\" = -1 }\n";
        let err = Lexicon::parse(src).unwrap_err();
        assert!(err.problems[0].contains("`en.words` \"good\""), "{err}");
        assert!(err.problems[1].contains("`ja.intensifiers`"), "{err}");
    }
}
