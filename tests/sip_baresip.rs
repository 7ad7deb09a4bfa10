//! baresip, a real softphone, calls koe: it streams speech, presses keys (RFC 4733), hangs up. What it
//! heard (its sndfile dump) must be koe's welcome prompt; what koe recorded from it must be the speech.

mod common;

use common::*;
use koe::store::CallStatus;
use std::time::Duration;

#[test]
fn softphone_hears_the_prompt_and_is_recorded() {
    let koe = Koe::start(&[]);
    let mut phone = Baresip::start(&cached_audio("jfk-8k-padded.wav"));
    phone.dial(koe.sip_addr());
    phone.wait_output("Call established", Duration::from_secs(10));
    // The welcome prompt lasts 6 s; then two keys, each echoed by its digit prompt.
    std::thread::sleep(Duration::from_millis(6_500));
    for key in ['4', '2'] {
        phone.send_key(key);
        std::thread::sleep(Duration::from_millis(1_200));
    }
    phone.command("/hangup");
    phone.wait_output("terminated", Duration::from_secs(10));
    phone.quit();

    let tmp = tempfile::tempdir().expect("temp dir");
    let heard = read_channel(&phone.heard(), 0);
    let welcome = repo_path("sip-config/prompts/welcome.wav");
    let prompt = read_channel(&to_mono_wav(&welcome, heard.rate, tmp.path()), 0);
    let similarity = best_correlation(&prompt, &heard, 200);
    assert!(
        similarity >= 0.8,
        "baresip heard the welcome prompt: correlation {similarity:.3}"
    );

    let record = koe.wait_single_call_closed(Duration::from_secs(5));
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.hangup_by.as_deref(), Some("caller"));
    assert_eq!(record.dtmf, "42");
    assert_eq!(record.codec.as_deref(), Some("PCMU"));
    let recording = koe.recording(&record);
    let caller = read_channel(&recording, 0);
    let speech = read_channel(&cached_audio("jfk-8k.wav"), 0);
    let similarity = best_correlation(&speech, &caller, 200);
    assert!(
        similarity >= 0.8,
        "koe recorded baresip's speech: correlation {similarity:.3}"
    );
    let span = (record.ended_at_ms.expect("ended") - record.answered_at_ms.expect("answered")) as f64;
    assert!((wav_duration_ms(&recording) - span).abs() <= 100.0);
}
