//! Audio files in, telephone audio out: any WAV file becomes mono 8 kHz 16-bit PCM, and a general
//! band-limited resampler (also used by the ASR path for 8 → 16 kHz).
//!
//! Resampling uses rubato's synchronous FFT resampler, whose anti-aliasing filter removes what the
//! target rate cannot carry instead of folding it back into the voice band.

use std::path::Path;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// The telephone sample rate.
pub const RATE_HZ: u32 = 8000;

/// Frames fed to the resampler per FFT chunk.
const CHUNK_FRAMES: usize = 1024;

/// Why a prompt could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be read or is not a WAV file hound understands.
    #[error("cannot read WAV: {0}")]
    Wav(#[from] hound::Error),
    /// The WAV header announces no channels or no sample rate.
    #[error("WAV file has {channels} channels at {rate} Hz")]
    BadFormat {
        /// Channels in the header.
        channels: u16,
        /// Sample rate in the header.
        rate: u32,
    },
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float, any rate, any channels) as mono 8 kHz
/// 16-bit samples: channels are averaged, then the result is resampled.
pub fn load_wav(path: impl AsRef<Path>) -> Result<Vec<i16>, PromptError> {
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(PromptError::BadFormat {
            channels: spec.channels,
            rate: spec.sample_rate,
        });
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let channels = usize::from(spec.channels);
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let resampled = resample(&mono, spec.sample_rate, RATE_HZ);
    Ok(resampled.iter().map(|&s| to_i16(s)).collect())
}

/// Converts a sample in -1.0..=1.0 to 16 bits, rounding and clipping.
pub fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Resamples mono audio from `from_hz` to `to_hz` (band-limited, delay-compensated, length
/// `ceil(len * to / from)`). Equal rates, empty input or a zero rate return the input unchanged.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz || samples.is_empty() || from_hz == 0 || to_hz == 0 {
        return samples.to_vec();
    }
    let resampled = Fft::<f32>::new(
        from_hz as usize,
        to_hz as usize,
        CHUNK_FRAMES,
        1,
        FixedSync::Input,
    )
    .ok()
    .and_then(|mut resampler| {
        let input = InterleavedSlice::new(samples, 1, samples.len()).ok()?;
        resampler.process_all(&input, samples.len(), None).ok()
    });
    // Construction and processing only fail for inconsistent sizes, which the checks above exclude.
    resampled.map(|owned| owned.take_data()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn tone(freq: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<f64> {
        (0..(f64::from(rate) * seconds) as usize)
            .map(|n| amplitude * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin())
            .collect()
    }

    /// Signal-to-residual ratio (dB) of `x` against its least-squares fit by a sine at `freq`.
    fn tone_snr_db(x: &[f64], freq: f64, rate: f64) -> f64 {
        let (mut ss, mut cc, mut sc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (n, &v) in x.iter().enumerate() {
            let (s, c) = (2.0 * PI * freq * n as f64 / rate).sin_cos();
            ss += s * s;
            cc += c * c;
            sc += s * c;
            xs += v * s;
            xc += v * c;
        }
        let det = ss * cc - sc * sc;
        let (a, b) = ((xs * cc - xc * sc) / det, (xc * ss - xs * sc) / det);
        let (mut signal, mut residual) = (0.0, 0.0);
        for (n, &v) in x.iter().enumerate() {
            let (s, c) = (2.0 * PI * freq * n as f64 / rate).sin_cos();
            let fit = a * s + b * c;
            signal += fit * fit;
            residual += (v - fit).powi(2);
        }
        10.0 * (signal / residual).log10()
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn write_wav(spec: hound::WavSpec, frames: &[f64]) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".wav").tempfile().unwrap();
        let mut writer = hound::WavWriter::create(file.path(), spec).unwrap();
        for &v in frames {
            for _ in 0..spec.channels {
                match spec.sample_format {
                    hound::SampleFormat::Float => writer.write_sample(v as f32).unwrap(),
                    hound::SampleFormat::Int => {
                        let full = f64::from(1u32 << (spec.bits_per_sample - 1)) - 1.0;
                        writer.write_sample((v * full).round() as i32).unwrap()
                    }
                }
            }
        }
        writer.finalize().unwrap();
        file
    }

    fn spec(channels: u16, rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    fn as_f64(pcm: &[i16]) -> Vec<f64> {
        pcm.iter().map(|&s| f64::from(s) / 32768.0).collect()
    }

    #[test]
    fn tone_at_44k1_stereo_becomes_a_clean_tone_at_8k() {
        let file = write_wav(
            spec(2, 44_100, 16, hound::SampleFormat::Int),
            &tone(1000.0, 44_100, 1.0, 0.5),
        );
        let pcm = load_wav(file.path()).unwrap();
        assert!(pcm.len().abs_diff(8000) <= 160, "length {}", pcm.len());
        // Judge the steady part: the clip's own edges are a step the filter has to ring on.
        let body = &as_f64(&pcm)[400..7600];
        let snr = tone_snr_db(body, 1000.0, 8000.0);
        assert!(snr > 40.0, "SNR {snr:.1} dB");
        let level = rms(body) * 2f64.sqrt();
        assert!((level - 0.5).abs() < 0.01, "amplitude {level}");
    }

    #[test]
    fn content_above_4k_is_filtered_not_aliased() {
        // 6 kHz at 48 kHz would fold to 2 kHz if decimated without a filter.
        let file = write_wav(
            spec(1, 48_000, 32, hound::SampleFormat::Float),
            &tone(6000.0, 48_000, 1.0, 0.5),
        );
        let pcm = load_wav(file.path()).unwrap();
        assert!(pcm.len().abs_diff(8000) <= 160);
        let body = &as_f64(&pcm)[400..7600];
        let attenuation = 20.0 * (rms(body) / (0.5 / 2f64.sqrt())).log10();
        assert!(attenuation < -50.0, "6 kHz only {attenuation:.1} dB down");
    }

    #[test]
    fn every_sample_format_and_channel_count() {
        let source = tone(440.0, 16_000, 0.5, 0.25);
        for (channels, bits, format) in [
            (1, 8, hound::SampleFormat::Int),
            (1, 16, hound::SampleFormat::Int),
            (3, 24, hound::SampleFormat::Int),
            (2, 32, hound::SampleFormat::Int),
            (1, 32, hound::SampleFormat::Float),
        ] {
            let file = write_wav(spec(channels, 16_000, bits, format), &source);
            let pcm = load_wav(file.path()).unwrap();
            assert!(
                pcm.len().abs_diff(4000) <= 160,
                "{bits}-bit: length {}",
                pcm.len()
            );
            let body = &as_f64(&pcm)[400..3600];
            let level = rms(body) * 2f64.sqrt();
            assert!(
                (level - 0.25).abs() < 0.01,
                "{bits}-bit {channels} ch: amplitude {level}"
            );
            let floor = if bits == 8 { 30.0 } else { 45.0 };
            assert!(tone_snr_db(body, 440.0, 8000.0) > floor, "{bits}-bit");
        }
    }

    #[test]
    fn eight_khz_mono_16_bit_is_read_as_is() {
        let source = tone(1000.0, 8000, 0.2, 0.3);
        let file = write_wav(spec(1, 8000, 16, hound::SampleFormat::Int), &source);
        let pcm = load_wav(file.path()).unwrap();
        let expected: Vec<i16> = source.iter().map(|&v| (v * 32767.0).round() as i16).collect();
        assert_eq!(pcm, expected);
    }

    #[test]
    fn upsampling_8k_to_16k_for_asr() {
        let source: Vec<f32> = tone(1000.0, 8000, 1.0, 0.5).iter().map(|&v| v as f32).collect();
        let out = resample(&source, 8000, 16_000);
        assert_eq!(out.len(), 16_000);
        let body: Vec<f64> = out[800..15_200].iter().map(|&v| f64::from(v)).collect();
        assert!(tone_snr_db(&body, 1000.0, 16_000.0) > 40.0);
        assert!(resample(&[], 8000, 16_000).is_empty());
    }

    #[test]
    fn real_alsa_recording_loads() {
        let pcm = load_wav("/usr/share/sounds/alsa/Front_Center.wav").unwrap();
        // About 1.4 s of a voice saying "front center".
        assert!((8000..16_000).contains(&pcm.len()), "{} samples", pcm.len());
        assert!(pcm.iter().any(|&s| s.unsigned_abs() > 3000));
    }

    #[test]
    fn unreadable_files_are_errors() {
        assert!(matches!(load_wav("/nonexistent.wav"), Err(PromptError::Wav(_))));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"RIFF\x04\0\0\0WAVEjunk").unwrap();
        assert!(load_wav(file.path()).is_err());
    }
}
