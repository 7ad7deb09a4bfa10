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

/// Index of the first 20 ms frame whose level reaches a quarter of the loudest frame's: where speech
/// starts, robust to leading silence or line noise.
pub fn onset(x: &Mono) -> usize {
    let frame = (x.rate / 50) as usize;
    let levels: Vec<f64> = x.samples.chunks(frame).map(rms).collect();
    let loudest = levels.iter().copied().fold(0.0, f64::max);
    levels.iter().position(|&l| l >= loudest / 4.0).unwrap_or(0) * frame
}

/// The best normalized cross-correlation of `reference` found inside `recorded`, trying every lag
/// within ±`window_ms` of the lag that lines up their onsets. Both must have the same rate. 1.0 is
/// identical up to gain; unrelated signals stay near 0.
pub fn best_correlation(reference: &Mono, recorded: &Mono, window_ms: u32) -> f64 {
    assert_eq!(reference.rate, recorded.rate, "resample first");
    let window = (reference.rate * window_ms / 1000) as i64;
    let centre = onset(recorded) as i64 - onset(reference) as i64;
    (centre - window..=centre + window)
        .map(|lag| correlation_at(&reference.samples, &recorded.samples, lag))
        .fold(0.0, f64::max)
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
