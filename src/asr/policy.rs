//! The streaming commit policy, sans-IO: 16 kHz frames with a voice decision go in, decode requests and
//! transcript emissions come out. Time is the audio's own clock (samples seen), so tests drive it
//! deterministically and a stream pushed faster than real time behaves as it would live.
//!
//! Segmentation: an utterance starts on voice (with a short pre-roll so the first syllable is kept),
//! ends after `end_silence_ms` without voice, and is cut at `max_utterance_ms` if the caller never
//! pauses. While it grows, a partial decode of the whole utterance is requested every
//! `partial_every_ms` (one in flight at a time); LocalAgreement-2 commits the longest common prefix of
//! the last two hypotheses, so committed words never change and only the tail of a partial flickers.
//! When it ends, one stricter final decode of the whole utterance gives its final text.

use super::guard;
use crate::events::TranscriptKind;

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub sample_rate: u32,
    pub end_silence_ms: u64,
    pub max_utterance_ms: u64,
    pub partial_every_ms: u64,
    /// Audio kept from before the voice onset.
    pub pre_roll_ms: u64,
    /// Utterances with less voiced audio than this are dropped undecoded (clicks, coughs).
    pub min_voice_ms: u64,
    /// RMS of the voiced frames below which an utterance is not decoded (line noise the VAD let pass).
    pub energy_floor: f32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            sample_rate: 16_000,
            end_silence_ms: 500,
            max_utterance_ms: 15_000,
            partial_every_ms: 700,
            pre_roll_ms: 200,
            min_voice_ms: 250,
            energy_floor: 0.003,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Decode `pcm` (the utterance from its start) and report back with `on_result`.
    Decode {
        utterance_id: u64,
        kind: TranscriptKind,
        pcm: Vec<f32>,
    },
    Emit {
        utterance_id: u64,
        kind: TranscriptKind,
        text: String,
        start_ms: u64,
        end_ms: u64,
    },
}

struct Utterance {
    id: u64,
    start_sample: u64,
    pcm: Vec<f32>,
    last_voice_sample: u64,
    voiced_samples: u64,
    voiced_energy: f64,
    last_partial_request: u64,
    partial_in_flight: bool,
    previous_hypothesis: Vec<String>,
    committed: Vec<String>,
}

impl Utterance {
    /// Loudness of the voiced frames (0 before any).
    fn rms(&self) -> f32 {
        (self.voiced_energy / self.voiced_samples.max(1) as f64).sqrt() as f32
    }
}

/// Ended utterances waiting for their final decode.
struct Pending {
    id: u64,
    /// Partials were emitted, so even an empty final must be sent to clear them.
    shown_partial: bool,
    start_ms: u64,
    end_ms: u64,
}

pub struct Policy {
    cfg: PolicyConfig,
    /// Samples seen: the stream's clock.
    now: u64,
    pre_roll: Vec<f32>,
    current: Option<Utterance>,
    pending: Vec<Pending>,
    next_id: u64,
}

impl Policy {
    pub fn new(cfg: PolicyConfig) -> Policy {
        Policy {
            cfg,
            now: 0,
            pre_roll: Vec::new(),
            current: None,
            pending: Vec::new(),
            next_id: 1,
        }
    }

    fn ms(&self, samples: u64) -> u64 {
        samples * 1000 / u64::from(self.cfg.sample_rate)
    }

    fn samples(&self, ms: u64) -> u64 {
        ms * u64::from(self.cfg.sample_rate) / 1000
    }

    /// Feeds one frame and whether the VAD heard voice in it.
    pub fn on_frame(&mut self, frame: &[f32], voice: bool, out: &mut Vec<Action>) {
        let frame_start = self.now;
        self.now += frame.len() as u64;
        if self.current.is_none() {
            if !voice {
                self.pre_roll.extend_from_slice(frame);
                let keep = self.samples(self.cfg.pre_roll_ms) as usize;
                if self.pre_roll.len() > keep {
                    self.pre_roll.drain(..self.pre_roll.len() - keep);
                }
                return;
            }
            let pcm = std::mem::take(&mut self.pre_roll);
            let start_sample = frame_start - pcm.len() as u64;
            self.current = Some(Utterance {
                id: self.next_id,
                start_sample,
                pcm,
                last_voice_sample: self.now,
                voiced_samples: 0,
                voiced_energy: 0.0,
                last_partial_request: self.now,
                partial_in_flight: false,
                previous_hypothesis: Vec::new(),
                committed: Vec::new(),
            });
            self.next_id += 1;
        }
        let now = self.now;
        let floor = self.cfg.energy_floor;
        let (end_silence, max_len, every) = (
            self.samples(self.cfg.end_silence_ms),
            self.samples(self.cfg.max_utterance_ms),
            self.samples(self.cfg.partial_every_ms),
        );
        let Some(u) = self.current.as_mut() else { return };
        u.pcm.extend_from_slice(frame);
        if voice {
            u.last_voice_sample = now;
            u.voiced_samples += frame.len() as u64;
            u.voiced_energy += frame.iter().map(|s| f64::from(s * s)).sum::<f64>();
        }
        if now - u.last_voice_sample >= end_silence || now - u.start_sample >= max_len {
            self.end_utterance(out);
        } else if voice && !u.partial_in_flight && now - u.last_partial_request >= every && u.rms() >= floor {
            u.partial_in_flight = true;
            u.last_partial_request = now;
            out.push(Action::Decode {
                utterance_id: u.id,
                kind: TranscriptKind::Partial,
                pcm: u.pcm.clone(),
            });
        }
    }

    /// Closes the current utterance: a final decode if it held enough real voice, else nothing.
    fn end_utterance(&mut self, out: &mut Vec<Action>) {
        let Some(mut u) = self.current.take() else { return };
        if u.voiced_samples < self.samples(self.cfg.min_voice_ms) || u.rms() < self.cfg.energy_floor {
            if !u.committed.is_empty() || !u.previous_hypothesis.is_empty() {
                // Partials were shown for it: clear them with an empty final.
                out.push(self.emit_final(u.id, String::new(), u.start_sample, u.last_voice_sample));
            }
            return;
        }
        // Trailing silence beyond a short tail only costs decode time.
        let tail = self.samples(200);
        let keep = (u.last_voice_sample + tail).min(self.now) - u.start_sample;
        u.pcm.truncate(keep as usize);
        self.pending.push(Pending {
            id: u.id,
            shown_partial: !u.previous_hypothesis.is_empty(),
            start_ms: self.ms(u.start_sample),
            end_ms: self.ms(u.last_voice_sample),
        });
        out.push(Action::Decode {
            utterance_id: u.id,
            kind: TranscriptKind::Final,
            pcm: u.pcm,
        });
    }

    fn emit_final(&self, id: u64, text: String, start: u64, end: u64) -> Action {
        Action::Emit {
            utterance_id: id,
            kind: TranscriptKind::Final,
            text,
            start_ms: self.ms(start),
            end_ms: self.ms(end),
        }
    }

    /// The end of the call: the utterance in progress is finalised.
    pub fn finish(&mut self, out: &mut Vec<Action>) {
        self.end_utterance(out);
    }

    /// Whether final decodes are still outstanding (the stream must wait for them before closing).
    pub fn awaiting_finals(&self) -> bool {
        !self.pending.is_empty()
    }

    /// A decode's text (`None`: it failed or was dropped).
    pub fn on_result(
        &mut self,
        utterance_id: u64,
        kind: TranscriptKind,
        text: Option<&str>,
        out: &mut Vec<Action>,
    ) {
        match kind {
            TranscriptKind::Final => {
                let Some(pos) = self.pending.iter().position(|p| p.id == utterance_id) else {
                    return;
                };
                let p = self.pending.remove(pos);
                let text = text.and_then(guard::clean).unwrap_or_default();
                if text.is_empty() && !p.shown_partial {
                    return;
                }
                out.push(Action::Emit {
                    utterance_id,
                    kind,
                    text,
                    start_ms: p.start_ms,
                    end_ms: p.end_ms,
                });
            }
            TranscriptKind::Partial => {
                let rate = u64::from(self.cfg.sample_rate);
                let Some(u) = self.current.as_mut().filter(|u| u.id == utterance_id) else {
                    return;
                };
                u.partial_in_flight = false;
                let Some(text) = text.and_then(guard::clean) else {
                    return;
                };
                let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
                let agreed = common_prefix(&u.previous_hypothesis, &words);
                if agreed > u.committed.len() {
                    u.committed = words[..agreed].to_vec();
                }
                let mut shown = u.committed.clone();
                if words.len() > u.committed.len() && words_agree(&words[..u.committed.len()], &u.committed) {
                    shown.extend_from_slice(&words[u.committed.len()..]);
                }
                u.previous_hypothesis = words;
                // A partial covers the audio up to its request (one is in flight at a time).
                out.push(Action::Emit {
                    utterance_id,
                    kind,
                    text: shown.join(" "),
                    start_ms: u.start_sample * 1000 / rate,
                    end_ms: u.last_partial_request * 1000 / rate,
                });
            }
        }
    }
}

/// Words compared as `guard::normalize` sees them, so "country," agrees with "country".
fn words_agree(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| guard::normalize(x) == guard::normalize(y))
}

fn common_prefix(a: &[String], b: &[String]) -> usize {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| guard::normalize(x) == guard::normalize(y))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use TranscriptKind::{Final, Partial};

    /// 16 ms frames: a quiet tone for voice, zeros for silence.
    const FRAME: usize = 256;

    fn feed(p: &mut Policy, ms: u64, voice: bool) -> Vec<Action> {
        let mut out = Vec::new();
        let frames = ms * 16 / FRAME as u64;
        for i in 0..frames {
            let frame: Vec<f32> = if voice {
                (0..FRAME)
                    .map(|k| 0.1 * ((i as usize * FRAME + k) as f32 * 0.2).sin())
                    .collect()
            } else {
                vec![0.0; FRAME]
            };
            p.on_frame(&frame, voice, &mut out);
        }
        out
    }

    fn decodes(actions: &[Action]) -> Vec<(u64, TranscriptKind, usize)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Decode {
                    utterance_id,
                    kind,
                    pcm,
                } => Some((*utterance_id, *kind, pcm.len())),
                _ => None,
            })
            .collect()
    }

    fn emitted(actions: &[Action]) -> Vec<(TranscriptKind, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Emit { kind, text, .. } => Some((*kind, text.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn partials_follow_local_agreement_and_the_final_ends_the_utterance() {
        let mut p = Policy::new(PolicyConfig::default());
        assert!(feed(&mut p, 1000, false).is_empty());
        let a = feed(&mut p, 800, true);
        assert_eq!(
            decodes(&a).len(),
            1,
            "one partial requested after ~700 ms of speech"
        );
        let mut out = Vec::new();
        p.on_result(1, Partial, Some(" And so my fellow"), &mut out);
        assert_eq!(emitted(&out), vec![(Partial, "And so my fellow".into())]);
        let a = feed(&mut p, 800, true);
        assert_eq!(decodes(&a).len(), 1);
        let mut out = Vec::new();
        p.on_result(1, Partial, Some(" And so, my fellow Americans ask"), &mut out);
        // "And so my fellow" is now agreed by two hypotheses (punctuation aside) and is committed.
        assert_eq!(
            emitted(&out),
            vec![(Partial, "And so, my fellow Americans ask".into())]
        );
        let a = feed(&mut p, 800, true);
        assert_eq!(decodes(&a).len(), 1);
        let mut out = Vec::new();
        // A hypothesis that rewrites the committed words cannot take them back.
        p.on_result(1, Partial, Some(" In so my fellow Americans, ask not"), &mut out);
        assert_eq!(emitted(&out), vec![(Partial, "And so, my fellow".into())]);
        // 600 ms of silence ends it: a final decode of the utterance, trimmed to 200 ms after the voice.
        let a = feed(&mut p, 600, false);
        let d = decodes(&a);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].0, d[0].1), (1, Final));
        assert!(p.awaiting_finals());
        // Pre-roll 200 ms + 2400 ms voice (rounded to frames) + 200 ms tail.
        let secs = d[0].2 as f64 / 16_000.0;
        assert!((2.7..2.9).contains(&secs), "{secs}");
        let mut out = Vec::new();
        p.on_result(1, Final, Some(" And so, my fellow Americans, ask not."), &mut out);
        match &out[..] {
            [
                Action::Emit {
                    kind: Final,
                    text,
                    start_ms,
                    end_ms,
                    ..
                },
            ] => {
                assert_eq!(text, "And so, my fellow Americans, ask not.");
                assert!((790..=800).contains(start_ms), "{start_ms}");
                assert!((3390..=3410).contains(end_ms), "{end_ms}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!p.awaiting_finals());
        // A late partial for a finished utterance is ignored.
        let mut out = Vec::new();
        p.on_result(1, Partial, Some("stale"), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn only_one_partial_in_flight_per_stream() {
        let mut p = Policy::new(PolicyConfig::default());
        let a = feed(&mut p, 3000, true);
        assert_eq!(decodes(&a).len(), 1, "no new partial until the first one answers");
        let mut out = Vec::new();
        p.on_result(1, Partial, None, &mut out);
        assert!(out.is_empty(), "a dropped partial emits nothing");
        assert_eq!(decodes(&feed(&mut p, 800, true)).len(), 1);
    }

    #[test]
    fn long_speech_is_cut_and_a_new_utterance_starts() {
        let mut p = Policy::new(PolicyConfig::default());
        let a = feed(&mut p, 20_000, true);
        let finals: Vec<_> = decodes(&a).into_iter().filter(|d| d.1 == Final).collect();
        assert_eq!(finals.len(), 1);
        assert!(finals[0].2 as f64 / 16_000.0 <= 15.02, "{}", finals[0].2);
        let mut out = Vec::new();
        p.finish(&mut out);
        assert_eq!(decodes(&out), vec![(2, Final, decodes(&out)[0].2)]);
    }

    #[test]
    fn silence_clicks_and_whispers_are_never_decoded() {
        let mut p = Policy::new(PolicyConfig::default());
        assert!(feed(&mut p, 5000, false).is_empty());
        // 96 ms of "voice": shorter than min_voice_ms.
        let mut a = feed(&mut p, 96, true);
        a.extend(feed(&mut p, 1000, false));
        assert!(decodes(&a).is_empty());
        // Voice below the energy floor.
        let mut a = Vec::new();
        for _ in 0..100 {
            p.on_frame(&[0.0005; FRAME], true, &mut a);
        }
        a.extend(feed(&mut p, 1000, false));
        assert!(decodes(&a).is_empty());
    }

    #[test]
    fn hallucinated_finals_become_empty() {
        let mut p = Policy::new(PolicyConfig::default());
        let a = feed(&mut p, 1500, true);
        let mut out = Vec::new();
        p.on_result(1, Partial, Some(" Thank you"), &mut out);
        let a2 = feed(&mut p, 600, false);
        assert_eq!(decodes(&a2)[0].0, 1);
        assert!(!a.is_empty());
        let mut out = Vec::new();
        p.on_result(1, Final, Some(" Thank you for watching!"), &mut out);
        assert_eq!(
            emitted(&out),
            vec![(Final, String::new())],
            "clears the partial shown"
        );
        // Without partials shown, a hallucinated final emits nothing at all.
        feed(&mut p, 1500, true);
        feed(&mut p, 600, false);
        let mut out = Vec::new();
        p.on_result(2, Final, Some("[BLANK_AUDIO]"), &mut out);
        assert!(out.is_empty());
    }
}
