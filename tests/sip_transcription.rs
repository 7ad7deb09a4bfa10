//! Live transcription through the real SIP/RTP path: one caller streams real recorded speech (jfk.wav, the
//! pocketsphinx cards, alsa-utils voices) as G.711 μ-law in real time while another's line carries only
//! noise and silence. A WebSocket client on `/api/events` follows both calls: the speaking caller's
//! partials arrive while they talk, the finals' word error rate against the references is at most 15 %,
//! the finals are stored, and the noisy line produces no transcript text at all.

#[path = "asr_common/mod.rs"]
mod asr_common;
mod common;

use common::gateway::encode_path;
use common::*;
use futures_util::StreamExt;
use koe::asr::wer::word_error_rate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ALSA: &str = "/usr/share/sounds/alsa";

/// Concatenates WAVs (1 s of silence before each) into raw 8 kHz μ-law for SIPp's `rtp_stream`.
fn make_stream(parts: &[PathBuf], out: &Path) {
    if out.exists() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args: Vec<String> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let norm = dir.path().join(format!("{i}.wav"));
        let ok = Command::new("sox")
            .arg(p)
            .args(["-r", "8000", "-c", "1", "-b", "16"])
            .arg(&norm)
            .args(["pad", "1", "0"])
            .status()
            .expect("sox");
        assert!(ok.success(), "sox {p:?}");
        args.push(norm.display().to_string());
    }
    let tmp = out.with_extension("tmp");
    let ok = Command::new("sox")
        .args(&args)
        .args(["-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law"])
        .arg(&tmp)
        .status()
        .expect("sox");
    assert!(ok.success());
    std::fs::rename(tmp, out).expect("rename");
}

/// Collects every event of `/api/events` until `done` says so or the time is up.
fn follow_events(
    http: std::net::SocketAddr,
    until: Duration,
) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let url = format!("ws://{http}/api/events");
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect /api/events");
            let _ = ready_tx.send(());
            let deadline = tokio::time::Instant::now() + until;
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
                if let Ok(text) = msg.into_text()
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("WebSocket connected");
    rx
}

#[test]
fn speech_is_transcribed_live_and_noise_is_not() {
    let model = asr_common::tiny_en();
    let jfk = asr_common::jfk_wav();
    let cards = asr_common::pocketsphinx_cards();
    let cache = asr_common::cache();

    let mut parts = vec![jfk];
    let mut reference = vec![asr_common::JFK_TEXT.to_string()];
    for (path, text) in &cards {
        parts.push(path.clone());
        reference.push(text.clone());
    }
    for (file, text) in [
        ("Front_Center.wav", "front center"),
        ("Rear_Left.wav", "rear left"),
    ] {
        parts.push(Path::new(ALSA).join(file));
        reference.push(text.to_string());
    }
    make_stream(&parts, &cache.join("asr-speech.ulaw"));
    let noise = Path::new(ALSA).join("Noise.wav");
    make_stream(
        &[noise.clone(), noise.clone(), noise.clone(), noise],
        &cache.join("asr-noise.ulaw"),
    );

    let models_dir = model.parent().expect("models dir").display().to_string();
    let koe = Koe::start(&[("KOE_ASR_ENABLED", "true"), ("KOE_ASR_MODELS_DIR", &models_dir)]);
    let events = follow_events(koe.http_addr(), Duration::from_secs(120));

    let started = Instant::now();
    let speech = Sipp::new("speak.xml", koe.sip_addr()).timeout(60).spawn();
    let noisy = Sipp::new("noise.xml", koe.sip_addr()).timeout(60).spawn();
    noisy.wait().assert_success();
    speech.wait().assert_success();

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
        assert!(start < end && end <= 40_000, "times in the call: {f}");
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
