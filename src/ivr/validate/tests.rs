//! One test per rule at least, each on the node and the message; the realistic fixture passes; the
//! published JSON Schema and the error-placing shapes stay equal to flow.rs.

use super::parse::{FLOW, Fields, NODES};
use super::*;
use crate::ivr::flow::{Condition, Node};
use serde_json::{Value, json};

fn ctx() -> Context {
    Context {
        tts_languages: ["en", "ja"].map(String::from).into(),
        wav_prompts: ["welcome_ja", "hold_music"].map(String::from).into(),
    }
}

/// A valid flow around `nodes`: it starts at `start` and has an `agent` queue.
fn flow(nodes: Value) -> Value {
    let mut all = json!({ "agent": { "type": "queue", "queue": "support" } });
    all.as_object_mut()
        .unwrap()
        .extend(nodes.as_object().unwrap().clone());
    json!({ "id": "t", "start": "start", "languages": ["en"], "agent_node": "agent", "nodes": all })
}

fn problems(json: Value) -> Vec<Issue> {
    match validate(&json, &ctx()) {
        Ok(_) => panic!("the flow passed: {json:#}"),
        Err(issues) => issues,
    }
}

/// The issues contain one printed as `at` (`node: path`) and then a message with `fragment`.
#[track_caller]
fn has(issues: &[Issue], at: &str, fragment: &str) {
    let found = issues.iter().map(Issue::to_string).any(|line| {
        line.strip_prefix(at)
            .and_then(|rest| rest.strip_prefix(": "))
            .is_some_and(|message| message.contains(fragment))
    });
    assert!(found, "no issue {at}: ~{fragment:?} in:\n{}", listing(issues));
}

fn listing(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("{i}\n")).collect()
}

fn play(next: &str) -> Value {
    json!({ "type": "play", "prompt": { "en": "Hello." }, "next": next })
}

fn hangup() -> Value {
    json!({ "type": "hangup" })
}

fn menu(options: Value) -> Value {
    json!({ "type": "menu", "prompt": { "en": "Choose." }, "options": options })
}

#[test]
fn the_realistic_flow_is_valid() {
    let json: Value = serde_json::from_str(include_str!("../../../tests/ivr/valid.json")).unwrap();
    let flow = validate(&json, &ctx()).unwrap_or_else(|i| panic!("{}", listing(&i)));
    assert_eq!(flow.nodes.len(), 14);
    assert_eq!(flow.start, "welcome");
}

#[test]
fn the_demo_flow_is_valid() {
    let json: Value = serde_json::from_str(include_str!("../../../sip-config/ivr/support.json")).unwrap();
    validate(&json, &ctx()).unwrap_or_else(|i| panic!("{}", listing(&i)));
}

#[test]
fn the_smallest_flow_is_valid() {
    let flow = validate(&flow(json!({ "start": play("agent") })), &ctx()).unwrap();
    assert_eq!(flow.nodes.len(), 2);
}

// 1. Schema errors, with their path, in every node at once.

#[test]
fn schema_errors_in_several_nodes_are_all_reported() {
    let issues = problems(flow(json!({
        "start": { "type": "play", "prompt": { "en": "Hi." }, "next": "m", "colour": "red" },
        "m": { "type": "menu", "prompt": { "en": "Choose." }, "options": [{ "key": "1", "next": "agent" }],
               "timeout_s": "soon", "speech": 1 },
        "x": { "type": "plai", "next": "agent" },
        "y": { "type": "branch", "cases": [{ "when": { "equals": { "var": "a" } }, "next": "agent" }],
               "default": "agent" },
        "z": { "type": "play", "prompt": { "en": 5 }, "next": "agent" },
        "w": { "type": "play", "prompt": { "en": "Hi." } },
        "v": [1]
    })));
    has(
        &issues,
        "start: nodes.start.colour",
        "unknown field \"colour\" (expected one of",
    );
    has(
        &issues,
        "m: nodes.m.timeout_s",
        "invalid type: string \"soon\", expected u32",
    );
    has(
        &issues,
        "m: nodes.m.speech",
        "invalid type: integer 1, expected a boolean",
    );
    has(
        &issues,
        "x: nodes.x.type",
        "unknown node type \"plai\" (one of play, menu,",
    );
    has(
        &issues,
        "y: nodes.y.cases[0].when.equals.value",
        "the required field \"value\" is missing",
    );
    has(
        &issues,
        "z: nodes.z.prompt.en",
        "a prompt is a text, or {\"wav\": \"name\"}",
    );
    has(
        &issues,
        "w: nodes.w.next",
        "the required field \"next\" is missing",
    );
    has(&issues, "v: nodes.v", "a node is a JSON object");
    assert_eq!(issues.len(), 8, "{}", listing(&issues));
}

#[test]
fn every_error_of_one_node_is_reported() {
    let issues = problems(flow(json!({
        "start": { "type": "menu", "prompt": { "en": 1 }, "timeout_s": -1, "colour": "red",
                   "options": [{ "key": "12", "next": "agent" }, { "next": 3 }, { "key": "2", "next": "agent" }] },
        "ask": { "type": "collect", "prompt": { "en": "Digits." }, "var": 7, "next": "agent" }
    })));
    has(&issues, "start: nodes.start.prompt.en", "a prompt is a text");
    has(
        &issues,
        "start: nodes.start.timeout_s",
        "invalid value: integer -1, expected u32",
    );
    has(&issues, "start: nodes.start.colour", "unknown field \"colour\"");
    has(
        &issues,
        "start: nodes.start.options[0].key",
        "expected a character",
    );
    has(
        &issues,
        "start: nodes.start.options[1].next",
        "invalid type: integer 3, expected a string",
    );
    // A wrong value, and a required field missing beside it.
    has(
        &issues,
        "ask: nodes.ask.var",
        "invalid type: integer 7, expected a string",
    );
    has(
        &issues,
        "ask: nodes.ask.max_digits",
        "the required field \"max_digits\" is missing",
    );
    assert_eq!(issues.len(), 7, "{}", listing(&issues));
}

#[test]
fn every_error_of_the_top_level_is_reported() {
    let mut json = flow(json!({ "start": hangup() }));
    json["languages"] = json!("en");
    json["agent_key"] = json!(0);
    json["schedules"] = json!({ "a": { "timezone": "UTC" }, "b": { "timezone": 1, "hours": {} } });
    json["colour"] = json!("red");
    let issues = problems(json);
    has(
        &issues,
        "(flow): languages",
        "invalid type: string \"en\", expected a sequence",
    );
    has(
        &issues,
        "(flow): agent_key",
        "invalid type: integer 0, expected a character",
    );
    has(
        &issues,
        "(flow): schedules.a.hours",
        "the required field \"hours\" is missing",
    );
    has(
        &issues,
        "(flow): schedules.b.timezone",
        "invalid type: integer 1, expected a string",
    );
    has(
        &issues,
        "(flow): colour",
        "unknown field \"colour\" (expected one of id, name, start,",
    );
    assert_eq!(issues.len(), 5, "{}", listing(&issues));
}

#[test]
fn keys_are_phone_keys() {
    let issues = problems(flow(json!({
        "start": menu(json!([{ "key": "a", "next": "agent" }, { "key": "12", "next": "agent" }]))
    })));
    // "12" is not one character: a schema error; "a" is one, but not on a keypad.
    has(
        &issues,
        "start: nodes.start.options[1].key",
        "expected a character",
    );
    let issues = problems(flow(json!({
        "start": menu(json!([{ "key": "a", "next": "agent" }]))
    })));
    has(
        &issues,
        "start: nodes.start.options[0].key",
        "\"a\" is not a phone key (0-9, * or #)",
    );
    let mut bad_agent_key = flow(json!({ "start": play("agent") }));
    bad_agent_key["agent_key"] = json!("x");
    has(
        &problems(bad_agent_key),
        "(flow): agent_key",
        "\"x\" is not a phone key",
    );
}

#[test]
fn top_level_errors_are_reported_with_the_node_errors() {
    let mut json = flow(json!({ "start": { "type": "hangup", "extra": 1 } }));
    json.as_object_mut().unwrap().remove("start");
    json["languages"] = json!("en");
    let issues = problems(json);
    // serde stops at the first error of the top level; the nodes are still checked.
    has(
        &issues,
        "(flow): languages",
        "invalid type: string \"en\", expected a sequence",
    );
    has(
        &issues,
        "start: nodes.start.extra",
        "unknown field \"extra\" (expected one of prompt)",
    );
    let issues = problems(json!([1, 2]));
    has(&issues, "(flow): ", "a flow is a JSON object");
    let mut missing = flow(json!({ "start": hangup() }));
    missing.as_object_mut().unwrap().remove("start");
    has(
        &problems(missing),
        "(flow): start",
        "the required field \"start\" is missing",
    );
}

#[test]
fn node_names_are_plain() {
    let issues = problems(flow(json!({ "start": play("a.b"), "a.b": hangup() })));
    has(
        &issues,
        "a.b: nodes.a.b",
        "a node name uses only letters, digits, _ and -",
    );
}

#[test]
fn a_wav_prompt_takes_only_its_name() {
    let issues = problems(flow(json!({
        "start": { "type": "play", "prompt": { "en": { "wav": "hold_music", "volume": 3 } }, "next": "agent" }
    })));
    has(&issues, "start: nodes.start.prompt.en", "a prompt is a text");
}

// 2. Dangling references.

#[test]
fn references_to_missing_nodes() {
    let mut json = flow(json!({
        "start": menu(json!([{ "key": "1", "next": "agent" }, { "key": "2", "next": "billing2" },
                             { "phrases": { "en": ["sales"] }, "next": "sales" }])),
        "find": { "type": "lookup", "url": "http://127.0.0.1:1/x", "next": "agent", "fallback": "nowhere" },
        "q": { "type": "queue", "queue": "q", "overflow": "gone" }
    }));
    json["agent_node"] = json!("humans");
    let issues = problems(json);
    has(
        &issues,
        "start: nodes.start.options[1].next",
        "option 2 leads to \"billing2\", which is not a node",
    );
    has(
        &issues,
        "start: nodes.start.options[2].next",
        "option #3 (no key) leads to \"sales\"",
    );
    has(
        &issues,
        "find: nodes.find.fallback",
        "the fallback leads to \"nowhere\", which is not a node",
    );
    has(&issues, "q: nodes.q.overflow", "overflow leads to \"gone\"");
    has(
        &issues,
        "(flow): agent_node",
        "agent_node is \"humans\", which is not a node",
    );
    // Reported once, not again as a menu path with no end.
    assert!(
        !issues
            .iter()
            .any(|i| i.message.contains("no path from this node")),
        "{}",
        listing(&issues)
    );
    let mut json = flow(json!({ "start": hangup() }));
    json["start"] = json!("begin");
    has(
        &problems(json),
        "(flow): start",
        "the flow starts at \"begin\", which is not a node",
    );
}

#[test]
fn a_reference_to_a_broken_node_is_not_dangling() {
    let issues = problems(flow(
        json!({ "start": play("b"), "b": { "type": "hangup", "x": 1 } }),
    ));
    assert_eq!(issues.len(), 1, "{}", listing(&issues));
    has(&issues, "b: nodes.b.x", "unknown field \"x\"");
}

// 3. Unreachable nodes.

#[test]
fn nodes_no_call_reaches() {
    let issues = problems(flow(
        json!({ "start": play("agent"), "orphan": play("agent"), "bye": hangup() }),
    ));
    has(
        &issues,
        "orphan: nodes.orphan",
        "no path from the start (\"start\") reaches this node",
    );
    has(&issues, "bye: nodes.bye", "no path from the start");
    assert_eq!(issues.len(), 2, "{}", listing(&issues));
}

#[test]
fn the_agent_node_is_reached_from_menus() {
    // Only the agent key (and the menu's failure path) leads to "agent".
    let json = flow(json!({ "start": menu(json!([{ "key": "1", "next": "bye" }])), "bye": hangup() }));
    validate(&json, &ctx()).unwrap();
}

// 4. Paths with no end, 5. loops with no way out.

#[test]
fn a_node_that_leads_only_into_a_closed_loop() {
    let issues = problems(flow(json!({
        "start": menu(json!([{ "key": "1", "next": "intro" }])),
        "intro": play("a"),
        "a": play("b"),
        "b": play("a")
    })));
    has(
        &issues,
        "intro: nodes.intro",
        "no path from this node reaches a queue, voicemail, transfer or hangup",
    );
    has(
        &issues,
        "a: nodes.a",
        "the loop of \"a\" and \"b\" has no way out",
    );
    // Once per loop, not once per node of it.
    assert_eq!(issues.len(), 2, "{}", listing(&issues));
}

#[test]
fn a_node_that_loops_on_itself() {
    let mut json = flow(json!({ "start": play("start") }));
    json["nodes"]["agent"] = json!({ "type": "queue", "queue": "support" });
    let issues = problems(json);
    has(
        &issues,
        "start: nodes.start",
        "the loop of \"start\" has no way out",
    );
}

#[test]
fn a_loop_with_a_way_out_is_fine() {
    let json = flow(json!({
        "start": menu(json!([{ "key": "1", "next": "again" }, { "key": "2", "next": "agent" }])),
        "again": play("start")
    }));
    validate(&json, &ctx()).unwrap();
}

#[test]
fn a_menu_without_agent_can_loop_for_ever() {
    let json = flow(json!({
        "start": { "type": "menu", "prompt": { "en": "Choose." }, "agent": false, "on_failure": "start",
                   "options": [{ "key": "1", "next": "start" }] }
    }));
    has(
        &problems(json),
        "start: nodes.start",
        "the loop of \"start\" has no way out",
    );
}

// 6. Menus.

#[test]
fn menu_keys_and_options() {
    let mut json = flow(json!({
        "start": menu(json!([
            { "key": "1", "next": "agent" },
            { "key": "1", "next": "agent" },
            { "key": "9", "next": "agent" },
            { "intent": "nothing", "next": "agent" },
            { "phrases": { "en": [""] }, "next": "agent" }
        ])),
        "quiet": { "type": "menu", "prompt": { "en": "Choose." }, "speech": false, "agent": false,
                   "options": [{ "key": "9", "next": "agent" }, { "phrases": { "en": ["sales"] }, "next": "agent" }] },
        "empty": menu(json!([]))
    }));
    json["agent_key"] = json!("9");
    json["nodes"]["start"]["options"][0]["next"] = json!("quiet");
    json["nodes"]["start"]["options"][2]["next"] = json!("empty");
    let issues = problems(json);
    has(
        &issues,
        "start: nodes.start.options[1].key",
        "key 1 is also the key of options[0]",
    );
    has(
        &issues,
        "start: nodes.start.options[2].key",
        "key 9 is the flow's agent key",
    );
    has(
        &issues,
        "start: nodes.start.options[3]",
        "neither a key nor phrases",
    );
    has(
        &issues,
        "start: nodes.start.options[4]",
        "neither a key nor phrases",
    );
    has(
        &issues,
        "start: nodes.start.options[4].phrases.en[0]",
        "the phrase is empty",
    );
    has(
        &issues,
        "quiet: nodes.quiet.options[1]",
        "the menu does not listen for speech",
    );
    has(&issues, "empty: nodes.empty.options", "the menu has no options");
    // With agent off, the agent key is a key like any other.
    assert!(
        !issues.iter().any(|i| i.path == "nodes.quiet.options[0].key"),
        "{}",
        listing(&issues)
    );
    assert_eq!(issues.len(), 7, "{}", listing(&issues));
}

// 7. Prompts.

#[test]
fn prompts_that_do_not_exist() {
    let mut json = flow(json!({
        "start": { "type": "play", "prompt": { "en": { "wav": "welcome_en" }, "ja": { "wav": "welcome_ja" } },
                   "next": "ask" },
        "ask": { "type": "menu", "prompt": { "en": "Choose.", "ja": "選んでください。" },
                 "no_match_prompt": { "en": "  " }, "options": [{ "key": "1", "next": "agent" }] }
    }));
    json["languages"] = json!(["en", "ja"]);
    json["nodes"]["agent"]["prompt"] = json!({ "en": "Connecting." });
    let issues = problems(json);
    has(
        &issues,
        "start: nodes.start.prompt.en",
        "there is no uploaded prompt named \"welcome_en\"",
    );
    has(
        &issues,
        "ask: nodes.ask.no_match_prompt.en",
        "the \"en\" text is empty",
    );
    has(
        &issues,
        "ask: nodes.ask.no_match_prompt",
        "the prompt has no \"ja\" version",
    );
    has(
        &issues,
        "agent: nodes.agent.prompt",
        "the prompt has no \"ja\" version",
    );
    assert_eq!(issues.len(), 4, "{}", listing(&issues));
}

// 8. Languages and voices.

#[test]
fn languages_without_a_voice_or_not_listed() {
    let mut json = flow(json!({
        "start": { "type": "play", "prompt": { "en": "Hello.", "fr": "Bonjour." }, "next": "wav_only" },
        "wav_only": { "type": "play", "prompt": { "en": "Hello.", "fr": { "wav": "hold_music" } }, "next": "to_de" },
        "to_de": { "type": "language", "language": "de", "next": "ask" },
        "ask": menu(json!([{ "key": "1", "phrases": { "es": ["uno"] }, "next": "agent" }]))
    }));
    json["languages"] = json!(["en", "fr", "en"]);
    json["agent_phrases"] = json!({ "it": ["operatore"] });
    json["nodes"]["ask"]["prompt"]["fr"] = json!({ "wav": "hold_music" });
    let issues = problems(json);
    has(
        &issues,
        "start: nodes.start.prompt.fr",
        "there is no TTS voice for \"fr\" (voices: en, ja)",
    );
    has(
        &issues,
        "to_de: nodes.to_de.language",
        "switches to \"de\", which is not one of the flow's languages (en, fr, en)",
    );
    has(
        &issues,
        "ask: nodes.ask.options[0].phrases.es",
        "\"es\" is not one of the flow's languages",
    );
    has(
        &issues,
        "(flow): agent_phrases.it",
        "\"it\" is not one of the flow's languages",
    );
    has(&issues, "(flow): languages[2]", "\"en\" is listed twice");
    // A recording needs no voice.
    assert!(
        !issues.iter().any(|i| i.node.as_deref() == Some("wav_only")),
        "{}",
        listing(&issues)
    );
    assert_eq!(issues.len(), 5, "{}", listing(&issues));
}

#[test]
fn a_prompt_in_a_language_the_flow_does_not_speak() {
    let json = flow(
        json!({ "start": { "type": "play", "prompt": { "en": "Hi.", "ja": "やあ" }, "next": "agent" } }),
    );
    has(
        &problems(json),
        "start: nodes.start.prompt.ja",
        "\"ja\" is not one of the flow's languages (en)",
    );
    let mut none = flow(json!({ "start": hangup() }));
    none["languages"] = json!([]);
    has(&problems(none), "(flow): languages", "the flow lists no language");
}

// 9. Other settings.

#[test]
fn collect_settings() {
    let issues = problems(flow(json!({
        "start": { "type": "collect", "prompt": { "en": "Digits." }, "var": "Account", "min_digits": 5,
                   "max_digits": 3, "terminator": "x", "pattern": "([0-9]+", "timeout_s": 0, "next": "b" },
        "b": { "type": "collect", "prompt": { "en": "Digits." }, "var": "9lives", "max_digits": 0,
               "terminator": "5", "next": "agent" }
    })));
    has(
        &issues,
        "start: nodes.start.var",
        "\"Account\" is not a variable name",
    );
    has(
        &issues,
        "start: nodes.start.min_digits",
        "min_digits (5) is more than max_digits (3)",
    );
    has(
        &issues,
        "start: nodes.start.terminator",
        "\"x\" is not a phone key",
    );
    has(
        &issues,
        "start: nodes.start.pattern",
        "the pattern is not a valid regular expression: unclosed group",
    );
    has(&issues, "start: nodes.start.timeout_s", "timeout_s is 0");
    has(&issues, "b: nodes.b.var", "\"9lives\" is not a variable name");
    has(&issues, "b: nodes.b.max_digits", "max_digits is 0");
    has(&issues, "b: nodes.b.terminator", "the terminator is the digit 5");
    assert_eq!(issues.len(), 8, "{}", listing(&issues));
}

#[test]
fn branch_conditions() {
    let mut json = flow(json!({
        "start": { "type": "branch", "default": "agent", "cases": [
            { "when": { "open": "office" }, "next": "agent" },
            { "when": { "any": [{ "holiday": "office" }, { "not": { "open": "shop" } }] }, "next": "agent" },
            { "when": { "all": [{ "matches": { "var": "caller", "pattern": "+81" } }] }, "next": "agent" }
        ] }
    }));
    json["schedules"] =
        json!({ "office": { "timezone": "Asia/Tokyo", "hours": { "mon": ["09:00-17:00"] } } });
    let issues = problems(json);
    has(
        &issues,
        "start: nodes.start.cases[1].when.any[1].not.open",
        "there is no schedule named \"shop\" (the flow has \"office\")",
    );
    has(
        &issues,
        "start: nodes.start.cases[2].when.all[0].matches.pattern",
        "not a valid regular expression: repetition operator missing expression",
    );
    assert_eq!(issues.len(), 2, "{}", listing(&issues));
}

#[test]
fn schedules() {
    let mut json = flow(json!({ "start": play("agent") }));
    json["schedules"] = json!({
        "office": { "timezone": "Mars/Olympus", "holidays": ["2025-02-30", "31/12/2025", "2025-12-31"],
                    "hours": { "monday": [], "tue": ["9-17", "18:00-09:00", "10:00-24:00", "12:60-13:00"] } }
    });
    let issues = problems(json);
    let at = "(flow): schedules.office";
    has(
        &issues,
        &format!("{at}.timezone"),
        "unknown time zone \"Mars/Olympus\": use an IANA name",
    );
    has(
        &issues,
        &format!("{at}.hours.monday"),
        "unknown day \"monday\" (use mon, tue,",
    );
    has(
        &issues,
        &format!("{at}.hours.tue[0]"),
        "interval \"9-17\" is not HH:MM-HH:MM",
    );
    has(
        &issues,
        &format!("{at}.hours.tue[1]"),
        "with the start before the end",
    );
    has(&issues, &format!("{at}.hours.tue[3]"), "interval \"12:60-13:00\"");
    has(
        &issues,
        &format!("{at}.holidays[0]"),
        "holiday \"2025-02-30\" is not a date YYYY-MM-DD",
    );
    has(&issues, &format!("{at}.holidays[1]"), "holiday \"31/12/2025\"");
    assert_eq!(issues.len(), 7, "{}", listing(&issues));
}

#[test]
fn lookups_sets_queues_transfers_voicemail() {
    let issues = problems(flow(json!({
        "start": { "type": "lookup", "url": "https://crm.example.com/{id}", "timeout_ms": 60000,
                   "assign": { "Name": "/name", "status": "status" }, "next": "zero", "fallback": "agent" },
        "zero": { "type": "lookup", "url": "http://", "timeout_ms": 0, "next": "vars", "fallback": "agent" },
        "vars": { "type": "set", "vars": { "ok_name": "x", "bad-name": "y" }, "next": "desk" },
        "desk": { "type": "transfer", "target": "tel:+81312345678" },
        "nobody": { "type": "queue", "queue": " " },
        "box": { "type": "voicemail", "prompt": { "en": "Speak." }, "max_s": 0 }
    })));
    has(
        &issues,
        "start: nodes.start.url",
        "\"https://crm.example.com/{id}\" is not an http:// URL",
    );
    has(
        &issues,
        "start: nodes.start.timeout_ms",
        "timeout_ms is 60000: it must be between 1 and 30000",
    );
    has(
        &issues,
        "start: nodes.start.assign.Name",
        "\"Name\" is not a variable name",
    );
    has(
        &issues,
        "start: nodes.start.assign.status",
        "\"status\" is not a JSON pointer",
    );
    has(
        &issues,
        "zero: nodes.zero.url",
        "\"http://\" is not an http:// URL",
    );
    has(&issues, "zero: nodes.zero.timeout_ms", "timeout_ms is 0");
    has(
        &issues,
        "vars: nodes.vars.vars.bad-name",
        "\"bad-name\" is not a variable name",
    );
    has(
        &issues,
        "desk: nodes.desk.target",
        "\"tel:+81312345678\" is not a SIP URI",
    );
    has(&issues, "nobody: nodes.nobody.queue", "the queue name is empty");
    has(&issues, "box: nodes.box.max_s", "max_s is 0");
}

#[test]
fn the_flow_id_is_not_empty() {
    let mut json = flow(json!({ "start": hangup() }));
    json["id"] = json!(" ");
    has(&problems(json), "(flow): id", "the flow id is empty");
}

#[test]
fn issues_print_as_node_path_message() {
    let issue = Issue::node("main", "options[2].next", "it is wrong");
    assert_eq!(issue.to_string(), "main: nodes.main.options[2].next: it is wrong");
    assert_eq!(Issue::flow("start", "no").to_string(), "(flow): start: no");
}

// The JSON Schema and the shapes against flow.rs.

/// One node of each type with every field set, each differing from its default.
fn every_node() -> Vec<(Node, Value)> {
    let p = json!({ "en": "Hi.", "ja": { "wav": "hi" } });
    let examples = json!([
        { "type": "play", "prompt": p, "barge_in": false, "all_languages": true, "next": "n" },
        { "type": "menu", "prompt": p, "timeout_s": 7, "retries": 3, "no_match_prompt": p, "no_input_prompt": p,
          "on_failure": "n", "agent": false, "speech": false, "all_languages": true,
          "options": [{ "key": "1", "phrases": { "en": ["one"] }, "intent": "i", "next": "n" }] },
        { "type": "collect", "prompt": p, "var": "v", "min_digits": 2, "max_digits": 4, "terminator": "*",
          "pattern": "^1", "check": "luhn", "timeout_s": 7, "retries": 3, "invalid_prompt": p,
          "no_input_prompt": p, "on_failure": "n", "sensitive": true, "next": "n" },
        { "type": "branch", "cases": [{ "when": { "exists": "v" }, "next": "n" }], "default": "n" },
        { "type": "set", "vars": { "a": "b" }, "next": "n" },
        { "type": "lookup", "url": "http://h/", "method": "POST", "timeout_ms": 100, "assign": { "a": "/a" },
          "next": "n", "fallback": "n" },
        { "type": "queue", "queue": "q", "skills": ["s"], "prompt": p, "overflow": "n" },
        { "type": "voicemail", "prompt": p, "max_s": 9, "goodbye": p },
        { "type": "transfer", "target": "sip:a@b", "prompt": p },
        { "type": "language", "language": "ja", "next": "n" },
        { "type": "hangup", "prompt": p }
    ]);
    let nodes: Vec<(Node, Value)> = examples
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let node: Node = serde_json::from_value(e.clone()).expect("example parses");
            let written = serde_json::to_value(&node).unwrap();
            (node, written)
        })
        .collect();
    // A new variant does not compile here until it has an example.
    let covered: BTreeSet<usize> = nodes
        .iter()
        .map(|(node, _)| match node {
            Node::Play { .. } => 0,
            Node::Menu(_) => 1,
            Node::Collect(_) => 2,
            Node::Branch { .. } => 3,
            Node::Set { .. } => 4,
            Node::Lookup(_) => 5,
            Node::Queue { .. } => 6,
            Node::Voicemail { .. } => 7,
            Node::Transfer { .. } => 8,
            Node::Language { .. } => 9,
            Node::Hangup { .. } => 10,
        })
        .collect();
    assert_eq!(covered.len(), 11);
    nodes
}

/// One condition of each kind.
fn every_condition() -> Vec<Value> {
    let conditions = json!([
        { "equals": { "var": "a", "value": "b" } },
        { "matches": { "var": "a", "pattern": "b" } },
        { "exists": "a" },
        { "open": "s" },
        { "holiday": "s" },
        { "all": [{ "exists": "a" }] },
        { "any": [{ "exists": "a" }] },
        { "not": { "exists": "a" } }
    ]);
    let kinds: BTreeSet<usize> = conditions
        .as_array()
        .unwrap()
        .iter()
        .map(
            |c| match serde_json::from_value::<Condition>(c.clone()).unwrap() {
                Condition::Equals { .. } => 0,
                Condition::Matches { .. } => 1,
                Condition::Exists(_) => 2,
                Condition::Open(_) => 3,
                Condition::Holiday(_) => 4,
                Condition::All(_) => 5,
                Condition::Any(_) => 6,
                Condition::Not(_) => 7,
            },
        )
        .collect();
    assert_eq!(kinds.len(), 8);
    conditions.as_array().unwrap().clone()
}

fn schema() -> Value {
    serde_json::from_str(include_str!("../../../sip-config/ivr/flow.schema.json"))
        .expect("the schema is JSON")
}

/// Follows `$ref`s to the object that describes a value.
fn resolve<'a>(schema: &'a Value, def: &'a Value) -> &'a Value {
    match def.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("local references");
            resolve(schema, &schema["$defs"][name])
        }
        None => def,
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// `value` parsed as `T` and written again (which writes every field, defaults included).
fn reparse<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value) -> Option<Value> {
    serde_json::from_value::<T>(value)
        .ok()
        .map(|t| serde_json::to_value(t).unwrap())
}

/// The schema object `def` describes exactly the fields of `written` (a value written from flow.rs
/// types): the same names, `required` exactly where serde has no default, and each other field's
/// schema default equal to serde's. `reparse` reads such a value and writes it again.
#[track_caller]
fn same_fields(schema: &Value, def: &Value, written: &Value, reparse: &dyn Fn(Value) -> Option<Value>) {
    let def = resolve(schema, def);
    let properties = &def["properties"];
    assert_eq!(keys(properties), keys(written), "fields of {written}");
    assert_eq!(def["additionalProperties"], json!(false), "{def}");
    let required: BTreeSet<String> = def["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    for field in keys(written) {
        let mut without = written.clone();
        without.as_object_mut().unwrap().remove(&field);
        let again = reparse(without);
        assert_eq!(
            again.is_none(),
            required.contains(&field),
            "is {field} required? {written}"
        );
        let Some(again) = again else { continue };
        let default = &again[&field];
        let property = &properties[&field];
        match property
            .get("default")
            .or(resolve(schema, property).get("default"))
        {
            Some(documented) => assert_eq!(default, documented, "default of {field}"),
            None => assert!(
                [json!(null), json!(""), json!([]), json!({})].contains(default),
                "{field} defaults to {default}, which the schema does not say"
            ),
        }
    }
}

#[test]
fn the_schema_describes_every_node_type_and_field() {
    let schema = schema();
    let defs = &schema["$defs"];
    let branches = defs["node"]["oneOf"].as_array().unwrap();
    let mut kinds = Vec::new();
    for (node, written) in every_node() {
        let kind = node.kind();
        kinds.push(kind);
        let def = branches
            .iter()
            .map(|b| resolve(&schema, b))
            .find(|d| d["properties"]["type"]["const"] == kind)
            .unwrap_or_else(|| panic!("no schema for {kind}"));
        same_fields(&schema, def, &written, &reparse::<Node>);
    }
    assert_eq!(branches.len(), kinds.len());
    assert_eq!(defs["node"]["properties"]["type"]["enum"], json!(kinds));
}

#[test]
fn the_schema_describes_the_flow_and_its_parts() {
    use crate::ivr::flow::{Case, Flow, MenuOption, Schedule};
    let schema = schema();
    let defs = &schema["$defs"];
    let flow = json!({
        "id": "f", "name": "F", "start": "s", "languages": ["en"], "agent_node": "s", "agent_key": "9",
        "agent_phrases": { "en": ["agent"] }, "nodes": {},
        "schedules": { "o": { "timezone": "UTC", "hours": { "mon": ["09:00-10:00"] }, "holidays": ["2025-01-01"] } }
    });
    let written = serde_json::to_value(serde_json::from_value::<Flow>(flow).unwrap()).unwrap();
    same_fields(&schema, &schema, &written, &reparse::<Flow>);
    same_fields(
        &schema,
        &defs["schedule"],
        &written["schedules"]["o"],
        &reparse::<Schedule>,
    );
    let (_, menu) = &every_node()[1];
    same_fields(
        &schema,
        &defs["menuOption"],
        &menu["options"][0],
        &reparse::<MenuOption>,
    );
    let (_, branch) = &every_node()[3];
    same_fields(&schema, &defs["case"], &branch["cases"][0], &reparse::<Case>);
    let kinds = defs["condition"]["oneOf"].as_array().unwrap();
    let conditions = every_condition();
    assert_eq!(kinds.len(), conditions.len());
    for condition in conditions {
        let kind = keys(&condition).pop_first().unwrap();
        let def = kinds
            .iter()
            .find(|d| d["required"] == json!([kind]))
            .unwrap_or_else(|| panic!("no schema for the condition {kind}"));
        assert_eq!(keys(&def["properties"]), keys(&condition));
        if resolve(&schema, &def["properties"][&kind])
            .get("properties")
            .is_some()
        {
            // A struct variant (equals, matches): its fields, parsed inside their condition.
            let inside =
                |v: Value| reparse::<Condition>(json!({ kind.clone(): v })).map(|c| c[&kind].clone());
            same_fields(&schema, &def["properties"][&kind], &condition[&kind], &inside);
        }
    }
}

/// The field tables that place schema errors name every field, and parse every field's value.
#[track_caller]
fn same_table(fields: Fields, written: &Value) {
    let mut written = written.as_object().unwrap().clone();
    written.remove("type");
    let names: BTreeSet<String> = fields.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names, written.keys().cloned().collect());
    for (name, check) in fields {
        assert_eq!(check(&written[*name]), vec![], "{name}");
    }
}

#[test]
fn the_field_tables_parse_every_node_type_and_field() {
    let examples = every_node();
    assert_eq!(NODES.len(), examples.len());
    for (node, written) in examples {
        let (_, fields) = NODES
            .iter()
            .find(|(kind, _)| *kind == node.kind())
            .expect("a table");
        same_table(fields, &written);
    }
    let flow = json!({ "id": "f", "start": "s", "languages": ["en"], "agent_node": "s", "nodes": {},
                       "schedules": { "o": { "timezone": "UTC", "hours": {} } } });
    let written =
        serde_json::to_value(serde_json::from_value::<crate::ivr::flow::Flow>(flow).unwrap()).unwrap();
    same_table(FLOW, &written);
}
