//! In-band DTMF detection (tones inside the audio) with the Goertzel algorithm at 8 kHz.
//!
//! Analysis runs on 102-sample blocks (12.75 ms) every 51 samples: long enough to separate the
//! closest DTMF frequencies (73 Hz apart), short enough to catch 40 ms tones. A block is a hit only
//! if it passes the classic checks that keep speech from dialing: both tones above an absolute floor,
//! each clearly the strongest of its group, twist within limits, the pair carrying most of the
//! block's energy, and no strong second harmonic (voiced speech is rich in harmonics, DTMF is not).
//! A key is reported once after several consecutive hits and re-armed only after a gap.

/// Samples per analysis block.
const BLOCK: usize = 102;
/// Samples between the starts of successive blocks (half-overlapping blocks).
const HOP: usize = 51;
const RATE_HZ: f32 = 8000.0;
const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Peak amplitude of a 0 dBm0 sine in 16-bit G.711 terms (full scale is +3.17 dBm0).
const DBM0_AMPLITUDE: f32 = 22_737.0;
/// Weakest tone accepted, per frequency.
const MIN_TONE_DBM0: f32 = -36.0;
/// High group may exceed the low group by this much (reverse twist), in power ratio (4 dB).
const REVERSE_TWIST: f32 = 2.51;
/// Low group may exceed the high group by this much (normal twist), in power ratio (8 dB).
const NORMAL_TWIST: f32 = 6.31;
/// Each tone must beat the others of its group by this power ratio (8 dB).
const RELATIVE_PEAK: f32 = 6.31;
/// Share of the block's energy the two tones must carry.
const TONE_SHARE: f32 = 0.7;
/// A column tone's second harmonic must be this far below it (15 dB). Row harmonics land near column
/// frequencies and pick up their leakage, so for rows the harmonic need only be weaker (0 dB).
const COL_HARMONIC: f32 = 31.6;
const ROW_HARMONIC: f32 = 1.0;
/// Consecutive hit blocks that make a key: 102 + 3 × 51 samples, about 32 ms of clean tone, which
/// a 40 ms tone always provides whatever its alignment and a 23 ms tone never does.
const HITS_TO_REPORT: u32 = 4;
/// Consecutive non-hit blocks that end a key (about 32 ms), so a key pressed twice needs a pause.
const MISSES_TO_RELEASE: u32 = 5;

/// Tone energy (sum of squares over a block) of the weakest acceptable tone.
fn tone_floor() -> f32 {
    let amplitude = DBM0_AMPLITUDE * 10f32.powf(MIN_TONE_DBM0 / 20.0);
    amplitude * amplitude * BLOCK as f32 / 2.0
}

/// Goertzel recurrence coefficient for a frequency.
fn coefficient(hz: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * hz / RATE_HZ).cos()
}

/// Energy of the component at the coefficient's frequency, scaled to the sum of squares a pure sine
/// of that frequency would have over the block.
fn goertzel(block: &[f32], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in block {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2.0 / block.len() as f32
}

/// Index and value of the largest element, and whether it beats every other by `ratio`.
fn dominant(powers: &[f32; 4], ratio: f32) -> (usize, f32, bool) {
    let mut best = 0;
    for i in 1..4 {
        if powers[i] > powers[best] {
            best = i;
        }
    }
    let clear = (0..4).all(|i| i == best || powers[i] * ratio < powers[best]);
    (best, powers[best], clear)
}

/// Streaming DTMF detector for one 8 kHz channel.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    window: Vec<f32>,
    row_coeffs: [f32; 4],
    col_coeffs: [f32; 4],
    row_harmonics: [f32; 4],
    col_harmonics: [f32; 4],
    floor: f32,
    candidate: Option<char>,
    hits: u32,
    active: Option<char>,
    misses: u32,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// A detector with no key in progress.
    pub fn new() -> Self {
        InbandDetector {
            window: Vec::with_capacity(BLOCK),
            row_coeffs: ROW_HZ.map(coefficient),
            col_coeffs: COL_HZ.map(coefficient),
            row_harmonics: ROW_HZ.map(|f| coefficient(2.0 * f)),
            col_harmonics: COL_HZ.map(|f| coefficient(2.0 * f)),
            floor: tone_floor(),
            candidate: None,
            hits: 0,
            active: None,
            misses: 0,
        }
    }

    /// Feeds 8 kHz samples (any chunk size); returns the keys that started in them, each once.
    pub fn push(&mut self, pcm: &[i16]) -> Vec<char> {
        let mut keys = Vec::new();
        for &sample in pcm {
            self.window.push(f32::from(sample));
            if self.window.len() == BLOCK {
                let hit = self.analyze();
                self.window.drain(..HOP);
                keys.extend(self.track(hit));
            }
        }
        keys
    }

    /// The key this block holds, if it passes every check.
    fn analyze(&self) -> Option<char> {
        let block = &self.window;
        let rows = self.row_coeffs.map(|c| goertzel(block, c));
        let cols = self.col_coeffs.map(|c| goertzel(block, c));
        let (r, row, row_clear) = dominant(&rows, RELATIVE_PEAK);
        let (c, col, col_clear) = dominant(&cols, RELATIVE_PEAK);
        let energy: f32 = block.iter().map(|x| x * x).sum();
        let passes = row >= self.floor
            && col >= self.floor
            && row_clear
            && col_clear
            && col < row * REVERSE_TWIST
            && row < col * NORMAL_TWIST
            && row + col >= TONE_SHARE * energy
            && goertzel(block, self.row_harmonics[r]) * ROW_HARMONIC < row
            && goertzel(block, self.col_harmonics[c]) * COL_HARMONIC < col;
        passes.then_some(KEYPAD[r][c])
    }

    /// Debounces block decisions into key presses.
    fn track(&mut self, hit: Option<char>) -> Option<char> {
        if let Some(active) = self.active {
            if hit == Some(active) {
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= MISSES_TO_RELEASE {
                    self.active = None;
                    self.candidate = None;
                    self.hits = 0;
                }
            }
            return None;
        }
        if hit.is_some() && hit == self.candidate {
            self.hits += 1;
        } else {
            self.candidate = hit;
            self.hits = u32::from(hit.is_some());
        }
        if self.hits >= HITS_TO_REPORT {
            self.active = self.candidate;
            self.misses = 0;
            return self.active;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::prompt::load_wav;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::path::{Path, PathBuf};

    const KEYS: &str = "123A456B789C*0#D";

    /// Peak amplitude of a sine at `dbm0`.
    fn amplitude(dbm0: f32) -> f32 {
        DBM0_AMPLITUDE * 10f32.powf(dbm0 / 20.0)
    }

    fn frequencies(key: char) -> (f32, f32) {
        let index = KEYS.find(key).unwrap();
        (ROW_HZ[index / 4], COL_HZ[index % 4])
    }

    /// A DTMF tone pair with each tone at its own level.
    fn tone(key: char, ms: usize, row_dbm0: f32, col_dbm0: f32) -> Vec<f32> {
        let (fr, fc) = frequencies(key);
        let (ar, ac) = (amplitude(row_dbm0), amplitude(col_dbm0));
        let w = 2.0 * std::f32::consts::PI / RATE_HZ;
        (0..ms * 8)
            .map(|n| ar * (w * fr * n as f32).sin() + ac * (w * fc * n as f32 + 1.0).sin())
            .collect()
    }

    fn to_pcm(x: &[f32]) -> Vec<i16> {
        x.iter()
            .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }

    fn detect(pcm: &[i16]) -> String {
        InbandDetector::new().push(pcm).into_iter().collect()
    }

    fn add_noise(x: &mut [f32], dbm0: f32, seed: u64) {
        // Uniform noise of RMS r spans ±r·√3; 0 dBm0 RMS is the 0 dBm0 sine peak over √2.
        let span = amplitude(dbm0) / 2f32.sqrt() * 3f32.sqrt();
        let mut rng = StdRng::seed_from_u64(seed);
        for v in x {
            *v += rng.random_range(-span..=span);
        }
    }

    /// The speech WAVs in `dir`, sorted. The test rig's speech-with-tones files carry keys on purpose,
    /// and μ-law WAV copies (made by the ASR tests) are the same speech in a format hound does not read.
    fn speech_wavs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .filter(|p| {
                let name = p.to_string_lossy();
                !name.contains("dtmf") && !name.contains("ulaw")
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Real speech: the ALSA test recordings (always installed), resampled to 8 kHz.
    fn alsa_speech() -> Vec<(String, Vec<f32>)> {
        let files = speech_wavs(Path::new("/usr/share/sounds/alsa"))
            .expect("alsa-utils sounds in /usr/share/sounds/alsa");
        assert!(files.len() >= 8, "alsa recordings missing");
        files.iter().map(|p| load(p)).collect()
    }

    /// Speech fetched by tests/fetch script into tests/.cache (jfk.wav, pocketsphinx cards ...).
    fn cached_speech() -> Vec<(String, Vec<f32>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.cache");
        let Ok(files) = speech_wavs(&dir) else {
            eprintln!(
                "note: {} absent; cached speech recordings not checked",
                dir.display()
            );
            return Vec::new();
        };
        if files.is_empty() {
            eprintln!(
                "note: no WAV files in {}; cached speech recordings not checked",
                dir.display()
            );
        }
        files.iter().map(|p| load(p)).collect()
    }

    fn load(path: &std::path::Path) -> (String, Vec<f32>) {
        let pcm = load_wav(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (
            path.display().to_string(),
            pcm.iter().map(|&s| f32::from(s)).collect(),
        )
    }

    /// Scales audio so that its RMS over the louder half of its 20 ms frames is `dbm0`: the level
    /// of the talking, not of the pauses.
    fn speech_at(x: &[f32], dbm0: f32) -> Vec<f32> {
        let mut frames: Vec<f32> = x
            .chunks(160)
            .map(|f| f.iter().map(|v| v * v).sum::<f32>() / f.len() as f32)
            .collect();
        frames.sort_by(f32::total_cmp);
        let loud = &frames[frames.len() / 2..];
        let rms = (loud.iter().sum::<f32>() / loud.len() as f32).sqrt();
        let gain = amplitude(dbm0) / 2f32.sqrt() / rms.max(1.0);
        x.iter().map(|v| v * gain).collect()
    }

    #[test]
    fn all_keys_at_many_levels_and_lengths_in_noise() {
        let durations = [40, 45, 50, 60, 70, 80, 100, 120, 150, 200];
        let levels = [-3.0, -6.0, -10.0, -15.0, -20.0, -25.0];
        let mut signal = vec![0.0f32; 800];
        let mut expected = String::new();
        let mut i = 0;
        for &level in &levels {
            for key in KEYS.chars() {
                let ms = durations[i % durations.len()];
                // Twist within the limits: low group up to 6 dB stronger, high group up to 3 dB.
                let twist = [0.0, 3.0, -2.0, 6.0, -3.0][i % 5];
                let (row, col) = if twist > 0.0 {
                    (level, level - twist)
                } else {
                    (level + twist, level)
                };
                signal.extend(tone(key, ms, row, col));
                signal.extend(vec![0.0; 8 * (50 + 13 * (i % 7))]);
                expected.push(key);
                i += 1;
            }
        }
        add_noise(&mut signal, -50.0, 1);
        assert_eq!(detect(&to_pcm(&signal)), expected);
    }

    #[test]
    fn tones_over_real_speech_are_detected_exactly() {
        let speech: Vec<f32> = alsa_speech().into_iter().flat_map(|(_, s)| s).collect();
        let mut signal = speech_at(&speech, -26.0);
        let mut expected = String::new();
        for (i, key) in KEYS.chars().chain("5550#".chars()).enumerate() {
            let start = 2000 + i * 8 * 400;
            let burst = tone(key, 60 + 20 * (i % 4), -8.0, -8.0);
            for (s, t) in signal[start..start + burst.len()].iter_mut().zip(&burst) {
                *s += t;
            }
            expected.push(key);
        }
        assert_eq!(detect(&to_pcm(&signal)), expected);
    }

    #[test]
    fn no_false_keys_on_real_speech() {
        let mut recordings = alsa_speech();
        recordings.extend(cached_speech());
        let mut seconds = 0.0;
        for (name, speech) in &recordings {
            seconds += speech.len() as f32 / RATE_HZ;
            for level in [None, Some(-25.0), Some(-15.0), Some(-8.0)] {
                let audio = level.map_or_else(|| speech.clone(), |l| speech_at(speech, l));
                assert_eq!(detect(&to_pcm(&audio)), "", "{name} at {level:?} dBm0");
            }
        }
        eprintln!(
            "{} recordings, {seconds:.0} s of speech at four levels: no false keys",
            recordings.len()
        );
    }

    #[test]
    fn short_tones_weak_tones_and_bad_twist_are_rejected() {
        let pause = vec![0.0f32; 800];
        let cases: [(&str, Vec<f32>); 5] = [
            ("20 ms", tone('5', 20, -10.0, -10.0)),
            ("25 ms", tone('5', 25, -10.0, -10.0)),
            ("-40 dBm0", tone('5', 100, -40.0, -40.0)),
            ("low group 12 dB up", tone('5', 100, -5.0, -17.0)),
            ("high group 7 dB up", tone('5', 100, -17.0, -10.0)),
        ];
        for (name, t) in cases {
            let signal = [pause.clone(), t, pause.clone()].concat();
            assert_eq!(detect(&to_pcm(&signal)), "", "{name}");
        }
        let single = tone('5', 100, -10.0, -200.0);
        assert_eq!(detect(&to_pcm(&single)), "", "single frequency");
    }

    #[test]
    fn repeated_key_needs_a_pause_and_dropouts_do_not_repeat() {
        let gap = |ms: usize| vec![0.0f32; ms * 8];
        let twice = [tone('7', 80, -10.0, -10.0), gap(60), tone('7', 80, -10.0, -10.0)].concat();
        assert_eq!(detect(&to_pcm(&twice)), "77");
        let dropout = [tone('7', 80, -10.0, -10.0), gap(10), tone('7', 80, -10.0, -10.0)].concat();
        assert_eq!(detect(&to_pcm(&dropout)), "7");
    }

    #[test]
    fn chunk_size_does_not_matter() {
        let mut signal: Vec<f32> = "19#D"
            .chars()
            .flat_map(|k| [tone(k, 70, -12.0, -12.0), vec![0.0; 480]].concat())
            .collect();
        add_noise(&mut signal, -45.0, 2);
        let pcm = to_pcm(&signal);
        for chunk in [1, 7, 80, 160, 333, pcm.len()] {
            let mut detector = InbandDetector::new();
            let keys: String = pcm.chunks(chunk).flat_map(|c| detector.push(c)).collect();
            assert_eq!(keys, "19#D", "chunks of {chunk}");
        }
    }

    #[test]
    fn survives_g711_coding() {
        use crate::media::g711::Codec;
        let signal: Vec<f32> = KEYS
            .chars()
            .flat_map(|k| [tone(k, 50, -20.0, -20.0), vec![0.0; 480]].concat())
            .collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let (mut coded, mut decoded) = (Vec::new(), Vec::new());
            codec.encode(&to_pcm(&signal), &mut coded);
            codec.decode(&coded, &mut decoded);
            assert_eq!(detect(&decoded), KEYS, "{}", codec.name());
        }
    }
}
