//! Queued callers reach human agents over real SIP: agents' baresip phones register to koe with digest
//! authentication, koe rings the longest-idle agent with the call's skill and language, goes to the next
//! one when a phone is not answered, bridges the caller's and the agent's audio, overflows when nobody
//! can take the call, and transfers (cold and warm) with the call's context.

#[path = "asr_common/mod.rs"]
mod asr_common;
mod common;

use asr_common::follow_events;
use common::gateway::encode_path;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::Duration;

const ADMIN_PW: &str = "admin-password-1";

/// hello → a queue needing `skill` (overflow: a short voicemail).
fn queue_flow(dir: &Path, skill: &str) -> PathBuf {
    let flow = json!({
        "id": "line", "start": "hello", "languages": ["en"], "agent_node": "queue",
        "nodes": {
            "hello": {"type": "play", "prompt": {"en": "Hello."}, "next": "queue"},
            "queue": {"type": "queue", "queue": skill, "skills": [skill],
                "prompt": {"en": "Please hold."}, "overflow": "vm"},
            "vm": {"type": "voicemail", "prompt": {"en": "Please leave a message."}, "max_s": 2}
        }
    });
    let path = dir.join(format!("queue-{skill}.json"));
    std::fs::write(&path, flow.to_string()).unwrap();
    path
}

fn start_koe(flow: &Path) -> (Koe, String) {
    let koe = Koe::start(&[
        ("KOE_IVR_FLOW", &flow.display().to_string()),
        ("KOE_ADMIN_BOOTSTRAP_PASSWORD", ADMIN_PW),
        ("KOE_ROUTING_AGENTS", ""),
        ("KOE_ROUTING_OFFER_TIMEOUT_S", "3"),
        ("KOE_ROUTING_UNSTAFFED_WAIT_S", "2"),
    ]);
    let admin = koe.sign_in("admin", ADMIN_PW);
    (koe, admin)
}

/// An agent added by the admin, their phone registered, signed in and available.
struct Agent {
    token: String,
    phone: Baresip,
}

fn agent(
    koe: &Koe,
    admin: &str,
    id: &str,
    skills: Value,
    languages: Value,
    audio: &Path,
    auto_answer: bool,
) -> Agent {
    let password = format!("{id}-secret-pw");
    let body = json!({"id": id, "name": id.to_uppercase(), "skills": skills, "languages": languages,
        "password": password});
    let r = koe.api("POST", "/api/agents", Some(admin), Some(&body));
    assert_eq!(r.status, 201, "{}", r.body);
    let phone = Baresip::agent(audio, koe.sip_addr(), id, &password, auto_answer);
    wait_for(
        Duration::from_secs(10),
        &format!("{id}'s phone registered"),
        || {
            let agents = koe.api("GET", "/api/agents", Some(admin), None).json();
            agents
                .as_array()?
                .iter()
                .any(|a| a["id"] == id && a["registered"] == true)
                .then_some(())
        },
    );
    let token = koe.sign_in(id, &password);
    let a = Agent { token, phone };
    set_presence(koe, &a, "available");
    a
}

fn set_presence(koe: &Koe, a: &Agent, presence: &str) -> Value {
    let r = koe.api(
        "PUT",
        "/api/agent/presence",
        Some(&a.token),
        Some(&json!({ "presence": presence })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn me(koe: &Koe, a: &Agent) -> Value {
    koe.api("GET", "/api/agent/me", Some(&a.token), None).json()
}

/// Collects events until one matches `done` (or panics after `timeout`), returning all seen so far.
fn events_until(
    rx: &Receiver<Value>,
    seen: &mut Vec<Value>,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) {
    let deadline = std::time::Instant::now() + timeout;
    if seen.iter().any(&done) {
        return;
    }
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(e) => {
                let hit = done(&e);
                seen.push(e);
                if hit {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no such event within {timeout:?}; seen: {seen:#?}");
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn is(kind: &'static str, agent: &'static str) -> impl Fn(&Value) -> bool {
    move |e: &Value| e["type"] == kind && (agent.is_empty() || e["agent"] == agent)
}

/// `mono` without its first `ms` milliseconds.
fn skip(mono: Mono, ms: u64) -> Mono {
    let n = (ms as usize * mono.rate as usize / 1000).min(mono.samples.len());
    Mono {
        rate: mono.rate,
        samples: mono.samples[n..].to_vec(),
    }
}

/// `speech` after `lead_s` of silence, padded to `total_s` (baresip hangs up when its source ends).
fn delayed_speech(dir: &Path, name: &str, speech: &Path, lead_s: f64, total_s: f64) -> PathBuf {
    let out = dir.join(name);
    let status = std::process::Command::new("sox")
        .arg(speech)
        .arg(&out)
        .args(["pad", &lead_s.to_string(), "0"])
        .args(["pad", "0", "30", "trim", "0", &total_s.to_string()])
        .status()
        .expect("sox");
    assert!(status.success());
    out
}

#[test]
fn an_unanswered_phone_passes_the_call_to_the_next_agent_and_the_audio_is_bridged() {
    let dir = tempfile::tempdir().unwrap();
    let (koe, admin) = start_koe(&queue_flow(dir.path(), "orders"));
    let quiet = silence(dir.path(), 60);
    // ann became available first (the longest idle) but her phone only rings; bob answers by itself
    // and says "go forward" a second after answering, then hangs up when his audio ends.
    let ann = agent(
        &koe,
        &admin,
        "ann",
        json!({"orders": 1}),
        json!(["en"]),
        &quiet,
        false,
    );
    std::thread::sleep(Duration::from_millis(50));
    let bob_audio = delayed_speech(dir.path(), "bob.wav", &cached_audio("goforward-8k.wav"), 1.0, 8.0);
    let bob = agent(
        &koe,
        &admin,
        "bob",
        json!({"orders": 2}),
        json!(["en"]),
        &bob_audio,
        true,
    );
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(90));
    // The caller speaks from 6 s on, when bob is on the line.
    let caller_audio = delayed_speech(dir.path(), "caller.wav", &cached_audio("jfk-8k.wav"), 6.0, 25.0);
    let mut caller = Baresip::start(&caller_audio);
    caller.dial(koe.sip_addr());

    let mut seen = Vec::new();
    events_until(&events, &mut seen, Duration::from_secs(40), is("CallEnded", ""));
    let offers: Vec<(&str, u64)> = of_type(&seen, "AgentOffered")
        .iter()
        .map(|e| (e["agent"].as_str().unwrap(), e["attempt"].as_u64().unwrap()))
        .collect();
    assert_eq!(offers, [("ann", 1), ("bob", 2)], "{seen:#?}");
    let missed = of_type(&seen, "AgentNoAnswer");
    assert_eq!(
        (missed[0]["agent"].as_str(), missed[0]["cause"].as_str()),
        (Some("ann"), Some("no-answer"))
    );
    assert!(
        seen.iter()
            .any(|e| e["type"] == "AgentPresence" && e["agent"] == "ann" && e["presence"] == "away"),
        "a missed offer sets the agent away"
    );
    let connected = of_type(&seen, "AgentConnected");
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0]["agent"], "bob");
    let left = of_type(&seen, "AgentLeft");
    assert_eq!(
        (left[0]["agent"].as_str(), left[0]["by"].as_str()),
        (Some("bob"), Some("agent"))
    );

    let call_id = connected[0]["call_id"].as_str().unwrap().to_string();
    let record = koe.wait_call_closed(&call_id, Duration::from_secs(10));
    assert_eq!(record.end_cause.as_deref(), Some("agent-hangup"), "{record:#?}");
    let service = record.service.as_ref().expect("a service record");
    assert_eq!(service.agent.as_deref(), Some("bob"));
    let results: Vec<(&str, Option<&str>)> = service
        .offers
        .iter()
        .map(|o| (o.agent.as_str(), o.result.as_deref()))
        .collect();
    assert_eq!(results, [("ann", Some("no-answer")), ("bob", Some("answered"))]);

    // Audio both ways, lined up from the moment bob answered.
    let answered_ts = of_type(&seen, "CallAnswered")[0]["ts_ms"].as_u64().unwrap();
    let connected_ts = connected[0]["ts_ms"].as_u64().unwrap();
    // A second early: the event clock and the phones' recordings start a little apart, and a loaded
    // machine widens that; the comparison finds the exact lag within ±3 s.
    let offset = (connected_ts - answered_ts).saturating_sub(1000);
    caller.quit();
    let mut bob = bob;
    bob.phone.quit();
    let caller_speech = read_channel(&caller_audio, 0);
    let bob_heard = read_channel(&bob.phone.heard(), 0);
    let similarity = best_correlation(&skip(caller_speech, offset), &bob_heard, 300);
    assert!(similarity >= 0.6, "bob hears the caller: {similarity:.3}");
    let bob_speech = read_channel(&bob_audio, 0);
    let caller_heard = read_channel(&caller.heard(), 0);
    let similarity = best_correlation(&bob_speech, &skip(caller_heard, offset), 300);
    assert!(similarity >= 0.6, "the caller hears bob: {similarity:.3}");
    // koe's recording has bob on the caller's receiving side.
    let recorded = read_channel(&koe.recording(&record), 1);
    let similarity = best_correlation(&read_channel(&bob_audio, 0), &skip(recorded, offset), 300);
    assert!(similarity >= 0.6, "the recording has the agent: {similarity:.3}");

    // bob wraps up, then is available again; ann stays away until she comes back.
    assert_eq!(me(&koe, &bob)["presence"], "wrap_up");
    let body = json!({"reason": "Order status", "disposition": "resolved", "notes": "told the date"});
    let r = koe.api(
        "POST",
        &format!("/api/calls/{}/wrapup", encode_path(&call_id)),
        Some(&bob.token),
        Some(&body),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(me(&koe, &bob)["presence"], "available");
    assert_eq!(me(&koe, &ann)["presence"], "away");
    let context = koe
        .api(
            "GET",
            &format!("/api/calls/{}/context", encode_path(&call_id)),
            Some(&bob.token),
            None,
        )
        .json();
    assert_eq!(context["wrapup"]["reason"], "Order status");
    assert_eq!(context["service"]["agent"], "bob");
}

#[test]
fn nobody_with_the_skill_means_the_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let (koe, admin) = start_koe(&queue_flow(dir.path(), "billing"));
    let quiet = silence(dir.path(), 60);
    let _ann = agent(
        &koe,
        &admin,
        "ann",
        json!({"orders": 3}),
        json!(["en"]),
        &quiet,
        true,
    );
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(60));
    Sipp::new("wait_for_bye.xml", koe.sip_addr())
        .timeout(40)
        .run()
        .assert_success();
    let record = koe.wait_single_call_closed(Duration::from_secs(10));
    let mut seen = Vec::new();
    events_until(&events, &mut seen, Duration::from_secs(10), is("CallEnded", ""));
    let overflow = of_type(&seen, "CallOverflow");
    assert_eq!(overflow.len(), 1, "{seen:#?}");
    assert_eq!(
        (overflow[0]["queue"].as_str(), overflow[0]["cause"].as_str()),
        (Some("billing"), Some("no-agents"))
    );
    assert!(
        of_type(&seen, "AgentOffered").is_empty(),
        "ann has no billing skill"
    );
    assert_eq!(
        record.service.as_ref().and_then(|s| s.overflow.as_deref()),
        Some("no-agents")
    );
    assert_eq!(
        record.end_cause.as_deref(),
        Some("voicemail"),
        "the overflow node took the message"
    );
}

#[test]
fn language_decides_and_cold_and_warm_transfers_carry_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let (koe, admin) = start_koe(&queue_flow(dir.path(), "orders"));
    let quiet = silence(dir.path(), 60);
    // kana is the longest idle with the skill, but speaks only Japanese; the caller's language is English.
    let kana = agent(
        &koe,
        &admin,
        "kana",
        json!({"orders": 3}),
        json!(["ja"]),
        &quiet,
        true,
    );
    let ann = agent(
        &koe,
        &admin,
        "ann",
        json!({"orders": 1}),
        json!(["en"]),
        &quiet,
        true,
    );
    let mut bob = agent(
        &koe,
        &admin,
        "bob",
        json!({"billing": 2}),
        json!(["en"]),
        &quiet,
        true,
    );
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(120));
    let caller_audio = delayed_speech(dir.path(), "caller.wav", &cached_audio("jfk-8k.wav"), 1.0, 40.0);
    let mut caller = Baresip::start(&caller_audio);
    caller.dial(koe.sip_addr());
    let mut seen = Vec::new();
    events_until(
        &events,
        &mut seen,
        Duration::from_secs(20),
        is("AgentConnected", "ann"),
    );
    assert_eq!(
        of_type(&seen, "AgentOffered")[0]["agent"],
        "ann",
        "not kana: language"
    );
    let call_id = of_type(&seen, "AgentConnected")[0]["call_id"]
        .as_str()
        .unwrap()
        .to_string();
    let call = encode_path(&call_id);

    // PCI: ann pauses the recording for about two seconds while the caller talks.
    let pause = |paused: bool| {
        let r = koe.api(
            "POST",
            &format!("/api/calls/{call}/recording"),
            Some(&ann.token),
            Some(&json!({ "paused": paused })),
        );
        assert_eq!(r.status, 202, "{}", r.body);
    };
    pause(true);
    events_until(
        &events,
        &mut seen,
        Duration::from_secs(5),
        is("RecordingPaused", ""),
    );
    std::thread::sleep(Duration::from_secs(2));
    pause(false);
    events_until(
        &events,
        &mut seen,
        Duration::from_secs(5),
        is("RecordingResumed", ""),
    );

    // Cold: ann hands the caller to bob (billing) and leaves at once.
    let r = koe.api(
        "POST",
        &format!("/api/calls/{call}/transfer"),
        Some(&ann.token),
        Some(&json!({"mode": "cold", "agent": "bob"})),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    events_until(
        &events,
        &mut seen,
        Duration::from_secs(15),
        is("AgentConnected", "bob"),
    );
    let left = of_type(&seen, "AgentLeft");
    assert_eq!(
        (left[0]["agent"].as_str(), left[0]["by"].as_str()),
        (Some("ann"), Some("transfer"))
    );
    // bob sees what the IVR learned and where the call has been.
    let context = koe
        .api(
            "GET",
            &format!("/api/calls/{call}/context"),
            Some(&bob.token),
            None,
        )
        .json();
    assert_eq!(context["ivr"]["path"][0]["node"], "hello", "{context:#}");
    assert_eq!(context["service"]["transfers"][0]["to"], "agent:bob");
    assert_eq!(context["service"]["transfers"][0]["from_agent"], "ann");
    assert_eq!(context["live"]["agent"], "bob");
    assert_eq!(me(&koe, &ann)["presence"], "wrap_up");
    let r = koe.api(
        "POST",
        &format!("/api/calls/{call}/wrapup"),
        Some(&ann.token),
        Some(&json!({"reason": "Billing question", "disposition": "escalated"})),
    );
    assert_eq!(r.status, 204);

    // Warm: bob brings in the orders queue (ann again, now free) and stays until she has answered.
    let r = koe.api(
        "POST",
        &format!("/api/calls/{call}/transfer"),
        Some(&bob.token),
        Some(&json!({"mode": "warm", "queue": "orders"})),
    );
    assert_eq!(r.status, 202);
    let before = seen.len();
    events_until(&events, &mut seen, Duration::from_secs(15), |e| {
        e["type"] == "AgentConnected" && e["agent"] == "ann"
    });
    assert!(
        !seen[before..].iter().any(|e| e["type"] == "AgentLeft"),
        "bob stays on the line during a warm transfer: {:#?}",
        &seen[before..]
    );
    bob.phone.command("/hangup");
    events_until(
        &events,
        &mut seen,
        Duration::from_secs(10),
        is("AgentLeft", "bob"),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        of_type(&seen, "CallEnded").is_empty(),
        "the caller is still with ann"
    );
    assert_eq!(
        koe.api("GET", "/api/agent/me", Some(&ann.token), None).json()["call_id"],
        call_id.as_str()
    );
    caller.command("/hangup");
    events_until(&events, &mut seen, Duration::from_secs(10), is("CallEnded", ""));
    let record = koe.wait_call_closed(&call_id, Duration::from_secs(10));
    // One paused span of about two seconds, and the recording holds silence there, speech around it;
    // the recording covers the whole call, transfers included.
    assert_eq!(record.recording_pauses.len(), 1, "{:?}", record.recording_pauses);
    let (from, to) = record.recording_pauses[0];
    let to = to.expect("the pause ended");
    assert!((1800..=3500).contains(&(to - from)), "{from}..{to}");
    let caller_side = read_channel(&koe.recording(&record), 0);
    let answered_ms = (record.ended_at_ms.unwrap() - record.answered_at_ms.unwrap()) as f64;
    let recorded_ms = caller_side.samples.len() as f64 / 8.0;
    assert!(
        (recorded_ms - answered_ms).abs() < 1500.0,
        "recorded {recorded_ms} ms of a call answered for {answered_ms} ms"
    );
    // (The phones answer at once, so the call is short: the spans stop at the recording's end.)
    let span = |a: u64, b: u64| {
        let end = caller_side.samples.len();
        Mono {
            rate: caller_side.rate,
            samples: caller_side.samples[(a as usize * 8).min(end)..(b as usize * 8).min(end)].to_vec(),
        }
    };
    let paused = span(from + 100, to - 100).rms();
    let around = span(from.saturating_sub(2000), from)
        .rms()
        .max(span(to, to + 2000).rms());
    assert!(
        paused < 1e-4 && around > 0.01,
        "paused {paused}, around it {around}"
    );
    let service = record.service.unwrap();
    assert_eq!(service.agent.as_deref(), Some("ann"));
    assert_eq!(service.transfers.len(), 2);
    assert_eq!(service.transfers[1].mode, "warm");
    drop(kana);
}
