//! The end-of-call summary, extractive: the reason (the top intent and the caller's sentence that says
//! it best), what the agent did, the outcome (the wrap-up's disposition, else inferred) and what is
//! still to happen, all as short sentences of the call itself. Cues: sip-config/knowledge/summary.toml.

use super::CallContext;
use super::knowledge::{Knowledge, KnowledgeError, PerLanguage, SUMMARY_FILE, localized};
use crate::events::Channel;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MAX_ACTIONS: usize = 5;
const MAX_FOLLOW_UPS: usize = 4;
const MAX_CHARS: usize = 160;
/// How many of the call's last sentences the outcome's patterns look at.
const LAST_SENTENCES: usize = 4;

/// The agent's wrap-up form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WrapUp {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub disposition: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The intent the caller's words match best (the IVR choice as a prior).
    pub intent: Option<String>,
    /// The wrap-up's reason, else the intent's title, else the IVR's choice.
    pub reason: Option<String>,
    /// The caller's sentence that says the reason best.
    pub caller_said: Option<String>,
    pub actions: Vec<String>,
    pub outcome: String,
    /// Whether the outcome was inferred from the conversation rather than given in the wrap-up.
    pub outcome_inferred: bool,
    pub follow_ups: Vec<String>,
    /// What the IVR collected that the intent needs (`order_number`).
    pub data: BTreeMap<String, String>,
}

/// What the summary is made from.
#[derive(Debug, Clone, Copy)]
pub struct SummaryInput<'a> {
    pub context: &'a CallContext,
    /// The call's final transcripts in order.
    pub finals: &'a [(Channel, String)],
    pub wrapup: Option<&'a WrapUp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum When {
    FollowUps,
    Actions,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeDef {
    id: String,
    label: PerLanguage<String>,
    #[serde(default)]
    patterns: PerLanguage<Vec<String>>,
    when: Option<When>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryFile {
    actions: PerLanguage<Vec<String>>,
    follow_ups: PerLanguage<Vec<String>>,
    #[serde(rename = "outcome")]
    outcomes: Vec<OutcomeDef>,
}

#[derive(Debug, Clone)]
struct Outcome {
    label: PerLanguage<String>,
    patterns: Vec<Regex>,
    when: Option<When>,
}

#[derive(Debug, Clone)]
pub struct SummaryCues {
    actions: Vec<Regex>,
    follow_ups: Vec<Regex>,
    outcomes: Vec<Outcome>,
}

/// Every language's patterns in one list: a call may mix them, and a pattern of the other script
/// simply does not match.
fn compile(field: &str, lists: &PerLanguage<Vec<String>>, problems: &mut Vec<String>) -> Vec<Regex> {
    let mut out = Vec::new();
    for (lang, list) in lists {
        for p in list {
            match Regex::new(&format!("(?i){p}")) {
                Ok(re) => out.push(re),
                Err(e) => problems.push(format!("`{field}.{lang}` {p:?} does not compile: {e}")),
            }
        }
    }
    out
}

impl SummaryCues {
    pub(super) fn parse(src: &str) -> Result<SummaryCues, KnowledgeError> {
        let file: SummaryFile =
            toml::from_str(src).map_err(|e| KnowledgeError::new(SUMMARY_FILE, e.to_string()))?;
        let mut problems = Vec::new();
        let actions = compile("actions", &file.actions, &mut problems);
        let follow_ups = compile("follow_ups", &file.follow_ups, &mut problems);
        let mut outcomes = Vec::new();
        let last = file.outcomes.len().saturating_sub(1);
        for (n, def) in file.outcomes.into_iter().enumerate() {
            let conditional = def.when.is_some() || def.patterns.values().any(|p| !p.is_empty());
            if def.label.get("en").is_none_or(|l| l.trim().is_empty()) {
                problems.push(format!("outcome `{}`: `label.en` is missing or empty", def.id));
            }
            if n == last && conditional {
                problems.push(format!(
                    "outcome `{}`: the last outcome is the default: no `patterns`, no `when`",
                    def.id
                ));
            } else if n < last && !conditional {
                problems.push(format!(
                    "outcome `{}`: only the last outcome may have no `patterns` and no `when`",
                    def.id
                ));
            }
            outcomes.push(Outcome {
                patterns: compile(
                    &format!("outcome `{}`: patterns", def.id),
                    &def.patterns,
                    &mut problems,
                ),
                label: def.label,
                when: def.when,
            });
        }
        if outcomes.is_empty() {
            problems.push("no [[outcome]]".to_string());
        }
        KnowledgeError::check(SUMMARY_FILE, problems)?;
        Ok(SummaryCues {
            actions,
            follow_ups,
            outcomes,
        })
    }
}

/// The summary of a call.
pub fn summarise(knowledge: &Knowledge, input: &SummaryInput<'_>) -> Summary {
    let cues = &knowledge.summary;
    let language = knowledge.language_for(&input.context.language);
    let sentences: Vec<(Channel, String)> = input
        .finals
        .iter()
        .flat_map(|(ch, text)| split_sentences(text).into_iter().map(move |s| (*ch, s)))
        .collect();
    let caller: Vec<&str> = sentences
        .iter()
        .filter(|(ch, _)| *ch == Channel::Caller)
        .map(|(_, s)| s.as_str())
        .collect();

    let prior = input.context.prior();
    let retriever = knowledge.retriever();
    let all: Vec<(&str, f32)> = caller.iter().map(|s| (*s, 1.0)).collect();
    let top = retriever.rank(&language, &all, &prior).into_iter().next();
    let intent = top.as_ref().map(|t| &knowledge.intents()[t.intent]);
    let caller_said = top.as_ref().and_then(|t| {
        let score_of = |s: &str| {
            retriever
                .rank(&language, &[(s, 1.0)], &prior)
                .into_iter()
                .find(|r| r.intent == t.intent)
                .map(|r| r.score)
        };
        caller
            .iter()
            .filter_map(|s| score_of(s).map(|score| (score, *s)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, s)| shorten(s))
    });
    let wrap_reason = input.wrapup.map(|w| w.reason.trim()).filter(|r| !r.is_empty());
    let reason = wrap_reason
        .map(str::to_string)
        .or_else(|| intent.and_then(|i| localized(&i.title, &language).cloned()))
        .or_else(|| {
            input
                .context
                .ivr_intent
                .clone()
                .or_else(|| input.context.queue.clone())
        });

    let matches = |res: &[Regex], s: &str| {
        let s = s.to_lowercase().replace('’', "'");
        res.iter().any(|r| r.is_match(&s))
    };
    let mut follow_ups: Vec<String> = Vec::new();
    let mut actions: Vec<String> = Vec::new();
    for (ch, s) in &sentences {
        if matches(&cues.follow_ups, s) {
            push_unique(&mut follow_ups, shorten(s), MAX_FOLLOW_UPS);
        } else if *ch == Channel::Agent && matches(&cues.actions, s) {
            push_unique(&mut actions, shorten(s), MAX_ACTIONS);
        }
    }

    let disposition = input
        .wrapup
        .map(|w| w.disposition.trim())
        .filter(|d| !d.is_empty());
    let (outcome, outcome_inferred) = match disposition {
        Some(d) => (d.to_string(), false),
        None => {
            let tail = &sentences[sentences.len().saturating_sub(LAST_SENTENCES)..];
            let chosen = cues.outcomes.iter().find(|o| {
                let said = tail.iter().any(|(_, s)| matches(&o.patterns, s));
                let held = match o.when {
                    Some(When::FollowUps) => !follow_ups.is_empty(),
                    Some(When::Actions) => !actions.is_empty(),
                    None => false,
                };
                let default = o.when.is_none() && o.patterns.is_empty();
                said || held || default
            });
            let label = chosen
                .and_then(|o| localized(&o.label, &language))
                .cloned()
                .unwrap_or_default();
            (label, true)
        }
    };

    let data = intent
        .map(|i| {
            i.data_to_check
                .iter()
                .filter_map(|d| input.context.variables.get(d).map(|v| (d.clone(), v.clone())))
                .collect()
        })
        .unwrap_or_default();
    Summary {
        intent: intent.map(|i| i.id.clone()),
        reason,
        caller_said,
        actions,
        outcome,
        outcome_inferred,
        follow_ups,
        data,
    }
}

fn push_unique(list: &mut Vec<String>, s: String, max: usize) {
    if list.len() < max && !list.contains(&s) {
        list.push(s);
    }
}

/// At most [`MAX_CHARS`] characters, cut at a word where there is one.
fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        return s.to_string();
    }
    let cut: String = s.chars().take(MAX_CHARS - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > MAX_CHARS / 2 => cut[..i].to_string(),
        _ => cut,
    };
    format!("{cut}…")
}

/// Sentences of a transcript: cut after 。！？, and after . ! ? followed by a space (not in 3.5).
fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        if matches!(c, '。' | '！' | '？') || matches!(c, '.' | '!' | '?') && next_is_space {
            let end = i + c.len_utf8();
            out.push(text[start..end].trim().to_string());
            start = end;
        }
    }
    out.push(text[start..].trim().to_string());
    out.retain(|s| s.chars().any(char::is_alphanumeric));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::{Agent, Caller};

    fn context(language: &str, ivr_intent: Option<&str>) -> CallContext {
        CallContext {
            language: language.to_string(),
            ivr_intent: ivr_intent.map(str::to_string),
            queue: None,
            variables: [("order_number".to_string(), "12345678".to_string())].into(),
        }
    }

    fn finals(lines: &[(Channel, &str)]) -> Vec<(Channel, String)> {
        lines.iter().map(|(c, t)| (*c, t.to_string())).collect()
    }

    #[test]
    fn an_english_call_is_summarised_from_its_own_sentences() {
        let kb = Knowledge::embedded().unwrap();
        let call = finals(&[
            (Agent, "Thank you for calling, how can I help?"),
            (
                Caller,
                "Hi. I ordered a kettle two weeks ago and it still hasn't arrived. It was meant to come last Monday.",
            ),
            (
                Agent,
                "I'm sorry about that. I can see the courier lost the parcel.",
            ),
            (
                Agent,
                "I've gone ahead and arranged a replacement with express shipping. I'll also email you the new tracking number.",
            ),
            (Agent, "It should arrive within 2 business days."),
            (Caller, "That's great, thank you so much."),
        ]);
        let ctx = context("en", Some("orders"));
        let s = summarise(
            &kb,
            &SummaryInput {
                context: &ctx,
                finals: &call,
                wrapup: None,
            },
        );
        assert_eq!(s.intent.as_deref(), Some("order_tracking"));
        assert_eq!(s.reason.as_deref(), Some("Track the order (late delivery)"));
        assert_eq!(
            s.caller_said.as_deref(),
            Some("I ordered a kettle two weeks ago and it still hasn't arrived.")
        );
        assert_eq!(
            s.actions,
            ["I've gone ahead and arranged a replacement with express shipping."]
        );
        assert_eq!(
            s.follow_ups,
            [
                "I'll also email you the new tracking number.",
                "It should arrive within 2 business days."
            ]
        );
        assert_eq!((s.outcome.as_str(), s.outcome_inferred), ("Resolved", true));
        assert_eq!(s.data["order_number"], "12345678");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["intent"], "order_tracking");
    }

    #[test]
    fn the_wrap_up_wins_and_a_japanese_call_works_the_same() {
        let kb = Knowledge::embedded().unwrap();
        let call = finals(&[
            (
                Caller,
                "すみません、同じ注文で二重に請求されているみたいなんです。",
            ),
            (Agent, "ご不便をおかけしております。重複分を返金いたしました。"),
            (Agent, "3営業日以内にカードに戻ります。"),
            (Caller, "分かりました。"),
        ]);
        let ctx = context("ja", Some("billing"));
        let wrapup = WrapUp {
            reason: String::new(),
            disposition: "resolved".into(),
            notes: "refund ref R-1".into(),
        };
        let s = summarise(
            &kb,
            &SummaryInput {
                context: &ctx,
                finals: &call,
                wrapup: Some(&wrapup),
            },
        );
        assert_eq!(s.intent.as_deref(), Some("billing_charge"));
        assert_eq!(s.reason.as_deref(), Some("請求の確認・二重請求"));
        assert_eq!(s.actions, ["重複分を返金いたしました。"]);
        assert_eq!(s.follow_ups, ["3営業日以内にカードに戻ります。"]);
        assert_eq!((s.outcome.as_str(), s.outcome_inferred), ("resolved", false));
    }

    #[test]
    fn outcomes_are_inferred_in_order_and_an_empty_call_is_not_a_crash() {
        let kb = Knowledge::embedded().unwrap();
        let ctx = context("en", None);
        let summary = |lines: &[(Channel, &str)]| {
            let call = finals(lines);
            summarise(
                &kb,
                &SummaryInput {
                    context: &ctx,
                    finals: &call,
                    wrapup: None,
                },
            )
        };
        let s = summary(&[
            (Caller, "My password doesn't work."),
            (Agent, "Let me transfer you to my supervisor."),
        ]);
        assert_eq!(s.outcome, "Escalated to a supervisor");
        let s = summary(&[
            (Caller, "I can't log in."),
            (Agent, "I've reset it."),
            (Caller, "It's still not working."),
        ]);
        assert_eq!(s.outcome, "Not resolved");
        let s = summary(&[
            (Caller, "Can I get a receipt?"),
            (Agent, "I'll get back to you on that."),
        ]);
        assert_eq!(s.outcome, "Follow-up pending");
        let s = summary(&[]);
        assert_eq!(
            (s.intent, s.reason, s.outcome.as_str()),
            (None, None, "Not determined")
        );
        let long = "word ".repeat(100);
        assert!(shorten(&long).chars().count() <= MAX_CHARS);
    }

    #[test]
    fn sentences_split_at_their_ends_only() {
        assert_eq!(
            split_sentences("It costs 3.5 dollars. Ok! 本当ですか？はい。"),
            ["It costs 3.5 dollars.", "Ok!", "本当ですか？", "はい。"]
        );
    }

    #[test]
    fn bad_cues_are_named() {
        let err = SummaryCues::parse(
            "[actions]\nen = [\"(\"]\n[follow_ups]\n[[outcome]]\nid = \"x\"\nlabel = { en = \"X\" }\nwhen = \"actions\"\n",
        )
        .unwrap_err();
        assert!(
            err.problems[0].contains("`actions.en` \"(\" does not compile"),
            "{err}"
        );
        assert!(
            err.problems[1].contains("outcome `x`: the last outcome is the default"),
            "{err}"
        );
    }
}
