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
//!
//! The final decode starts early: once the caller has been silent for the trailing tail kept with
//! each utterance, the audio a final would decode is complete, so it is requested then, while the
//! policy waits for the rest of `end_silence_ms` to confirm the end. If the caller talks on, the
//! answer is not wasted: it serves as one more hypothesis for LocalAgreement.

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
    /// Audio kept after the last voice; also when the early final decode starts.
    pub tail_ms: u64,
    /// Utterances with less voiced audio than this are dropped undecoded (clicks, coughs).
    pub min_voice_ms: u64,
    /// RMS of the voiced frames below which an utterance is not decoded (line noise the VAD let pass).
    pub energy_floor: f32,
}

impl PolicyConfig {
    fn samples(&self, ms: u64) -> u64 {
        ms * u64::from(self.sample_rate) / 1000
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            sample_rate: 16_000,
            end_silence_ms: 500,
            max_utterance_ms: 15_000,
            partial_every_ms: 700,
            pre_roll_ms: 200,
            tail_ms: 200,
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

/// A final decode requested while the utterance may still go on.
struct Early {
    /// Samples it covers (from the utterance's start).
    samples: usize,
    /// Its answer, once back (`Some(None)`: it failed or was dropped).
    answer: Option<Option<String>>,
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
    /// The early final for the current pause; cleared when the caller talks on.
    early: Option<Early>,
    previous_hypothesis: Vec<String>,
    /// Samples the previous hypothesis covers: an older answer arriving late is not used.
    hypothesis_samples: usize,
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
    /// Samples the final decode covers, to tell its answer from an older early one.
    samples: usize,
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
        self.cfg.samples(ms)
    }

    /// Whether `u` holds enough real voice to be decoded at all.
    fn worth_decoding(cfg: &PolicyConfig, u: &Utterance) -> bool {
        u.voiced_samples >= cfg.samples(cfg.min_voice_ms) && u.rms() >= cfg.energy_floor
    }

    /// Samples of `u` a final decodes at `now`: up to a short tail after the last voice (more silence
    /// only costs decode time).
    fn final_len(cfg: &PolicyConfig, now: u64, u: &Utterance) -> usize {
        ((u.last_voice_sample + cfg.samples(cfg.tail_ms)).min(now) - u.start_sample) as usize
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
                early: None,
                previous_hypothesis: Vec::new(),
                hypothesis_samples: 0,
                committed: Vec::new(),
            });
            self.next_id += 1;
        }
        let now = self.now;
        let floor = self.cfg.energy_floor;
        let (end_silence, max_len, every, tail) = (
            self.samples(self.cfg.end_silence_ms),
            self.samples(self.cfg.max_utterance_ms),
            self.samples(self.cfg.partial_every_ms),
            self.samples(self.cfg.tail_ms),
        );
        let Some(u) = self.current.as_mut() else { return };
        u.pcm.extend_from_slice(frame);
        if voice {
            u.last_voice_sample = now;
            u.voiced_samples += frame.len() as u64;
            u.voiced_energy += frame.iter().map(|s| f64::from(s * s)).sum::<f64>();
            // The caller talks on: an early final no longer covers the utterance.
            u.early = None;
        }
        let silent = now - u.last_voice_sample;
        if silent >= end_silence || now - u.start_sample >= max_len {
            self.end_utterance(out);
        } else if voice && !u.partial_in_flight && now - u.last_partial_request >= every && u.rms() >= floor {
            u.partial_in_flight = true;
            u.last_partial_request = now;
            out.push(Action::Decode {
                utterance_id: u.id,
                kind: TranscriptKind::Partial,
                pcm: u.pcm.clone(),
            });
        } else if silent >= tail && u.early.is_none() {
            self.request_early_final(out);
        }
    }

    /// Asks for the current utterance's final decode while its end is not yet confirmed.
    fn request_early_final(&mut self, out: &mut Vec<Action>) {
        let (cfg, now) = (&self.cfg, self.now);
        let Some(u) = self.current.as_mut().filter(|u| Self::worth_decoding(cfg, u)) else {
            return;
        };
        let samples = Self::final_len(cfg, now, u);
        u.early = Some(Early {
            samples,
            answer: None,
        });
        out.push(Action::Decode {
            utterance_id: u.id,
            kind: TranscriptKind::Final,
            pcm: u.pcm[..samples].to_vec(),
        });
    }

    /// Closes the current utterance: its final (from the early decode when that covers it), or nothing
    /// if it held too little real voice.
    fn end_utterance(&mut self, out: &mut Vec<Action>) {
        let Some(mut u) = self.current.take() else { return };
        if !Self::worth_decoding(&self.cfg, &u) {
            if !u.committed.is_empty() || !u.previous_hypothesis.is_empty() {
                // Partials were shown for it: clear them with an empty final.
                out.push(self.emit_final(u.id, String::new(), u.start_sample, u.last_voice_sample));
            }
            return;
        }
        let samples = Self::final_len(&self.cfg, self.now, &u);
        let pending = Pending {
            id: u.id,
            samples,
            shown_partial: !u.previous_hypothesis.is_empty(),
            start_ms: self.ms(u.start_sample),
            end_ms: self.ms(u.last_voice_sample),
        };
        match u.early.take().filter(|e| e.samples == samples) {
            Some(Early {
                answer: Some(text), ..
            }) => Self::finish_pending(&pending, text.as_deref(), out),
            Some(Early { answer: None, .. }) => self.pending.push(pending),
            None => {
                u.pcm.truncate(samples);
                self.pending.push(pending);
                out.push(Action::Decode {
                    utterance_id: u.id,
                    kind: TranscriptKind::Final,
                    pcm: u.pcm,
                });
            }
        }
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

    /// The final of an ended utterance from its decoded text.
    fn finish_pending(p: &Pending, text: Option<&str>, out: &mut Vec<Action>) {
        let text = text.and_then(guard::clean).unwrap_or_default();
        if text.is_empty() && !p.shown_partial {
            return;
        }
        out.push(Action::Emit {
            utterance_id: p.id,
            kind: TranscriptKind::Final,
            text,
            start_ms: p.start_ms,
            end_ms: p.end_ms,
        });
    }

    /// The end of the call: the utterance in progress is finalised.
    pub fn finish(&mut self, out: &mut Vec<Action>) {
        self.end_utterance(out);
    }

    /// Whether final decodes are still outstanding (the stream must wait for them before closing).
    pub fn awaiting_finals(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The text of a decode of the first `samples` of utterance `utterance_id` (`None`: it failed or
    /// was dropped).
    pub fn on_result(
        &mut self,
        utterance_id: u64,
        kind: TranscriptKind,
        samples: usize,
        text: Option<&str>,
        out: &mut Vec<Action>,
    ) {
        if kind == TranscriptKind::Final
            && let Some(pos) = self
                .pending
                .iter()
                .position(|p| p.id == utterance_id && p.samples == samples)
        {
            let p = self.pending.remove(pos);
            Self::finish_pending(&p, text, out);
            return;
        }
        let rate = u64::from(self.cfg.sample_rate);
        let Some(u) = self.current.as_mut().filter(|u| u.id == utterance_id) else {
            return;
        };
        match kind {
            TranscriptKind::Partial => u.partial_in_flight = false,
            TranscriptKind::Final => {
                if let Some(e) = u.early.as_mut().filter(|e| e.samples == samples) {
                    // Kept for when the silence is confirmed as the end.
                    e.answer = Some(text.map(str::to_string));
                    return;
                }
                // An early final the caller talked over: one more hypothesis, below.
            }
        }
        if samples <= u.hypothesis_samples {
            return;
        }
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
        u.hypothesis_samples = samples;
        out.push(Action::Emit {
            utterance_id,
            kind: TranscriptKind::Partial,
            text: shown.join(" "),
            start_ms: u.start_sample * 1000 / rate,
            end_ms: (u.start_sample + samples as u64) * 1000 / rate,
        });
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

    /// The samples of the only decode requested in `a`.
    fn only_decode(a: &[Action], kind: TranscriptKind) -> usize {
        match &decodes(a)[..] {
            [(_, k, samples)] if *k == kind => *samples,
            other => panic!("expected one {kind:?} decode, got {other:?}"),
        }
    }

    #[test]
    fn partials_follow_local_agreement_and_the_final_ends_the_utterance() {
        let mut p = Policy::new(PolicyConfig::default());
        assert!(feed(&mut p, 1000, false).is_empty());
        // One partial requested after ~700 ms of speech.
        let n = only_decode(&feed(&mut p, 800, true), Partial);
        let mut out = Vec::new();
        p.on_result(1, Partial, n, Some(" And so my fellow"), &mut out);
        assert_eq!(emitted(&out), vec![(Partial, "And so my fellow".into())]);
        let n = only_decode(&feed(&mut p, 800, true), Partial);
        let mut out = Vec::new();
        p.on_result(1, Partial, n, Some(" And so, my fellow Americans ask"), &mut out);
        // "And so my fellow" is now agreed by two hypotheses (punctuation aside) and is committed.
        assert_eq!(
            emitted(&out),
            vec![(Partial, "And so, my fellow Americans ask".into())]
        );
        let n = only_decode(&feed(&mut p, 800, true), Partial);
        let mut out = Vec::new();
        // A hypothesis that rewrites the committed words cannot take them back.
        p.on_result(
            1,
            Partial,
            n,
            Some(" In so my fellow Americans, ask not"),
            &mut out,
        );
        assert_eq!(emitted(&out), vec![(Partial, "And so, my fellow".into())]);
        // 600 ms of silence ends it. The final decode, trimmed to 200 ms after the voice, is requested
        // once those 200 ms are there; the end itself waits for 500 ms of silence.
        let a = feed(&mut p, 208, false);
        let n = only_decode(&a, Final);
        assert!(!p.awaiting_finals(), "not ended yet");
        assert!(decodes(&feed(&mut p, 400, false)).is_empty(), "no second decode");
        assert!(p.awaiting_finals());
        // Pre-roll 200 ms + 2400 ms voice (rounded to frames) + 200 ms tail.
        let secs = n as f64 / 16_000.0;
        assert!((2.7..2.9).contains(&secs), "{secs}");
        let mut out = Vec::new();
        p.on_result(
            1,
            Final,
            n,
            Some(" And so, my fellow Americans, ask not."),
            &mut out,
        );
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
        p.on_result(1, Partial, n, Some("stale"), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn an_early_final_back_before_the_end_is_emitted_at_the_end() {
        let mut p = Policy::new(PolicyConfig::default());
        feed(&mut p, 1500, true);
        let n = only_decode(&feed(&mut p, 208, false), Final);
        let mut out = Vec::new();
        p.on_result(1, Final, n, Some(" Rear left."), &mut out);
        assert!(out.is_empty(), "held until the silence is confirmed");
        let a = feed(&mut p, 400, false);
        assert!(decodes(&a).is_empty());
        assert_eq!(emitted(&a), vec![(Final, "Rear left.".into())]);
        assert!(!p.awaiting_finals());
    }

    #[test]
    fn an_early_final_the_caller_talks_over_is_a_hypothesis_and_the_end_decodes_again() {
        let mut p = Policy::new(PolicyConfig::default());
        feed(&mut p, 1000, true);
        let early = only_decode(&feed(&mut p, 300, false), Final);
        // The caller goes on before 500 ms of silence: the utterance continues.
        let a = feed(&mut p, 600, true);
        assert!(decodes(&a).iter().all(|d| d.1 == Partial));
        let mut out = Vec::new();
        p.on_result(1, Final, early, Some(" Eight of spades"), &mut out);
        assert_eq!(emitted(&out), vec![(Partial, "Eight of spades".into())]);
        // The next pause asks for a final of the whole utterance.
        let a = feed(&mut p, 600, false);
        let whole = only_decode(&a, Final);
        assert!(whole > early);
        let mut out = Vec::new();
        p.on_result(1, Final, early, Some(" Eight of spades"), &mut out);
        assert!(out.is_empty(), "an answer for older audio is not the final");
        p.on_result(
            1,
            Final,
            whole,
            Some(" Eight of spades, four of clubs."),
            &mut out,
        );
        assert_eq!(
            emitted(&out),
            vec![(Final, "Eight of spades, four of clubs.".into())]
        );
    }

    #[test]
    fn only_one_partial_in_flight_per_stream() {
        let mut p = Policy::new(PolicyConfig::default());
        let n = only_decode(&feed(&mut p, 3000, true), Partial);
        let mut out = Vec::new();
        p.on_result(1, Partial, n, None, &mut out);
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
        let n = decodes(&a)[0].2;
        let mut out = Vec::new();
        p.on_result(1, Partial, n, Some(" Thank you"), &mut out);
        let n = only_decode(&feed(&mut p, 600, false), Final);
        let mut out = Vec::new();
        p.on_result(1, Final, n, Some(" Thank you for watching!"), &mut out);
        assert_eq!(
            emitted(&out),
            vec![(Final, String::new())],
            "clears the partial shown"
        );
        // Without partials shown, a hallucinated final emits nothing at all.
        feed(&mut p, 1500, true);
        let n = only_decode(&feed(&mut p, 600, false), Final);
        let mut out = Vec::new();
        p.on_result(2, Final, n, Some("[BLANK_AUDIO]"), &mut out);
        assert!(out.is_empty());
    }
}
