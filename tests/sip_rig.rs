//! Checks the rig itself, without koe: the audio comparison on real speech, and every caller the
//! end-to-end tests use (SIPp scenarios, baresip, pjsua2) against SIPp's UAS standing in for koe, with
//! the RTP they send counted. When a koe test fails, this file tells whether the peer or koe is at fault.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn correlation_tells_the_same_speech_from_other_speech() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jfk = read_channel(&cached_audio("jfk-8k.wav"), 0);
    // The same speech through another resampler path and μ-law (the phone version SIPp streams).
    let phone = read_channel(&to_mono_wav(&cached_audio("jfk.wav"), 8000, dir.path()), 0);
    let other = read_channel(&to_mono_wav(&cached_audio("cards-001.wav"), 8000, dir.path()), 0);
    let padded = read_channel(&cached_audio("jfk-8k-padded.wav"), 0);

    let same = best_correlation(&jfk, &phone, 200);
    let different = best_correlation(&jfk, &other, 200);
    assert!(same > 0.98, "same speech correlates {same}");
    assert!(different < 0.3, "different speech correlates {different}");
    assert!(best_correlation(&jfk, &padded, 200) > 0.99);
    // A jitter buffer that conceals one late packet with a 20 ms frame shifts the rest of the call:
    // still the same speech.
    let mut shifted = jfk.clone();
    shifted
        .samples
        .splice(12_000..12_000, std::iter::repeat_n(0.0, 160));
    let after_shift = best_correlation(&jfk, &shifted, 200);
    assert!(after_shift > 0.9, "one inserted frame: {after_shift}");
    assert!((padded.duration_ms() - jfk.duration_ms() - 6000.0).abs() < 1.0);
}

/// Runs SIPp's stand-in callee `uas` with its media at `sink`, in the background.
fn stand_in(uas: &str, sink: &RtpSink) -> (std::net::SocketAddr, common::sipp::SippRun) {
    let port = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let run = Sipp::server(uas, port)
        .key("rtpport", sink.port)
        .timeout(60)
        .spawn();
    std::thread::sleep(Duration::from_millis(300));
    (addr, run)
}

#[test]
fn basic_scenario_streams_speech_and_rfc4733_keys() {
    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas.xml", &sink);
    Sipp::new("basic.xml", uas).timeout(40).run().assert_success();
    server.wait().assert_success();
    let rtp = sink.finish();
    // jfk.ulaw is 88,000 bytes: 550 packets of 160; each of the three keys ~10 event packets.
    assert_eq!(rtp.pt(0), 550, "{rtp:?}");
    assert!((24..=40).contains(&rtp.pt(101)), "{rtp:?}");
    assert_eq!(rtp.sources.len(), 1, "speech and keys from one address: {rtp:?}");
}

#[test]
fn pound_scenario_answers_the_callee_bye() {
    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas_hangup.xml", &sink);
    Sipp::new("keys_koe_hangs_up.xml", uas)
        .timeout(30)
        .run()
        .assert_success();
    server.wait().assert_success();
    assert!(sink.finish().pt(101) >= 16);
}

#[test]
fn baresip_dials_streams_sends_keys_and_records_what_it_hears() {
    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas.xml", &sink);
    let mut phone = Baresip::start(&cached_audio("jfk-8k-padded.wav"));
    phone.dial(uas);
    phone.wait_output("Call established", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    for key in ['1', '2', '#'] {
        phone.send_key(key);
        std::thread::sleep(Duration::from_millis(500));
    }
    phone.command("/hangup");
    phone.wait_output("terminated", Duration::from_secs(10));
    phone.quit();
    server.wait().assert_success();
    let rtp = sink.finish();
    assert!(rtp.pt(0) > 150, "{rtp:?}");
    assert!(rtp.pt(101) >= 9, "three keys as telephone events: {rtp:?}");
    // What it sent is the start of the speech file (its encoder-side dump).
    let sent = read_channel(&phone.sent(), 0);
    let speech = read_channel(&cached_audio("jfk-8k.wav"), 0);
    let head = Mono {
        rate: 8000,
        samples: speech.samples[..sent.samples.len().min(speech.samples.len())].to_vec(),
    };
    assert!(best_correlation(&head, &sent, 200) > 0.95);
    assert!(phone.heard().exists());
}

#[test]
fn pjsua_sends_info_keys_and_holds_and_resumes() {
    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas.xml", &sink);
    let report = PjsuaCall {
        wav: Some(cached_audio("jfk-8k.wav")),
        keys: "12#".into(),
        dtmf: "info",
        keys_at_s: 1.0,
        hold_at_s: Some(3.0),
        talk_s: 8.0,
        ..Default::default()
    }
    .run(uas);
    let outcome = server.wait();
    outcome.assert_success();
    assert_eq!(report["confirmed"], true, "{report}");
    assert_eq!(report["keys_sent"], "12#");
    assert_eq!(report["hold"], "local_hold", "{report}");
    assert_eq!(report["resume"], "active", "{report}");
    let infos = outcome.received("INFO ");
    assert_eq!(infos.len(), 3, "three SIP INFO keys");
    assert!(infos.iter().all(|m| m.contains("application/dtmf-relay")));
    assert!(infos[2].contains("Signal=#"), "{}", infos[2]);
    assert_eq!(
        outcome.received("INVITE ").len(),
        3,
        "initial INVITE, hold, resume"
    );
    assert!(sink.finish().pt(0) > 200);
}

#[test]
fn cancel_scenario_gets_200_then_487() {
    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas_ringing.xml", &sink);
    Sipp::new("cancel.xml", uas).timeout(20).run().assert_success();
    server.wait().assert_success();
}

#[test]
fn no_ack_scenario_counts_retransmitted_answers() {
    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas.xml", &sink);
    let outcome = Sipp::new("no_ack.xml", uas).timeout(30).run();
    outcome.assert_success();
    // SIPp's UAS retransmits its 200 at 0.5, 1.5, 3.5, 7.5 s (T1 = 500 ms) within the 12 s wait.
    let copies = outcome.received("SIP/2.0 200").len();
    assert!((4..=8).contains(&copies), "{copies} copies of the 200 seen");
    let _ = server.kill();
}

#[test]
fn reinvite_scenario_holds_resumes_and_moves_its_media() {
    let sink = RtpSink::start();
    let moved = RtpSink::start();
    let (uas, server) = stand_in("peer_uas.xml", &sink);
    let outcome = Sipp::new("reinvite.xml", uas)
        .key("newport", moved.port)
        .timeout(30)
        .run();
    outcome.assert_success();
    server.wait().assert_success();
    let invites =
        outcome.messages.matches("\nINVITE ").count() + usize::from(outcome.messages.starts_with("INVITE"));
    assert_eq!(invites, 4, "INVITE, hold, resume, move");
    assert!(sink.finish().pt(0) > 100, "the caller streams speech throughout");
}

#[test]
fn inband_and_long_call_scenarios_answer_the_callee_bye() {
    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas_hangup.xml", &sink);
    Sipp::new("inband_dtmf.xml", uas)
        .timeout(30)
        .run()
        .assert_success();
    server.wait().assert_success();
    let rtp = sink.finish();
    assert!(
        (230..=320).contains(&rtp.pt(0)),
        "~5 s of speech with tones: {rtp:?}"
    );
    assert_eq!(rtp.pt(101), 0, "no telephone events: {rtp:?}");

    let sink = RtpSink::start();
    let (uas, server) = stand_in("peer_uas_hangup.xml", &sink);
    Sipp::new("wait_for_bye.xml", uas)
        .timeout(30)
        .run()
        .assert_success();
    server.wait().assert_success();
    assert!(sink.finish().pt(0) >= 240);
}
