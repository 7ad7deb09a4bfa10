//! Call recording: stereo (left = the caller, right = what koe sends) or mono (a voicemail message),
//! 8 kHz 16-bit PCM WAV.
//!
//! Crash safety: every frame goes to the OS in one write (no user-space buffer to lose), and the WAV
//! header sizes are rewritten about once a second of audio. A killed process therefore leaves a file
//! that is valid up to the last header update with the rest of the audio behind it; [`repair`] makes
//! the header cover all of it again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

const SAMPLE_RATE: u32 = 8000;
/// Header sizes are rewritten after this many sample frames (one second of audio).
const FLUSH_EVERY: u64 = SAMPLE_RATE as u64;
/// WAV sizes are 32-bit: stop well before the data chunk size would overflow (about 37 hours).
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 4096;

/// An open call recording.
pub struct Recorder {
    wav: hound::WavWriter<File>,
    /// A second handle on the file, for positional writes over audio already written (`redact`).
    file: File,
    /// Offset of the first audio byte.
    data_start: u64,
    channels: u16,
    /// Sample frames (one caller + one koe sample) written so far.
    frames: u64,
    frames_at_flush: u64,
}

impl Recorder {
    /// A stereo call recording: see [`Recorder::create_with`].
    pub fn create(path: &Path) -> io::Result<Recorder> {
        Recorder::create_with(path, 2)
    }

    /// Creates the file (and its parent directories) and writes a valid, empty WAV header to disk.
    pub fn create_with(path: &Path, channels: u16) -> io::Result<Recorder> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let spec = hound::WavSpec {
            channels,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        // Unbuffered on purpose: each frame is one write below, and nothing waits in user space.
        let mut wav = hound::WavWriter::new(File::create(path)?, spec).map_err(to_io)?;
        wav.flush().map_err(to_io)?;
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let mut head = Vec::new();
        (&file).take(HEAD_LIMIT).read_to_end(&mut head)?;
        let data_start = Layout::parse(&head)?.data_start;
        Ok(Recorder {
            wav,
            file,
            data_start,
            channels,
            frames: 0,
            frames_at_flush: 0,
        })
    }

    /// Appends one frame: `caller[i]` and `koe[i]` become the i-th stereo sample frame.
    pub fn write_frame(&mut self, caller: &[i16], koe: &[i16]) -> io::Result<()> {
        self.write_channels(&[caller, koe])
    }

    /// Appends one frame of each channel (as many slices as the file has channels, of equal length).
    pub fn write_channels(&mut self, channels: &[&[i16]]) -> io::Result<()> {
        let frames = channels.first().map_or(0, |c| c.len());
        if channels.len() != usize::from(self.channels) || channels.iter().any(|c| c.len() != frames) {
            let lengths: Vec<usize> = channels.iter().map(|c| c.len()).collect();
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-channel recording got channel frames of {lengths:?} samples",
                    self.channels
                ),
            ));
        }
        let frames = frames as u64;
        let bytes_per_frame = 2 * u64::from(self.channels);
        if (self.frames + frames) * bytes_per_frame > MAX_DATA_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "recording reached the WAV size limit",
            ));
        }
        let samples = u32::try_from(frames * u64::from(self.channels))
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut out = self.wav.get_i16_writer(samples);
        for i in 0..frames as usize {
            for c in channels {
                out.write_sample(c[i]);
            }
        }
        out.flush().map_err(to_io)?;
        self.frames += frames;
        if self.frames - self.frames_at_flush >= FLUSH_EVERY {
            self.wav.flush().map_err(to_io)?;
            self.frames_at_flush = self.frames;
        }
        Ok(())
    }

    /// Silences every channel between `from` and `to` of what is written so far: a card number read out
    /// there, found only once its transcript is final.
    pub fn redact(&self, from: Duration, to: Duration) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let frame = |d: Duration| (d.as_millis() as u64 * u64::from(SAMPLE_RATE) / 1000).min(self.frames);
        let block = 2 * u64::from(self.channels);
        let (mut at, end) = (frame(from) * block, frame(to) * block);
        let zeros = [0u8; 64 * 1024];
        while at < end {
            let n = (end - at).min(zeros.len() as u64);
            self.file
                .write_all_at(&zeros[..n as usize], self.data_start + at)?;
            at += n;
        }
        Ok(())
    }

    /// Writes the final header and returns the recorded duration.
    pub fn finish(self) -> io::Result<Duration> {
        let duration = frames_to_duration(self.frames, SAMPLE_RATE);
        self.wav.finalize().map_err(to_io)?;
        Ok(duration)
    }
}

/// Fixes the RIFF and data chunk sizes of a WAV file left behind by a killed process, from the file's
/// actual length; a partial sample frame at the end is cut off. Returns the repaired duration, or None
/// when the header already matched the file.
///
/// The data chunk is taken to be the last chunk, as [`Recorder`] writes it.
pub fn repair(path: &Path) -> io::Result<Option<Duration>> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let file_len = file.metadata()?.len();
    let mut head = Vec::new();
    (&mut file).take(HEAD_LIMIT).read_to_end(&mut head)?;
    let layout = Layout::parse(&head)?;
    let Some(fix) = layout.fix_for(file_len)? else {
        return Ok(None);
    };

    file.seek(SeekFrom::Start(4))?;
    file.write_all(&fix.riff_size.to_le_bytes())?;
    file.seek(SeekFrom::Start(layout.data_start - 4))?;
    file.write_all(&fix.data_size.to_le_bytes())?;
    file.set_len(fix.file_len)?;
    file.sync_all()?;
    let frames = u64::from(fix.data_size) / u64::from(layout.block_align);
    Ok(Some(frames_to_duration(frames, layout.sample_rate)))
}

/// How far into a file the data chunk header is looked for.
const HEAD_LIMIT: u64 = 64 * 1024;

/// What [`repair`] needs from a WAV header.
#[derive(Debug, PartialEq)]
struct Layout {
    riff_size: u32,
    data_size: u32,
    /// Offset of the first audio byte.
    data_start: u64,
    block_align: u16,
    sample_rate: u32,
}

/// The sizes a repaired file gets.
#[derive(Debug, PartialEq)]
struct Fix {
    riff_size: u32,
    data_size: u32,
    file_len: u64,
}

impl Layout {
    /// Walks the RIFF chunks up to the data chunk header.
    fn parse(head: &[u8]) -> io::Result<Layout> {
        if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
            return Err(invalid("not a RIFF/WAVE file"));
        }
        let riff_size = le_u32(head, 4)?;
        let mut format = None;
        let mut pos = 12usize;
        loop {
            let id = head.get(pos..pos + 4).ok_or_else(|| invalid("no data chunk"))?;
            let size = le_u32(head, pos + 4)?;
            let body = pos + 8;
            match id {
                b"fmt " => {
                    let sample_rate = le_u32(head, body + 4)?;
                    let block_align = le_u16(head, body + 12)?;
                    if block_align == 0 || sample_rate == 0 {
                        return Err(invalid("fmt chunk with zero block align or sample rate"));
                    }
                    format = Some((block_align, sample_rate));
                }
                b"data" => {
                    let (block_align, sample_rate) =
                        format.ok_or_else(|| invalid("data chunk before fmt chunk"))?;
                    return Ok(Layout {
                        riff_size,
                        data_size: size,
                        data_start: body as u64,
                        block_align,
                        sample_rate,
                    });
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            pos = body + size as usize + (size as usize & 1);
        }
    }

    /// The sizes that match a file of `file_len` bytes, or None when the header already has them.
    fn fix_for(&self, file_len: u64) -> io::Result<Option<Fix>> {
        let align = u64::from(self.block_align);
        let audio = file_len.saturating_sub(self.data_start).min(MAX_DATA_BYTES) / align * align;
        let data_size = u32::try_from(audio).map_err(|_| invalid("data too long for a WAV file"))?;
        let riff_size = u32::try_from(self.data_start - 8 + audio)
            .map_err(|_| invalid("file too long for a WAV file"))?;
        let fix = Fix {
            riff_size,
            data_size,
            file_len: self.data_start + audio,
        };
        let consistent =
            self.riff_size == riff_size && self.data_size == data_size && file_len == fix.file_len;
        Ok((!consistent).then_some(fix))
    }
}

fn le_u32(b: &[u8], at: usize) -> io::Result<u32> {
    let bytes = b.get(at..at + 4).ok_or_else(|| invalid("truncated header"))?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn le_u16(b: &[u8], at: usize) -> io::Result<u16> {
    let bytes = b.get(at..at + 2).ok_or_else(|| invalid("truncated header"))?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

fn frames_to_duration(frames: u64, sample_rate: u32) -> Duration {
    Duration::from_secs_f64(frames as f64 / f64::from(sample_rate))
}

fn to_io(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 ms frames with a distinct, reproducible pattern per frame and channel.
    fn frame(n: usize) -> (Vec<i16>, Vec<i16>) {
        let caller = (0..160).map(|i| ((n * 160 + i) % 30_000) as i16).collect();
        let koe = (0..160).map(|i| -(((n * 7 + i) % 20_000) as i16)).collect();
        (caller, koe)
    }

    fn read_back(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let mut reader = hound::WavReader::open(path).expect("readable WAV");
        let spec = reader.spec();
        let samples = reader
            .samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .expect("all samples decode");
        (spec, samples)
    }

    fn expected(frames: usize) -> Vec<i16> {
        (0..frames)
            .flat_map(|n| {
                let (c, k) = frame(n);
                c.into_iter().zip(k).flat_map(|(c, k)| [c, k]).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Writes the pattern's frames `range`.
    fn write_frames(rec: &mut Recorder, range: std::ops::Range<usize>) {
        for n in range {
            let (c, k) = frame(n);
            rec.write_frame(&c, &k).expect("write");
        }
    }

    /// Writes `frames` frames and leaves the file as a SIGKILL would: no finalize, no destructor.
    fn record_and_kill(path: &Path, frames: usize) {
        let mut rec = Recorder::create(path).expect("create");
        write_frames(&mut rec, 0..frames);
        std::mem::forget(rec);
    }

    fn put_u32(path: &Path, at: u64, value: u32) {
        let mut f = OpenOptions::new().write(true).open(path).expect("open");
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.write_all(&value.to_le_bytes()).expect("write");
    }

    #[test]
    fn a_redacted_span_is_silent_and_the_rest_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.wav");
        let mut rec = Recorder::create(&path).expect("create");
        write_frames(&mut rec, 0..50);
        // 0.2–0.5 s, and a span running past what is written (only the written part changes).
        rec.redact(Duration::from_millis(200), Duration::from_millis(500))
            .expect("redact");
        rec.redact(Duration::from_millis(900), Duration::from_secs(60))
            .expect("redact past the end");
        write_frames(&mut rec, 50..60);
        rec.finish().expect("finish");
        let (_, samples) = read_back(&path);
        let mut want = expected(60);
        // Stereo: 16 samples a millisecond.
        want[200 * 16..500 * 16].fill(0);
        want[900 * 16..1000 * 16].fill(0);
        assert_eq!(samples.len(), want.len());
        assert!(samples == want, "only the redacted spans are silent");
    }

    #[test]
    fn finished_recording_reads_back_interleaved_and_needs_no_repair() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("calls/2024/a.wav");
        let mut rec = Recorder::create(&path).expect("create makes parent dirs");
        write_frames(&mut rec, 0..60);
        assert_eq!(rec.finish().expect("finish"), Duration::from_millis(1200));

        let (spec, samples) = read_back(&path);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        assert_eq!(samples, expected(60));
        assert_eq!(repair(&path).expect("repair"), None);
    }

    #[test]
    fn header_is_flushed_about_once_a_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.wav");
        // 1.5 s: the header covers the first second, the remaining 0.5 s is on disk behind it.
        record_and_kill(&path, 75);
        let (_, samples) = read_back(&path);
        assert_eq!(samples, expected(50));
        assert_eq!(fs::metadata(&path).expect("stat").len(), 44 + 75 * 160 * 4);
    }

    #[test]
    fn repair_recovers_every_frame_after_a_kill() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.wav");
        record_and_kill(&path, 87);
        assert_eq!(repair(&path).expect("repair"), Some(Duration::from_millis(1740)));
        let (_, samples) = read_back(&path);
        assert_eq!(samples, expected(87));
        assert_eq!(repair(&path).expect("second repair"), None);
    }

    #[test]
    fn repair_fixes_zero_and_all_ones_sizes_and_cuts_a_partial_sample_frame() {
        for (riff, data) in [(0, 0), (u32::MAX, u32::MAX), (0, u32::MAX)] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("a.wav");
            record_and_kill(&path, 33);
            put_u32(&path, 4, riff);
            put_u32(&path, 40, data);
            // Half of a sample frame reached the disk before the kill.
            let mut f = OpenOptions::new().append(true).open(&path).expect("open");
            f.write_all(&[1, 2, 3]).expect("append");
            drop(f);

            assert_eq!(
                repair(&path).expect("repair"),
                Some(Duration::from_millis(660)),
                "sizes {riff:#x}/{data:#x}"
            );
            let (_, samples) = read_back(&path);
            assert_eq!(samples, expected(33));
            assert_eq!(fs::metadata(&path).expect("stat").len(), 44 + 33 * 160 * 4);
        }
    }

    #[test]
    fn repair_of_a_call_killed_before_any_audio_is_an_empty_valid_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.wav");
        record_and_kill(&path, 0);
        put_u32(&path, 40, u32::MAX);
        assert_eq!(repair(&path).expect("repair"), Some(Duration::ZERO));
        assert!(read_back(&path).1.is_empty());
    }

    #[test]
    fn repair_rejects_what_is_not_a_wav_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.wav");
        for junk in [
            &b""[..],
            b"RIFF\0\0\0\0WAVE",
            b"RIFF\0\0\0\0WAVEdata\0\0\0\0",
            b"not a wav file at all",
        ] {
            fs::write(&path, junk).expect("write");
            let err = repair(&path).expect_err("junk must not be repaired");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
    }

    #[test]
    fn unequal_channel_lengths_are_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rec = Recorder::create(&dir.path().join("a.wav")).expect("create");
        let err = rec.write_frame(&[0; 160], &[0; 159]).expect_err("mismatch");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
