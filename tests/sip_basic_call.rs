//! A caller speaks and presses keys (SIPp with real speech and RFC 4733 captures); koe answers, plays
//! its welcome prompt, records both sides and keeps a record.
//!
//! Contract choices (tell the lead): the record's `dtmf` holds only the keys, in order; `packets_received`
//! counts every RTP packet from the caller, telephone events included; the recording starts at the
//! answer, so its length matches `ended_at_ms - answered_at_ms` (±100 ms).

mod common;

use common::*;
use koe::store::{CallRecord, CallStatus};
use std::time::Duration;

/// The recording is a stereo WAV: caller left (must be the speech SIPp sent), koe right (must start
/// with the first `prompt_ms` of the welcome prompt: a key interrupts it), as long as the answered part
/// of the call.
fn check_recording(koe: &Koe, record: &CallRecord, sent: &str, prompt_ms: usize) {
    let path = koe.recording(record);
    let spec = hound::WavReader::open(&path)
        .expect("recording is a valid WAV")
        .spec();
    assert_eq!(spec.channels, 2, "stereo recording");
    let caller = read_channel(&path, 0);
    let tmp = tempfile::tempdir().expect("temp dir");
    let reference = read_channel(&to_mono_wav(&cached_audio(sent), caller.rate, tmp.path()), 0);
    let similarity = best_correlation(&reference, &caller, 200);
    assert!(
        similarity >= 0.8,
        "caller channel vs {sent}: correlation {similarity:.3}"
    );

    let koe_side = read_channel(&path, 1);
    let welcome = repo_path("sip-config/prompts/welcome.wav");
    let mut prompt = read_channel(&to_mono_wav(&welcome, koe_side.rate, tmp.path()), 0);
    prompt.samples.truncate(prompt_ms * prompt.rate as usize / 1000);
    let similarity = best_correlation(&prompt, &koe_side, 200);
    assert!(
        similarity >= 0.8,
        "koe channel vs welcome prompt: correlation {similarity:.3}"
    );

    let answered = record.answered_at_ms.expect("answered");
    let span = (record.ended_at_ms.expect("ended") - answered) as f64;
    // Real-time playout: one 20 ms packet per 20 ms of call, no drift (±100 ms of the call's span).
    let expected_packets = span / 20.0;
    assert!(
        (record.rtp.packets_sent as f64 - expected_packets).abs() <= 5.0,
        "{} packets sent in {span} ms",
        record.rtp.packets_sent
    );
    let duration = wav_duration_ms(&path);
    assert!(
        (duration - span).abs() <= 100.0,
        "recording {duration} ms, call answered for {span} ms"
    );
}

#[test]
fn caller_speaks_presses_keys_and_hangs_up() {
    let koe = Koe::start(&[]);
    Sipp::new("basic.xml", koe.sip_addr())
        .timeout(40)
        .run()
        .assert_success();

    let record = koe.wait_single_call_closed(Duration::from_secs(5));
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.hangup_by.as_deref(), Some("caller"));
    assert_eq!(record.end_cause.as_deref(), Some("bye"));
    assert_eq!(record.codec.as_deref(), Some("PCMU"), "the caller's first choice");
    assert_eq!(
        record.dtmf, "123",
        "each RFC 4733 key once, and no false key from the speech"
    );
    // 550 packets of speech, then ~30 telephone events; 6 s of prompt at least went the other way.
    assert!(record.rtp.packets_received >= 550, "{:?}", record.rtp);
    assert!(record.rtp.packets_sent >= 300, "{:?}", record.rtp);
    assert_eq!(
        record.rtp.packets_lost, 0,
        "loopback loses nothing: {:?}",
        record.rtp
    );
    assert!(record.from_uri.contains("sipp@127.0.0.1"), "{}", record.from_uri);
    check_recording(&koe, &record, "jfk-8k.wav", 6_000);

    let metrics = koe.metrics();
    assert_eq!(metric(&metrics, "koe_active_calls"), Some(0.0));
    assert_eq!(
        metric(&metrics, "koe_sip_requests_total{method=\"INVITE\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "koe_sip_requests_total{method=\"BYE\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert!(metric_sum(&metrics, "koe_calls_total") >= 1.0, "{metrics}");
    assert!(
        metric_sum(&metrics, "koe_rtp_packets_total") >= 850.0,
        "{metrics}"
    );
}

#[test]
fn koe_hangs_up_on_pound() {
    let koe = Koe::start(&[]);
    Sipp::new("keys_koe_hangs_up.xml", koe.sip_addr())
        .timeout(30)
        .run()
        .assert_success();

    let record = koe.wait_single_call_closed(Duration::from_secs(5));
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.hangup_by.as_deref(), Some("koe"));
    assert_eq!(record.dtmf, "4#");
    assert!(record.rtp.packets_received > 100, "{:?}", record.rtp);
    // The 4 arrives 3 s after the answer and cuts the welcome prompt short.
    check_recording(&koe, &record, "goforward-8k.wav", 2_500);
}

#[test]
fn call_over_tcp() {
    let koe = Koe::start(&[]);
    Sipp::new("keys_koe_hangs_up.xml", koe.sip_addr())
        .tcp()
        .timeout(30)
        .run()
        .assert_success();

    let record = koe.wait_single_call_closed(Duration::from_secs(5));
    assert_eq!(record.hangup_by.as_deref(), Some("koe"));
    assert_eq!(record.dtmf, "4#");
}
