//! Stereo call recording: left channel the caller, right channel what koe (or the agent) sends,
//! 8 kHz 16-bit WAV.
//!
//! A WAV header carries the data length, which is only known at the end; a process killed mid-call
//! would leave a header claiming no audio. So the header is rewritten at least once a second, and
//! [`repair`] fixes the sizes of a file left behind from its actual length.

use std::fs::OpenOptions;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// Recording sample rate.
pub const RATE_HZ: u32 = 8000;
/// Frames (one sample per channel) between header rewrites: one second.
const FLUSH_EVERY_FRAMES: u64 = RATE_HZ as u64;

/// Why recording or repairing failed.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// Reading or writing the file failed.
    #[error("recording I/O: {0}")]
    Io(#[from] std::io::Error),
    /// hound could not write the WAV file.
    #[error("recording WAV: {0}")]
    Wav(#[from] hound::Error),
    /// The two channels of a frame had different lengths.
    #[error("caller frame has {caller} samples but koe frame has {koe}")]
    LengthMismatch {
        /// Samples given for the caller.
        caller: usize,
        /// Samples given for koe.
        koe: usize,
    },
    /// The file to repair is not a RIFF/WAVE file with a format and a data chunk.
    #[error("not a repairable WAV file: {0}")]
    NotWav(&'static str),
}

/// An open stereo recording.
pub struct Recorder {
    writer: hound::WavWriter<BufWriter<std::fs::File>>,
    frames: u64,
    unflushed: u64,
}

impl Recorder {
    /// Creates (or truncates) the WAV file at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Recorder, RecorderError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: RATE_HZ,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec)?;
        // A valid (empty) file exists from the start.
        writer.flush()?;
        Ok(Recorder {
            writer,
            frames: 0,
            unflushed: 0,
        })
    }

    /// Appends one stretch of audio, the caller on the left and koe on the right; both slices must
    /// have the same length. The header is rewritten once a second of audio has accumulated.
    pub fn write_frame(&mut self, caller: &[i16], koe: &[i16]) -> Result<(), RecorderError> {
        if caller.len() != koe.len() {
            return Err(RecorderError::LengthMismatch {
                caller: caller.len(),
                koe: koe.len(),
            });
        }
        for (&left, &right) in caller.iter().zip(koe) {
            self.writer.write_sample(left)?;
            self.writer.write_sample(right)?;
        }
        self.frames += caller.len() as u64;
        self.unflushed += caller.len() as u64;
        if self.unflushed >= FLUSH_EVERY_FRAMES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out buffered audio and rewrites the header, so the file is valid up to here.
    pub fn flush(&mut self) -> Result<(), RecorderError> {
        self.writer.flush()?;
        self.unflushed = 0;
        Ok(())
    }

    /// Audio recorded so far.
    pub fn duration(&self) -> Duration {
        frames_to_duration(self.frames, RATE_HZ)
    }

    /// Completes the file and returns the recorded duration.
    pub fn finish(self) -> Result<Duration, RecorderError> {
        let duration = self.duration();
        self.writer.finalize()?;
        Ok(duration)
    }
}

fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    Duration::from_micros(frames * 1_000_000 / u64::from(rate.max(1)))
}

/// Fixes the RIFF and data chunk sizes of a WAV file from its real length (dropping a partial
/// last sample frame), as left by a process killed mid-recording. Returns the repaired duration,
/// or `None` when the header already matched the file.
pub fn repair(path: impl AsRef<Path>) -> Result<Option<Duration>, RecorderError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let file_len = file.metadata()?.len();
    let layout = read_layout(&mut file, file_len)?;
    let block_align = u64::from(layout.block_align);
    let data_len = (file_len - layout.data_start) / block_align * block_align;
    let data_len_u32 = u32::try_from(data_len).map_err(|_| RecorderError::NotWav("data beyond 4 GiB"))?;
    let end = layout.data_start + data_len;
    let riff_len = u32::try_from(end - 8).map_err(|_| RecorderError::NotWav("file beyond 4 GiB"))?;
    if end == file_len && layout.riff_len == riff_len && layout.data_len == data_len_u32 {
        return Ok(None);
    }
    file.set_len(end)?;
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&riff_len.to_le_bytes())?;
    file.seek(SeekFrom::Start(layout.data_start - 4))?;
    file.write_all(&data_len_u32.to_le_bytes())?;
    file.sync_all()?;
    Ok(Some(frames_to_duration(
        data_len / block_align,
        layout.sample_rate,
    )))
}

/// Where the parts of a WAV file are, and what its header claims.
struct Layout {
    riff_len: u32,
    block_align: u16,
    sample_rate: u32,
    data_start: u64,
    data_len: u32,
}

fn read_layout(file: &mut std::fs::File, file_len: u64) -> Result<Layout, RecorderError> {
    let mut header = [0u8; 12];
    file.read_exact(&mut header)
        .map_err(|_| RecorderError::NotWav("shorter than a RIFF header"))?;
    if &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return Err(RecorderError::NotWav("no RIFF/WAVE signature"));
    }
    let riff_len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut format: Option<(u16, u32)> = None;
    let mut at = 12u64;
    while at + 8 <= file_len {
        file.seek(SeekFrom::Start(at))?;
        let mut chunk = [0u8; 8];
        file.read_exact(&mut chunk)?;
        let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        match &chunk[0..4] {
            b"fmt " => {
                let mut fmt = [0u8; 16];
                file.read_exact(&mut fmt)
                    .map_err(|_| RecorderError::NotWav("truncated fmt chunk"))?;
                let sample_rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                let block_align = u16::from_le_bytes([fmt[12], fmt[13]]);
                if block_align == 0 {
                    return Err(RecorderError::NotWav("zero block alignment"));
                }
                format = Some((block_align, sample_rate));
            }
            b"data" => {
                let (block_align, sample_rate) = format.ok_or(RecorderError::NotWav("data before fmt"))?;
                return Ok(Layout {
                    riff_len,
                    block_align,
                    sample_rate,
                    data_start: at + 8,
                    data_len: size,
                });
            }
            _ => {}
        }
        at += 8 + u64::from(size) + u64::from(size & 1);
    }
    Err(RecorderError::NotWav("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two different, recognisable channels: a ramp on the left, its negation plus a sine on the right.
    fn channels(frames: usize) -> (Vec<i16>, Vec<i16>) {
        let caller: Vec<i16> = (0..frames).map(|n| ((n * 37) % 20_000) as i16 - 10_000).collect();
        let koe: Vec<i16> = (0..frames)
            .map(|n| (8000.0 * (n as f64 * 0.3).sin()) as i16 - (n % 1000) as i16)
            .collect();
        (caller, koe)
    }

    fn record(path: &Path, caller: &[i16], koe: &[i16]) -> Recorder {
        let mut recorder = Recorder::create(path).unwrap();
        for (c, k) in caller.chunks(160).zip(koe.chunks(160)) {
            recorder.write_frame(c, k).unwrap();
        }
        recorder
    }

    /// (caller, koe) as read back by hound, which checks the header.
    fn read_back(path: &Path) -> (Vec<i16>, Vec<i16>) {
        let mut reader = hound::WavReader::open(path).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        (
            samples.iter().step_by(2).copied().collect(),
            samples.iter().skip(1).step_by(2).copied().collect(),
        )
    }

    #[test]
    fn records_two_channels_and_reports_duration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.wav");
        let (caller, koe) = channels(3 * 8000);
        let duration = record(&path, &caller, &koe).finish().unwrap();
        assert_eq!(duration, Duration::from_secs(3));
        assert_eq!(read_back(&path), (caller, koe));
        assert_eq!(repair(&path).unwrap(), None, "a finished file needs no repair");
    }

    #[test]
    fn killed_process_loses_nothing_before_the_last_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("killed.wav");
        let (caller, koe) = channels(8000 * 5 / 2);
        let recorder = record(&path, &caller, &koe);
        // A kill: no finish, no destructor, the user-space buffer is lost.
        std::mem::forget(recorder);
        // The header written at the last flush (2 s) already makes a valid file.
        let (left, right) = read_back(&path);
        assert!(left.len() >= 2 * 8000, "{} frames readable", left.len());
        assert_eq!(left[..], caller[..left.len()]);
        assert_eq!(right[..], koe[..right.len()]);
        // Repair also recovers what reached the disk after the last flush.
        let on_disk = (std::fs::metadata(&path).unwrap().len() - 44) / 4;
        let repaired = repair(&path).unwrap();
        let (left, right) = read_back(&path);
        assert_eq!(left.len() as u64, on_disk);
        assert_eq!(repaired, Some(Duration::from_micros(on_disk * 125)));
        assert_eq!(left[..], caller[..left.len()]);
        assert_eq!(right[..], koe[..right.len()]);
    }

    #[test]
    fn repair_counts_appended_audio_and_drops_a_partial_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("appended.wav");
        let (caller, koe) = channels(8000);
        record(&path, &caller, &koe).finish().unwrap();
        // 250 more stereo frames and one stray byte, written after the header was last updated.
        let mut extra = Vec::new();
        for n in 0..250i16 {
            extra.extend_from_slice(&n.to_le_bytes());
            extra.extend_from_slice(&(-n).to_le_bytes());
        }
        extra.push(0x7F);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&extra).unwrap();
        drop(file);
        assert_eq!(
            repair(&path).unwrap(),
            Some(Duration::from_micros((8000 + 250) * 125))
        );
        let (left, right) = read_back(&path);
        assert_eq!(left.len(), 8250);
        assert_eq!(left[..8000], caller[..]);
        assert_eq!(right[..8000], koe[..]);
        assert_eq!((left[8249], right[8249]), (249, -249));
        assert_eq!(repair(&path).unwrap(), None);
    }

    #[test]
    fn repair_fixes_corrupt_header_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.wav");
        let (caller, koe) = channels(4000);
        record(&path, &caller, &koe).finish().unwrap();
        for bogus in [0u32, 0xFFFF_FFFF, 12_345] {
            let mut file = OpenOptions::new().write(true).open(&path).unwrap();
            file.seek(SeekFrom::Start(4)).unwrap();
            file.write_all(&bogus.to_le_bytes()).unwrap();
            file.seek(SeekFrom::Start(40)).unwrap();
            file.write_all(&bogus.wrapping_add(1).to_le_bytes()).unwrap();
            drop(file);
            assert_eq!(repair(&path).unwrap(), Some(Duration::from_millis(500)));
            assert_eq!(read_back(&path), (caller.clone(), koe.clone()));
        }
    }

    #[test]
    fn header_is_valid_from_creation_and_errors_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.wav");
        let mut recorder = Recorder::create(&path).unwrap();
        assert_eq!(read_back(&path), (vec![], vec![]));
        assert!(matches!(
            recorder.write_frame(&[1, 2, 3], &[1, 2]),
            Err(RecorderError::LengthMismatch { caller: 3, koe: 2 })
        ));
        assert_eq!(recorder.finish().unwrap(), Duration::ZERO);

        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"RIFX0000WAVEfmt ").unwrap();
        assert!(matches!(repair(&junk), Err(RecorderError::NotWav(_))));
        std::fs::write(&junk, b"RIFF").unwrap();
        assert!(matches!(repair(&junk), Err(RecorderError::NotWav(_))));
        std::fs::write(&junk, b"RIFF\0\0\0\0WAVEdata\0\0\0\0").unwrap();
        assert!(matches!(repair(&junk), Err(RecorderError::NotWav(_))));
        assert!(matches!(
            repair(dir.path().join("missing.wav")),
            Err(RecorderError::Io(_))
        ));
    }
}
