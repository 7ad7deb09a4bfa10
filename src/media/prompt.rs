//! Prompt loading: any PCM or float WAV file becomes the mono 8 kHz 16-bit samples G.711 carries.
//!
//! Resampling uses rubato's synchronous FFT resampler: the rate pair is fixed, it band-limits to the
//! lower Nyquist frequency (so a 48 kHz prompt cannot alias into the phone band), and `process_all`
//! trims its delay so the output lines up with the input sample for sample.

use std::path::{Path, PathBuf};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// The rate of G.711 audio.
const PHONE_RATE: u32 = 8000;
/// Frames per FFT resampler chunk: a hint, rubato rounds it to fit the rate ratio.
const CHUNK: usize = 1024;

/// Why a prompt could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be opened or decoded as WAV.
    #[error("prompt {}: {source}", path.display())]
    Wav { path: PathBuf, source: hound::Error },
    /// The WAV header describes no playable audio.
    #[error("prompt {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// The resampler refused the rate pair.
    #[error("prompt {}: cannot resample: {reason}", path.display())]
    Resample { path: PathBuf, reason: String },
}

/// Loads a WAV file (8/16/24/32-bit integer or 32-bit float, any rate, any channel count) as mono
/// 8 kHz samples: channels are averaged, then the result is resampled unless it already is 8 kHz.
pub fn load_wav(path: &Path) -> Result<Vec<i16>, PromptError> {
    let reader = hound::WavReader::open(path).map_err(|source| PromptError::Wav {
        path: path.to_owned(),
        source,
    })?;
    decode(reader, path)
}

/// [`load_wav`] for a WAV held in memory (prompts embedded in the binary); `name` is for errors.
pub fn load_wav_bytes(bytes: &[u8], name: &Path) -> Result<Vec<i16>, PromptError> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|source| PromptError::Wav {
        path: name.to_owned(),
        source,
    })?;
    decode(reader, name)
}

fn decode<R: std::io::Read>(reader: hound::WavReader<R>, path: &Path) -> Result<Vec<i16>, PromptError> {
    let wav_err = |source| PromptError::Wav {
        path: path.to_owned(),
        source,
    };
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(PromptError::Invalid {
            path: path.to_owned(),
            reason: format!("{} channels at {} Hz", spec.channels, spec.sample_rate),
        });
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            // hound widens every integer width to i32 (8-bit is re-centred on zero).
            let full_scale = (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 / full_scale))
                .collect()
        }
    }
    .map_err(wav_err)?;

    let channels = usize::from(spec.channels);
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let phone =
        resample_checked(&mono, spec.sample_rate, PHONE_RATE).map_err(|reason| PromptError::Resample {
            path: path.to_owned(),
            reason,
        })?;
    Ok(phone
        .iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Resamples mono audio from `from_hz` to `to_hz` with an anti-aliasing FFT resampler. The output has
/// round(len × to / from) samples and is time-aligned with the input (the resampler delay is removed).
///
/// # Panics
/// If either rate is zero: rates are constants of the caller, not input.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    match resample_checked(samples, from_hz, to_hz) {
        Ok(out) => out,
        Err(reason) => panic!("resample {from_hz} Hz -> {to_hz} Hz: {reason}"),
    }
}

fn resample_checked(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, String> {
    if from_hz == 0 || to_hz == 0 {
        return Err(format!("invalid rates {from_hz} Hz -> {to_hz} Hz"));
    }
    if from_hz == to_hz || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let out_len = (samples.len() as u64 * u64::from(to_hz) + u64::from(from_hz) / 2) / u64::from(from_hz);
    let mut resampler = Fft::<f32>::new(from_hz as usize, to_hz as usize, CHUNK, 1, FixedSync::Both)
        .map_err(|e| e.to_string())?;
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| e.to_string())?;
    let mut out = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|e| e.to_string())?
        .take_data();
    // process_all yields ceil(len × ratio) frames; the contract is the rounded length.
    out.resize(out_len as usize, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;

    fn tone(freq: f32, rate: u32, len: usize, amplitude: f32) -> Vec<f32> {
        (0..len)
            .map(|n| amplitude * (TAU * freq * n as f32 / rate as f32).sin())
            .collect()
    }

    /// Fraction of the energy of `x` at `freq` (a whole number of cycles over `x` gives exact bins).
    fn goertzel_fraction(x: &[f32], freq: f32, rate: u32) -> f64 {
        let w = std::f64::consts::TAU * f64::from(freq) / f64::from(rate);
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &v in x {
            let s = f64::from(v) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        let energy: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
        2.0 * power / (x.len() as f64 * energy)
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn to_f32(x: &[i16]) -> Vec<f32> {
        x.iter().map(|&s| f32::from(s) / 32768.0).collect()
    }

    /// The middle `len` samples, away from the edges of the clip.
    fn middle(x: &[f32], len: usize) -> &[f32] {
        let start = (x.len() - len) / 2;
        &x[start..start + len]
    }

    fn write_wav(path: &Path, spec: hound::WavSpec, frames: &[Vec<f32>]) {
        let mut w = hound::WavWriter::create(path, spec).expect("create wav");
        for frame in frames {
            for &v in frame {
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => w.write_sample(v),
                    (_, bits) => {
                        let full = (1i64 << (bits - 1)) as f32;
                        let s = (v * full).round().clamp(-full, full - 1.0) as i32;
                        w.write_sample(s)
                    }
                }
                .expect("write sample");
            }
        }
        w.finalize().expect("finalize");
    }

    fn spec(channels: u16, rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn stereo_44k1_tone_becomes_a_clean_8k_mono_tone_of_the_right_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tone.wav");
        let len = 44_100 * 2;
        let (left, right) = (tone(1000.0, 44_100, len, 0.6), tone(1000.0, 44_100, len, 0.2));
        let frames: Vec<Vec<f32>> = left.iter().zip(&right).map(|(&l, &r)| vec![l, r]).collect();
        write_wav(&path, spec(2, 44_100, 16, hound::SampleFormat::Int), &frames);

        let out = to_f32(&load_wav(&path).expect("load"));
        assert!(out.len().abs_diff(16_000) <= 160, "length {}", out.len());
        let mid = middle(&out, 8000);
        let purity = goertzel_fraction(mid, 1000.0, 8000);
        assert!(purity > 0.95, "1 kHz holds {purity:.5} of the energy");
        // The mix is the average of the channels: (0.6 + 0.2) / 2 = 0.4 peak.
        let level = rms(mid) * std::f64::consts::SQRT_2;
        assert!((level - 0.4).abs() < 0.004, "peak level {level:.4}");
    }

    #[test]
    fn a_6_khz_tone_at_48k_does_not_alias_into_the_phone_band() {
        let input = tone(6000.0, 48_000, 48_000, 0.5);
        let out = resample(&input, 48_000, 8000);
        assert_eq!(out.len(), 8000);
        let attenuation_db = 20.0 * (rms(&out) / rms(&input)).log10();
        assert!(
            attenuation_db < -40.0,
            "6 kHz only attenuated by {attenuation_db:.1} dB"
        );
    }

    #[test]
    fn upsampling_8k_to_16k_doubles_the_length_and_stays_aligned() {
        // A 500 Hz tone under a Hann envelope: its cross-correlation has one unambiguous peak.
        let burst = |rate: u32| -> Vec<f32> {
            let len = rate as usize / 2;
            let start = len / 4;
            let width = len / 2;
            (0..len)
                .map(|n| {
                    let Some(k) = n.checked_sub(start).filter(|k| *k < width) else {
                        return 0.0;
                    };
                    let env = 0.5 - 0.5 * (TAU * k as f32 / width as f32).cos();
                    env * 0.5 * (TAU * 500.0 * n as f32 / rate as f32).sin()
                })
                .collect()
        };
        let out = resample(&burst(8000), 8000, 16_000);
        let reference = burst(16_000);
        assert_eq!(out.len(), reference.len());

        let xcorr = |lag: i64| -> f64 {
            (0..reference.len() as i64)
                .filter_map(|n| {
                    let m = usize::try_from(n + lag).ok()?;
                    Some(f64::from(reference[n as usize]) * f64::from(*out.get(m)?))
                })
                .sum()
        };
        let best = (-64..=64)
            .max_by(|&a, &b| xcorr(a).total_cmp(&xcorr(b)))
            .expect("non-empty range");
        assert!(best.abs() <= 2, "cross-correlation peaks at lag {best}");
        let err = out
            .iter()
            .zip(&reference)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>();
        let snr_db = 10.0 * (reference.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / err).log10();
        assert!(
            snr_db > 40.0,
            "upsampled burst matches the ideal one at only {snr_db:.1} dB SNR"
        );
    }

    #[test]
    fn every_sample_format_decodes_to_the_same_signal() {
        use hound::SampleFormat::{Float, Int};
        let dir = tempfile::tempdir().expect("tempdir");
        let signal = tone(440.0, 8000, 4000, 0.5);
        let frames: Vec<Vec<f32>> = signal.iter().map(|&v| vec![v]).collect();
        for (bits, format, tolerance) in [
            (8, Int, 1.0 / 128.0),
            (16, Int, 1e-4),
            (24, Int, 1e-4),
            (32, Int, 1e-4),
            (32, Float, 1e-4),
        ] {
            let path = dir.path().join(format!("{bits}-{format:?}.wav"));
            write_wav(&path, spec(1, 8000, bits, format), &frames);
            let out = to_f32(&load_wav(&path).expect("load"));
            assert_eq!(out.len(), signal.len());
            let worst = out
                .iter()
                .zip(&signal)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= tolerance, "{bits}-bit {format:?}: off by {worst}");
        }
    }

    #[test]
    fn the_real_8k_welcome_prompt_loads_unchanged() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/prompts/welcome.wav");
        let raw: Vec<i16> = hound::WavReader::open(&path)
            .expect("welcome.wav")
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .expect("decode");
        let loaded = load_wav(&path).expect("load");
        assert!(loaded.len() > 8000, "welcome prompt is {} samples", loaded.len());
        assert_eq!(
            loaded, raw,
            "an 8 kHz mono 16-bit prompt must pass through bit-exact"
        );
    }

    #[test]
    fn real_48k_speech_keeps_its_length_and_loudness() {
        let path = Path::new("/usr/share/sounds/alsa/Front_Center.wav");
        if !path.exists() {
            eprintln!("skipped: {} is not installed (Debian alsa-utils)", path.display());
            return;
        }
        let reader = hound::WavReader::open(path).expect("open");
        assert_eq!(reader.spec().sample_rate, 48_000);
        let raw: Vec<f32> = reader
            .into_samples::<i16>()
            .map(|s| f32::from(s.expect("decode")) / 32768.0)
            .collect();
        let loaded = to_f32(&load_wav(path).expect("load"));
        assert_eq!(loaded.len(), (raw.len() + 3) / 6);
        // Speech energy lies almost all below 4 kHz, so band-limiting keeps the loudness.
        let change_db = 20.0 * (rms(&loaded) / rms(&raw)).log10();
        assert!(change_db.abs() < 1.0, "loudness changed by {change_db:.2} dB");
    }

    #[test]
    fn errors_name_the_file_and_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.wav");
        let msg = load_wav(&missing).expect_err("missing file").to_string();
        assert!(msg.contains("missing.wav"), "{msg}");

        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"RIFF....WAVEnot really").expect("write");
        let err = load_wav(&junk).expect_err("junk");
        assert!(matches!(err, PromptError::Wav { .. }), "{err}");
        assert!(err.to_string().contains("junk.wav"), "{err}");
    }

    #[test]
    fn empty_and_same_rate_input_is_passed_through() {
        assert!(resample(&[], 8000, 16_000).is_empty());
        assert_eq!(resample(&[0.25, -0.5], 16_000, 16_000), vec![0.25, -0.5]);
        assert_eq!(resample(&vec![0.0; 441], 44_100, 8000).len(), 80);
    }
}
