//! Prompt audio files: any WAV read as the 8 kHz mono samples G.711 carries, and those samples written
//! back as an 8 kHz mono 16-bit WAV, atomically. Used by the TTS cache and the uploaded prompts.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The rate of G.711 audio.
pub const PHONE_RATE: u32 = 8000;

/// Rates accepted from outside; beyond them a file is more likely damaged than real, and the FFT
/// resampler's size grows with the rate.
const RATES: std::ops::RangeInclusive<u32> = 1000..=384_000;

/// Decodes WAV bytes (8–32-bit integer, 32-bit float, G.711 μ-law or A-law; any rate and channel count)
/// to mono 8 kHz 16-bit samples. The error says what is wrong with the file.
pub fn to_phone(bytes: &[u8]) -> Result<Vec<i16>, String> {
    // asr::audio's parser is the one that also reads G.711 WAVs (hound refuses them).
    let pcm = crate::asr::audio::parse_wav(bytes).map_err(|e| format!("not a usable WAV file: {e}"))?;
    if !RATES.contains(&pcm.rate) {
        return Err(format!(
            "sample rate {} Hz is outside {}–{} Hz",
            pcm.rate,
            RATES.start(),
            RATES.end()
        ));
    }
    let phone = crate::media::prompt::resample(&pcm.samples, pcm.rate, PHONE_RATE);
    Ok(phone
        .iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Reads a WAV file as 8 kHz mono samples.
pub fn read_phone(path: &Path) -> anyhow::Result<Vec<i16>> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    to_phone(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Writes `samples` as an 8 kHz mono 16-bit WAV at `path`: to a temporary file beside it, flushed to
/// disk, then renamed, so a reader (or a crash) never sees half a file.
pub fn write_phone(path: &Path, samples: &[i16]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: PHONE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    let mut writer = hound::WavWriter::new(&mut bytes, spec).map_err(std::io::Error::other)?;
    for &s in samples {
        writer.write_sample(s).map_err(std::io::Error::other)?;
    }
    writer.finalize().map_err(std::io::Error::other)?;

    // Unique per process and call: concurrent writers of the same name never share a temporary file.
    let tmp = path.with_extension(format!(
        "{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes.get_ref())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back_bit_exact_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.wav");
        let samples: Vec<i16> = (0..4000).map(|n| ((n * 37) % 20000 - 10000) as i16).collect();
        write_phone(&path, &samples).expect("write");
        assert_eq!(read_phone(&path).expect("read"), samples);
        let files: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(files.len(), 1, "{files:?}");
    }

    #[test]
    fn junk_and_absurd_rates_are_refused_with_the_reason() {
        let err = to_phone(b"hello, not audio").expect_err("junk");
        assert!(err.contains("not a usable WAV file"), "{err}");

        // A valid header claiming 1 Hz.
        let mut bytes = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 1,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut bytes, spec).expect("writer");
        w.write_sample(1i16).expect("sample");
        w.finalize().expect("finalize");
        let err = to_phone(bytes.get_ref()).expect_err("1 Hz");
        assert!(err.contains("1 Hz is outside"), "{err}");
    }
}
