//! Shutdown: SIGTERM drains (new INVITEs get 503, the call in progress is hung up with BYE after the
//! drain timeout, its record closed), and SIGKILL mid-call loses nothing already written: on the next
//! start the recording is repaired and the record marked abnormal.
//!
//! Contract choices (tell the lead): a drained call ends with hangup_by "system", end_cause "drain";
//! koe exits 0 once drained; records stay readable after a restart on the same data directory.

mod common;

use common::*;
use koe::store::{CallStatus, now_ms};
use std::time::Duration;

/// Waits until koe's only call is answered; its Call-ID.
fn answered_call(koe: &Koe) -> String {
    wait_for(Duration::from_secs(10), "the call to be answered", || {
        koe.calls()
            .into_iter()
            .find(|c| c.status == CallStatus::Answered)
            .map(|c| c.id)
    })
}

#[test]
fn sigterm_drains_calls_then_exits() {
    let mut koe = Koe::start(&[("KOE_CALLS_DRAIN_TIMEOUT_S", "2")]);
    let call = Sipp::new("wait_for_bye.xml", koe.sip_addr()).timeout(40).spawn();
    let call_id = answered_call(&koe);
    std::thread::sleep(Duration::from_secs(1));

    koe.stop_gracefully();
    std::thread::sleep(Duration::from_millis(200));
    let raw = RawSip::new(koe.sip_addr());
    let offer = sdp_offer(4000, &[(0, "PCMU/8000")], "sendrecv");
    raw.send(
        sip_request(
            "INVITE",
            raw.target,
            raw.local(),
            "while-draining",
            1,
            "application/sdp",
            &offer,
        )
        .as_bytes(),
    );
    let (code, msg) = raw
        .final_response("INVITE", Duration::from_secs(2))
        .expect("an answer while draining");
    assert_eq!(code, 503, "{msg}");

    // The call in progress gets koe's BYE after the 2 s drain timeout; SIPp answers it.
    let outcome = call.wait();
    outcome.assert_success();
    assert_eq!(outcome.received("BYE ").len(), 1);
    let status = koe.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "koe exits cleanly after draining: {status}");

    koe.restart();
    let record = koe.call(&call_id);
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.hangup_by.as_deref(), Some("system"));
    assert_eq!(record.end_cause.as_deref(), Some("drain"));
    let lasted = record.ended_at_ms.expect("ended") - record.answered_at_ms.expect("answered");
    assert!(
        (2_500..8_000).contains(&lasted),
        "answered for {lasted} ms: 1 s + drain 2 s + slack"
    );
    let recording = koe.recording(&record);
    assert!((wav_duration_ms(&recording) - lasted as f64).abs() <= 100.0);
    assert!(
        koe.calls()
            .iter()
            .all(|c| c.id != "while-draining" || c.answered_at_ms.is_none())
    );
}

#[test]
fn sigkill_mid_call_recording_is_repaired_and_record_abnormal() {
    let mut koe = Koe::start(&[]);
    let call = Sipp::new("wait_for_bye.xml", koe.sip_addr()).timeout(40).spawn();
    let call_id = answered_call(&koe);
    std::thread::sleep(Duration::from_secs(5));
    let killed_at = now_ms();
    koe.kill9();
    call.kill();

    koe.restart();
    let record = koe.call(&call_id);
    assert_eq!(record.status, CallStatus::Abnormal);
    let recording = koe.recording(&record);
    let reader = hound::WavReader::open(&recording).expect("the repaired recording is a valid WAV");
    assert_eq!(reader.spec().channels, 2);
    let kept = wav_duration_ms(&recording);
    let spoken = (killed_at - record.answered_at_ms.expect("answered")) as f64;
    // What was written before the kill is kept; at most a second of buffered audio may be lost.
    assert!(
        kept <= spoken + 100.0 && kept >= spoken - 1_000.0,
        "kept {kept} ms of {spoken} ms"
    );
    let caller = read_channel(&recording, 0);
    let speech = read_channel(&cached_audio("jfk-8k.wav"), 0);
    let similarity = best_correlation(&speech, &caller, 200);
    assert!(
        similarity >= 0.8,
        "the repaired caller channel is the speech sent: {similarity:.3}"
    );
}
