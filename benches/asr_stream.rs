//! Streaming transcription against offline transcription on the same phone-band audio (G.711 μ-law,
//! 8 kHz), without the SIP path: real recordings are pushed into `AsrEngine` streams in 20 ms frames at
//! real time, as the media path would, and the bench prints
//! - WER of the streaming finals and of the offline decode (`koe transcribe`'s settings),
//! - final latency: wall time from the end of each utterance's audio to its final (p50, p95),
//! - partial lag: wall time from the end of the audio a partial covers to its arrival (p50, p95).
//!
//! `KOE_BENCH_CALLS=N` runs N calls at once (default 1); `KOE_BENCH_MODEL` picks the model (tiny.en).

#[path = "../tests/asr_common/mod.rs"]
mod asr_common;

use asr_common::*;
use koe::asr::AsrEngine;
use koe::asr::wer::word_errors;
use koe::asr::whisper::{DecodeOptions, Model};
use koe::config::Config;
use koe::events::{Channel, EventBus, EventKind, TranscriptKind};
use koe::metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Clip {
    wav: PathBuf,
    reference: String,
    pcm8: Vec<i16>,
}

fn corpus() -> Vec<Clip> {
    let mut list = vec![(jfk_wav(), JFK_TEXT.to_string())];
    list.extend(pocketsphinx_cards());
    for (f, t) in [
        ("Front_Center", "front center"),
        ("Rear_Left", "rear left"),
        ("Side_Right", "side right"),
    ] {
        list.push((
            PathBuf::from(format!("/usr/share/sounds/alsa/{f}.wav")),
            t.to_string(),
        ));
    }
    list.into_iter()
        .map(|(wav, reference)| {
            let phone = phone_copy(&wav);
            let pcm = koe::asr::audio::read_wav(&phone).expect("wav");
            assert_eq!(pcm.rate, 8000);
            let pcm8 = pcm
                .samples
                .iter()
                .map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16)
                .collect();
            Clip {
                wav: phone,
                reference,
                pcm8,
            }
        })
        .collect()
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[((values.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct CallResult {
    errors: usize,
    words: usize,
    final_latency: Vec<f64>,
    partial_lag: Vec<f64>,
    partials: usize,
}

/// One call: every clip in turn with 1.5 s of silence between, at real time.
async fn call(engine: Arc<AsrEngine>, clips: Arc<Vec<Clip>>, n: usize) -> CallResult {
    let events = Arc::new(EventBus::new(100_000));
    let mut rx = events.subscribe();
    let (tx, _finals) = tokio::sync::mpsc::unbounded_channel();
    let call_id = format!("bench-{n}");
    let mut stream = engine
        .open_stream(&call_id, Channel::Caller, "en", events.clone(), tx)
        .expect("open");
    let started = Instant::now();
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(e) = rx.recv().await {
            seen.push((started.elapsed().as_secs_f64(), e));
        }
        seen
    });
    // Which clip each millisecond of the call belongs to, for scoring finals against references.
    let mut spans = Vec::new();
    let mut sent = 0usize;
    let mut next = started;
    for (i, clip) in clips.iter().enumerate() {
        let mut audio = clip.pcm8.clone();
        audio.extend(std::iter::repeat_n(0i16, 12_000));
        spans.push((sent as u64 / 8, (sent + audio.len()) as u64 / 8, i));
        for frame in audio.chunks(160) {
            stream.push(frame);
            sent += frame.len();
            next += Duration::from_millis(20);
            tokio::time::sleep_until(next.into()).await;
        }
    }
    stream.finish().await;
    drop(events);
    let seen = collector.await.expect("collector");
    let mut result = CallResult::default();
    let mut hyps = vec![String::new(); clips.len()];
    for (at, e) in seen {
        if let EventKind::Transcript {
            kind, text, end_ms, ..
        } = e.kind
        {
            let lag = at - end_ms as f64 / 1000.0;
            match kind {
                TranscriptKind::Partial => {
                    result.partial_lag.push(lag);
                    result.partials += 1;
                }
                TranscriptKind::Final => {
                    result.final_latency.push(lag);
                    if let Some((_, _, i)) = spans.iter().find(|(a, b, _)| end_ms >= *a && end_ms < *b)
                    // by where its voice ends: the pre-roll can reach into the previous pad
                    {
                        hyps[*i].push_str(&text);
                        hyps[*i].push(' ');
                    }
                }
            }
        }
    }
    for (clip, hyp) in clips.iter().zip(&hyps) {
        let (e, w) = word_errors(&clip.reference, hyp);
        if n == 0 {
            println!("  {:?} → {hyp:?} ({e}/{w})", clip.reference);
        }
        result.errors += e;
        result.words += w;
    }
    result
}

fn offline_wer(model: &Model, clips: &[Clip]) -> (usize, usize) {
    let mut decoder = model.decoder().expect("decoder");
    let opts = DecodeOptions {
        language: "en".into(),
        threads: 1,
        fit_context: false,
        strict: true,
        single_segment: false,
    };
    let (mut errors, mut words) = (0, 0);
    for clip in clips {
        let pcm = koe::asr::audio::load_for_whisper(&clip.wav).expect("load");
        let text = decoder.decode(&pcm, &opts).expect("decode").text();
        let text = koe::asr::guard::clean(&text).unwrap_or_default();
        let (e, w) = word_errors(&clip.reference, &text);
        errors += e;
        words += w;
    }
    (errors, words)
}

fn main() {
    let calls: usize = std::env::var("KOE_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let model_name = std::env::var("KOE_BENCH_MODEL").unwrap_or_else(|_| "tiny.en".into());
    tiny_en();
    let (config, _) = Config::load(None, Vec::new()).expect("config");
    let mut asr = config.asr;
    asr.models_dir = root().join("models");
    asr.models.clear();
    asr.model = model_name.clone();
    let clips = Arc::new(corpus());
    let audio_s: f64 = clips.iter().map(|c| c.pcm8.len() as f64 / 8000.0).sum();

    let model = Model::load(&koe::asr::models::ggml_path(&asr.models_dir, &model_name)).expect("model");
    let t = Instant::now();
    let (oe, ow) = offline_wer(&model, &clips);
    let offline_s = t.elapsed().as_secs_f64();
    drop(model);

    let metrics = Arc::new(Metrics::new());
    let engine = Arc::new(AsrEngine::new(&asr, metrics.clone()).expect("engine"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results: Vec<CallResult> = rt.block_on(async {
        let handles: Vec<_> = (0..calls)
            .map(|n| tokio::spawn(call(engine.clone(), clips.clone(), n)))
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("call"));
        }
        out
    });
    let (mut errors, mut words, mut partials) = (0, 0, 0);
    let (mut latency, mut lag) = (Vec::new(), Vec::new());
    for r in results {
        errors += r.errors;
        words += r.words;
        partials += r.partials;
        latency.extend(r.final_latency);
        lag.extend(r.partial_lag);
    }
    println!(
        "model {model_name}, {} clips, {audio_s:.1} s of speech, {calls} simultaneous call(s)",
        clips.len()
    );
    println!(
        "offline WER        {:5.1} % ({oe}/{ow}), decode {offline_s:.1} s",
        100.0 * oe as f64 / ow as f64
    );
    println!(
        "streaming WER      {:5.1} % ({errors}/{words})",
        100.0 * errors as f64 / words as f64
    );
    println!(
        "final latency      p50 {:.2} s  p95 {:.2} s  ({} finals)",
        percentile(&mut latency.clone(), 0.5),
        percentile(&mut latency.clone(), 0.95),
        latency.len()
    );
    println!(
        "partial lag        p50 {:.2} s  p95 {:.2} s  ({partials} partials)",
        percentile(&mut lag.clone(), 0.5),
        percentile(&mut lag, 0.95)
    );
    for line in metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("koe_asr_") && !l.contains("_bucket"))
    {
        println!("  {line}");
    }
}
