//! pjsua2 (PJSIP) calls koe: keys as SIP INFO (application/dtmf-relay), hold and resume by re-INVITE,
//! and a call that koe itself ends on a # sent by INFO.

mod common;

use common::*;
use koe::store::CallStatus;
use std::time::Duration;

#[test]
fn info_keys_and_hold_resume() {
    let koe = Koe::start(&[]);
    let report = PjsuaCall {
        wav: Some(cached_audio("jfk-8k.wav")),
        keys: "73".into(),
        dtmf: "info",
        keys_at_s: 1.0,
        hold_at_s: Some(3.0),
        talk_s: 9.0,
        ..Default::default()
    }
    .run(koe.sip_addr());
    assert_eq!(report["confirmed"], true, "{report}");
    assert_eq!(report["hold"], "local_hold", "koe accepted the hold: {report}");
    assert_eq!(report["resume"], "active", "koe accepted the resume: {report}");

    let call_id = report["call_id"].as_str().expect("call id");
    let record = koe.wait_call_closed(call_id, Duration::from_secs(5));
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.dtmf, "73");
    assert_eq!(record.hangup_by.as_deref(), Some("caller"));
    let metrics = koe.metrics();
    assert_eq!(
        metric(&metrics, "koe_sip_requests_total{method=\"INFO\"}"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "koe_sip_requests_total{method=\"INVITE\"}"),
        Some(3.0),
        "{metrics}"
    );
}

#[test]
fn pound_by_info_makes_koe_hang_up() {
    let koe = Koe::start(&[]);
    let report = PjsuaCall {
        wav: Some(cached_audio("goforward-8k.wav")),
        keys: "5#".into(),
        dtmf: "info",
        keys_at_s: 1.5,
        wait_bye: true,
        ..Default::default()
    }
    .run(koe.sip_addr());
    assert_eq!(report["confirmed"], true, "{report}");
    assert_eq!(report["disconnected"], true, "koe hung up: {report}");

    let record = koe.wait_call_closed(
        report["call_id"].as_str().expect("call id"),
        Duration::from_secs(5),
    );
    assert_eq!(record.dtmf, "5#");
    assert_eq!(record.hangup_by.as_deref(), Some("koe"));
}
