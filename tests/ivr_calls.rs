//! Callers walk IVR flows over real SIP: SIPp (RFC 4733 keys, real and synthesized speech) and baresip
//! (which records what it hears). The path, the variables and the outcome are in the call's record and
//! its events; callers who press nothing or the wrong keys reach a queue of humans.

#[path = "asr_common/mod.rs"]
mod asr_common;
mod common;

use asr_common::follow_events;
use asr_common::transcribe;
use common::*;
use koe::store::CallRecord;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A small flow: one menu with short prompts and timeouts, so that retries take seconds.
fn quick_menu_flow(dir: &Path) -> PathBuf {
    let flow = serde_json::json!({
        "id": "quick", "name": "Quick menu", "start": "menu", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "menu": {"type": "menu", "prompt": {"en": "Press 1 for sales."}, "timeout_s": 2, "retries": 2,
                "no_match_prompt": {"en": "Sorry."},
                "options": [{"key": "1", "intent": "sales", "next": "sales"}]},
            "sales": {"type": "queue", "queue": "sales", "skills": ["sales"]},
            "agent": {"type": "queue", "queue": "general", "skills": ["general"],
                "prompt": {"en": "Please hold for the next person."}}
        }
    });
    let path = dir.join("quick.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    path
}

fn ivr_of(record: &CallRecord) -> &koe::store::IvrRecord {
    record
        .ivr
        .as_ref()
        .unwrap_or_else(|| panic!("no IVR record: {record:#?}"))
}

fn path_of(record: &CallRecord) -> Vec<&str> {
    ivr_of(record).path.iter().map(|s| s.node.as_str()).collect()
}

/// Events of one call type, from what the WebSocket collected.
fn events_of<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn keys_walk_the_demo_flow_and_the_caller_hears_its_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let flow = demo_flow_always_open(dir.path());
    let koe = Koe::start(&[("KOE_IVR_FLOW", &flow.display().to_string())]);
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(90));
    let mut phone = Baresip::start(&silence(dir.path(), 60));
    phone.dial(koe.sip_addr());
    phone.walk_demo_to_orders();
    // The queue's prompt.
    std::thread::sleep(Duration::from_millis(7_000));
    phone.command("/hangup");
    phone.wait_output("terminated", Duration::from_secs(10));
    phone.quit();

    let record = koe.wait_single_call_closed(Duration::from_secs(10));
    assert_eq!(
        path_of(&record),
        [
            "welcome",
            "choose_language",
            "english",
            "main_menu",
            "order_number",
            "orders_hours",
            "orders_queue"
        ]
    );
    let ivr = ivr_of(&record);
    assert_eq!(ivr.vars.get("order_number").map(String::as_str), Some("123456"));
    assert_eq!(ivr.vars.get("intent").map(String::as_str), Some("orders"));
    assert_eq!(ivr.language, "en");
    assert_eq!(ivr.version, 1);
    let outcome = ivr.outcome.as_ref().expect("an outcome");
    assert_eq!(
        (outcome.kind.as_str(), outcome.target.as_deref()),
        ("queue", Some("orders"))
    );
    assert_eq!(outcome.skills, ["orders"]);

    let events: Vec<serde_json::Value> = events.try_iter().collect();
    let queued = events_of(&events, "CallQueued");
    assert_eq!(queued.len(), 1, "{events:#?}");
    assert_eq!(queued[0]["queue"], "orders");
    assert_eq!(queued[0]["vars"]["order_number"], "123456");
    assert_eq!(queued[0]["call_id"], record.id.as_str());
    let entered: Vec<&str> = events_of(&events, "IvrEntered")
        .iter()
        .map(|e| e["node"].as_str().unwrap())
        .collect();
    assert_eq!(entered, path_of(&record));

    // What the caller heard, in order: each prompt of the way (cut short where a key barged in).
    let heard = transcribe(&phone.heard());
    let expected = [
        "thank you for calling",
        "for english press",
        "orders and deliveries",
        "order number",
        "orders team",
    ];
    let mut at = 0;
    for phrase in expected {
        let found = heard[at..]
            .find(phrase)
            .unwrap_or_else(|| panic!("{phrase:?} not heard after position {at} in {heard:?}"));
        at += found + phrase.len();
    }
}

#[test]
fn a_spoken_reason_chooses_the_menu_option() {
    let dir = tempfile::tempdir().unwrap();
    let flow = demo_flow_always_open(dir.path());
    asr_common::tiny_en();
    let koe = Koe::start(&[
        ("KOE_IVR_FLOW", &flow.display().to_string()),
        ("KOE_ASR_ENABLED", "true"),
        ("KOE_ASR_MODELS_DIR", &repo_path("models").display().to_string()),
    ]);
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(90));
    Sipp::new("ivr_speech_order.xml", koe.sip_addr())
        .timeout(60)
        .run()
        .assert_success();
    let record = koe.wait_single_call_closed(Duration::from_secs(10));
    let ivr = ivr_of(&record);
    assert_eq!(
        ivr.vars.get("intent").map(String::as_str),
        Some("orders"),
        "{ivr:#?}"
    );
    let reason = ivr
        .vars
        .get("spoken_reason")
        .expect("the spoken reason is kept")
        .to_lowercase();
    assert!(reason.contains("check my order"), "{reason}");
    assert_eq!(ivr.vars.get("order_number").map(String::as_str), Some("987654"));
    assert_eq!(
        path_of(&record),
        [
            "welcome",
            "choose_language",
            "english",
            "main_menu",
            "order_number",
            "orders_hours",
            "orders_queue"
        ]
    );
    let events: Vec<serde_json::Value> = events.try_iter().collect();
    let intents = events_of(&events, "IntentDetected");
    assert_eq!(intents.len(), 1, "{events:#?}");
    assert_eq!(intents[0]["intent"], "orders");
    assert_eq!(intents[0]["node"], "main_menu");
    assert!(
        events_of(&events, "IvrNoMatch").is_empty(),
        "no key was needed for the menu"
    );
    // The caller's words are also in the stored transcript.
    let transcript = koe.http_get_json(&format!(
        "/api/calls/{}/transcript",
        common::gateway::encode_path(&record.id)
    ));
    assert!(
        transcript.to_string().to_lowercase().contains("order"),
        "{transcript}"
    );
}

/// One SIPp caller through the quick menu; its record and events. Whatever the caller did, they end in
/// the agent queue, not hung up on.
fn quick_menu_call(scenario: &str) -> (CallRecord, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let flow = quick_menu_flow(dir.path());
    let koe = Koe::start(&[("KOE_IVR_FLOW", &flow.display().to_string())]);
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(60));
    Sipp::new(scenario, koe.sip_addr())
        .timeout(40)
        .run()
        .assert_success();
    let record = koe.wait_single_call_closed(Duration::from_secs(10));
    assert_eq!(path_of(&record), ["menu", "agent"]);
    let outcome = ivr_of(&record).outcome.clone().expect("an outcome");
    assert_eq!(
        (outcome.kind.as_str(), outcome.target.as_deref()),
        ("queue", Some("general"))
    );
    assert_eq!(
        record.hangup_by.as_deref(),
        Some("caller"),
        "koe never hangs up on a caller it could not understand"
    );
    let events: Vec<serde_json::Value> = events.try_iter().collect();
    assert_eq!(events_of(&events, "CallQueued")[0]["queue"], "general");
    (record, events)
}

#[test]
fn silence_reaches_a_human() {
    let (record, events) = quick_menu_call("ivr_silent.xml");
    assert_eq!(
        ivr_of(&record).vars.get("ivr_exit").map(String::as_str),
        Some("no_input")
    );
    assert_eq!(events_of(&events, "IvrNoInput").len(), 3, "{events:#?}");
}

#[test]
fn wrong_keys_reach_a_human() {
    let (record, events) = quick_menu_call("ivr_wrong_keys.xml");
    assert_eq!(record.dtmf, "789");
    assert_eq!(
        ivr_of(&record).vars.get("ivr_exit").map(String::as_str),
        Some("no_match")
    );
    let no_match: Vec<&str> = events_of(&events, "IvrNoMatch")
        .iter()
        .map(|e| e["input"].as_str().unwrap())
        .collect();
    assert_eq!(no_match, ["7", "8", "9"]);
}

#[test]
fn a_voicemail_is_recorded_and_kept_with_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let flow = serde_json::json!({
        "id": "after-hours", "start": "vm", "languages": ["en"], "agent_node": "vm",
        "nodes": {
            "vm": {"type": "voicemail", "prompt": {"en": "Please leave a message after the tone."},
                "max_s": 4, "goodbye": {"en": "Thank you. Goodbye."}}
        }
    });
    let path = dir.path().join("vm.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    let koe = Koe::start(&[("KOE_IVR_FLOW", &path.display().to_string())]);
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(60));
    // The caller talks (jfk.wav) from the answer on and waits for koe to hang up.
    Sipp::new("wait_for_bye.xml", koe.sip_addr())
        .timeout(40)
        .run()
        .assert_success();
    let record = koe.wait_single_call_closed(Duration::from_secs(10));
    assert_eq!(record.hangup_by.as_deref(), Some("koe"));
    assert_eq!(record.end_cause.as_deref(), Some("voicemail"));
    let ivr = ivr_of(&record);
    assert_eq!(ivr.outcome.as_ref().map(|o| o.kind.as_str()), Some("voicemail"));
    let rel = ivr.voicemail_path.as_deref().expect("the message's path is kept");
    let message = koe.data_dir().join(rel);
    let spec = hound::WavReader::open(&message).expect("a WAV").spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
    let ms = wav_duration_ms(&message);
    assert!((ms - 4000.0).abs() <= 100.0, "the message lasts max_s: {ms} ms");
    // It is the caller's voice: part of the speech SIPp streamed.
    let heard = read_channel(&message, 0);
    let speech = read_channel(&cached_audio("jfk-8k.wav"), 0);
    let similarity = best_correlation(&heard, &speech, 200);
    assert!(
        similarity >= 0.8,
        "voicemail vs the caller's speech: {similarity:.3}"
    );
    let events: Vec<serde_json::Value> = events.try_iter().collect();
    let saved = events_of(&events, "VoicemailRecorded");
    assert_eq!(saved.len(), 1, "{events:#?}");
    assert_eq!(saved[0]["path"], rel);
}
