//! Live transcription through the real SIP/RTP path, per model: the real `koe serve` (its default
//! ASR settings: one worker, one thread per decode, unless `KOE_ASR_*` in the environment say
//! otherwise), SIPp callers streaming the speech corpus (jfk.wav, the pocketsphinx cards, three
//! alsa-utils voices, 1.5 s apart) as G.711 μ-law at real time, and a WebSocket client on
//! `/api/events`. It prints
//! - WER of offline `koe transcribe` on each clip's 8 kHz μ-law copy (the same audio the calls carry),
//! - for 1, 2, 3… simultaneous talking calls (started 1.7 s apart, so their utterances do not all end
//!   together): WER of the streaming finals; final latency, from the end of each utterance's voice
//!   to its final event (p50, p95); partial lag, from the end of the audio a partial covers to its
//!   event (p50, p95); decode and queue figures from `/metrics`,
//! - the largest number of talking calls whose final latency p95 stays within 2 s. The ramp stops at
//!   the first level over 2 s or at `ASR_BENCH_MAX_CALLS` (default 6).
//!
//! Times are koe's own: each call's transcription clock starts when koe answers, so an utterance's end
//! is `CallAnswered.ts_ms + end_ms`; the jitter buffer's delay (40 ms on loopback) comes on top.
//! `ASR_BENCH_MODELS=tiny.en,base` picks the models (default: those installed of tiny.en,
//! tiny.en-q8_0, base, small; tiny.en is installed when missing). `ASR_BENCH_LOG=DIR` keeps koe's
//! log of each level there (one line per decode). Not `KOE_BENCH_*`: koe refuses `KOE_*` variables that
//! name no config key, and the koe under test inherits the bench's environment. Needs SIPp, sox, npm and apt-get (test audio); run it
//! on an otherwise idle machine: the figures are timings.

#[path = "../tests/asr_common/mod.rs"]
mod asr_common;
#[path = "../tests/common/mod.rs"]
mod common;

use asr_common::{SpeechStream, koe as koe_cli, phone_copy, root, speech_corpus, speech_stream, tiny_en};
use common::net::{metric, metric_sum};
use common::{Koe, Sipp};
use koe::asr::wer::word_errors;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Time between the starts of two calls of a level.
const STAGGER_MS: u64 = 1700;
/// What a level must keep final latency p95 within.
const TARGET_P95_S: f64 = 2.0;

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The koe binary's inode and modification time: a shared target directory can have it replaced by
/// another build while the bench runs, which would mix two programs' figures.
fn koe_identity() -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(env!("CARGO_BIN_EXE_koe")).expect("koe binary");
    (meta.ino(), meta.modified().expect("mtime"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// Offline `koe transcribe` of every clip's phone copy: (errors, words, seconds).
fn offline(model: &str) -> (usize, usize, f64) {
    let started = Instant::now();
    let (mut errors, mut words) = (0, 0);
    for (clip, reference) in speech_corpus() {
        let phone = phone_copy(&clip);
        let path = phone.display().to_string();
        let out = koe_cli(&["transcribe", "--model", model, "--lang", "en", &path]);
        assert!(
            out.status.success(),
            "koe transcribe {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (e, w) = word_errors(&reference, &String::from_utf8_lossy(&out.stdout));
        errors += e;
        words += w;
    }
    (errors, words, started.elapsed().as_secs_f64())
}

#[derive(Default)]
struct Level {
    errors: usize,
    words: usize,
    finals: usize,
    /// Finals that should have come: one per clip per call.
    expected: usize,
    final_latency: Vec<f64>,
    partial_lag: Vec<f64>,
    metrics: String,
    load: (String, String),
}

/// `calls` simultaneous callers each streaming the speech stream through one fresh koe.
fn run_level(model: &str, speech: &SpeechStream, calls: u32) -> Level {
    let models_dir = root().join("models").display().to_string();
    let koe = Koe::start(&[
        ("KOE_ASR_ENABLED", "true"),
        ("KOE_ASR_MODELS_DIR", &models_dir),
        ("KOE_ASR_MODEL", model),
        ("KOE_ASR_LANGUAGE", "en"),
        ("KOE_CALLS_IDLE_TIMEOUT_S", "600"),
        ("KOE_CALLS_ANSWER_DELAY_MS", "0"),
        ("RUST_LOG", "warn,koe::call=info,koe::asr=debug"),
        // Speech is not keys: the line test hangs up on a '#' its in-band detector hears.
        ("KOE_MEDIA_INBAND_DTMF", "false"),
    ]);
    let talk_ms = speech.duration_ms + 1000;
    let ramp_ms = STAGGER_MS * u64::from(calls);
    let budget = Duration::from_millis(talk_ms + ramp_ms + 120_000);
    let events = asr_common::follow_events(koe.http_addr(), koe.admin_token(), budget);
    let load_before = load_average();
    let sipp = Sipp::new("speak.xml", koe.sip_addr())
        .calls(calls, calls)
        .arg("-r")
        .arg("1")
        .arg("-rp")
        .arg(STAGGER_MS.to_string())
        .arg("-d")
        .arg(talk_ms.to_string())
        .timeout((talk_ms + ramp_ms) / 1000 + 60)
        .spawn();

    let mut answered: HashMap<String, u64> = HashMap::new();
    let mut transcripts = Vec::new();
    let mut ended = 0;
    let deadline = Instant::now() + budget;
    while ended < calls {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(e) = events.recv_timeout(left) else {
            panic!("{ended} of {calls} calls ended in time\n{}", koe.log_text());
        };
        let call = e["call_id"].as_str().unwrap_or_default().to_string();
        match e["type"].as_str() {
            Some("CallAnswered") => {
                answered.insert(call, e["ts_ms"].as_u64().unwrap_or_default());
            }
            Some("Transcript") => transcripts.push(e),
            Some("CallEnded") => ended += 1,
            _ => {}
        }
    }
    if let Ok(dir) = std::env::var("ASR_BENCH_LOG") {
        let file = std::path::Path::new(&dir).join(format!("koe-{model}-{calls}.log"));
        std::fs::write(&file, koe.log_text()).expect("write koe log");
    }
    sipp.wait().assert_success();

    let mut level = Level {
        expected: speech.clips.len() * calls as usize,
        metrics: koe.metrics(),
        load: (load_before, load_average()),
        ..Level::default()
    };
    // Per call and clip: the finals' text and latencies.
    let mut hypotheses: HashMap<(String, usize), (String, Vec<f64>)> = HashMap::new();
    for t in &transcripts {
        let call = t["call_id"].as_str().unwrap_or_default().to_string();
        let (Some(answered_ms), Some(ts), Some(end)) =
            (answered.get(&call), t["ts_ms"].as_u64(), t["end_ms"].as_u64())
        else {
            panic!("a transcript without its call's answer or times: {t}");
        };
        let lag = (ts as f64 - (answered_ms + end) as f64) / 1000.0;
        if t["kind"] == "partial" {
            level.partial_lag.push(lag);
            continue;
        }
        level.final_latency.push(lag);
        level.finals += 1;
        // The clip an utterance belongs to: the last one that starts before its voice ends.
        let clip = speech
            .clips
            .iter()
            .rposition(|(_, (start, _))| *start <= end)
            .unwrap_or(0);
        let (text, lags) = hypotheses.entry((call, clip)).or_default();
        text.push_str(t["text"].as_str().unwrap_or_default());
        text.push(' ');
        lags.push(lag);
    }
    for call in answered.keys() {
        for (i, (reference, _)) in speech.clips.iter().enumerate() {
            let (hyp, lags) = hypotheses
                .get(&(call.clone(), i))
                .map_or(("", &[][..]), |(t, l)| (t.as_str(), &l[..]));
            let (e, w) = word_errors(reference, hyp);
            if calls == 1 {
                let lags: Vec<String> = lags.iter().map(|l| format!("{l:.2} s")).collect();
                println!(
                    "    {reference:?} → {:?} ({e}/{w}; final after {})",
                    hyp.trim(),
                    lags.join(", ")
                );
            }
            level.errors += e;
            level.words += w;
        }
    }
    level
}

fn print_level(calls: u32, l: &Level) {
    let m = &l.metrics;
    let mean = |kind: &str, what: &str| {
        let sum = metric(m, &format!("koe_asr_{what}_seconds_sum{{kind=\"{kind}\"}}")).unwrap_or(0.0);
        let n = metric(m, &format!("koe_asr_{what}_seconds_count{{kind=\"{kind}\"}}")).unwrap_or(0.0);
        if n > 0.0 { sum / n } else { f64::NAN }
    };
    let count = |series: &str| metric(m, series).unwrap_or(0.0) as u64;
    let total = |name: &str| metric_sum(m, name) as u64;
    println!(
        "  {calls:>2} call(s)  WER {:5.1} %  finals {}/{}  final p50 {:.2} s p95 {:.2} s  \
         partials {} lag p50 {:.2} s p95 {:.2} s  load {}→{}",
        100.0 * l.errors as f64 / l.words.max(1) as f64,
        l.finals,
        l.expected,
        percentile(&l.final_latency, 0.5),
        percentile(&l.final_latency, 0.95),
        l.partial_lag.len(),
        percentile(&l.partial_lag, 0.5),
        percentile(&l.partial_lag, 0.95),
        l.load.0,
        l.load.1,
    );
    println!(
        "             decode final {:.2} s, partial {:.2} s (mean); wait final {:.2} s, partial {:.2} s; \
         partials dropped {} (pre-empted {}); finals retried {}, loops cut {}",
        mean("final", "decode"),
        mean("partial", "decode"),
        mean("final", "queue_wait"),
        mean("partial", "queue_wait"),
        total("koe_asr_partials_dropped_total"),
        count("koe_asr_partials_dropped_total{reason=\"preempted\"}"),
        count("koe_asr_context_retries_total{kind=\"final\"}"),
        count("koe_asr_loops_cut_total{kind=\"final\"}"),
    );
}

fn main() {
    tiny_en();
    let models: Vec<String> = match std::env::var("ASR_BENCH_MODELS") {
        Ok(list) => list.split(',').map(|m| m.trim().to_string()).collect(),
        Err(_) => ["tiny.en", "tiny.en-q8_0", "base", "small"]
            .into_iter()
            .filter(|m| koe::asr::models::ggml_path(&root().join("models"), m).exists())
            .map(str::to_string)
            .collect(),
    };
    let max_calls: u32 = std::env::var("ASR_BENCH_MAX_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let speech = speech_stream();
    let koe_bin = koe_identity();
    println!(
        "{} clips, {:.1} s per call; ASR settings from the config (KOE_ASR_WORKERS={}, KOE_ASR_THREADS={})",
        speech.clips.len(),
        speech.duration_ms as f64 / 1000.0,
        std::env::var("KOE_ASR_WORKERS").unwrap_or_else(|_| "default".into()),
        std::env::var("KOE_ASR_THREADS").unwrap_or_else(|_| "default".into()),
    );
    for model in &models {
        let (e, w, secs) = offline(model);
        println!(
            "model {model}: offline WER {:.1} % ({e}/{w}), koe transcribe {secs:.1} s for all clips",
            100.0 * e as f64 / w.max(1) as f64
        );
        let mut sustained = 0;
        for calls in 1..=max_calls {
            let level = run_level(model, &speech, calls);
            assert_eq!(
                koe_identity(),
                koe_bin,
                "{} was replaced during the bench; run it again",
                env!("CARGO_BIN_EXE_koe")
            );
            print_level(calls, &level);
            let p95 = percentile(&level.final_latency, 0.95);
            if p95.is_nan() || p95 > TARGET_P95_S || level.finals < level.expected / 2 {
                break;
            }
            sustained = calls;
        }
        println!(
            "model {model}: largest number of talking calls with final p95 ≤ {TARGET_P95_S} s: {sustained}{}",
            if sustained == max_calls {
                " (the most tried)"
            } else {
                ""
            }
        );
    }
}
