//! Live transcription through the real SIP/RTP path: one caller streams real recorded speech (jfk.wav, the
//! pocketsphinx cards, alsa-utils voices) as G.711 μ-law in real time while another's line carries only
//! noise and silence. A WebSocket client on `/api/events` follows both calls: the speaking caller's
//! partials arrive while they talk, the finals' word error rate against the references is at most 15 %,
//! the finals are stored, and the noisy line produces no transcript text at all. A third caller (baresip)
//! reads out a card number: it is masked in the transcript and silenced in the recording after the fact.

#[path = "asr_common/mod.rs"]
mod asr_common;
mod common;

use asr_common::{alsa, follow_events, ulaw_stream};
use common::gateway::encode_path;
use common::*;
use koe::asr::wer::word_error_rate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A caller (espeak-ng, 8 kHz) who says a sentence, reads out a card number digit by digit, then
/// another sentence, with pauses between.
fn card_caller(dir: &Path) -> PathBuf {
    let lines = [
        "Hello, I would like to pay my bill.",
        "My card number is 4 5 2 6, 7 1 8 9, 6 0 2 4, 5 9 8 1.",
        "Thank you very much.",
    ];
    let mut parts = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let raw = dir.join(format!("line{i}.wav"));
        let ok = Command::new("espeak-ng")
            .args(["-v", "en-us", "-s", "150", "-w"])
            .arg(&raw)
            .arg(line)
            .status()
            .expect("espeak-ng");
        assert!(ok.success());
        let part = dir.join(format!("part{i}.wav"));
        let ok = Command::new("sox")
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16"])
            .arg(&part)
            .args(["pad", "1.5", "0"])
            .status()
            .expect("sox");
        assert!(ok.success());
        parts.push(part);
    }
    let out = dir.join("card-caller.wav");
    let ok = Command::new("sox")
        .args(&parts)
        .arg(&out)
        .args(["pad", "0", "2"])
        .status()
        .expect("sox");
    assert!(ok.success());
    out
}

/// Whether a string anywhere in `v` holds a card number (13 or more digits).
fn shows_card_digits(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => has_card_digits(s),
        serde_json::Value::Array(a) => a.iter().any(shows_card_digits),
        serde_json::Value::Object(o) => o.values().any(shows_card_digits),
        _ => false,
    }
}

/// Whether `text` holds a run of 13 or more digits (spaces and punctuation between them allowed).
fn has_card_digits(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 13 {
                return true;
            }
        } else if !matches!(c, ' ' | ',' | '-' | '.') {
            run = 0;
        }
    }
    false
}

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
        // Speech is not keys: the line test hangs up on a '#' its in-band detector hears.
        ("KOE_MEDIA_INBAND_DTMF", "false"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let card_audio = card_caller(dir.path());
    let events = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(120));

    let started = Instant::now();
    let talk_ms = speech.duration_ms + 1000;
    let speaker = Sipp::new("speak.xml", koe.sip_addr())
        .arg("-d")
        .arg(talk_ms.to_string())
        .timeout(talk_ms / 1000 + 30)
        .spawn();
    let noisy = Sipp::new("noise.xml", koe.sip_addr()).timeout(60).spawn();
    let mut card = Baresip::start(&card_audio);
    card.dial(koe.sip_addr());
    card.wait_output("Call established", Duration::from_secs(10));
    let card_ms = (hound::WavReader::open(&card_audio).unwrap().duration() / 8) as u64;
    std::thread::sleep(Duration::from_millis(card_ms + 500));
    card.command("/hangup");
    noisy.wait().assert_success();
    speaker.wait().assert_success();
    card.quit();

    // Collect until the three calls have ended (each call ends only after its last final is out).
    let mut seen = Vec::new();
    let mut ended = 0;
    while ended < 3 {
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
    let (speech_id, noise_id, card_id) = (call_of("speech@"), call_of("noise@"), call_of("demo@"));
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

    // The card number: masked wherever the text goes, and silenced in the recording after the fact.
    let card_finals = transcripts(&card_id, "final");
    let card_text: Vec<&str> = card_finals.iter().filter_map(|f| f["text"].as_str()).collect();
    eprintln!("card caller: {card_text:?}");
    for e in seen.iter().filter(|e| e["call_id"] == card_id.as_str()) {
        assert!(!shows_card_digits(e), "a card number in an event: {e}");
    }
    let stored = koe.http_get_json(&format!("/api/calls/{}/transcript", encode_path(&card_id)));
    assert!(!shows_card_digits(&stored), "{stored}");
    let masked = card_finals
        .iter()
        .find(|f| f["text"].as_str().is_some_and(|t| t.contains('•')))
        .unwrap_or_else(|| panic!("a final with the number masked: {card_text:?}"));
    let redacted: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|e| e["type"] == "RecordingRedacted" && e["call_id"] == card_id.as_str())
        .collect();
    assert_eq!(redacted.len(), 1, "{redacted:?}");
    let (from, to) = (
        redacted[0]["from_ms"].as_u64().unwrap(),
        redacted[0]["to_ms"].as_u64().unwrap(),
    );
    let (start, end) = (
        masked["start_ms"].as_u64().unwrap(),
        masked["end_ms"].as_u64().unwrap(),
    );
    assert!(from <= start && end <= to, "{from}..{to} covers {start}..{end}");
    let record = koe.wait_call_closed(&card_id, Duration::from_secs(10));
    assert!(
        record.recording_pauses.contains(&(from, Some(to))),
        "{:?}",
        record.recording_pauses
    );
    let caller_side = read_channel(&koe.recording(&record), 0);
    let span = |a: u64, b: u64| Mono {
        rate: 8000,
        samples: caller_side.samples[(a * 8) as usize..((b * 8) as usize).min(caller_side.samples.len())]
            .to_vec(),
    };
    assert!(span(from, to).rms() < 1e-4, "the card number is silent");
    let first = &card_finals[0];
    let said = span(
        first["start_ms"].as_u64().unwrap(),
        first["end_ms"].as_u64().unwrap(),
    );
    assert!(
        first["end_ms"].as_u64() < Some(from) && said.rms() > 0.01,
        "the sentence before it is still there: {first}"
    );
}
