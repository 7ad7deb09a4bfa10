//! Publishing and rolling back while 20 callers are in the IVR: every call in progress finishes on the
//! version it started with, the next call gets the new one, and no call drops.

mod common;

use common::*;
use koe::store::{CallRecord, CallStatus};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const PASSWORD: &str = "publish during calls";
const CALLS: u32 = 20;

/// Option 1 leads to `queue`: which version a call ran shows in where it ended.
fn flow(queue: &str) -> Value {
    json!({
        "id": "line", "start": "menu", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "menu": {"type": "menu", "prompt": {"en": "Press 1."}, "timeout_s": 10, "retries": 1,
                "options": [{"key": "1", "next": "choice"}]},
            "choice": {"type": "queue", "queue": queue},
            "agent": {"type": "queue", "queue": "general"}
        }
    })
}

fn outcome(record: &CallRecord) -> (i64, String) {
    let ivr = record
        .ivr
        .as_ref()
        .unwrap_or_else(|| panic!("no IVR record: {record:#?}"));
    let target = ivr
        .outcome
        .as_ref()
        .and_then(|o| o.target.clone())
        .unwrap_or_default();
    (ivr.version, target)
}

/// Starts `CALLS` slow callers, waits until all are in the IVR, runs `change`, waits for them to end;
/// returns the records of those calls.
fn calls_across(koe: &Koe, seen: &mut BTreeSet<String>, change: impl FnOnce()) -> Vec<CallRecord> {
    let run = Sipp::new("ivr_slow_choice.xml", koe.sip_addr())
        .calls(CALLS, CALLS)
        .timeout(60)
        .spawn();
    let answered = |c: &CallRecord| !seen.contains(&c.id) && c.status == CallStatus::Answered;
    wait_for(Duration::from_secs(15), "every caller to be in the IVR", || {
        (koe.calls().iter().filter(|c| answered(c)).count() == CALLS as usize).then_some(())
    });
    change();
    run.wait().assert_success();
    let records: Vec<CallRecord> = wait_for(Duration::from_secs(15), "the calls to end", || {
        let new: Vec<CallRecord> = koe
            .calls()
            .into_iter()
            .filter(|c| !seen.contains(&c.id))
            .collect();
        (new.len() == CALLS as usize && new.iter().all(|c| c.status == CallStatus::Ended)).then_some(new)
    });
    for r in &records {
        assert_eq!(r.hangup_by.as_deref(), Some("caller"), "no call dropped: {r:#?}");
        assert_eq!(r.end_cause.as_deref(), Some("bye"), "{r:#?}");
        seen.insert(r.id.clone());
    }
    records
}

/// One more caller, after the change: the version new calls get.
fn next_call(koe: &Koe, seen: &mut BTreeSet<String>) -> CallRecord {
    Sipp::new("ivr_slow_choice.xml", koe.sip_addr())
        .timeout(30)
        .run()
        .assert_success();
    let record = wait_for(Duration::from_secs(10), "the next call to end", || {
        koe.calls()
            .into_iter()
            .find(|c| !seen.contains(&c.id) && c.status == CallStatus::Ended)
    });
    seen.insert(record.id.clone());
    record
}

#[test]
fn publish_and_rollback_during_twenty_calls() {
    // Two ports a call (RTP, RTCP), for the 20 callers and spares.
    let (min, max) = free_port_block(100);
    let koe = Koe::start(&[
        ("KOE_ADMIN_BOOTSTRAP_PASSWORD", PASSWORD),
        ("KOE_MEDIA_RTP_PORT_MIN", &min.to_string()),
        ("KOE_MEDIA_RTP_PORT_MAX", &max.to_string()),
    ]);
    let admin = koe.sign_in("admin", PASSWORD);
    let publish = |queue: &str| {
        let body = json!({"flow": flow(queue), "comment": format!("option 1 to {queue}")});
        let r = koe.api("POST", "/api/ivr/flows/line/publish", Some(&admin), Some(&body));
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["version"].as_i64().unwrap()
    };
    assert_eq!(publish("sales"), 1);
    let mut seen = BTreeSet::new();

    let during_publish = calls_across(&koe, &mut seen, || assert_eq!(publish("support"), 2));
    for r in &during_publish {
        assert_eq!(outcome(r), (1, "sales".to_string()), "{}", r.id);
    }
    assert_eq!(outcome(&next_call(&koe, &mut seen)), (2, "support".to_string()));

    let during_rollback = calls_across(&koe, &mut seen, || {
        let body = json!({"version": 1, "comment": "support is not staffed yet"});
        let r = koe.api("POST", "/api/ivr/flows/line/rollback", Some(&admin), Some(&body));
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["version"], 3);
    });
    for r in &during_rollback {
        assert_eq!(outcome(r), (2, "support".to_string()), "{}", r.id);
    }
    assert_eq!(outcome(&next_call(&koe, &mut seen)), (3, "sales".to_string()));

    let versions = koe
        .api("GET", "/api/ivr/flows/line/versions", Some(&admin), None)
        .json();
    let active: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(active, [3]);
}
