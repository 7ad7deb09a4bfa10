//! The engine in virtual time: each test reads like the call it walks.

use super::*;
use serde_json::json;

fn flow(v: serde_json::Value) -> Arc<Flow> {
    Arc::new(serde_json::from_value(v).expect("test flow parses"))
}

/// A small support line: welcome → menu (1 orders → order number → queue, 2 billing, 3 hours) with
/// an agent queue, a voicemail and a lookup.
fn support() -> Arc<Flow> {
    flow(json!({
        "id": "t", "start": "welcome", "languages": ["en", "ja"], "agent_node": "agent",
        "schedules": {"office": {"timezone": "Asia/Tokyo",
            "hours": {"mon": ["09:00-18:00"], "tue": ["09:00-18:00"]}, "holidays": ["2026-12-29"]}},
        "nodes": {
            "welcome": {"type": "play", "prompt": {"en": "Welcome.", "ja": "ようこそ。"}, "next": "main"},
            "main": {"type": "menu", "prompt": {"en": "Press 1 for orders, 2 for billing.", "ja": "注文は1、請求は2。"},
                "no_match_prompt": {"en": "Sorry.", "ja": "すみません。"},
                "no_input_prompt": {"en": "I did not hear you.", "ja": "聞こえませんでした。"},
                "options": [
                    {"key": "1", "intent": "orders", "phrases": {"en": ["order", "delivery"], "ja": ["注文"]}, "next": "order_number"},
                    {"key": "2", "intent": "billing", "phrases": {"en": ["bill", "invoice"], "ja": ["請求"]}, "next": "billing"},
                    {"key": "3", "next": "hours"}
                ]},
            "order_number": {"type": "collect", "prompt": {"en": "Order number?", "ja": "注文番号？"},
                "var": "order_number", "min_digits": 6, "max_digits": 8, "pattern": "^[0-9]+$",
                "invalid_prompt": {"en": "Invalid.", "ja": "無効です。"}, "next": "find_order"},
            "find_order": {"type": "lookup", "url": "http://crm.test/orders/{order_number}?from={caller}",
                "timeout_ms": 1000, "assign": {"order_status": "/status", "items": "/items"},
                "next": "orders", "fallback": "orders"},
            "orders": {"type": "queue", "queue": "orders", "skills": ["orders"],
                "prompt": {"en": "Connecting you.", "ja": "おつなぎします。"}},
            "billing": {"type": "queue", "queue": "billing", "skills": ["billing"]},
            "hours": {"type": "branch", "cases": [{"when": {"open": "office"}, "next": "agent"}], "default": "closed"},
            "closed": {"type": "voicemail", "prompt": {"en": "Leave a message.", "ja": "メッセージをどうぞ。"},
                "max_s": 30, "goodbye": {"en": "Goodbye.", "ja": "さようなら。"}},
            "agent": {"type": "queue", "queue": "general", "skills": []}
        }
    }))
}

/// A call driven in virtual time, remembering everything the engine asked for.
struct Call {
    ivr: Ivr,
    t: Duration,
    wall: jiff::Timestamp,
    actions: Vec<Action>,
}

impl Call {
    fn new(flow: Arc<Flow>) -> Call {
        // Tuesday 2026-12-01 10:00 in Tokyo: the office is open.
        Call::at(flow, "2026-12-01T01:00:00Z")
    }

    fn at(flow: Arc<Flow>, wall: &str) -> Call {
        let mut c = Call {
            ivr: Ivr::new(flow, 7, "sip:alice@example.com"),
            t: Duration::ZERO,
            wall: wall.parse().unwrap(),
            actions: vec![],
        };
        let a = c.ivr.start(c.now());
        c.actions.extend(a);
        c
    }

    fn now(&self) -> Now {
        Now {
            elapsed: self.t,
            wall: self.wall,
        }
    }

    fn run(&mut self, f: impl FnOnce(&mut Ivr, Now) -> Vec<Action>) -> Vec<Action> {
        let now = self.now();
        let a = f(&mut self.ivr, now);
        self.actions.extend(a.clone());
        a
    }

    /// Lets `secs` pass in 100 ms ticks.
    fn wait(&mut self, secs: f64) {
        let end = self.t + Duration::from_secs_f64(secs);
        while self.t < end {
            self.t += Duration::from_millis(100);
            self.run(|i, n| i.tick(n));
        }
    }

    fn done(&mut self) -> Vec<Action> {
        self.t += Duration::from_millis(500);
        self.run(|i, n| i.prompt_done(n))
    }

    fn keys(&mut self, keys: &str) {
        for k in keys.chars() {
            self.t += Duration::from_millis(200);
            self.run(|i, n| i.key(k, n));
        }
    }

    fn say(&mut self, text: &str) {
        self.t += Duration::from_millis(300);
        self.run(|i, n| i.speech(text, n));
    }

    fn path(&self) -> Vec<&str> {
        self.ivr.record().path.iter().map(|s| s.node.as_str()).collect()
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.ivr.record().vars.get(name).map(String::as_str)
    }

    /// Texts of every prompt played so far.
    fn heard(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Play {
                    source: PromptSource::Text(t),
                    ..
                } => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn queued(&self) -> Option<(String, Vec<String>)> {
        self.actions.iter().find_map(|a| match a {
            Action::Queue { queue, skills, .. } => Some((queue.clone(), skills.clone())),
            _ => None,
        })
    }

    fn events(&self) -> Vec<&EventKind> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn keys_walk_to_a_queue_with_the_collected_number() {
    let mut c = Call::new(support());
    assert_eq!(c.heard(), ["Welcome."]);
    c.done();
    assert_eq!(c.heard().last().unwrap(), "Press 1 for orders, 2 for billing.");
    c.done();
    c.keys("1");
    assert_eq!(c.heard().last().unwrap(), "Order number?");
    c.keys("123456#");
    assert_eq!(c.var("order_number"), Some("123456"));
    assert_eq!(c.var("intent"), Some("orders"));
    let lookup = c.actions.iter().find_map(|a| match a {
        Action::Lookup { url, timeout, .. } => Some((url.clone(), *timeout)),
        _ => None,
    });
    assert_eq!(
        lookup,
        Some((
            "http://crm.test/orders/123456?from=sip%3Aalice%40example.com".to_string(),
            Duration::from_secs(1)
        ))
    );
    c.run(|i, n| i.lookup_done(Ok(json!({"status": "shipped", "items": 3})), n));
    assert_eq!(c.var("order_status"), Some("shipped"));
    assert_eq!(c.var("items"), Some("3"));
    assert_eq!(c.heard().last().unwrap(), "Connecting you.");
    assert!(c.queued().is_none(), "queued only after the prompt");
    c.done();
    assert_eq!(c.queued(), Some(("orders".into(), vec!["orders".into()])));
    assert_eq!(
        c.path(),
        ["welcome", "main", "order_number", "find_order", "orders"]
    );
    let outcome = c.ivr.record().outcome.clone().unwrap();
    assert_eq!(
        (outcome.kind.as_str(), outcome.target.as_deref()),
        ("queue", Some("orders"))
    );
    assert!(c.ivr.finished());
    let queued = c.events().into_iter().find_map(|e| match e {
        EventKind::CallQueued { vars, path, .. } => Some((vars.clone(), path.clone())),
        _ => None,
    });
    let (vars, path) = queued.expect("CallQueued event");
    assert_eq!(vars.get("order_number").map(String::as_str), Some("123456"));
    assert_eq!(
        vars.get("caller").map(String::as_str),
        Some("sip:alice@example.com")
    );
    assert_eq!(path.len(), 5);
}

#[test]
fn silence_ends_with_a_human_not_a_hangup() {
    let mut c = Call::new(support());
    c.done();
    c.done();
    // Prompt, then 5 s of nothing, three times: two retries, then the agent queue.
    c.wait(5.1);
    assert_eq!(c.heard()[2..], ["I did not hear you."]);
    c.done();
    assert_eq!(
        c.heard()[2..],
        ["I did not hear you.", "Press 1 for orders, 2 for billing."]
    );
    c.done();
    c.wait(5.1);
    c.done();
    c.done();
    assert!(c.queued().is_none());
    c.wait(5.1);
    assert_eq!(c.queued(), Some(("general".into(), vec![])));
    assert_eq!(c.var("ivr_exit"), Some("no_input"));
    let no_inputs = c
        .events()
        .iter()
        .filter(|e| matches!(e, EventKind::IvrNoInput { .. }))
        .count();
    assert_eq!(no_inputs, 3);
    assert!(!c.actions.iter().any(|a| matches!(a, Action::Hangup { .. })));
}

#[test]
fn wrong_keys_end_with_a_human() {
    let mut c = Call::new(support());
    c.done();
    c.done();
    for _ in 0..3 {
        c.keys("9");
    }
    assert_eq!(c.queued(), Some(("general".into(), vec![])));
    assert_eq!(c.var("ivr_exit"), Some("no_match"));
    assert_eq!(c.heard().iter().filter(|h| *h == "Sorry.").count(), 2);
}

#[test]
fn zero_reaches_a_human_even_during_the_prompt() {
    let mut c = Call::new(support());
    c.done();
    c.keys("0");
    assert!(c.actions.contains(&Action::StopPlayback));
    assert_eq!(c.queued(), Some(("general".into(), vec![])));
    assert_eq!(c.var("ivr_exit"), Some("agent_key"));
}

#[test]
fn type_ahead_during_the_welcome() {
    let mut c = Call::new(support());
    c.keys("2");
    assert_eq!(c.queued(), Some(("billing".into(), vec!["billing".into()])));
    assert_eq!(c.path(), ["welcome", "main", "billing"]);
}

#[test]
fn a_spoken_reason_picks_the_option_and_is_kept() {
    let mut c = Call::new(support());
    c.done();
    c.say("Hi, I want to check my order, it hasn't arrived.");
    assert_eq!(c.heard().last().unwrap(), "Order number?");
    assert_eq!(c.var("intent"), Some("orders"));
    assert_eq!(
        c.var("spoken_reason"),
        Some("Hi, I want to check my order, it hasn't arrived.")
    );
    assert!(c.events().iter().any(|e| matches!(e,
        EventKind::IntentDetected { intent, phrase, .. } if intent == "orders" && phrase == "order")));
}

#[test]
fn asking_for_a_person_in_japanese() {
    let f = support();
    let mut json = serde_json::to_value(&*f).unwrap();
    json["nodes"]["set_ja"] = json!({"type": "language", "language": "ja", "next": "main"});
    json["start"] = json!("set_ja");
    let mut c = Call::new(flow(json));
    assert_eq!(c.heard(), ["注文は1、請求は2。"]);
    c.say("オペレーターとお話ししたいです。");
    assert_eq!(c.queued(), Some(("general".into(), vec![])));
    assert_eq!(c.ivr.language(), "ja");
    assert!(
        c.events()
            .iter()
            .any(|e| matches!(e, EventKind::LanguageChanged { language } if language == "ja"))
    );
}

#[test]
fn unmatched_speech_counts_as_no_match() {
    let mut c = Call::new(support());
    c.done();
    c.done();
    c.say("The weather is nice today.");
    assert_eq!(c.heard().last().unwrap(), "Sorry.");
    c.done();
    assert_eq!(c.heard().last().unwrap(), "Press 1 for orders, 2 for billing.");
    assert!(
        c.events()
            .iter()
            .any(|e| matches!(e, EventKind::IvrNoMatch { attempt: 1, .. }))
    );
}

#[test]
fn invalid_digits_are_asked_again() {
    let mut c = Call::new(support());
    c.done();
    c.keys("1");
    c.done();
    c.keys("12#");
    assert_eq!(c.heard().last().unwrap(), "Invalid.");
    assert_eq!(c.var("order_number"), None);
    c.done();
    assert_eq!(c.heard().last().unwrap(), "Order number?");
    c.done();
    c.keys("87654321"); // max_digits ends the input without a terminator
    assert_eq!(c.var("order_number"), Some("87654321"));
}

#[test]
fn digits_time_out_between_keys() {
    let mut c = Call::new(support());
    c.done();
    c.keys("1");
    c.done();
    c.keys("1234567");
    c.wait(5.1);
    assert_eq!(
        c.var("order_number"),
        Some("1234567"),
        "enough digits: accepted at the timeout"
    );
}

#[test]
fn luhn_and_sensitive_digits() {
    let f = flow(json!({
        "id": "pay", "start": "card", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "card": {"type": "collect", "prompt": {"en": "Card number?"}, "var": "card",
                "min_digits": 16, "max_digits": 16, "check": "luhn", "sensitive": true, "next": "agent"},
            "agent": {"type": "queue", "queue": "payments"}
        }
    }));
    let mut c = Call::new(f);
    c.done();
    assert!(c.ivr.is_sensitive());
    c.keys("4111111111111112");
    assert_eq!(c.var("card"), None, "fails the check digit");
    c.done();
    c.keys("4111111111111111");
    assert_eq!(c.var("card"), Some("••••••••••••1111"));
    let shown: Vec<_> = c
        .events()
        .iter()
        .filter_map(|e| match e {
            EventKind::IvrVariable { value, .. } => Some(value.clone()),
            EventKind::IvrNoMatch { input, .. } => Some(input.clone()),
            _ => None,
        })
        .collect();
    assert!(shown.iter().all(|v| !v.contains("41111111")), "{shown:?}");
    assert!(luhn("79927398713") && !luhn("79927398710") && !luhn("") && !luhn("12a"));
}

#[test]
fn opening_hours_in_the_flows_time_zone() {
    // Tuesday 10:00 in Tokyo: open → agent.
    let mut open = Call::new(support());
    open.done();
    open.done();
    open.keys("3");
    assert_eq!(open.queued(), Some(("general".into(), vec![])));
    // Tuesday 20:00 in Tokyo: closed → voicemail.
    let mut closed = Call::at(support(), "2026-12-01T11:00:00Z");
    closed.done();
    closed.done();
    closed.keys("3");
    assert_eq!(closed.path().last(), Some(&"closed"));
    assert_eq!(closed.heard().last().unwrap(), "Leave a message.");
    // A holiday (Tuesday 2026-12-29, 10:00): closed.
    let mut holiday = Call::at(support(), "2026-12-29T01:00:00Z");
    holiday.done();
    holiday.done();
    holiday.keys("3");
    assert_eq!(holiday.path().last(), Some(&"closed"));
}

#[test]
fn voicemail_records_until_pound_then_says_goodbye() {
    let mut c = Call::at(support(), "2026-12-01T11:00:00Z");
    c.done();
    c.done();
    c.keys("3");
    let a = c.done();
    assert_eq!(
        a,
        vec![Action::StartRecording {
            max: Duration::from_secs(30)
        }]
    );
    c.wait(3.0);
    c.keys("#");
    assert!(c.actions.contains(&Action::StopRecording));
    assert_eq!(c.heard().last().unwrap(), "Goodbye.");
    let a = c.done();
    assert_eq!(
        a,
        vec![Action::Hangup {
            cause: "voicemail".into()
        }]
    );
    assert_eq!(c.ivr.record().outcome.as_ref().unwrap().kind, "voicemail");
}

#[test]
fn voicemail_stops_at_its_longest() {
    let mut c = Call::at(support(), "2026-12-01T11:00:00Z");
    c.done();
    c.done();
    c.keys("3");
    c.done();
    c.wait(29.5);
    assert!(!c.actions.contains(&Action::StopRecording));
    c.wait(1.0);
    assert!(c.actions.contains(&Action::StopRecording));
}

#[test]
fn a_lookup_that_fails_or_never_answers_takes_the_fallback() {
    for answer in [Some(Err("connection refused".to_string())), None] {
        let mut c = Call::new(support());
        c.done();
        c.keys("1");
        c.keys("123456#");
        match answer {
            Some(r) => {
                c.run(|i, n| i.lookup_done(r, n));
            }
            None => c.wait(2.1),
        }
        assert_eq!(c.path().last(), Some(&"orders"));
        assert!(c.var("lookup_error").is_some());
        assert_eq!(c.var("order_status"), None);
    }
}

#[test]
fn a_loop_of_instant_nodes_reaches_a_human() {
    let f = flow(json!({
        "id": "loop", "start": "a", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "a": {"type": "set", "vars": {"x": "1"}, "next": "b"},
            "b": {"type": "branch", "cases": [], "default": "a"},
            "agent": {"type": "queue", "queue": "general"}
        }
    }));
    let c = Call::new(f);
    assert_eq!(c.queued(), Some(("general".into(), vec![])));
}

#[test]
fn a_missing_node_reaches_a_human() {
    let f = flow(json!({
        "id": "m", "start": "menu", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "menu": {"type": "menu", "prompt": {"en": "Press 1."}, "options": [{"key": "1", "next": "gone"}]},
            "agent": {"type": "queue", "queue": "general"}
        }
    }));
    let mut c = Call::new(f);
    c.keys("1");
    assert_eq!(c.queued(), Some(("general".into(), vec![])));
}

#[test]
fn a_language_choice_is_said_in_every_language() {
    let f = flow(json!({
        "id": "l", "start": "lang", "languages": ["en", "ja"], "agent_node": "agent",
        "nodes": {
            "lang": {"type": "menu", "all_languages": true,
                "prompt": {"en": "For English, press 1.", "ja": "日本語は2を押してください。"},
                "options": [{"key": "1", "next": "en"}, {"key": "2", "next": "ja"}], "on_failure": "en"},
            "en": {"type": "language", "language": "en", "next": "agent"},
            "ja": {"type": "language", "language": "ja", "next": "agent"},
            "agent": {"type": "queue", "queue": "general", "prompt": {"en": "Please hold.", "ja": "お待ちください。"}}
        }
    }));
    let mut c = Call::new(f);
    assert_eq!(c.heard(), ["For English, press 1."]);
    c.done();
    assert_eq!(
        c.heard(),
        ["For English, press 1.", "日本語は2を押してください。"]
    );
    c.done();
    c.keys("2");
    assert_eq!(c.heard().last().unwrap(), "お待ちください。");
}

#[test]
fn hangup_and_transfer_nodes() {
    let f = flow(json!({
        "id": "h", "start": "menu", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "menu": {"type": "menu", "prompt": {"en": "1 or 2."},
                "options": [{"key": "1", "next": "bye"}, {"key": "2", "next": "out"}]},
            "bye": {"type": "hangup", "prompt": {"en": "Bye."}},
            "out": {"type": "transfer", "target": "sip:sales@example.com"},
            "agent": {"type": "queue", "queue": "general"}
        }
    }));
    let mut c = Call::new(f.clone());
    c.keys("1");
    assert_eq!(
        c.done(),
        vec![Action::Hangup {
            cause: "ivr-hangup".into()
        }]
    );
    let mut c = Call::new(f);
    c.keys("2");
    assert!(c.actions.contains(&Action::Transfer {
        target: "sip:sales@example.com".into()
    }));
    assert_eq!(c.ivr.record().outcome.as_ref().unwrap().kind, "transfer");
    let a = c.run(|i, n| i.transfer_done(Ok(()), n));
    assert_eq!(
        a,
        vec![Action::Hangup {
            cause: "transferred".into()
        }]
    );
}

#[test]
fn a_failed_transfer_reaches_a_human_here() {
    let f = flow(json!({
        "id": "h", "start": "out", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "out": {"type": "transfer", "target": "sip:sales@example.com"},
            "agent": {"type": "queue", "queue": "general"}
        }
    }));
    let mut c = Call::new(f);
    c.run(|i, n| i.transfer_done(Err("the transfer target answered 486".into()), n));
    assert_eq!(c.queued(), Some(("general".into(), vec![])));
    assert_eq!(c.var("transfer_error"), Some("the transfer target answered 486"));
}

/// A caller who keyed their way to the orders queue (order number 123456, the lookup found nothing).
fn queued_for_orders() -> Call {
    let mut c = Call::new(support());
    c.done();
    c.keys("1");
    c.keys("123456#");
    c.run(|i, n| i.lookup_done(Ok(json!({})), n));
    c.done();
    c
}

#[test]
fn a_queued_caller_hears_the_prompt_again_while_waiting() {
    let mut c = queued_for_orders();
    let before = c.heard().len();
    c.wait(31.0);
    assert_eq!(c.heard().len(), before + 1);
    assert_eq!(c.heard().last().unwrap(), "Connecting you.");
}

#[test]
fn a_queue_overflows_only_where_the_flow_says() {
    let queued_overflow = |c: &Call| {
        c.actions.iter().find_map(|a| match a {
            Action::Queue { overflow, .. } => Some(*overflow),
            _ => None,
        })
    };
    // orders has no overflow: the caller waits, and the engine says so.
    let mut c = queued_for_orders();
    assert_eq!(queued_overflow(&c), Some(false));
    let now = c.now();
    assert!(c.ivr.overflow(now).is_none());

    // billing overflows to the voicemail.
    let mut v: serde_json::Value = serde_json::to_value(&*support()).unwrap();
    v["nodes"]["billing"]["overflow"] = json!("closed");
    let mut c = Call::new(flow(v));
    c.done();
    c.keys("2");
    assert_eq!(queued_overflow(&c), Some(true));
    c.run(|i, n| i.overflow(n).expect("the flow has an overflow"));
    assert_eq!(c.path().last(), Some(&"closed"));
    assert_eq!(c.heard().last().unwrap(), "Leave a message.");
    assert_eq!(c.var("ivr_exit"), Some("overflow"));
}
