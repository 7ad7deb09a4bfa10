//! The streaming pipeline on real speech: recordings go through a G.711 μ-law 8 kHz round trip (as a
//! phone line delivers them), are pushed in 20 ms frames faster than real time into a real engine with
//! the converted tiny.en, and the events that come out are checked.

mod asr_common;

use asr_common::*;
use koe::asr::AsrEngine;
use koe::asr::stream::{FinalTranscript, StreamAt, UtteranceIds};
use koe::asr::wer::word_errors;
use koe::config::Config;
use koe::events::{Channel, Event, EventBus, EventKind, TranscriptKind};
use koe::metrics::Metrics;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn engine() -> AsrEngine {
    tiny_en();
    let (config, _) = Config::load(None, Vec::new()).expect("config");
    let mut asr = config.asr;
    asr.models_dir = root().join("models");
    asr.models.clear();
    asr.threads = 2;
    AsrEngine::new(&asr, Arc::new(Metrics::new())).expect("engine")
}

/// Streams `wav` (any WAV; resampled to 8 kHz i16 as the media path delivers it) at `speed`× real time,
/// padded with 1 s of silence, and returns the events and stored finals.
async fn stream(engine: &AsrEngine, wav: &Path, speed: u32) -> (Vec<Event>, Vec<FinalTranscript>) {
    stream_at(engine, wav, speed, StreamAt::default()).await
}

/// As `stream`, for a stream that starts `at` a point of its call.
async fn stream_at(
    engine: &AsrEngine,
    wav: &Path,
    speed: u32,
    at: StreamAt,
) -> (Vec<Event>, Vec<FinalTranscript>) {
    let pcm = koe::asr::audio::read_wav(wav).expect("wav");
    let pcm8 = koe::asr::audio::resample(&pcm.samples, pcm.rate, 8000).expect("resample");
    let mut samples: Vec<i16> = pcm8
        .iter()
        .map(|s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16)
        .collect();
    samples.extend(std::iter::repeat_n(0, 8000));
    let events = Arc::new(EventBus::new(10_000));
    let (tx, mut finals_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut s = engine
        .open_stream_at("call-1", Channel::Caller, "en", events.clone(), tx, at)
        .expect("open");
    for frame in samples.chunks(160) {
        s.push(frame);
        tokio::time::sleep(Duration::from_micros(20_000 / u64::from(speed))).await;
    }
    s.finish().await;
    let (history, _) = events.subscribe_from(0);
    let mut finals = Vec::new();
    while let Ok(f) = finals_rx.try_recv() {
        finals.push(f);
    }
    (history, finals)
}

fn transcripts(events: &[Event], want: TranscriptKind) -> Vec<(u64, String, u64, u64)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Transcript {
                kind,
                utterance_id,
                text,
                start_ms,
                end_ms,
                ..
            } if *kind == want => Some((*utterance_id, text.clone(), *start_ms, *end_ms)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jfk_over_a_phone_line_streams_partials_and_accurate_finals() {
    let engine = engine();
    let phone = phone_copy(&jfk_wav());
    // Real time, as a call delivers it: partials need decodes to come back while the caller speaks.
    let (events, finals) = stream(&engine, &phone, 1).await;
    let partials = transcripts(&events, TranscriptKind::Partial);
    let final_events = transcripts(&events, TranscriptKind::Final);
    let text: Vec<&str> = finals.iter().map(|f| f.text.as_str()).collect();
    let (errors, words) = word_errors(JFK_TEXT, &text.join(" "));
    println!(
        "finals: {text:?}\npartials: {}, WER {:.1} %",
        partials.len(),
        100.0 * errors as f64 / words as f64
    );
    assert!(errors as f64 / words as f64 <= 0.15, "WER {errors}/{words}");
    assert!(!partials.is_empty(), "partials while the caller speaks");
    assert_eq!(
        final_events.len(),
        finals.len(),
        "every non-empty final event is also stored"
    );
    for f in &finals {
        assert!(f.start_ms < f.end_ms && f.end_ms <= 11_500, "{f:?}");
        assert_eq!((f.call_id.as_str(), f.channel), ("call-1", Channel::Caller));
    }
    // Each partial precedes the final of its utterance.
    for (id, _, _, _) in &partials {
        let p = events.iter().position(|e| matches!(&e.kind, EventKind::Transcript { utterance_id, kind: TranscriptKind::Partial, .. } if utterance_id == id));
        let f = events.iter().position(|e| matches!(&e.kind, EventKind::Transcript { utterance_id, kind: TranscriptKind::Final, .. } if utterance_id == id));
        assert!(p < f || f.is_none(), "partial after final for utterance {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_real_utterances_are_transcribed() {
    let engine = engine();
    let corpus = short_utterances();
    let (mut errors, mut words) = (0, 0);
    // Each file is a stream of its own on one channel of one call, as when the caller's language
    // changes: the ids go on from the stream before and the times are the call's.
    let ids = UtteranceIds::default();
    let mut seen = std::collections::BTreeSet::new();
    for (i, (wav, reference)) in corpus.iter().enumerate() {
        let offset_ms = 60_000 * i as u64;
        let at = StreamAt {
            offset_ms,
            ids: ids.clone(),
        };
        let (_, finals) = stream_at(&engine, &phone_copy(wav), 8, at).await;
        for f in &finals {
            assert!(
                seen.insert(f.utterance_id),
                "utterance id {} again",
                f.utterance_id
            );
            assert!(f.start_ms >= offset_ms && f.end_ms < offset_ms + 60_000, "{f:?}");
        }
        let text: Vec<&str> = finals.iter().map(|f| f.text.as_str()).collect();
        let (e, n) = word_errors(reference, &text.join(" "));
        println!("{}: {reference:?} → {text:?} ({e}/{n})", wav.display());
        errors += e;
        words += n;
    }
    let wer = errors as f64 / words as f64;
    println!("corpus WER {:.1} % ({errors}/{words})", wer * 100.0);
    assert!(wer <= 0.15, "WER {wer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noise_and_silence_give_no_text() {
    let engine = engine();
    let (events, finals) = stream(&engine, &phone_copy(&alsa("Noise")), 8).await;
    let texts: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Transcript { text, .. } if !text.is_empty() => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(texts.is_empty() && finals.is_empty(), "noise produced {texts:?}");

    let silence = tempfile::NamedTempFile::with_suffix(".wav").expect("tmp");
    let mut bytes = Vec::new();
    let data = vec![0u8; 8000 * 2 * 5];
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&[
        16, 0, 0, 0, 1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0,
    ]);
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&data);
    std::fs::write(silence.path(), bytes).expect("write");
    let (events, finals) = stream(&engine, silence.path(), 16).await;
    assert!(events.is_empty() && finals.is_empty(), "{events:?}");
}

/// A decode whose abort flag is up stops with `Aborted` (whisper.cpp checks after the encoder), and the
/// decoder works again once the flag is down.
#[test]
fn an_aborted_decode_stops_and_the_decoder_goes_on() {
    use koe::asr::whisper::{DecodeOptions, Model, WhisperError};
    use std::sync::atomic::Ordering;
    let model = Model::load(&tiny_en()).expect("model");
    let mut decoder = model.decoder().expect("decoder");
    let pcm = koe::asr::audio::load_for_whisper(&phone_copy(&jfk_wav())).expect("jfk");
    let opts = DecodeOptions {
        language: "en".into(),
        threads: 1,
        fit_context: true,
        strict: false,
        single_segment: true,
    };
    let abort = decoder.abort_handle();
    abort.store(true, Ordering::Relaxed);
    let started = std::time::Instant::now();
    match decoder.decode(&pcm, &opts) {
        Err(WhisperError::Aborted) => {}
        other => panic!("expected Aborted, got {other:?}"),
    }
    println!("aborted after {:?}", started.elapsed());
    abort.store(false, Ordering::Relaxed);
    let text = decoder.decode(&pcm, &opts).expect("decode").text();
    let (errors, words) = word_errors(JFK_TEXT, &text);
    assert!(errors * 100 / words <= 15, "{text:?}");
}
