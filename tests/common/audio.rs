//! Audio comparison: read WAV files, bring them to one rate with sox, and measure how alike two
//! signals are with normalized cross-correlation around their speech onsets.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One channel of a WAV file as samples in [-1, 1].
#[derive(Debug, Clone)]
pub struct Mono {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl Mono {
    pub fn duration_ms(&self) -> f64 {
        self.samples.len() as f64 * 1000.0 / f64::from(self.rate)
    }

    /// Root mean square level.
    pub fn rms(&self) -> f64 {
        rms(&self.samples)
    }
}

/// Reads channel `channel` (0 = left) of a 16-bit or float WAV file.
pub fn read_channel(path: &Path, channel: usize) -> Mono {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    assert!(channel < channels, "{} has {channels} channels", path.display());
    let all: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.expect("WAV sample") as f32 / scale)
                .collect()
        }
        hound::SampleFormat::Float => reader.samples::<f32>().map(|s| s.expect("WAV sample")).collect(),
    };
    let samples = all.iter().skip(channel).step_by(channels).copied().collect();
    Mono {
        rate: spec.sample_rate,
        samples,
    }
}

/// The duration a WAV header announces, in milliseconds.
pub fn wav_duration_ms(path: &Path) -> f64 {
    let reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f64::from(reader.duration()) * 1000.0 / f64::from(reader.spec().sample_rate)
}

/// Converts any audio file to 16-bit mono WAV at `rate` with sox (a proper resampler) into `dir`.
pub fn to_mono_wav(input: &Path, rate: u32, dir: &Path) -> PathBuf {
    let name = input.file_stem().and_then(|s| s.to_str()).unwrap_or("audio");
    let out = dir.join(format!("{name}-{rate}.wav"));
    let status = Command::new("sox")
        .arg(input)
        .args([
            "-r",
            &rate.to_string(),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
        ])
        .arg(&out)
        .status()
        .expect("run sox");
    assert!(status.success(), "sox failed on {}", input.display());
    out
}

fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Level of each 10 ms frame, less its mean (so that loud and quiet parts, not the level, line up).
fn envelope(x: &Mono) -> Vec<f32> {
    let frame = (x.rate / 100) as usize;
    let levels: Vec<f32> = x.samples.chunks(frame).map(|c| rms(c) as f32).collect();
    let mean = levels.iter().sum::<f32>() / levels.len().max(1) as f32;
    levels.iter().map(|l| l - mean).collect()
}

/// The lag (in samples) that best lines up the level envelopes of `reference` and `recorded`, searched
/// over ±3 s: where the reference sits in the recording, to within a frame, whatever comes before it
/// (silence, ringing, another prompt). Plain cross-correlation (not renormalized per overlap), so a lag
/// where most of both signals overlap wins over a short chance match.
pub fn coarse_lag(reference: &Mono, recorded: &Mono) -> i64 {
    let (a, b) = (envelope(reference), envelope(recorded));
    let score = |lag: i64| -> f32 {
        a.iter()
            .enumerate()
            .filter_map(|(i, &x)| Some(x * b.get(usize::try_from(i as i64 + lag).ok()?)?))
            .sum()
    };
    let best = (-300..=300)
        .map(|lag| (lag, score(lag)))
        .fold((0, f32::MIN), |best, cur| if cur.1 > best.1 { cur } else { best });
    best.0 * i64::from(reference.rate / 100)
}

/// How much of `reference` is found inside `recorded`: the reference is cut into 500 ms segments, each
/// segment's normalized cross-correlation is maximised over lags within ±`window_ms` of where the level
/// envelopes line up, and the results are averaged weighted by segment energy. Per-segment lags let an
/// adaptive jitter buffer shift the timeline by a frame now and then (it may) without hiding a wrong or
/// garbled signal. Segments the recording does not cover are left out. Both must have the same rate.
/// 1.0 is identical up to gain; unrelated speech stays low.
pub fn best_correlation(reference: &Mono, recorded: &Mono, window_ms: u32) -> f64 {
    assert_eq!(reference.rate, recorded.rate, "resample first");
    let window = i64::from(reference.rate * window_ms / 1000);
    let centre = coarse_lag(reference, recorded);
    let segment = reference.rate as usize / 2;
    let (mut weighted, mut total) = (0.0, 0.0);
    for (k, chunk) in reference.samples.chunks(segment).enumerate() {
        let offset = (k * segment) as i64;
        // Only the part of the reference the recording covers counts (its length is checked apart).
        let start = offset + centre;
        if start + window < 0 || start - window + chunk.len() as i64 > recorded.samples.len() as i64 {
            continue;
        }
        let energy: f64 = chunk.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let best = (centre - window..=centre + window)
            .map(|lag| correlation_at(chunk, &recorded.samples, offset + lag))
            .fold(0.0, f64::max);
        weighted += best * energy;
        total += energy;
    }
    if total == 0.0 { 0.0 } else { weighted / total }
}

/// Normalized cross-correlation of `a` against `b` shifted by `lag` (b[i + lag] pairs with a[i]), over
/// the part where they overlap.
fn correlation_at(a: &[f32], b: &[f32], lag: i64) -> f64 {
    let (mut dot, mut ea, mut eb) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &va) in a.iter().enumerate() {
        let j = i as i64 + lag;
        let Some(&vb) = usize::try_from(j).ok().and_then(|j| b.get(j)) else {
            continue;
        };
        dot += f64::from(va) * f64::from(vb);
        ea += f64::from(va) * f64::from(va);
        eb += f64::from(vb) * f64::from(vb);
    }
    if ea == 0.0 || eb == 0.0 {
        0.0
    } else {
        dot / (ea * eb).sqrt()
    }
}

/// A silent 8 kHz WAV for baresip to send (it hangs up when its source ends).
pub fn silence(dir: &Path, secs: u32) -> PathBuf {
    let path = dir.join("silence.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for _ in 0..secs * 8000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    path
}
