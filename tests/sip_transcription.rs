//! Live transcription through the real SIP/RTP path: one caller streams real recorded speech (jfk.wav, the
//! pocketsphinx cards, alsa-utils voices) as G.711 μ-law in real time while another's line carries only
//! noise and silence. A WebSocket client on `/api/events` follows both calls: the speaking caller's
//! partials arrive while they talk, the finals' word error rate against the references is at most 15 %,
//! the finals are stored, and the noisy line produces no transcript text at all.

#[path = "asr_common/mod.rs"]
mod asr_common;
mod common;

use asr_common::{alsa, follow_events, ulaw_stream};
use common::gateway::encode_path;
use common::*;
use koe::asr::wer::word_error_rate;
use std::time::{Duration, Instant};

#[test]
fn speech_is_transcribed_live_and_noise_is_not() {
    let model = asr_common::tiny_en();
    let speech = asr_common::speech_stream();
    let reference: Vec<&str> = speech.clips.iter().map(|(text, _)| text.as_str()).collect();
    // The file noise.xml streams.
    ulaw_stream(
        "asr-noise.ulaw",
        &[alsa("Noise"), alsa("Noise"), alsa("Noise"), alsa("Noise")],
        1000,
    );

    let models_dir = model.parent().expect("models dir").display().to_string();
    let koe = Koe::start(&[
        ("KOE_ASR_ENABLED", "true"),
        ("KOE_ASR_MODELS_DIR", &models_dir),
        // The caller never presses a key; the line test would hang up on them after 30 s.
        ("KOE_CALLS_IDLE_TIMEOUT_S", "300"),
    ]);
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(120));

    let started = Instant::now();
    let talk_ms = speech.duration_ms + 1000;
    let speaker = Sipp::new("speak.xml", koe.sip_addr())
        .arg("-d")
        .arg(talk_ms.to_string())
        .timeout(talk_ms / 1000 + 30)
        .spawn();
    let noisy = Sipp::new("noise.xml", koe.sip_addr()).timeout(60).spawn();
    noisy.wait().assert_success();
    speaker.wait().assert_success();

    // Collect until both calls have ended (each call ends only after its last final is out).
    let mut seen = Vec::new();
    let mut ended = 0;
    while ended < 2 {
        let e = events
            .recv_timeout(Duration::from_secs(60))
            .expect("events until both calls end");
        if e["type"] == "CallEnded" {
            ended += 1;
        }
        seen.push(e);
    }
    let call_of = |user: &str| -> String {
        seen.iter()
            .find(|e| e["type"] == "CallStarted" && e["to"].as_str().is_some_and(|t| t.contains(user)))
            .and_then(|e| e["call_id"].as_str())
            .unwrap_or_else(|| panic!("a CallStarted for {user}"))
            .to_string()
    };
    let (speech_id, noise_id) = (call_of("speech@"), call_of("noise@"));
    let transcripts = |id: &str, kind: &str| -> Vec<serde_json::Value> {
        seen.iter()
            .filter(|e| e["type"] == "Transcript" && e["call_id"] == id && e["kind"] == kind)
            .cloned()
            .collect()
    };

    let finals = transcripts(&speech_id, "final");
    let partials = transcripts(&speech_id, "partial");
    let hypothesis: Vec<&str> = finals.iter().filter_map(|f| f["text"].as_str()).collect();
    let wer = word_error_rate(&reference.join(" "), &hypothesis.join(" "));
    eprintln!(
        "{} finals, {} partials in {:.0} s; WER {:.1} %\nfinals: {hypothesis:?}",
        finals.len(),
        partials.len(),
        started.elapsed().as_secs_f64(),
        wer * 100.0
    );
    assert!(wer <= 0.15, "WER {:.1} % > 15 %: {hypothesis:?}", wer * 100.0);
    assert!(finals.len() >= 5, "one final per utterance or so: {hypothesis:?}");
    assert!(!partials.is_empty(), "partials while the caller speaks");
    let first_partial = partials[0]["seq"].as_u64().expect("seq");
    let first_final = finals[0]["seq"].as_u64().expect("seq");
    assert!(
        first_partial < first_final,
        "a partial comes before the first final"
    );
    for f in &finals {
        let (start, end) = (f["start_ms"].as_u64().unwrap(), f["end_ms"].as_u64().unwrap());
        assert!(start < end && end <= talk_ms, "times in the call: {f}");
        assert_eq!(f["channel"], "caller");
    }

    // Finals are stored with the call, in order.
    let stored = koe.http_get_json(&format!("/api/calls/{}/transcript", encode_path(&speech_id)));
    let stored_text: Vec<&str> = stored["utterances"]
        .as_array()
        .expect("a list of finals")
        .iter()
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert_eq!(stored_text, hypothesis);

    // The noisy line: no text, no stored transcript.
    let noise_text: Vec<_> = seen
        .iter()
        .filter(|e| e["type"] == "Transcript" && e["call_id"] == noise_id.as_str())
        .collect();
    assert!(noise_text.is_empty(), "noise produced text: {noise_text:?}");
    let stored = koe.http_get_json(&format!("/api/calls/{}/transcript", encode_path(&noise_id)));
    let empty = stored["utterances"].as_array().is_some_and(|a| a.is_empty());
    assert!(empty, "{stored}");
}
