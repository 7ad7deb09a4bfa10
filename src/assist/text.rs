//! Tokenising for retrieval, one pass for both scripts: runs of Latin letters and digits become English
//! words (contractions split, stop words out, a light suffix stripper), runs of Japanese script, which
//! has no spaces, become character bigrams. Each token keeps its byte span in the normalised text so
//! that the words that triggered a match can be shown as the caller said them.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::LazyLock;

pub use crate::ivr::matcher::normalize;

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub term: String,
    /// Byte range in the normalised text.
    pub span: Range<usize>,
}

/// Japanese-side choices, kept switchable so that the evaluation can measure them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JaTokens {
    /// Also index each kanji on its own (single-kanji words: 箱, 色, 傷).
    pub kanji_unigrams: bool,
    /// Also index each katakana run as one term (loan words: パスワード, キャンセル).
    pub katakana_words: bool,
}

/// Hiragana, katakana (with the long-vowel mark) and kanji (with 々).
pub fn is_japanese(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x3005)
}

fn is_kanji(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x3005)
}

fn is_katakana(c: char) -> bool {
    matches!(c as u32, 0x30A0..=0x30FF)
}

fn is_word_char(c: char) -> bool {
    (c.is_alphanumeric() || c == '\'') && !is_japanese(c)
}

/// Tokens of `normalised` (the output of [`normalize`]).
pub fn tokens(normalised: &str, ja: JaTokens) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = normalised.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if is_japanese(c) {
            let mut run = Vec::new();
            while let Some(&(i, c)) = chars.peek().filter(|(_, c)| is_japanese(*c)) {
                run.push((i, c));
                chars.next();
            }
            japanese_run(&run, ja, &mut out);
        } else if is_word_char(c) {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek().filter(|(_, c)| is_word_char(*c)) {
                end = i + c.len_utf8();
                chars.next();
            }
            english_word(normalised, start..end, &mut out);
        } else {
            chars.next();
        }
    }
    out
}

fn japanese_run(run: &[(usize, char)], ja: JaTokens, out: &mut Vec<Token>) {
    let end_of = |k: usize| run[k].0 + run[k].1.len_utf8();
    if run.len() == 1 {
        out.push(Token {
            term: run[0].1.to_string(),
            span: run[0].0..end_of(0),
        });
        return;
    }
    for k in 0..run.len() - 1 {
        out.push(Token {
            term: [run[k].1, run[k + 1].1].iter().collect(),
            span: run[k].0..end_of(k + 1),
        });
    }
    if ja.kanji_unigrams {
        for (k, &(i, c)) in run.iter().enumerate().filter(|(_, (_, c))| is_kanji(*c)) {
            out.push(Token {
                term: c.to_string(),
                span: i..end_of(k),
            });
        }
    }
    if ja.katakana_words {
        let mut k = 0;
        while k < run.len() {
            let first = k;
            while k < run.len() && is_katakana(run[k].1) {
                k += 1;
            }
            if k - first >= 3 {
                out.push(Token {
                    term: run[first..k].iter().map(|(_, c)| c).collect(),
                    span: run[first].0..end_of(k - 1),
                });
            }
            k = k.max(first + 1);
        }
    }
}

/// English words of one run such as `doesn't` or `order's`: the contraction's `not` is kept as its own
/// token (it carries meaning: "not working"), other clitics are dropped.
fn english_word(text: &str, span: Range<usize>, out: &mut Vec<Token>) {
    for (word, span) in split_contraction(text, span) {
        let term = stem(&word);
        if !term.is_empty() && !STOP_STEMS.contains(&term) {
            out.push(Token { term, span });
        }
    }
}

/// `can't` → can + not, `won't` → will + not, `doesn't` → does + not, `I've` → I, `order's` → order.
pub fn split_contraction(text: &str, span: Range<usize>) -> Vec<(String, Range<usize>)> {
    let word = &text[span.clone()];
    let whole = |w: &str| (w.to_string(), span.clone());
    let trimmed = word.trim_matches('\'');
    if trimmed.is_empty() {
        return Vec::new();
    }
    match trimmed {
        "can't" | "cannot" => return vec![whole("can"), whole("not")],
        "won't" => return vec![whole("will"), whole("not")],
        _ => {}
    }
    if let Some(base) = trimmed.strip_suffix("n't") {
        return vec![whole(base), whole("not")];
    }
    match trimmed.split_once('\'') {
        Some((base, _clitic)) => vec![whole(base)],
        None => vec![whole(trimmed)],
    }
}

/// A small suffix stripper in the spirit of Porter's first steps: plurals, -ation/-ment/-ery,
/// -ing/-ed, a final e and a doubled final consonant, so that "charged", "charges" and "charging" meet
/// "charge", and "shipping", "shipped", "shipment" meet "ship". Every form goes through the same steps,
/// so a crude cut is harmless as long as it is consistent.
pub fn stem(word: &str) -> String {
    let mut s = word.to_string();
    if s.len() <= 3 || !s.is_ascii() {
        return s;
    }
    if s.ends_with("ies") && s.len() > 4 {
        s.truncate(s.len() - 3);
        s.push('y');
    } else if s.ends_with("sses") {
        s.truncate(s.len() - 2);
    } else if s.ends_with('s') && !s.ends_with("ss") && !s.ends_with("us") && !s.ends_with("is") {
        s.pop();
    }
    for suffix in ["ation", "ment", "ing", "ed"] {
        if let Some(base) = s.strip_suffix(suffix)
            && base.len() >= 3
            && base.chars().any(|c| "aeiouy".contains(c))
        {
            s.truncate(base.len());
            break;
        }
    }
    if let Some(base) = s.strip_suffix("ery") {
        s.truncate(base.len() + 2);
    }
    if s.len() > 4 && s.ends_with('e') {
        s.pop();
    }
    let b = s.as_bytes();
    if b.len() > 3 && b[b.len() - 1] == b[b.len() - 2] && !b"aeiou".contains(&b[b.len() - 1]) {
        s.pop();
    }
    s
}

/// The stop words stemmed, and words compared stemmed: "called" goes with "call".
static STOP_STEMS: LazyLock<HashSet<String>> = LazyLock::new(|| STOP.iter().map(|w| stem(w)).collect());

/// Function words and a support call's small talk; "not", "where" and "when" are kept on purpose
/// ("not working", "where is my order", "when will it arrive").
const STOP: &[&str] = &[
    "a",
    "about",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "being",
    "but",
    "by",
    "call",
    "calling",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "er",
    "erm",
    "for",
    "from",
    "get",
    "got",
    "had",
    "has",
    "have",
    "hello",
    "hi",
    "hmm",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "know",
    "like",
    "mean",
    "me",
    "mm",
    "my",
    "myself",
    "of",
    "oh",
    "ok",
    "okay",
    "on",
    "or",
    "our",
    "please",
    "really",
    "right",
    "so",
    "some",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "uh",
    "um",
    "us",
    "very",
    "was",
    "we",
    "well",
    "were",
    "what",
    "which",
    "who",
    "will",
    "with",
    "would",
    "yeah",
    "you",
    "your",
    "actually",
    "basically",
    "sort",
    "kind",
    "thing",
    "guess",
    "think",
    "want",
    "wanted",
    "need",
    "needed",
    "wonder",
    "wondering",
    "can",
    "should",
    "may",
    "might",
    "also",
    "too",
    "yes",
    "thank",
    "thanks",
    "hey",
    "morning",
    "afternoon",
    "sorry",
    "bit",
    "because",
    "cause",
    "one",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokens(&normalize(text), JaTokens::default())
            .into_iter()
            .map(|t| t.term)
            .collect()
    }

    #[test]
    fn english_forms_of_one_word_meet() {
        for group in [
            &["charge", "charged", "charges", "charging"][..],
            &["ship", "shipped", "shipping", "shipment", "ships"],
            &["cancel", "cancelled", "canceled", "cancelling", "cancellation"],
            &["deliver", "delivered", "delivery", "deliveries"],
            &["bill", "billed", "bills", "billing"],
            &["arrive", "arrived", "arrives", "arriving"],
        ] {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(stems.iter().all(|s| s == &stems[0]), "{group:?} → {stems:?}");
        }
    }

    #[test]
    fn stop_words_go_and_negation_stays() {
        assert_eq!(
            terms("Um, it doesn't work and I can't log in!"),
            ["not", "work", "not", "log"]
        );
        assert_eq!(terms("Where is my order?"), ["wher", "order"]);
    }

    #[test]
    fn japanese_becomes_bigrams_with_spans() {
        let text = normalize("荷物が届かない。");
        let toks = tokens(&text, JaTokens::default());
        let terms: Vec<&str> = toks.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(terms, ["荷物", "物が", "が届", "届か", "かな", "ない"]);
        assert_eq!(&text[toks[3].span.clone()], "届か");
    }

    #[test]
    fn japanese_options_add_kanji_and_katakana_terms() {
        let ja = JaTokens {
            kanji_unigrams: true,
            katakana_words: true,
        };
        let terms: Vec<String> = tokens("箱のパスワード", ja).into_iter().map(|t| t.term).collect();
        assert!(terms.contains(&"箱".to_string()));
        assert!(terms.contains(&"パスワード".to_string()));
    }

    #[test]
    fn mixed_scripts_split_at_the_boundary() {
        assert_eq!(
            terms("Wi-Fiにつながらない"),
            ["wi", "fi", "につ", "つな", "なが", "がら", "らな", "ない"]
        );
    }
}
