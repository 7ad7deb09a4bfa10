//! The assistant as the call's task drives it: transcript events in, outputs out.

use super::*;
use Channel::{Agent, Caller};
use TranscriptKind::{Final, Partial};

fn assistant(language: &str, ivr: Option<&str>) -> Assistant {
    let context = CallContext {
        language: language.into(),
        ivr_intent: ivr.map(str::to_string),
        queue: ivr.map(str::to_string),
        variables: [("order_number".to_string(), "123456".to_string())].into(),
    };
    Assistant::new(Knowledge::embedded().unwrap(), context)
}

fn suggestions(out: &[Output]) -> Option<&Vec<Suggestion>> {
    out.iter().find_map(|o| match o {
        Output::Suggestions(s) => Some(s),
        _ => None,
    })
}

/// Feeds Whisper-like partials growing word by word, then the final; the top suggestion after each
/// event that sent a list.
fn speak(a: &mut Assistant, id: u64, text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    let mut tops = Vec::new();
    for n in 1..=words.len() {
        let out = a.on_transcript(Caller, Partial, id, &words[..n].join(" "));
        tops.extend(suggestions(&out).map(|s| s[0].intent.clone()));
    }
    let out = a.on_transcript(Caller, Final, id, &format!("{text}."));
    tops.extend(suggestions(&out).map(|s| s[0].intent.clone()));
    tops
}

#[test]
fn partials_do_not_flicker_and_the_suggestion_follows_the_caller() {
    let mut a = assistant("en", Some("orders"));
    let text = "so um I ordered a kettle two weeks ago and it still hasn't arrived";
    let tops = speak(&mut a, 1, text);
    let events = text.split(' ').count() + 1;
    assert!(
        tops.len() <= 3,
        "{} lists for {events} events: {tops:?}",
        tops.len()
    );
    assert_eq!(
        tops.last().map(String::as_str),
        Some("order_tracking"),
        "{tops:?}"
    );
    // Never back to a suggestion that was replaced (A → B → A).
    for (i, t) in tops.iter().enumerate() {
        let replaced = tops[..i].iter().any(|p| p == t) && tops[i - 1] != *t;
        assert!(!replaced, "flicker: {tops:?}");
    }
    // The caller moves on to something else: the new need takes over once it clearly wins.
    let tops = speak(
        &mut a,
        2,
        "oh and also I have moved house so can you send it to my new address instead",
    );
    assert_eq!(
        tops.last().map(String::as_str),
        Some("address_change"),
        "{tops:?}"
    );
}

#[test]
fn a_suggestion_shows_what_the_ivr_already_knows() {
    let mut a = assistant("en", Some("orders"));
    let out = a.on_transcript(
        Caller,
        Final,
        1,
        "Hi, my parcel still hasn't arrived, it's over a week late.",
    );
    let list = suggestions(&out).expect("a suggestion");
    let s = &list[0];
    assert_eq!(s.intent, "order_tracking");
    assert_eq!(s.title, "Track the order (late delivery)");
    assert!(
        s.triggered_by.contains(&"parcel".to_string()),
        "{:?}",
        s.triggered_by
    );
    assert!(s.confidence > 0.35 && s.confidence <= 1.0, "{}", s.confidence);
    let order = s.data_to_check.iter().find(|d| d.name == "order_number").unwrap();
    assert_eq!(order.value.as_deref(), Some("123456"));
    let json = serde_json::to_value(list).unwrap();
    assert_eq!(json[0]["data_to_check"][0]["value"], "123456");
}

#[test]
fn the_ivr_choice_decides_an_ambiguous_request() {
    let top = |ivr| {
        let mut a = assistant("en", Some(ivr));
        let out = a.on_transcript(Caller, Final, 1, "I'd like to cancel, please.");
        suggestions(&out).map(|s| s[0].intent.clone())
    };
    assert_eq!(top("orders").as_deref(), Some("cancel_order"));
    assert_eq!(top("billing").as_deref(), Some("subscription"));
}

#[test]
fn a_japanese_caller_gets_japanese_suggestions() {
    let mut a = assistant("ja-JP", Some("orders"));
    let out = a.on_transcript(Caller, Final, 1, "あの、注文した荷物がまだ届かないんですけど。");
    let s = &suggestions(&out).expect("a suggestion")[0];
    assert_eq!(s.intent, "order_tracking");
    assert_eq!(s.title, "注文の配送状況の確認（配送遅延）");
    assert!(
        s.triggered_by.iter().any(|w| w.contains("荷物")),
        "{:?}",
        s.triggered_by
    );
    assert!(s.next_steps[0].contains("注文番号"));
}

#[test]
fn sentiment_is_sent_for_notable_finals_only() {
    let mut a = assistant("en", None);
    let neutral = a.on_transcript(Caller, Final, 1, "My order number is 123456.");
    assert!(
        !neutral.iter().any(|o| matches!(o, Output::Sentiment { .. })),
        "{neutral:?}"
    );
    let angry = a.on_transcript(
        Caller,
        Final,
        2,
        "Honestly this is ridiculous, I'm really not happy.",
    );
    let (score, trend) = angry
        .iter()
        .find_map(|o| match o {
            Output::Sentiment {
                utterance_id: 2,
                score,
                trend,
            } => Some((*score, *trend)),
            _ => None,
        })
        .expect("a sentiment");
    assert!(score < -0.4 && trend < 0.0 && trend > score, "{score} {trend}");
    // Partials and the agent's words do not move the caller's sentiment.
    assert!(
        a.on_transcript(Caller, Partial, 3, "this is terrible")
            .iter()
            .all(|o| !matches!(o, Output::Sentiment { .. }))
    );
    assert!(a.on_transcript(Agent, Final, 4, "I'm terribly sorry.").is_empty());
}

#[test]
fn a_card_number_raises_one_masked_alert_and_never_reaches_the_summary() {
    let mut a = assistant("en", Some("billing"));
    let out = a.on_transcript(Caller, Partial, 1, "my card number is 4111 1111 1111 1111");
    let alert = out
        .iter()
        .find_map(|o| match o {
            Output::Alert(al) if al.rule == "card_number" => Some(al.clone()),
            _ => None,
        })
        .expect("a card alert");
    assert_eq!(alert.matched, "•••• •••• •••• 1111");
    assert_eq!(
        (alert.severity, alert.utterance_id, alert.channel),
        (Severity::Critical, 1, Caller)
    );
    let again = a.on_transcript(Caller, Final, 1, "My card number is 4111 1111 1111 1111.");
    assert!(!again.iter().any(|o| matches!(o, Output::Alert(_))), "{again:?}");
    a.on_transcript(
        Agent,
        Final,
        2,
        "Thank you. I've updated the card on your account.",
    );
    let summary = serde_json::to_string(&a.summary(None)).unwrap();
    assert!(!summary.contains("4111 1111"), "{summary}");
}

#[test]
fn the_summary_covers_both_sides() {
    let mut a = assistant("en", Some("orders"));
    a.on_transcript(
        Caller,
        Final,
        1,
        "I ordered a lamp and it arrived broken, the glass was shattered.",
    );
    a.on_transcript(
        Agent,
        Final,
        1,
        "I'm so sorry. I've arranged a replacement for you.",
    );
    a.on_transcript(
        Agent,
        Final,
        2,
        "You'll get an email with the courier details within 2 days.",
    );
    a.on_transcript(Caller, Final, 2, "That's perfect, thank you.");
    let wrapup = WrapUp {
        reason: "Damaged lamp".into(),
        disposition: "resolved".into(),
        notes: String::new(),
    };
    let s = a.summary(Some(&wrapup));
    assert_eq!(s.intent.as_deref(), Some("damaged_item"));
    assert_eq!(s.reason.as_deref(), Some("Damaged lamp"));
    assert_eq!(s.actions, ["I've arranged a replacement for you."]);
    assert_eq!(
        s.follow_ups,
        ["You'll get an email with the courier details within 2 days."]
    );
    assert_eq!((s.outcome.as_str(), s.outcome_inferred), ("resolved", false));
    assert_eq!(s.data.get("order_number").map(String::as_str), Some("123456"));
}

#[test]
fn empty_and_odd_input_is_no_crash() {
    let mut a = assistant("", None);
    assert!(a.on_transcript(Caller, Partial, 1, "   ").is_empty());
    assert!(a.on_transcript(Caller, Final, 1, "").is_empty());
    assert!(a.on_transcript(Caller, Final, 2, "••• ？？ …").is_empty());
    assert!(a.on_transcript(Caller, Final, 3, &"a".repeat(10_000)).is_empty());
    let s = a.summary(None);
    assert_eq!(s.intent, None);
}
