//! The evaluation of the suggested next actions: labelled caller utterances in English and Japanese
//! (tests/assist/eval_*.toml, written apart from the knowledge base's phrases) ranked by the retriever
//! built from the embedded knowledge base; top-1 and top-3 accuracy per language and per set (dev, and
//! held out: never used for tuning), for the default method and the alternatives it was chosen from,
//! and the effect of the IVR prior on ambiguous utterances (tests/assist/prior.toml).
//!
//! `cargo test --release --test assist_eval -- --nocapture` prints the figures.

use koe::assist::{JaTokens, Knowledge, RetrievalOptions, Retriever, SHOW_CONFIDENCE, Unit};
use serde::Deserialize;
use std::collections::BTreeSet;

/// Accuracy the default method must keep on all the cases of a language: what it reached when these
/// were set (en top-1 83.5 %, top-3 93.4 %; ja 95.3 %, 100 %) less about five points. The held-out
/// part alone reached en 75.0 % / 87.5 %, ja 100 % / 100 %.
const FLOOR_TOP3_EN: f64 = 0.88;
const FLOOR_TOP3_JA: f64 = 0.93;
const FLOOR_TOP1_EN: f64 = 0.78;
const FLOOR_TOP1_JA: f64 = 0.88;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/assist");

#[derive(Deserialize)]
struct Case {
    intent: String,
    set: String,
    text: String,
}

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

fn load(name: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(format!("{DIR}/{name}")).unwrap();
    toml::from_str::<Cases>(&text).unwrap().case
}

/// Case, punctuation and space insensitive.
fn folded(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Default)]
struct Score {
    n: usize,
    top1: usize,
    top3: usize,
    misses: Vec<String>,
    /// Confidence of the top suggestion when it was right, and when wrong.
    right_conf: Vec<f32>,
    wrong_conf: Vec<f32>,
}

impl Score {
    fn pct(k: usize, n: usize) -> f64 {
        if n == 0 { 0.0 } else { k as f64 / n as f64 }
    }

    fn line(&self) -> String {
        format!(
            "n={:3}  top-1 {:5.1}%  top-3 {:5.1}%",
            self.n,
            100.0 * Score::pct(self.top1, self.n),
            100.0 * Score::pct(self.top3, self.n)
        )
    }
}

/// Which IVR choice each utterance is ranked under.
#[derive(Clone, Copy, PartialEq)]
enum Prior {
    None,
    /// The labelled intent's own (its first `ivr_intents`): the caller pressed the right key.
    Right,
    /// One the labelled intent does not list: the caller pressed a key for something else.
    Misleading,
}

const IVR_CHOICES: [&str; 4] = ["orders", "billing", "technical", "general"];

fn prior_for(kb: &Knowledge, case: &Case, prior: Prior) -> Vec<&'static str> {
    let listed = &kb.intent(&case.intent).unwrap().ivr_intents;
    let pick = |want: bool| {
        IVR_CHOICES
            .into_iter()
            .find(|c| listed.iter().any(|l| l == c) == want)
    };
    match prior {
        Prior::None => vec![],
        Prior::Right => pick(true).into_iter().collect(),
        Prior::Misleading => pick(false).into_iter().collect(),
    }
}

fn evaluate(kb: &Knowledge, r: &Retriever, lang: &str, cases: &[&Case], prior: Prior) -> Score {
    let mut s = Score::default();
    for case in cases {
        let ranked = r.rank(lang, &[(case.text.as_str(), 1.0)], &prior_for(kb, case, prior));
        let ids: Vec<&str> = ranked
            .iter()
            .map(|x| kb.intents()[x.intent].id.as_str())
            .collect();
        s.n += 1;
        let hit1 = ids.first() == Some(&case.intent.as_str());
        if hit1 {
            s.top1 += 1;
            s.right_conf.push(ranked[0].confidence);
        } else if let Some(top) = ranked.first() {
            s.wrong_conf.push(top.confidence);
        }
        if ids.iter().take(3).any(|i| *i == case.intent) {
            s.top3 += 1;
        }
        if !hit1 {
            s.misses.push(format!(
                "  [{}] {} → {:?} :: {}",
                case.set,
                case.intent,
                &ids[..ids.len().min(3)],
                case.text
            ));
        }
    }
    s
}

fn subset<'a>(cases: &'a [Case], set: Option<&str>) -> Vec<&'a Case> {
    cases.iter().filter(|c| set.is_none_or(|s| c.set == s)).collect()
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

#[test]
fn eval_cases_are_labelled_and_apart_from_the_knowledge_base() {
    let kb = Knowledge::embedded().unwrap();
    let ids: BTreeSet<&str> = kb.intents().iter().map(|i| i.id.as_str()).collect();
    for (file, lang, min) in [("eval_en.toml", "en", 60), ("eval_ja.toml", "ja", 30)] {
        let cases = load(file);
        assert!(
            cases.len() >= min,
            "{file}: {} cases, at least {min} wanted",
            cases.len()
        );
        let phrases: BTreeSet<String> = kb
            .intents()
            .iter()
            .flat_map(|i| i.phrases[lang].iter().map(|p| folded(p)))
            .collect();
        let mut seen = BTreeSet::new();
        for c in &cases {
            assert!(
                ids.contains(c.intent.as_str()),
                "{file}: unknown intent {:?}",
                c.intent
            );
            assert!(
                ["dev", "held_out"].contains(&c.set.as_str()),
                "{file}: set {:?}",
                c.set
            );
            assert!(
                !phrases.contains(&folded(&c.text)),
                "{file}: {:?} is a knowledge-base phrase",
                c.text
            );
            assert!(seen.insert(folded(&c.text)), "{file}: {:?} twice", c.text);
        }
    }
}

#[test]
fn suggestion_accuracy() {
    let kb = Knowledge::embedded().unwrap();
    let default = RetrievalOptions::default();
    let both = JaTokens {
        katakana_words: true,
        kanji_unigrams: true,
    };
    let variants: Vec<(&str, RetrievalOptions)> = vec![
        ("default", default),
        (
            "phrase max",
            RetrievalOptions {
                unit: Unit::PhraseMax,
                ..default
            },
        ),
        (
            "phrase soft-max",
            RetrievalOptions {
                unit: Unit::PhraseSoftMax,
                ..default
            },
        ),
        (
            "intent as one document",
            RetrievalOptions {
                unit: Unit::IntentDocument,
                ..default
            },
        ),
        (
            "ja: bigrams only",
            RetrievalOptions {
                ja: JaTokens::default(),
                ..default
            },
        ),
        (
            "ja: + kanji unigrams",
            RetrievalOptions {
                ja: JaTokens {
                    kanji_unigrams: true,
                    katakana_words: false,
                },
                ..default
            },
        ),
        (
            "ja: + katakana words",
            RetrievalOptions {
                ja: JaTokens {
                    katakana_words: true,
                    kanji_unigrams: false,
                },
                ..default
            },
        ),
        ("ja: + both", RetrievalOptions { ja: both, ..default }),
        (
            "intent as one document, ja: + both",
            RetrievalOptions {
                unit: Unit::IntentDocument,
                ja: both,
                ..default
            },
        ),
        (
            "phrase max, ja: + both",
            RetrievalOptions {
                unit: Unit::PhraseMax,
                ja: both,
                ..default
            },
        ),
        (
            "hybrid",
            RetrievalOptions {
                unit: Unit::Hybrid,
                ..default
            },
        ),
        (
            "hybrid, ja: + both",
            RetrievalOptions {
                unit: Unit::Hybrid,
                ja: both,
                ..default
            },
        ),
    ];
    let (en, ja) = (load("eval_en.toml"), load("eval_ja.toml"));

    println!(
        "\nSuggestion evaluation ({} intents; utterances ranked alone, no IVR prior)",
        kb.intents().len()
    );
    let mut results = Vec::new();
    for (name, opts) in &variants {
        let r = Retriever::build(kb.intents(), *opts);
        println!("{name}:");
        for (lang, cases) in [("en", &en), ("ja", &ja)] {
            let all = evaluate(&kb, &r, lang, &subset(cases, None), Prior::None);
            let dev = evaluate(&kb, &r, lang, &subset(cases, Some("dev")), Prior::None);
            let held = evaluate(&kb, &r, lang, &subset(cases, Some("held_out")), Prior::None);
            println!(
                "  {lang} all {}   dev {}   held out {}",
                all.line(),
                dev.line(),
                held.line()
            );
            if *name == "default" {
                results.push((lang, all));
            }
        }
    }
    println!("\nWith an IVR choice (the default method but for the prior's weight; all cases):");
    for boost in [0.0, 0.3, 0.5, 0.7, 1.0] {
        let r = Retriever::build(
            kb.intents(),
            RetrievalOptions {
                prior_boost: boost,
                ..default
            },
        );
        for (lang, cases) in [("en", &en), ("ja", &ja)] {
            for set in ["dev", "held_out"] {
                let right = evaluate(&kb, &r, lang, &subset(cases, Some(set)), Prior::Right);
                let wrong = evaluate(&kb, &r, lang, &subset(cases, Some(set)), Prior::Misleading);
                println!(
                    "  boost {boost:.1} {lang} {set:8}: right choice {}   misleading {}",
                    right.line(),
                    wrong.line()
                );
            }
        }
    }
    let started = std::time::Instant::now();
    let r = kb.retriever();
    let mut n = 0;
    let mut ranked = 0;
    for (lang, cases) in [("en", &en), ("ja", &ja)] {
        for c in cases {
            ranked += r.rank(lang, &[(c.text.as_str(), 1.0)], &[]).len();
            n += 1;
        }
    }
    println!(
        "\nranking: {:.0} µs per utterance ({n} utterances, {ranked} intents ranked)",
        started.elapsed().as_micros() as f64 / n as f64
    );
    for (lang, s) in &results {
        println!(
            "\ndefault, {lang}: mean confidence of the top suggestion when right {:.2} (n={}), when wrong {:.2} (n={})",
            mean(&s.right_conf),
            s.right_conf.len(),
            mean(&s.wrong_conf),
            s.wrong_conf.len()
        );
        let shown = |v: &[f32]| v.iter().filter(|c| **c >= SHOW_CONFIDENCE).count();
        println!(
            "default, {lang}: one utterance alone shows its top suggestion (confidence ≥ {SHOW_CONFIDENCE}) \
             for {}/{} right and {}/{} wrong ones",
            shown(&s.right_conf),
            s.right_conf.len(),
            shown(&s.wrong_conf),
            s.wrong_conf.len()
        );
        println!(
            "default, {lang}: top-1 misses (label → ranked):\n{}",
            s.misses.join("\n")
        );
    }
    let acc = |lang: &str| {
        let s = &results.iter().find(|(l, _)| *l == lang).unwrap().1;
        (Score::pct(s.top1, s.n), Score::pct(s.top3, s.n))
    };
    let (en1, en3) = acc("en");
    let (ja1, ja3) = acc("ja");
    assert!(
        en3 >= FLOOR_TOP3_EN && en1 >= FLOOR_TOP1_EN,
        "en top-1 {en1:.3}, top-3 {en3:.3}"
    );
    assert!(
        ja3 >= FLOOR_TOP3_JA && ja1 >= FLOOR_TOP1_JA,
        "ja top-1 {ja1:.3}, top-3 {ja3:.3}"
    );
}

#[derive(Deserialize)]
struct PriorCase {
    language: String,
    text: String,
    ivr: String,
    expect: String,
}

#[derive(Deserialize)]
struct PriorCases {
    case: Vec<PriorCase>,
}

#[test]
fn the_ivr_prior_settles_ambiguous_utterances() {
    let kb = Knowledge::embedded().unwrap();
    let text = std::fs::read_to_string(format!("{DIR}/prior.toml")).unwrap();
    let cases = toml::from_str::<PriorCases>(&text).unwrap().case;
    let top = |c: &PriorCase, prior: &[&str]| {
        let ranked = kb.retriever().rank(&c.language, &[(c.text.as_str(), 1.0)], prior);
        ranked
            .iter()
            .take(3)
            .map(|r| format!("{} {:.2}", kb.intents()[r.intent].id, r.confidence))
            .collect::<Vec<_>>()
    };
    println!("\nThe IVR prior on ambiguous utterances (top 3 with confidence):");
    let mut changed = 0;
    let mut wrong = Vec::new();
    for c in &cases {
        let without = top(c, &[]);
        let with = top(c, &[c.ivr.as_str()]);
        println!(
            "  {:?}\n    no prior:       {without:?}\n    IVR {:10} {with:?}",
            c.text,
            format!("{}:", c.ivr)
        );
        if !with[0].starts_with(&format!("{} ", c.expect)) {
            wrong.push(format!("{:?} under {}: {with:?}", c.text, c.ivr));
        }
        if without[0] != with[0] {
            changed += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // Each utterance is there under two IVR choices with two answers: one of them at least is the prior's.
    assert!(
        changed >= cases.len() / 2,
        "the prior changed the top suggestion of only {changed} cases"
    );
}
