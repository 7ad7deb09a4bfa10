//! Audio in the shape Whisper wants: 16 kHz mono f32.
//!
//! `read_wav` accepts what callers and test corpora actually contain: PCM 8–32 bit, float, and G.711
//! μ-law / A-law WAVs (which `hound` refuses). Resampling uses rubato's FFT resampler, a proper
//! band-limited one, both for whole files and for the 20 ms frames of a live call.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use std::path::{Path, PathBuf};

pub const WHISPER_RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: not a usable WAV file: {1}")]
    Format(PathBuf, String),
    #[error("resampler: {0}")]
    Resample(String),
}

/// Decoded audio: mono samples in [-1, 1] at `rate`.
pub struct Pcm {
    pub samples: Vec<f32>,
    pub rate: u32,
}

/// Reads a WAV file and mixes it down to mono.
pub fn read_wav(path: &Path) -> Result<Pcm, AudioError> {
    let bytes = std::fs::read(path).map_err(|e| AudioError::Io(path.to_owned(), e))?;
    parse_wav(&bytes).map_err(|e| AudioError::Format(path.to_owned(), e))
}

/// Parses RIFF/WAVE bytes (see `read_wav`).
pub fn parse_wav(bytes: &[u8]) -> Result<Pcm, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("no RIFF/WAVE header".into());
    }
    let mut pos = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size =
            u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        let body = &bytes[pos + 8..(pos + 8 + size).min(bytes.len())];
        match id {
            b"fmt " if body.len() >= 16 => {
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let mut tag = u16_at(0);
                // WAVE_FORMAT_EXTENSIBLE keeps the real tag in the sub-format GUID's first two bytes.
                if tag == 0xFFFE && body.len() >= 26 {
                    tag = u16_at(24);
                }
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                fmt = Some((tag, u16_at(2), rate, u16_at(14)));
            }
            b"data" => {
                let (tag, channels, rate, bits) = fmt.ok_or("data chunk before fmt chunk")?;
                if channels == 0 || rate == 0 {
                    return Err(format!("{channels} channels at {rate} Hz"));
                }
                let samples = decode(tag, bits, body)?;
                return Ok(Pcm {
                    samples: mix_down(&samples, channels as usize),
                    rate,
                });
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    Err("no data chunk".into())
}

fn decode(tag: u16, bits: u16, data: &[u8]) -> Result<Vec<f32>, String> {
    Ok(match (tag, bits) {
        (1, 8) => data.iter().map(|b| (f32::from(*b) - 128.0) / 128.0).collect(),
        (1, 16) => data
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
        (1, 24) => data
            .chunks_exact(3)
            .map(|b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0)
            .collect(),
        (1, 32) => data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0)
            .collect(),
        (3, 32) => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        (6, 8) => data
            .iter()
            .map(|b| f32::from(alaw_to_linear(*b)) / 32768.0)
            .collect(),
        (7, 8) => data
            .iter()
            .map(|b| f32::from(ulaw_to_linear(*b)) / 32768.0)
            .collect(),
        _ => return Err(format!("unsupported encoding (format tag {tag}, {bits} bits)")),
    })
}

fn mix_down(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// G.711 μ-law expansion (ITU-T G.711, as in the reference `ulaw2linear`).
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let t = ((i16::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }
}

/// G.711 A-law expansion.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let seg = (a & 0x70) >> 4;
    let mut t = i16::from(a & 0x0F) << 4;
    t = match seg {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (seg - 1),
    };
    if a & 0x80 != 0 { t } else { -t }
}

/// Resamples a whole clip (mono) from `from` Hz to `to` Hz.
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let err = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Both).map_err(|e| err(&e))?;
    let frames = input.len();
    let input = InterleavedSlice::new(input, 1, frames).map_err(|e| err(&e))?;
    let out_len = r.process_all_needed_output_len(frames);
    let mut out = vec![0.0f32; out_len];
    let mut output = InterleavedSlice::new_mut(&mut out, 1, out_len).map_err(|e| err(&e))?;
    let (_, produced) = r
        .process_all_into_buffer(&input, &mut output, frames, None)
        .map_err(|e| err(&e))?;
    out.truncate(produced);
    Ok(out)
}

/// Reads any WAV as 16 kHz mono, ready for Whisper.
pub fn load_for_whisper(path: &Path) -> Result<Vec<f32>, AudioError> {
    let pcm = read_wav(path)?;
    resample(&pcm.samples, pcm.rate, WHISPER_RATE)
}

/// 8 kHz → 16 kHz for a live call, fed in frames of any size; keeps the filter state between calls.
pub struct StreamUpsampler {
    resampler: Fft<f32>,
    pending: Vec<f32>,
    chunk: usize,
}

impl StreamUpsampler {
    /// Frames of 20 ms at 8 kHz: what RTP delivers.
    const CHUNK: usize = 160;

    pub fn new() -> Result<StreamUpsampler, AudioError> {
        let resampler = Fft::<f32>::new(8_000, 16_000, Self::CHUNK, 1, FixedSync::Both)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
        Ok(StreamUpsampler {
            resampler,
            pending: Vec::new(),
            chunk: Self::CHUNK,
        })
    }

    /// Appends the 16 kHz samples produced by `pcm` (8 kHz, i16) to `out`.
    pub fn push(&mut self, pcm: &[i16], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.pending.extend(pcm.iter().map(|s| f32::from(*s) / 32768.0));
        let err = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
        let mut buf = vec![0.0f32; self.resampler.output_frames_max()];
        while self.pending.len() >= self.chunk {
            let input =
                InterleavedSlice::new(&self.pending[..self.chunk], 1, self.chunk).map_err(|e| err(&e))?;
            let frames = buf.len();
            let mut output = InterleavedSlice::new_mut(&mut buf, 1, frames).map_err(|e| err(&e))?;
            let (_, produced) = self
                .resampler
                .process_into_buffer(&input, &mut output, None)
                .map_err(|e| err(&e))?;
            out.extend_from_slice(&buf[..produced]);
            self.pending.drain(..self.chunk);
        }
        Ok(())
    }

    /// Samples of delay the resampler adds at 16 kHz (its output starts with this much silence).
    pub fn delay(&self) -> usize {
        self.resampler.output_delay()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_expansion_matches_the_standard_tables() {
        // ITU-T G.711 μ-law: 0xFF and 0x7F are ±0, 0x00 is the most negative (−32124), 0x80 the most
        // positive (+32124); A-law 0xD5 is +8 and 0x2A the most negative (−32256).
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn resampling_keeps_a_tone_in_band_and_its_length() {
        let tone: Vec<f32> = (0..8000)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin())
            .collect();
        let up = resample(&tone, 8000, 16000).unwrap();
        assert!((up.len() as i64 - 16000).abs() <= 2, "{}", up.len());
        // Same tone at the new rate: compare against the ideal in the middle, away from edge effects.
        let err: f32 = (4000..12000)
            .map(|i| (up[i] - (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin()).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.01, "max error {err}");
    }

    #[test]
    fn streaming_upsampler_matches_frame_by_frame_length() {
        let mut s = StreamUpsampler::new().unwrap();
        let mut out = Vec::new();
        for _ in 0..50 {
            s.push(&[1000i16; 160], &mut out).unwrap();
        }
        s.push(&[0i16; 100], &mut out).unwrap();
        assert_eq!(out.len(), 50 * 320);
        // A DC input settles to the same DC level after the filter's delay.
        let level = 1000.0 / 32768.0;
        assert!(out[s.delay() + 1000..].iter().all(|v| (v - level).abs() < 1e-3));
    }

    #[test]
    fn rejects_what_is_not_a_wav() {
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEjunk").is_err());
        assert!(parse_wav(b"hello").is_err());
    }
}
