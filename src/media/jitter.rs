//! An adaptive jitter buffer addressed by RTP timestamp.
//!
//! Packets (already decoded to 8 kHz PCM, any duration) go in as they arrive; the call clock takes out
//! exactly one 20 ms frame per tick. The buffer keeps the playout point a target delay behind the
//! newest audio: the target follows the RFC 3550 interarrival jitter (grows at once, shrinks one frame
//! per calm stretch); the depth follows it by repeating a quiet frame when too shallow and by dropping
//! quiet frames when too deep. Missing
//! frames are concealed by fading out the last frame; an empty buffer stalls the playout point (a
//! delayed packet or a pause in talk) and the next packet starts a new talkspurt. A new SSRC or a
//! timestamp jump is mapped onto the current timeline just after the buffered audio, so nothing
//! already received is thrown away.

use std::collections::{BTreeMap, BTreeSet};

/// Samples in one output frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
const FRAME: i64 = FRAME_SAMPLES as i64;
const SAMPLES_PER_MS: i64 = 8;
const MS_PER_FRAME: u64 = 20;
/// Frames of fading repetition before a loss turns to silence.
const MAX_CONCEALED: u32 = 3;
/// Target delay in units of the jitter estimate (the estimate is a mean deviation, not a peak).
const JITTER_MULTIPLE: f64 = 3.0;
/// Calm pops (5 s) before the target shrinks by one frame.
const SHRINK_AFTER_POPS: u32 = 250;
/// Pops spent too deep without finding a quiet frame before a loud one is dropped anyway.
const FORCE_DROP_AFTER_POPS: u32 = 50;
/// A timestamp further than this from the playout point (either way) is a new timeline, not jitter.
const MIN_RESYNC_SAMPLES: i64 = 2 * 8000;
/// Sequence numbers remembered for duplicate detection.
const SEQ_MEMORY: i64 = 1024;
/// Mean square below which a frame is quiet whatever the recent level (about -50 dBFS).
const QUIET_FLOOR: f64 = 100.0 * 100.0;

/// What a popped frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameState {
    /// Received audio (a frame only partly covered by packets is zero-filled).
    Audio,
    /// A faded repetition of the last audio frame standing in for a missing one, or a quiet frame
    /// repeated to deepen the buffer.
    Concealed,
    /// Nothing to play: not started, between talkspurts, or after a long loss.
    Silence,
}

/// One 20 ms frame of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Popped {
    /// 160 samples at 8 kHz.
    pub pcm: [i16; FRAME_SAMPLES],
    /// Where the samples came from.
    pub state: FrameState,
}

/// Counters and the current adaptive state, for metrics and RTCP.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Distinct packets received (late ones included).
    pub received: u64,
    /// Packets received more than once (the copies).
    pub duplicates: u64,
    /// Packets that arrived after their audio was due, dropped.
    pub late: u64,
    /// Packets never received, from sequence-number gaps (RFC 3550 "cumulative lost").
    pub lost: u64,
    /// Frames filled by concealment.
    pub concealed_frames: u64,
    /// Frames dropped to reduce delay.
    pub dropped_frames: u64,
    /// Quiet frames repeated to build up delay (popped as `Concealed`).
    pub inserted_frames: u64,
    /// Whole frames buffered ahead of the playout point.
    pub depth_frames: u32,
    /// Delay the buffer aims for, in frames.
    pub target_frames: u32,
    /// RFC 3550 interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
}

/// Sequence numbers of one stream (one SSRC, until a resync): duplicates and losses.
#[derive(Debug)]
struct SeqWindow {
    base: i64,
    highest: i64,
    seen: BTreeSet<i64>,
    unique: u64,
}

impl SeqWindow {
    fn new(seq: u16) -> Self {
        let first = i64::from(seq);
        SeqWindow {
            base: first,
            highest: first - 1,
            seen: BTreeSet::new(),
            unique: 0,
        }
    }

    /// Records a sequence number; false if it was seen before (or is too old to tell).
    fn record(&mut self, seq: u16) -> bool {
        let ext = self.highest + i64::from(seq.wrapping_sub(self.highest as u16) as i16);
        if ext <= self.highest - SEQ_MEMORY || !self.seen.insert(ext) {
            return false;
        }
        if ext > self.highest {
            self.highest = ext;
            self.seen = self.seen.split_off(&(ext - SEQ_MEMORY));
        }
        self.base = self.base.min(ext);
        self.unique += 1;
        true
    }

    fn lost(&self) -> u64 {
        let expected = (self.highest - self.base + 1).max(0) as u64;
        expected.saturating_sub(self.unique)
    }
}

/// The jitter buffer of one received stream. Sans-IO: time comes in as arguments.
#[derive(Debug)]
pub struct JitterBuffer {
    min_frames: u32,
    max_frames: u32,
    target_frames: u32,
    ssrc: Option<u32>,
    /// Added to incoming timestamps so that a resynced stream continues the current timeline.
    ts_offset: u32,
    /// Extended RTP timestamp of the next sample to play; meaningful once `anchored`.
    play: i64,
    anchored: bool,
    /// Whether frames are being played (false while (re)filling).
    playing: bool,
    /// Where playout stopped at the last underflow: packets ending before it are late.
    floor: Option<i64>,
    /// Arrival time of the first packet of the current fill.
    filling_since: Option<u64>,
    packets: BTreeMap<i64, Vec<i16>>,
    seqs: Option<SeqWindow>,
    lost_before: u64,
    jitter: f64,
    last_transit: Option<i64>,
    largest_packet: i64,
    calm_pops: u32,
    deep_pops: u32,
    /// Depth averaged over about half a second, in samples: the instantaneous depth swings with every
    /// early or late packet, and acting on it would drop and repeat frames in turn.
    level: f64,
    last_frame: [i16; FRAME_SAMPLES],
    concealed_run: u32,
    energy_avg: f64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer whose delay stays within `min_frames..=max_frames` 20 ms frames (at least one).
    pub fn new(min_frames: u32, max_frames: u32) -> Self {
        let min_frames = min_frames.max(1);
        let max_frames = max_frames.max(min_frames);
        JitterBuffer {
            min_frames,
            max_frames,
            target_frames: min_frames,
            ssrc: None,
            ts_offset: 0,
            play: 0,
            anchored: false,
            playing: false,
            floor: None,
            filling_since: None,
            packets: BTreeMap::new(),
            seqs: None,
            lost_before: 0,
            jitter: 0.0,
            last_transit: None,
            largest_packet: 0,
            calm_pops: 0,
            deep_pops: 0,
            level: 0.0,
            last_frame: [0; FRAME_SAMPLES],
            concealed_run: MAX_CONCEALED,
            energy_avg: 0.0,
            stats: JitterStats::default(),
        }
    }

    /// Adds one received packet of decoded 8 kHz PCM that starts at RTP timestamp `ts`.
    /// `arrival_ms` must be on the same clock as the `now_ms` given to [`JitterBuffer::pop`].
    pub fn push(&mut self, seq: u16, ts: u32, ssrc: u32, pcm: Vec<i16>, arrival_ms: u64) {
        if pcm.is_empty() {
            return;
        }
        let resync_limit = MIN_RESYNC_SAMPLES.max(2 * i64::from(self.max_frames) * FRAME);
        if self.ssrc != Some(ssrc) || (self.anchored && (self.extend(ts) - self.play).abs() > resync_limit) {
            self.resync(ssrc, ts);
        }
        let at = self.extend(ts);
        let fresh = self.seqs.get_or_insert_with(|| SeqWindow::new(seq)).record(seq);
        if !fresh || self.packets.contains_key(&at) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.received += 1;
        self.update_jitter(at, arrival_ms);
        let len = pcm.len() as i64;
        if !self.admit(at, len, arrival_ms) {
            self.stats.late += 1;
            self.target_frames = (self.target_frames + 1).min(self.max_frames);
            self.calm_pops = 0;
            return;
        }
        self.largest_packet = self.largest_packet.max(len);
        self.packets.insert(at, pcm);
    }

    /// Decides whether a packet spanning `at..at+len` can still be played, moving the playout point
    /// while (re)filling so that a talkspurt starts at its earliest packet.
    fn admit(&mut self, at: i64, len: i64, arrival_ms: u64) -> bool {
        if self.playing {
            return at + len > self.play;
        }
        let floor = self.floor.unwrap_or(i64::MIN);
        if at + len <= floor {
            return false;
        }
        let start = at.max(floor);
        if !self.anchored || self.packets.is_empty() || start < self.play {
            self.play = start;
            self.anchored = true;
        }
        self.filling_since.get_or_insert(arrival_ms);
        true
    }

    /// Takes the next 20 ms frame; call once per 20 ms tick of the call clock.
    pub fn pop(&mut self, now_ms: u64) -> Popped {
        if !self.playing {
            let target = i64::from(self.target_frames);
            let ready = self.filling_since.is_some_and(|since| {
                self.depth() >= target * FRAME || now_ms >= since + MS_PER_FRAME * target as u64
            });
            if !ready {
                return self.conceal();
            }
            self.playing = true;
            self.level = self.depth() as f64;
        }
        self.adapt_target();
        self.catch_up();
        if self.should_stretch() {
            self.stats.inserted_frames += 1;
            self.level += FRAME as f64;
            return Popped {
                pcm: self.last_frame,
                state: FrameState::Concealed,
            };
        }
        if self.packets.is_empty() {
            // Underflow: hold the playout point and wait for the stream instead of running ahead.
            self.playing = false;
            self.floor = Some(self.play);
            self.filling_since = None;
            return self.conceal();
        }
        let (pcm, covered) = self.assemble();
        self.advance(1);
        if covered == 0 {
            return self.conceal();
        }
        self.last_frame = pcm;
        self.concealed_run = 0;
        let energy = mean_square(&pcm);
        self.energy_avg += (energy - self.energy_avg) / 32.0;
        Popped {
            pcm,
            state: FrameState::Audio,
        }
    }

    /// Counters and the adaptive state now.
    pub fn stats(&self) -> JitterStats {
        let current_lost = self.seqs.as_ref().map_or(0, SeqWindow::lost);
        JitterStats {
            lost: self.lost_before + current_lost,
            depth_frames: u32::try_from(self.depth() / FRAME).unwrap_or(u32::MAX),
            target_frames: self.target_frames,
            jitter_ms: self.jitter / SAMPLES_PER_MS as f64,
            ..self.stats
        }
    }

    /// Starts a new stream (new SSRC or a timestamp jump) whose packet `ts` continues right after the
    /// buffered audio.
    fn resync(&mut self, ssrc: u32, ts: u32) {
        if let Some(seqs) = self.seqs.take() {
            self.lost_before += seqs.lost();
        }
        self.ssrc = Some(ssrc);
        self.last_transit = None;
        self.ts_offset = if self.anchored {
            ((self.play + self.depth()) as u32).wrapping_sub(ts)
        } else {
            0
        };
    }

    /// The RTP timestamp mapped onto the current timeline and extended to 64 bits around the playout
    /// point (wrap-around safe).
    fn extend(&self, ts: u32) -> i64 {
        let ts = ts.wrapping_add(self.ts_offset);
        if !self.anchored {
            return i64::from(ts);
        }
        self.play + i64::from(ts.wrapping_sub(self.play as u32) as i32)
    }

    /// RFC 3550 §6.4.1 / A.8 interarrival jitter, in timestamp units.
    fn update_jitter(&mut self, at: i64, arrival_ms: u64) {
        let arrival = i64::try_from(arrival_ms).unwrap_or(i64::MAX / SAMPLES_PER_MS) * SAMPLES_PER_MS;
        let transit = arrival - at;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// Samples buffered from the playout point to the end of the newest packet.
    fn depth(&self) -> i64 {
        self.packets
            .last_key_value()
            .map_or(0, |(&at, pcm)| (at + pcm.len() as i64 - self.play).max(0))
    }

    /// Raises the target at once when the jitter asks for more; lowers it one frame per calm stretch.
    fn adapt_target(&mut self) {
        let wanted = (self.largest_packet as f64 + JITTER_MULTIPLE * self.jitter) / FRAME as f64;
        let wanted = (wanted.ceil() as u32 + 1).clamp(self.min_frames, self.max_frames);
        if wanted > self.target_frames {
            self.target_frames = wanted;
            self.calm_pops = 0;
        } else if wanted < self.target_frames {
            self.calm_pops += 1;
            if self.calm_pops >= SHRINK_AFTER_POPS {
                self.target_frames -= 1;
                self.calm_pops = 0;
            }
        } else {
            self.calm_pops = 0;
        }
    }

    /// Drops frames when deeper than the target: beyond `max_frames` at once, otherwise one quiet
    /// frame at a time (or a loud one after a long wait). Depth swings by a whole packet as packets
    /// arrive, so that much (plus a frame) is allowed above the target.
    fn catch_up(&mut self) {
        let depth = self.depth();
        self.level += (depth as f64 - self.level) / 32.0;
        let slack = (self.largest_packet + FRAME - 1) / FRAME + 1;
        if depth > i64::from(self.max_frames) * FRAME {
            let excess = (depth - i64::from(self.target_frames) * FRAME) / FRAME;
            self.advance(excess);
            self.stats.dropped_frames += excess as u64;
            self.level = self.depth() as f64;
            self.deep_pops = 0;
        } else if self.level >= ((i64::from(self.target_frames) + slack) * FRAME) as f64 {
            self.deep_pops += 1;
            if self.deep_pops >= FORCE_DROP_AFTER_POPS || self.next_frame_is_quiet() {
                self.advance(1);
                self.stats.dropped_frames += 1;
                self.level -= FRAME as f64;
                self.deep_pops = 0;
            }
        } else {
            self.deep_pops = 0;
        }
    }

    /// Whether to repeat the last frame instead of advancing, to bring a shallow buffer up to the
    /// target (with half a frame of hysteresis): only after a quiet frame, where it is not heard.
    fn should_stretch(&self) -> bool {
        !self.packets.is_empty()
            && self.concealed_run == 0
            && self.level + FRAME as f64 / 2.0 < (i64::from(self.target_frames) * FRAME) as f64
            && self.is_quiet(&self.last_frame)
    }

    fn is_quiet(&self, pcm: &[i16]) -> bool {
        mean_square(pcm) < QUIET_FLOOR.max(self.energy_avg / 4.0)
    }

    fn next_frame_is_quiet(&self) -> bool {
        let (pcm, covered) = self.assemble();
        covered == 0 || self.is_quiet(&pcm)
    }

    /// The frame at the playout point, and how many of its samples came from packets.
    fn assemble(&self) -> ([i16; FRAME_SAMPLES], usize) {
        let mut pcm = [0; FRAME_SAMPLES];
        let mut covered = 0;
        for (&at, samples) in self.packets.range(..self.play + FRAME) {
            let from = (self.play - at).max(0);
            let to = (self.play + FRAME - at).min(samples.len() as i64);
            for i in from..to {
                pcm[(at + i - self.play) as usize] = samples[i as usize];
            }
            covered += (to - from).max(0) as usize;
        }
        (pcm, covered.min(FRAME_SAMPLES))
    }

    /// Moves the playout point on and forgets packets that are wholly behind it.
    fn advance(&mut self, frames: i64) {
        self.play += frames * FRAME;
        while let Some((&at, pcm)) = self.packets.first_key_value() {
            if at + pcm.len() as i64 > self.play {
                break;
            }
            self.packets.pop_first();
        }
    }

    /// A faded repetition of the last frame for the first few missing frames, then silence.
    fn conceal(&mut self) -> Popped {
        if self.concealed_run >= MAX_CONCEALED {
            return Popped {
                pcm: [0; FRAME_SAMPLES],
                state: FrameState::Silence,
            };
        }
        self.concealed_run += 1;
        self.stats.concealed_frames += 1;
        let steps = MAX_CONCEALED as f32;
        let start = 1.0 - (self.concealed_run - 1) as f32 / steps;
        let end = 1.0 - self.concealed_run as f32 / steps;
        let mut pcm = [0; FRAME_SAMPLES];
        for (i, (out, &last)) in pcm.iter_mut().zip(&self.last_frame).enumerate() {
            let gain = start + (end - start) * i as f32 / FRAME_SAMPLES as f32;
            *out = (f32::from(last) * gain) as i16;
        }
        Popped {
            pcm,
            state: FrameState::Concealed,
        }
    }
}

fn mean_square(pcm: &[i16]) -> f64 {
    pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    /// A known signal (seeded noise, every fourth 20 ms frame quiet) whose every position can be
    /// found again from a few samples, so the tests can tell which audio came out.
    struct Signal {
        samples: Vec<i16>,
        index: HashMap<[i16; 8], usize>,
    }

    impl Signal {
        fn new(seconds: usize, seed: u64) -> Self {
            let mut rng = StdRng::seed_from_u64(seed);
            let samples: Vec<i16> = (0..seconds * 8000)
                .map(|n| {
                    let amplitude = if (n / FRAME_SAMPLES) % 4 == 3 { 40 } else { 6000 };
                    rng.random_range(-amplitude..=amplitude)
                })
                .collect();
            let index = (0..samples.len() - 8)
                .map(|n| (samples[n..n + 8].try_into().unwrap(), n))
                .collect();
            Signal { samples, index }
        }

        fn quiet_at(&self, offset: usize) -> bool {
            (offset / FRAME_SAMPLES) % 4 == 3
        }

        /// The signal position an audio frame was cut from (checked over the whole frame).
        fn locate(&self, pcm: &[i16; FRAME_SAMPLES]) -> Option<usize> {
            let key: [i16; 8] = pcm[..8].try_into().ok()?;
            let at = *self.index.get(&key)?;
            (self.samples.get(at..at + FRAME_SAMPLES)? == pcm).then_some(at)
        }
    }

    #[derive(Clone)]
    struct Packet {
        seq: u16,
        ts: u32,
        ssrc: u32,
        pcm: Vec<i16>,
        sent_ms: u64,
    }

    /// Cuts `signal[from..to]` into packets of the given durations (cycled), sent as each is complete.
    struct Sender {
        seq: u16,
        ts: u32,
        ssrc: u32,
    }

    impl Sender {
        fn send(
            &mut self,
            signal: &Signal,
            from: usize,
            to: usize,
            ptimes_ms: &[usize],
            t0_ms: u64,
        ) -> Vec<Packet> {
            let mut packets = Vec::new();
            let mut at = from;
            for &ptime in ptimes_ms.iter().cycle() {
                if at >= to {
                    break;
                }
                let len = (ptime * 8).min(to - at);
                packets.push(Packet {
                    seq: self.seq,
                    ts: self.ts,
                    ssrc: self.ssrc,
                    pcm: signal.samples[at..at + len].to_vec(),
                    sent_ms: t0_ms + ((at - from + len) / 8) as u64,
                });
                self.seq = self.seq.wrapping_add(1);
                self.ts = self.ts.wrapping_add(len as u32);
                at += len;
            }
            packets
        }
    }

    /// A seeded network: fixed delay plus uniform jitter, random loss and duplication.
    struct Network {
        rng: StdRng,
        delay_ms: u64,
        jitter_ms: u64,
        loss: f64,
        duplication: f64,
    }

    impl Network {
        fn clean() -> Self {
            Network {
                rng: StdRng::seed_from_u64(7),
                delay_ms: 30,
                jitter_ms: 0,
                loss: 0.0,
                duplication: 0.0,
            }
        }

        fn carry(&mut self, packets: &[Packet]) -> Vec<(u64, Packet)> {
            let mut arrivals = Vec::new();
            for packet in packets {
                if self.rng.random_bool(self.loss) {
                    continue;
                }
                let copies = if self.rng.random_bool(self.duplication) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let delay = self.delay_ms + self.rng.random_range(0..=self.jitter_ms);
                    arrivals.push((packet.sent_ms + delay, packet.clone()));
                }
            }
            arrivals.sort_by_key(|(arrival, _)| *arrival);
            arrivals
        }
    }

    /// Runs the call clock from 20 ms to `until_ms`, delivering each packet before the tick it beats.
    fn run(jb: &mut JitterBuffer, arrivals: &[(u64, Packet)], from_ms: u64, until_ms: u64) -> Vec<Popped> {
        let mut next = arrivals
            .iter()
            .position(|(at, _)| *at > from_ms)
            .unwrap_or(arrivals.len());
        let mut out = Vec::new();
        for now in (from_ms + 20..=until_ms).step_by(20) {
            while let Some((arrival, p)) = arrivals.get(next).filter(|(at, _)| *at <= now) {
                jb.push(p.seq, p.ts, p.ssrc, p.pcm.clone(), *arrival);
                next += 1;
            }
            out.push(jb.pop(now));
        }
        out
    }

    fn states(out: &[Popped]) -> Vec<FrameState> {
        out.iter().map(|p| p.state).collect()
    }

    /// Signal offsets of the audio frames, checking that audio never goes backwards or repeats.
    fn audio_offsets(signal: &Signal, out: &[Popped]) -> Vec<usize> {
        let offsets: Vec<usize> = out
            .iter()
            .filter(|p| p.state == FrameState::Audio)
            .map(|p| {
                signal
                    .locate(&p.pcm)
                    .expect("audio frame is a slice of the signal")
            })
            .collect();
        assert!(offsets.windows(2).all(|w| w[1] > w[0]), "audio out of order");
        offsets
    }

    fn assert_contiguous(offsets: &[usize]) {
        for w in offsets.windows(2) {
            assert_eq!(w[1], w[0] + FRAME_SAMPLES, "gap in audio");
        }
    }

    fn sender(seq: u16, ts: u32) -> Sender {
        Sender {
            seq,
            ts,
            ssrc: 0x1234,
        }
    }

    #[test]
    fn clean_stream_plays_every_frame_after_a_short_fill() {
        let signal = Signal::new(3, 1);
        let packets = sender(100, 5000).send(&signal, 0, 16000, &[20], 0);
        let arrivals = Network::clean().carry(&packets);
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 2200);
        let first_audio = out.iter().position(|p| p.state == FrameState::Audio).unwrap();
        // First packet arrives at 50 ms; playout starts two frames later.
        assert!(first_audio * 20 + 20 <= 100, "started at tick {first_audio}");
        let offsets = audio_offsets(&signal, &out);
        assert_eq!(offsets.len(), 100);
        assert_eq!(offsets[0], 0);
        assert_contiguous(&offsets);
        assert!(
            states(&out[..first_audio])
                .iter()
                .all(|s| *s == FrameState::Silence)
        );
        let stats = jb.stats();
        assert_eq!(
            (stats.received, stats.lost, stats.late, stats.duplicates),
            (100, 0, 0, 0)
        );
        // The only concealment is the fade-out when the stream ends.
        let last_audio = out.iter().rposition(|p| p.state == FrameState::Audio).unwrap();
        assert!(out[..last_audio].iter().all(|p| p.state != FrameState::Concealed));
        assert_eq!(stats.jitter_ms, 0.0);
        assert_eq!(stats.target_frames, 2);
    }

    #[test]
    fn reordering_and_duplicates_under_jitter() {
        let signal = Signal::new(21, 2);
        let packets = sender(0, 0).send(&signal, 0, 20 * 8000, &[20], 0);
        let mut net = Network {
            jitter_ms: 60,
            duplication: 0.05,
            ..Network::clean()
        };
        let arrivals = net.carry(&packets);
        let duplicates = arrivals.len() - packets.len();
        assert!(duplicates > 20);
        let mut jb = JitterBuffer::new(2, 25);
        let warm_up = run(&mut jb, &arrivals, 0, 2000);
        let early = jb.stats();
        let settled = run(&mut jb, &arrivals, 2000, 20_400);
        let stats = jb.stats();
        assert_eq!(stats.duplicates, duplicates as u64);
        assert_eq!(stats.received, packets.len() as u64);
        assert_eq!(stats.lost, 0);
        // RFC 3550 jitter of uniform 0..60 ms delay is about a third of the spread.
        assert!(
            (15.0..25.0).contains(&stats.jitter_ms),
            "jitter {}",
            stats.jitter_ms
        );
        assert!(stats.target_frames >= 4, "target {}", stats.target_frames);
        let offsets = audio_offsets(&signal, &[warm_up, settled.clone()].concat());
        assert!(
            offsets.len() >= 990,
            "{} audio frames {:?}",
            offsets.len(),
            jb.stats()
        );
        // Once adapted (after the first 2 s), nothing is late or lost any more: the only gap is the
        // fade-out at the end of the stream.
        assert_eq!(stats.late, early.late, "{stats:?}");
        assert_eq!(stats.concealed_frames, early.concealed_frames + 3, "{stats:?}");
        let last_audio = settled
            .iter()
            .rposition(|p| p.state == FrameState::Audio)
            .unwrap();
        assert!(
            settled[..last_audio]
                .iter()
                .all(|p| p.state != FrameState::Silence)
        );
    }

    #[test]
    fn single_loss_is_concealed_by_fading_the_previous_frame() {
        let signal = Signal::new(2, 3);
        let mut packets = sender(10, 10).send(&signal, 0, 8000, &[20], 0);
        packets.remove(20);
        let arrivals = Network::clean().carry(&packets);
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 1200);
        let last_audio = out.iter().rposition(|p| p.state == FrameState::Audio).unwrap();
        let concealed: Vec<usize> = (0..last_audio)
            .filter(|&i| out[i].state == FrameState::Concealed)
            .collect();
        assert_eq!(concealed.len(), 1);
        let (previous, repeat) = (&out[concealed[0] - 1], &out[concealed[0]]);
        assert_eq!(signal.locate(&previous.pcm), Some(19 * FRAME_SAMPLES));
        assert_eq!(repeat.pcm[0], previous.pcm[0]);
        for i in [40, 80, 159] {
            let gain = f32::from(repeat.pcm[i]) / f32::from(previous.pcm[i]);
            let expected = 1.0 - i as f32 / 480.0;
            assert!(
                previous.pcm[i].abs() < 100 || (gain - expected).abs() < 0.02,
                "gain {gain} at {i}"
            );
        }
        assert_eq!(
            signal.locate(&out[concealed[0] + 1].pcm),
            Some(21 * FRAME_SAMPLES)
        );
        assert_eq!(jb.stats().lost, 1);
    }

    #[test]
    fn long_loss_fades_to_silence_then_resumes_in_place() {
        let signal = Signal::new(2, 4);
        let mut packets = sender(10, 10).send(&signal, 0, 8000, &[20], 0);
        packets.drain(20..25);
        let arrivals = Network::clean().carry(&packets);
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 1200);
        let start = out.iter().position(|p| p.state == FrameState::Audio).unwrap() + 20;
        use FrameState::*;
        assert_eq!(
            states(&out[start..start + 6]),
            [Concealed, Concealed, Concealed, Silence, Silence, Audio]
        );
        assert_eq!(signal.locate(&out[start + 5].pcm), Some(25 * FRAME_SAMPLES));
        assert!(out[start + 2].pcm[159].abs() <= 13, "fades to zero");
        assert_eq!(jb.stats().lost, 5);
    }

    #[test]
    fn late_packet_is_dropped_and_raises_the_target() {
        let signal = Signal::new(2, 5);
        let packets = sender(0, 0).send(&signal, 0, 8000, &[20], 0);
        let mut arrivals = Network::clean().carry(&packets);
        arrivals[30].0 += 300;
        arrivals.sort_by_key(|(at, _)| *at);
        let mut jb = JitterBuffer::new(2, 10);
        run(&mut jb, &arrivals, 0, 1200);
        let stats = jb.stats();
        assert_eq!((stats.late, stats.lost, stats.received), (1, 0, 50));
        assert!(stats.target_frames >= 3);
    }

    #[test]
    fn sequence_and_timestamp_wrap_around() {
        let signal = Signal::new(3, 6);
        let packets = sender(65_500, u32::MAX - 3000).send(&signal, 0, 16000, &[20], 0);
        let arrivals = Network {
            jitter_ms: 15,
            ..Network::clean()
        }
        .carry(&packets);
        let mut jb = JitterBuffer::new(3, 10);
        let out = run(&mut jb, &arrivals, 0, 2300);
        let offsets = audio_offsets(&signal, &out);
        assert_eq!(offsets.len(), 100);
        assert_contiguous(&offsets);
        let stats = jb.stats();
        assert_eq!((stats.lost, stats.late, stats.duplicates), (0, 0, 0));
    }

    #[test]
    fn varying_packet_durations() {
        let signal = Signal::new(5, 7);
        let packets = sender(0, 0).send(&signal, 0, 4 * 8000, &[10, 20, 30, 40, 60], 0);
        let arrivals = Network::clean().carry(&packets);
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 4600);
        let offsets = audio_offsets(&signal, &out);
        // The first 60 ms packet may catch the buffer short; after that the target covers it.
        let settled: Vec<usize> = offsets.iter().copied().filter(|&o| o >= 8000).collect();
        assert_contiguous(&settled);
        assert_eq!(settled.last(), Some(&(4 * 8000 - FRAME_SAMPLES)));
        assert!(jb.stats().target_frames >= 4);
        assert_eq!(jb.stats().late, 0);
    }

    #[test]
    fn ssrc_change_resyncs_quickly() {
        let signal = Signal::new(4, 8);
        let mut packets = sender(100, 1000).send(&signal, 0, 8000, &[20], 0);
        let mut second = Sender {
            seq: 40_000,
            ts: 3_000_000_000,
            ssrc: 0x9999,
        };
        packets.extend(second.send(&signal, 8000, 16000, &[20], 1000));
        let arrivals = Network::clean().carry(&packets);
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 2200);
        let offsets = audio_offsets(&signal, &out);
        assert_eq!(offsets.len(), 100);
        assert_contiguous(&offsets);
        // The new stream's first packet arrives at 1050 ms and plays within the target delay.
        let first_new = out
            .iter()
            .position(|p| signal.locate(&p.pcm) == Some(8000))
            .unwrap();
        assert!(
            (first_new as u64 + 1) * 20 <= 1050 + 60,
            "new stream at tick {first_new}"
        );
        assert_eq!((jb.stats().lost, jb.stats().late), (0, 0));
    }

    #[test]
    fn timestamp_jump_does_not_add_delay() {
        let signal = Signal::new(3, 9);
        let mut s = sender(0, 0);
        let mut packets = s.send(&signal, 0, 8000, &[20], 0);
        s.ts = s.ts.wrapping_add(80_000_000);
        packets.extend(s.send(&signal, 8000, 16000, &[20], 1000));
        let arrivals = Network::clean().carry(&packets);
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 2200);
        let offsets = audio_offsets(&signal, &out);
        assert_eq!(offsets.len(), 100);
        assert_contiguous(&offsets);
        let first_new = out
            .iter()
            .position(|p| signal.locate(&p.pcm) == Some(8000))
            .unwrap();
        assert!((first_new as u64 + 1) * 20 <= 1050 + 60);
    }

    #[test]
    fn new_talkspurt_after_a_pause_starts_with_the_target_delay() {
        let signal = Signal::new(4, 10);
        let mut s = sender(0, 0);
        let mut packets = s.send(&signal, 0, 8000, &[20], 0);
        // The peer stops for 1.5 s (its clock runs on), then talks again.
        s.ts = s.ts.wrapping_add(12_000);
        packets.extend(s.send(&signal, 8000, 16000, &[20], 2500));
        let arrivals = Network::clean().carry(&packets);
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 3600);
        let offsets = audio_offsets(&signal, &out);
        assert_eq!(offsets.len(), 100);
        assert_contiguous(&offsets[..50]);
        assert_contiguous(&offsets[50..]);
        let first_new = out
            .iter()
            .position(|p| signal.locate(&p.pcm) == Some(8000))
            .unwrap();
        assert!(
            (first_new as u64 + 1) * 20 <= 2550 + 60,
            "resumed at tick {first_new}"
        );
        // The pause: three concealed frames, then silence.
        let pause = &out[first_new - 60..first_new - 2];
        assert!(pause.iter().all(|p| p.state == FrameState::Silence));
        let concealed = out[..first_new]
            .iter()
            .filter(|p| p.state == FrameState::Concealed)
            .count();
        assert_eq!(concealed, 3);
        assert_eq!((jb.stats().lost, jb.stats().late), (0, 0));
    }

    #[test]
    fn target_shrinks_slowly_and_depth_follows_by_dropping_quiet_frames() {
        let signal = Signal::new(42, 11);
        let packets = sender(0, 0).send(&signal, 0, 40 * 8000, &[20], 0);
        let mut net = Network {
            jitter_ms: 80,
            ..Network::clean()
        };
        let mut arrivals = net.carry(&packets[..250]);
        net.jitter_ms = 0;
        arrivals.extend(net.carry(&packets[250..]));
        arrivals.sort_by_key(|(at, _)| *at);
        let mut jb = JitterBuffer::new(2, 25);
        let rough = run(&mut jb, &arrivals, 0, 5000);
        let peak = jb.stats().target_frames;
        assert!(peak >= 5, "target under jitter {peak}");
        let calm = run(&mut jb, &arrivals, 5000, 6000);
        assert!(jb.stats().target_frames >= peak - 1, "shrank too fast");
        let rest = run(&mut jb, &arrivals, 6000, 40_400);
        let stats = jb.stats();
        assert!(
            stats.target_frames <= 3,
            "target after 35 calm seconds {}",
            stats.target_frames
        );
        assert!(stats.depth_frames <= stats.target_frames + 1);
        assert!(
            stats.dropped_frames >= u64::from(peak - 3),
            "peak {peak} {stats:?}"
        );
        // Every dropped frame while calm was one of the quiet ones.
        let offsets = audio_offsets(&signal, &[rough, calm, rest].concat());
        let dropped_while_calm: Vec<usize> = offsets
            .windows(2)
            .filter(|w| w[0] >= 6 * 8000 && w[1] != w[0] + FRAME_SAMPLES)
            .map(|w| w[0] + FRAME_SAMPLES)
            .collect();
        assert!(!dropped_while_calm.is_empty());
        assert!(
            dropped_while_calm.iter().all(|&o| signal.quiet_at(o)),
            "{dropped_while_calm:?}"
        );
    }

    #[test]
    fn burst_after_a_network_freeze_is_cut_to_the_maximum() {
        let signal = Signal::new(4, 12);
        let packets = sender(0, 0).send(&signal, 0, 3 * 8000, &[20], 0);
        let mut arrivals = Network::clean().carry(&packets);
        for (at, _) in arrivals.iter_mut() {
            if (1000..2000).contains(at) {
                *at = 2000; // one second held back, then delivered at once
            }
        }
        let mut jb = JitterBuffer::new(2, 10);
        let out = run(&mut jb, &arrivals, 0, 2020);
        assert!(jb.stats().depth_frames <= 10, "depth {}", jb.stats().depth_frames);
        assert!(jb.stats().dropped_frames >= 35);
        assert_eq!(out.last().map(|p| p.state), Some(FrameState::Audio));
    }
}
