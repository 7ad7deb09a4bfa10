//! Alerts: phrase, regex and card-number rules over what is said (sip-config/knowledge/alerts.toml).
//! A rule fires once per call, on the first partial or final that triggers it, with the utterance and
//! the words that matched; digits of a card number never leave masked.

use super::knowledge::{ALERTS_FILE, KnowledgeError, PerLanguage, localized};
use super::mask::{card_number_in, mask_card_numbers, trailing_digits};
use super::text::{is_japanese, normalize};
use crate::events::{Channel, TranscriptKind};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub severity: Severity,
    /// In the call's language.
    pub label: String,
    pub channel: Channel,
    pub utterance_id: u64,
    /// What triggered it, as said (a card number masked).
    pub matched: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Detector {
    CardNumber,
}

fn caller_only() -> Vec<Channel> {
    vec![Channel::Caller]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    id: String,
    severity: Severity,
    label: PerLanguage<String>,
    #[serde(default)]
    phrases: PerLanguage<Vec<String>>,
    #[serde(default)]
    regex: Vec<String>,
    detector: Option<Detector>,
    #[serde(default = "caller_only")]
    channels: Vec<Channel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsFile {
    #[serde(rename = "rule", default)]
    rules: Vec<RuleDef>,
}

/// A phrase: English words (`cancel*` matches any word starting with `cancel`), or Japanese text.
#[derive(Debug, Clone)]
enum Phrase {
    Words(Vec<(String, bool)>),
    Unspaced(String),
}

impl Phrase {
    fn new(phrase: &str) -> Phrase {
        if phrase.chars().any(is_japanese) {
            return Phrase::Unspaced(normalize(phrase).replace(' ', ""));
        }
        let words = phrase
            .split_whitespace()
            .map(|w| (normalize(w.trim_end_matches('*')), w.ends_with('*')))
            .filter(|(w, _)| !w.is_empty())
            .collect();
        Phrase::Words(words)
    }

    /// The words of `norm` (normalised text) that match, as said; not where the caller says they do
    /// not mean it ("I don't want to cancel", "解約はしません").
    fn find(&self, norm: &str) -> Option<String> {
        match self {
            Phrase::Unspaced(p) => {
                let text = norm.replace(' ', "");
                text.match_indices(p.as_str())
                    .any(|(at, _)| !negated_after(&text[at + p.len()..]))
                    .then(|| p.clone())
            }
            Phrase::Words(pattern) => {
                let words: Vec<&str> = norm.split(' ').collect();
                (0..(words.len() + 1).saturating_sub(pattern.len()))
                    .find(|&i| {
                        let matches = pattern.iter().zip(&words[i..]).all(|((p, prefix), w)| {
                            if *prefix {
                                w.starts_with(p.as_str())
                            } else {
                                w == p
                            }
                        });
                        matches && !negated_before(&words[i.saturating_sub(NEGATION_REACH)..i])
                    })
                    .map(|i| words[i..i + pattern.len()].join(" "))
            }
        }
    }
}

/// How many words before an English phrase a negation still applies to it ("don't want to cancel").
const NEGATION_REACH: usize = 3;

/// Whether one of `before` (the words just before a phrase) negates it.
fn negated_before(before: &[&str]) -> bool {
    const NEGATIONS: [&str; 8] = [
        "not", "never", "without", "dont", "doesnt", "didnt", "wont", "isnt",
    ];
    before.iter().any(|w| {
        let w = w.replace(['\'', '’'], "");
        NEGATIONS.contains(&w.as_str())
    })
}

/// Whether the Japanese text right after a phrase negates it (解約はしません, キャンセルしたくない): the
/// verb comes after. "できない" (cannot) is not a negation of the wish.
fn negated_after(after: &str) -> bool {
    const NEGATIONS: [&str; 8] = [
        "しない",
        "しません",
        "したくない",
        "はしない",
        "はしません",
        "はしたくない",
        "じゃない",
        "ではない",
    ];
    NEGATIONS.iter().any(|n| after.starts_with(n))
}

#[derive(Debug, Clone)]
struct Rule {
    id: String,
    severity: Severity,
    label: PerLanguage<String>,
    phrases: Vec<Phrase>,
    regexes: Vec<Regex>,
    detector: Option<Detector>,
    channels: Vec<Channel>,
}

impl Rule {
    /// What in the utterance triggers the rule. `masked` is the normalised text with card numbers
    /// masked; `raw` is the text as said, after the digits the channel's last final ended with.
    fn trigger(&self, masked: &str, raw: &str) -> Option<String> {
        if self.detector == Some(Detector::CardNumber)
            && let Some(card) = card_number_in(raw)
        {
            return Some(card);
        }
        self.phrases.iter().find_map(|p| p.find(masked)).or_else(|| {
            self.regexes
                .iter()
                .find_map(|r| r.find(masked).map(|m| m.as_str().to_string()))
        })
    }
}

#[derive(Debug, Clone)]
pub struct AlertRules {
    rules: Vec<Rule>,
}

impl AlertRules {
    pub(super) fn parse(src: &str) -> Result<AlertRules, KnowledgeError> {
        let file: AlertsFile =
            toml::from_str(src).map_err(|e| KnowledgeError::new(ALERTS_FILE, e.to_string()))?;
        let mut problems = Vec::new();
        let mut ids = BTreeSet::new();
        let mut rules = Vec::new();
        for (n, def) in file.rules.into_iter().enumerate() {
            let name = if def.id.is_empty() {
                format!("#{}", n + 1)
            } else {
                def.id.clone()
            };
            let mut bad = |what: String| problems.push(format!("rule `{name}`: {what}"));
            if def.id.trim().is_empty() {
                bad("`id` is empty".into());
            } else if !ids.insert(def.id.clone()) {
                bad("duplicate `id`".into());
            }
            if def.label.get("en").is_none_or(|l| l.trim().is_empty()) {
                bad("`label.en` is missing or empty".into());
            }
            if def.phrases.values().all(Vec::is_empty) && def.regex.is_empty() && def.detector.is_none() {
                bad("has no `phrases`, `regex` or `detector`: it could never fire".into());
            }
            if def.channels.is_empty() {
                bad("`channels` is empty: it could never fire".into());
            }
            let mut phrases = Vec::new();
            for (lang, list) in &def.phrases {
                for p in list {
                    if normalize(&p.replace('*', "")).is_empty() {
                        bad(format!("`phrases.{lang}` has an empty phrase {p:?}"));
                    } else {
                        phrases.push(Phrase::new(p));
                    }
                }
            }
            let mut regexes = Vec::new();
            for r in &def.regex {
                match Regex::new(&format!("(?i){r}")) {
                    Ok(re) => regexes.push(re),
                    Err(e) => bad(format!("`regex` {r:?} does not compile: {e}")),
                }
            }
            rules.push(Rule {
                id: def.id,
                severity: def.severity,
                label: def.label,
                phrases,
                regexes,
                detector: def.detector,
                channels: def.channels,
            });
        }
        KnowledgeError::check(ALERTS_FILE, problems)?;
        Ok(AlertRules { rules })
    }
}

/// One call's alerts: the rules that have fired, and the digits each channel's last final ended with
/// (a card number read out in two utterances is still one number).
#[derive(Debug, Default)]
pub(super) struct Alerter {
    fired: BTreeSet<usize>,
    tails: [Option<String>; 2],
}

impl Alerter {
    pub(super) fn on_text(
        &mut self,
        rules: &AlertRules,
        language: &str,
        channel: Channel,
        kind: TranscriptKind,
        utterance_id: u64,
        text: &str,
    ) -> Vec<Alert> {
        let side = match channel {
            Channel::Caller => 0,
            Channel::Agent => 1,
        };
        let raw = match &self.tails[side] {
            Some(tail) => format!("{tail} {text}"),
            None => text.to_string(),
        };
        if kind == TranscriptKind::Final {
            self.tails[side] = trailing_digits(text).map(str::to_string);
        }
        let masked = normalize(&mask_card_numbers(text).0);
        let mut alerts = Vec::new();
        for (i, rule) in rules.rules.iter().enumerate() {
            if self.fired.contains(&i) || !rule.channels.contains(&channel) {
                continue;
            }
            if let Some(matched) = rule.trigger(&masked, &raw) {
                self.fired.insert(i);
                alerts.push(Alert {
                    rule: rule.id.clone(),
                    severity: rule.severity,
                    label: localized(&rule.label, language).cloned().unwrap_or_default(),
                    channel,
                    utterance_id,
                    matched,
                });
            }
        }
        alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assist::knowledge::Sources;
    use TranscriptKind::{Final, Partial};

    fn rules() -> AlertRules {
        AlertRules::parse(Sources::EMBEDDED.alerts).unwrap()
    }

    fn fire(
        alerter: &mut Alerter,
        channel: Channel,
        kind: TranscriptKind,
        id: u64,
        text: &str,
    ) -> Vec<String> {
        let alerts = alerter.on_text(&rules(), "en", channel, kind, id, text);
        alerts
            .into_iter()
            .map(|a| format!("{}:{}:{}", a.rule, a.utterance_id, a.matched))
            .collect::<Vec<_>>()
    }

    #[test]
    fn each_rule_fires_once_per_call() {
        let mut a = Alerter::default();
        assert_eq!(
            fire(&mut a, Channel::Caller, Partial, 1, "I want to cancel"),
            ["cancellation:1:cancel"]
        );
        assert!(fire(&mut a, Channel::Caller, Partial, 1, "I want to cancel my order").is_empty());
        assert!(fire(&mut a, Channel::Caller, Final, 1, "I want to cancel my order.").is_empty());
        assert_eq!(
            fire(
                &mut a,
                Channel::Caller,
                Final,
                2,
                "Otherwise I'm calling my lawyer, this is unacceptable!"
            ),
            ["complaint:2:unacceptable", "legal_threat:2:lawyer"]
        );
    }

    #[test]
    fn japanese_phrases_and_the_callers_side_only() {
        let mut a = Alerter::default();
        assert!(fire(&mut a, Channel::Agent, Final, 1, "I can cancel it for you.").is_empty());
        assert_eq!(
            fire(&mut a, Channel::Caller, Final, 2, "弁護士に相談します。"),
            ["legal_threat:2:弁護士"]
        );
        assert_eq!(
            fire(&mut a, Channel::Caller, Final, 3, "責任者を出してください"),
            ["supervisor_request:3:責任者"]
        );
        // Said not to be meant: no alert.
        let mut a = Alerter::default();
        for text in [
            "I don't want to cancel, I just want to know the date.",
            "I'm not going to cancel.",
            "解約はしません。",
            "キャンセルしたくないです。",
        ] {
            assert!(fire(&mut a, Channel::Caller, Final, 1, text).is_empty(), "{text}");
        }
        assert_eq!(
            fire(&mut a, Channel::Caller, Final, 2, "No, cancel it, I'm not happy."),
            ["cancellation:2:cancel"]
        );
        let mut a = Alerter::default();
        assert_eq!(
            fire(&mut a, Channel::Caller, Final, 1, "解約できないんですか"),
            ["cancellation:1:解約"]
        );
        // "Sue" the name is not a threat; "sue you" is.
        let mut a = Alerter::default();
        assert!(fire(&mut a, Channel::Caller, Final, 1, "Hi, this is Sue from Osaka.").is_empty());
        assert_eq!(
            fire(&mut a, Channel::Caller, Final, 2, "I'll sue you"),
            ["legal_threat:2:sue you"]
        );
    }

    #[test]
    fn card_numbers_alert_masked_on_both_sides_even_across_utterances() {
        let mut a = Alerter::default();
        assert!(fire(&mut a, Channel::Caller, Final, 1, "it's 4111 1111").is_empty());
        assert_eq!(
            fire(&mut a, Channel::Caller, Final, 2, "1111 1234."),
            ["card_number:2:•••• •••• •••• 1234"]
        );
        let mut a = Alerter::default();
        let out = fire(
            &mut a,
            Channel::Agent,
            Partial,
            7,
            "so that's 4111 1111 1111 1111, right",
        );
        assert_eq!(out, ["card_number:7:•••• •••• •••• 1111"]);
        let mut a = Alerter::default();
        assert!(fire(&mut a, Channel::Caller, Final, 1, "my order number is 12345678").is_empty());
        assert!(fire(&mut a, Channel::Caller, Final, 2, "and my phone is 090 1234 5678").is_empty());
    }

    #[test]
    fn bad_rules_are_named() {
        let err = AlertRules::parse(
            r#"
[[rule]]
id = "a"
severity = "warning"
label = { ja = "あ" }
[[rule]]
id = "a"
severity = "critical"
label = { en = "B" }
regex = ["(unclosed"]
"#,
        )
        .unwrap_err();
        let all = err.problems.join("\n");
        assert!(all.contains("rule `a`: `label.en` is missing"), "{all}");
        assert!(
            all.contains("rule `a`: has no `phrases`, `regex` or `detector`"),
            "{all}"
        );
        assert!(all.contains("rule `a`: duplicate `id`"), "{all}");
        assert!(all.contains("`regex` \"(unclosed\" does not compile"), "{all}");
        let err = AlertRules::parse("[[rule]]\nid = \"x\"\nseverity = \"loud\"\nlabel = { en = \"X\" }\n")
            .unwrap_err();
        assert!(err.to_string().contains("loud"), "{err}");
    }
}
