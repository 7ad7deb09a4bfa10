//! One task per call: it owns the call's RTP socket, its 20 ms clock, jitter buffer, DTMF detectors,
//! playout, recording and record, and runs the call's behaviour.

use super::demo::{self, Demo};
use super::leg::{self, AgentLeg, LegState};
use super::ports::Lease;
use super::{CallInput, Control, LegEvent, Shared, TransferTarget};
use crate::asr::stream::{AsrStream, FinalTranscript, StreamAt, UtteranceIds};
use crate::events::{Channel, DtmfMethod, EventKind};
use crate::ivr::engine::{self, Ivr, Now};
use crate::ivr::registry::Published;
use crate::media::dtmf::Rfc4733Decoder;
use crate::media::g711::Codec;
use crate::media::inband::InbandDetector;
use crate::media::jitter::{FrameState, JitterBuffer};
use crate::media::latch::{Latch, Verdict};
use crate::media::recorder::Recorder;
use crate::media::rtcp;
use crate::media::sender::RtpSender;
use crate::routing::Notice;
use crate::routing::router::Request;
use crate::sip::core::{Command, HangupBy};
use crate::sip::sdp::Negotiated;
use crate::store::{CallRecord, CallStatus, OfferRecord, ServiceRecord, TransferRecord, now_ms};
use rtp_rs::RtpReader;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tracing::{Instrument, debug, info, info_span, warn};

const FRAME: usize = 160;
const FRAME_MS: u64 = 20;
/// A tick handled this much after its deadline counts as a late frame.
const LATE: Duration = Duration::from_millis(10);
const RTCP_INTERVAL_TICKS: u64 = 250;
/// How much around an utterance with a card number is silenced: VAD edges are not exact.
const REDACT_MARGIN_MS: u64 = 300;

pub struct Setup {
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub media: Negotiated,
    /// The address written in koe's SDP for this call's RTP.
    pub advertised: SocketAddr,
    pub invite_at_ms: i64,
    /// The call's own input channel, for the agent legs it dials.
    pub inputs: mpsc::UnboundedSender<CallInput>,
}

/// Audio going to the caller: the current prompt, frame by frame.
struct Playout {
    samples: Arc<[i16]>,
    pos: usize,
    /// Whether the call's behaviour is told when it ends (a voicemail tone is not a prompt).
    notify: bool,
}

/// What answers the caller: the published IVR flow, or the line test when none is configured.
enum Behaviour {
    LineTest(Demo),
    Ivr(Box<IvrCall>),
}

/// One call's run of the IVR and the I/O it asked for.
struct IvrCall {
    engine: Ivr,
    /// The version the call started with; it keeps it to its end, whatever is published meanwhile.
    published: Arc<Published>,
    lookups: mpsc::UnboundedSender<Result<serde_json::Value, String>>,
    voicemail: Option<Voicemail>,
}

struct Voicemail {
    recorder: Recorder,
    path: String,
    started: Instant,
}

/// The tone before a voicemail message: 400 ms of 1 kHz, 8 kHz samples.
fn beep() -> Arc<[i16]> {
    (0..3200)
        .map(|i| ((i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 8000.0).sin() * 8000.0) as i16)
        .collect()
}

impl Playout {
    /// The next 20 ms, zero-padded at the end; None once finished.
    fn next_frame(&mut self) -> Option<[i16; FRAME]> {
        if self.pos >= self.samples.len() {
            return None;
        }
        let mut f = [0i16; FRAME];
        let end = (self.pos + FRAME).min(self.samples.len());
        f[..end - self.pos].copy_from_slice(&self.samples[self.pos..end]);
        self.pos = end;
        Some(f)
    }
}

pub async fn run(
    shared: Arc<Shared>,
    setup: Setup,
    lease: Lease,
    inputs: mpsc::UnboundedReceiver<CallInput>,
) {
    let span = info_span!("call", call_id = %setup.call_id);
    let mut call = Call::new(shared, setup, lease);
    let mut inputs = inputs;
    async move {
        if call.ring(&mut inputs).await {
            call.answer().await;
            call.run(inputs).await;
        }
        call.finish().await;
    }
    .instrument(span)
    .await
}

struct Call {
    shared: Arc<Shared>,
    id: String,
    record: CallRecord,
    media: Negotiated,
    codec: Codec,
    advertised: SocketAddr,
    lease: Lease,
    latch: Option<Latch>,
    jitter: JitterBuffer,
    rfc4733: Rfc4733Decoder,
    inband: Option<InbandDetector>,
    receiver: rtcp::ReceiverStats,
    remote_ssrc: Option<u32>,
    /// Packets lost from earlier audio sources of this call.
    lost_before: u64,
    /// LSR of the caller's last sender report and when it came, for DLSR.
    last_sr: Option<(u32, Instant)>,
    sender: RtpSender,
    recorder: Option<Recorder>,
    playout: Option<Playout>,
    /// Live transcription of the caller's channel.
    asr: Option<AsrStream>,
    /// Finals of this call's transcription, on their way to the store and the IVR.
    finals_tx: mpsc::UnboundedSender<FinalTranscript>,
    finals_rx: mpsc::UnboundedReceiver<FinalTranscript>,
    lookups_rx: mpsc::UnboundedReceiver<Result<serde_json::Value, String>>,
    inputs_tx: mpsc::UnboundedSender<CallInput>,
    /// What routing says about this call while it waits for an agent.
    notices_tx: mpsc::UnboundedSender<Notice>,
    notices_rx: mpsc::UnboundedReceiver<Notice>,
    /// The agents' legs: the one ringing or connected, two during a warm transfer.
    legs: Vec<AgentLeg>,
    /// Waiting in a queue for an agent (between enqueue and an answer or overflow).
    queued: bool,
    /// PCI pause asked for by the API, and by the IVR while it collects a sensitive number.
    pause_api: bool,
    pause_ivr: bool,
    /// Live transcription of the agents' side (the mix of every connected agent).
    agent_asr: Option<AsrStream>,
    /// Each channel's utterance ids, over all the streams it has.
    utterances: (UtteranceIds, UtteranceIds),
    /// What the call asked routing for last (its fallback when nobody takes a transfer).
    request: Option<Request>,
    behaviour: Behaviour,
    /// The record changed in a way worth saving before the call ends (the IVR queued the caller).
    dirty: bool,
    answered: Instant,
    last_rtp: Instant,
    late_frames: u64,
    ended: Option<(HangupBy, String)>,
    hangup_sent: bool,
}

impl Call {
    fn new(shared: Arc<Shared>, setup: Setup, lease: Lease) -> Self {
        let cfg = &shared.config;
        let codec = Codec::from_payload_type(if setup.media.codec_name == "PCMA" { 8 } else { 0 })
            .expect("static types");
        let latch = setup
            .media
            .remote
            .map(|addr| Latch::new(addr, payload_types(&setup.media)));
        let inband = (cfg.media.inband_dtmf && setup.media.dtmf_pt.is_none()).then(InbandDetector::new);
        let (finals_tx, finals_rx) = mpsc::unbounded_channel();
        let (lookups, lookups_rx) = mpsc::unbounded_channel();
        let (notices_tx, notices_rx) = mpsc::unbounded_channel();
        let behaviour = match shared.ivr.current() {
            Some(published) => Behaviour::Ivr(Box::new(IvrCall {
                engine: Ivr::new(published.flow.clone(), published.version, &setup.from),
                published,
                lookups,
                voicemail: None,
            })),
            None => Behaviour::LineTest(Demo::new(
                Duration::from_secs(cfg.calls.idle_timeout_s),
                Duration::from_secs(cfg.calls.max_duration_s),
            )),
        };
        Call {
            record: CallRecord::new(&setup.call_id, &setup.from, &setup.to, setup.invite_at_ms),
            id: setup.call_id,
            codec,
            advertised: setup.advertised,
            lease,
            latch,
            jitter: JitterBuffer::new(
                cfg.media.jitter_min_frames as u32,
                cfg.media.jitter_max_frames as u32,
            ),
            rfc4733: Rfc4733Decoder::new(),
            inband,
            receiver: rtcp::ReceiverStats::new(),
            remote_ssrc: None,
            lost_before: 0,
            last_sr: None,
            sender: RtpSender::new(),
            recorder: None,
            playout: None,
            asr: None,
            finals_tx,
            finals_rx,
            lookups_rx,
            inputs_tx: setup.inputs,
            notices_tx,
            notices_rx,
            legs: Vec::new(),
            queued: false,
            pause_api: false,
            pause_ivr: false,
            agent_asr: None,
            utterances: Default::default(),
            request: None,
            behaviour,
            dirty: false,
            answered: Instant::now(),
            last_rtp: Instant::now(),
            late_frames: 0,
            ended: None,
            hangup_sent: false,
            media: setup.media,
            shared,
        }
    }

    async fn save(&self) {
        if let Err(e) = self.shared.store.upsert_call(&self.record).await {
            warn!(error = %e, "could not save the call record");
        }
    }

    /// Rings for `calls.answer_delay_ms`; false if the caller gave up (CANCEL) meanwhile.
    async fn ring(&mut self, inputs: &mut mpsc::UnboundedReceiver<CallInput>) -> bool {
        let s = self.shared.clone();
        s.events.publish(
            &self.id,
            EventKind::CallStarted {
                from: self.record.from_uri.clone(),
                to: self.record.to_uri.clone(),
            },
        );
        self.save().await;
        s.sip.command(Command::Ringing {
            call_id: self.id.clone(),
        });
        let ring = tokio::time::sleep(Duration::from_millis(s.config.calls.answer_delay_ms));
        tokio::pin!(ring);
        loop {
            tokio::select! {
                _ = &mut ring => return true,
                input = inputs.recv() => match input {
                    Some(CallInput::Ended { by, cause }) => {
                        self.ended = Some((by, cause));
                        return false;
                    }
                    Some(_) => {}
                    None => return false,
                },
            }
        }
    }

    async fn answer(&mut self) {
        let s = self.shared.clone();
        if s.config.data.record_calls {
            let (rel, path) = s.recording_path(&self.id);
            match Recorder::create(&path) {
                Ok(r) => {
                    self.recorder = Some(r);
                    self.record.recording_path = Some(rel);
                }
                Err(e) => warn!(error = %e, path = %path.display(), "cannot record this call"),
            }
        }
        s.sip.command(Command::Answer {
            call_id: self.id.clone(),
            local_media: self.advertised,
        });
        self.answered = Instant::now();
        self.last_rtp = self.answered;
        self.record.answered_at_ms = Some(now_ms());
        self.record.status = CallStatus::Answered;
        self.record.codec = Some(self.media.codec_name.to_string());
        s.events.publish(
            &self.id,
            EventKind::CallAnswered {
                codec: self.media.codec_name.to_string(),
            },
        );
        self.save().await;
        info!(codec = self.media.codec_name, remote = ?self.media.remote, "answered");
        let language = self
            .ivr_language()
            .unwrap_or_else(|| s.config.asr.language.clone());
        self.open_asr(&language);
        match &mut self.behaviour {
            Behaviour::LineTest(demo) => {
                let actions = demo.start();
                self.apply_demo(actions);
            }
            Behaviour::Ivr(ivr) => {
                info!(flow = %ivr.published.flow.id, version = ivr.published.version, "IVR starts");
                let now = ivr_now(self.answered);
                let actions = ivr.engine.start(now);
                self.apply_ivr(actions);
            }
        }
    }

    /// Starts transcribing the caller in `language`; the stream of another language ends first.
    fn open_asr(&mut self, language: &str) {
        let s = self.shared.clone();
        let Some(engine) = &s.asr else { return };
        if let Some(old) = self.asr.take() {
            tokio::spawn(old.finish());
        }
        match engine.open_stream_at(
            &self.id,
            Channel::Caller,
            language,
            s.events.clone(),
            self.finals_tx.clone(),
            self.stream_at(Channel::Caller),
        ) {
            Ok(stream) => self.asr = Some(stream),
            Err(e) => warn!(error = %e, language, "no live transcription for this call"),
        }
    }

    /// The caller's language as the IVR knows it (None for the line test).
    fn ivr_language(&self) -> Option<String> {
        match &self.behaviour {
            Behaviour::Ivr(ivr) => Some(ivr.engine.language().to_string()),
            Behaviour::LineTest(_) => None,
        }
    }

    /// Where a channel's stream opened now starts in the call.
    fn stream_at(&self, channel: Channel) -> StreamAt {
        StreamAt {
            offset_ms: self.answered.elapsed().as_millis() as u64,
            ids: match channel {
                Channel::Caller => self.utterances.0.clone(),
                Channel::Agent => self.utterances.1.clone(),
            },
        }
    }

    async fn run(&mut self, mut inputs: mpsc::UnboundedReceiver<CallInput>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(FRAME_MS));
        // Burst: a delayed tick is followed by the missed ones at once, so the clock never drifts.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut rtp_buf = vec![0u8; 2048];
        let mut leg_buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; 1500];
        let mut ticks: u64 = 0;
        while self.ended.is_none() {
            tokio::select! {
                biased;
                input = inputs.recv() => match input {
                    Some(i) => self.on_input(i),
                    None => self.ended = Some((HangupBy::System, "shutdown".into())),
                },
                deadline = ticker.tick() => {
                    if deadline.elapsed() > LATE {
                        self.late_frames += 1;
                    }
                    ticks += 1;
                    self.on_tick(ticks).await;
                }
                r = self.lease.rtp.recv_from(&mut rtp_buf) => {
                    if let Ok((n, from)) = r {
                        let packet = rtp_buf[..n].to_vec();
                        self.on_rtp(&packet, from);
                    }
                }
                r = self.lease.rtcp.recv_from(&mut rtcp_buf) => {
                    if let Ok((n, _)) = r {
                        let packet = rtcp_buf[..n].to_vec();
                        self.on_rtcp(&packet);
                    }
                }
                Some(f) = self.finals_rx.recv() => self.on_final(f),
                Some(n) = self.notices_rx.recv() => self.on_notice(n),
                r = leg_recv(&self.legs, &mut leg_buf) => {
                    if let Some((i, n, from)) = r {
                        let packet = leg_buf[..n].to_vec();
                        self.legs[i].on_rtp(&packet, from);
                    }
                }
                Some(r) = self.lookups_rx.recv() => {
                    if let Behaviour::Ivr(ivr) = &mut self.behaviour {
                        let actions = ivr.engine.lookup_done(r, ivr_now(self.answered));
                        self.apply_ivr(actions);
                    }
                }
            }
            if self.dirty {
                self.dirty = false;
                self.save().await;
            }
        }
    }

    fn on_input(&mut self, input: CallInput) {
        match input {
            CallInput::Confirmed => debug!("ACK received"),
            CallInput::Dtmf(key) => self.on_key(key, DtmfMethod::SipInfo),
            CallInput::MediaChanged(media) => {
                info!(direction = ?media.direction, remote = ?media.remote, "media changed");
                let was_sending = self.media.direction.sends();
                match (media.remote, self.latch.as_mut()) {
                    (Some(addr), Some(latch)) if Some(addr) != self.media.remote => latch.reset(addr),
                    (Some(addr), None) => self.latch = Some(Latch::new(addr, payload_types(&media))),
                    _ => {}
                }
                if let Some(latch) = self.latch.as_mut() {
                    latch.set_payload_types(payload_types(&media));
                }
                let event = match (was_sending, media.direction.sends()) {
                    (true, false) => Some(EventKind::CallHeld),
                    (false, true) => Some(EventKind::CallResumed),
                    _ => None,
                };
                if let Some(e) = event {
                    self.shared.events.publish(&self.id, e);
                }
                self.codec =
                    Codec::from_payload_type(if media.codec_name == "PCMA" { 8 } else { 0 }).expect("static");
                self.media = media;
                self.last_rtp = Instant::now();
            }
            CallInput::Ended { by, cause } => self.ended = Some((by, cause)),
            CallInput::Leg { leg_id, event } => self.on_leg(&leg_id, event),
            CallInput::Control(c) => self.on_control(c),
            CallInput::Transfer(result) => {
                if let Behaviour::Ivr(ivr) = &mut self.behaviour {
                    let actions = ivr.engine.transfer_done(result, ivr_now(self.answered));
                    self.apply_ivr(actions);
                }
            }
        }
    }

    fn on_rtp(&mut self, packet: &[u8], from: SocketAddr) {
        let Ok(rtp) = RtpReader::new(packet) else { return };
        let pt = rtp.payload_type();
        let seq: u16 = rtp.sequence_number().into();
        let Some(latch) = self.latch.as_mut() else {
            self.record.rtp.rejected_packets += 1;
            return;
        };
        match latch.accept(from, rtp.ssrc(), seq, pt) {
            Verdict::Accept => {}
            Verdict::Learning => return,
            Verdict::Reject => {
                self.record.rtp.rejected_packets += 1;
                return;
            }
        }
        self.last_rtp = Instant::now();
        let arrival_ms = self.answered.elapsed().as_millis() as u64;
        // Statistics follow the caller's audio source; a new audio SSRC (a re-INVITE, a transfer
        // upstream) starts fresh ones. Other sources (e.g. a separately injected DTMF stream) are left out.
        if pt == self.media.codec_pt && self.remote_ssrc != Some(rtp.ssrc()) {
            if self.remote_ssrc.is_some() {
                self.lost_before += i64::from(self.receiver.cumulative_lost()).max(0) as u64;
                self.receiver = rtcp::ReceiverStats::new();
            }
            self.remote_ssrc = Some(rtp.ssrc());
        }
        if self.remote_ssrc == Some(rtp.ssrc()) {
            self.receiver
                .update(seq, rtp.timestamp(), (arrival_ms * 8) as u32);
        }
        if Some(pt) == self.media.dtmf_pt {
            if let Some(key) = self.rfc4733.push(rtp.timestamp(), rtp.mark(), rtp.payload()) {
                self.on_key(key, DtmfMethod::Rfc4733);
            }
        } else if pt == self.media.codec_pt {
            let mut pcm = Vec::with_capacity(rtp.payload().len());
            self.codec.decode(rtp.payload(), &mut pcm);
            self.jitter
                .push(seq, rtp.timestamp(), rtp.ssrc(), pcm, arrival_ms);
        }
    }

    fn on_rtcp(&mut self, packet: &[u8]) {
        let Ok(packets) = rtcp::parse(packet) else { return };
        for p in packets {
            let reports = match p {
                rtcp::RtcpPacket::SenderReport { ntp, reports, .. } => {
                    self.last_sr = Some((rtcp::ntp_middle(ntp), Instant::now()));
                    reports
                }
                rtcp::RtcpPacket::ReceiverReport { reports, .. } => reports,
                _ => continue,
            };
            for block in reports.iter().filter(|b| b.ssrc == self.sender.ssrc) {
                self.record.rtp.remote_fraction_lost = Some(f64::from(block.fraction_lost) / 256.0);
                self.record.rtp.remote_jitter_ms = Some(f64::from(block.jitter) / 8.0);
            }
        }
    }

    /// A final transcript: stored, and heard by the IVR (a spoken menu choice).
    fn on_final(&mut self, f: FinalTranscript) {
        if crate::assist::is_masked(&f.text) {
            self.redact(
                f.start_ms.saturating_sub(REDACT_MARGIN_MS),
                f.end_ms + REDACT_MARGIN_MS,
            );
        }
        let text = f.text.clone();
        let caller = f.channel == Channel::Caller;
        let _ = self.shared.finals.send(f);
        if caller && let Behaviour::Ivr(ivr) = &mut self.behaviour {
            let actions = ivr.engine.speech(&text, ivr_now(self.answered));
            self.apply_ivr(actions);
        }
    }

    fn on_key(&mut self, key: char, method: DtmfMethod) {
        // Keys for a sensitive variable (a card number) are neither logged, published nor stored.
        let sensitive = matches!(&self.behaviour, Behaviour::Ivr(ivr) if ivr.engine.is_sensitive());
        if sensitive {
            info!(?method, "DTMF (masked)");
            self.record.dtmf.push('x');
        } else {
            info!(%key, ?method, "DTMF");
            self.record.dtmf.push(key);
            self.shared
                .events
                .publish(&self.id, EventKind::DtmfReceived { key, method });
        }
        match &mut self.behaviour {
            Behaviour::LineTest(demo) => {
                let actions = demo.on_key(key, self.answered.elapsed());
                self.apply_demo(actions);
            }
            Behaviour::Ivr(ivr) => {
                let actions = ivr.engine.key(key, ivr_now(self.answered));
                self.apply_ivr(actions);
            }
        }
    }

    /// The prompt playing reached its end.
    fn on_prompt_done(&mut self) {
        match &mut self.behaviour {
            Behaviour::LineTest(demo) => {
                let actions = demo.on_prompt_done(self.answered.elapsed());
                self.apply_demo(actions);
            }
            Behaviour::Ivr(ivr) => {
                let actions = ivr.engine.prompt_done(ivr_now(self.answered));
                self.apply_ivr(actions);
            }
        }
    }

    fn play(&mut self, samples: Option<Arc<[i16]>>, notify: bool) {
        self.playout = samples.map(|samples| Playout {
            samples,
            pos: 0,
            notify,
        });
        if self.playout.is_none() && notify {
            self.on_prompt_done();
        }
    }

    fn apply_demo(&mut self, actions: Vec<demo::Action>) {
        for a in actions {
            match a {
                demo::Action::Play(p) => {
                    let samples = match p {
                        demo::Prompt::Welcome => Some(self.shared.prompts.welcome.clone()),
                        demo::Prompt::Digit(k) => self.shared.prompts.digits.get(&k).cloned(),
                    };
                    self.play(samples, true);
                }
                demo::Action::Hangup(cause) => self.hangup(HangupBy::Koe, cause),
            }
        }
    }

    fn apply_ivr(&mut self, actions: Vec<engine::Action>) {
        for a in actions {
            let Behaviour::Ivr(ivr) = &mut self.behaviour else {
                return;
            };
            match a {
                engine::Action::Play {
                    source,
                    language,
                    node,
                } => {
                    let samples = ivr.published.prompts.get(&source, &language);
                    if samples.is_none() {
                        warn!(%node, %language, ?source, "prompt has no audio; skipping it");
                    }
                    self.play(samples, true);
                }
                engine::Action::StopPlayback => self.playout = None,
                engine::Action::Lookup { url, method, timeout } => {
                    let tx = ivr.lookups.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(crate::ivr::lookup::fetch(&url, &method, timeout).await);
                    });
                }
                engine::Action::StartRecording { max } => {
                    let (rel, path) = self.shared.voicemail_path(&self.id);
                    match Recorder::create_with(&path, 1) {
                        Ok(recorder) => {
                            info!(path = %rel, max_s = max.as_secs(), "recording a voicemail");
                            ivr.engine.voicemail_saved(rel.clone());
                            ivr.voicemail = Some(Voicemail {
                                recorder,
                                path: rel,
                                started: Instant::now(),
                            });
                            self.dirty = true;
                        }
                        Err(e) => warn!(error = %e, path = %path.display(), "cannot record the voicemail"),
                    }
                    self.play(Some(beep()), false);
                }
                engine::Action::StopRecording => self.close_voicemail(),
                engine::Action::Queue {
                    queue,
                    skills,
                    overflow,
                } => {
                    info!(%queue, ?skills, "queued for an agent");
                    let language = ivr.engine.language().to_string();
                    self.record.service = Some(ServiceRecord {
                        queue: queue.clone(),
                        skills: skills.clone(),
                        queued_at_ms: now_ms(),
                        ..ServiceRecord::default()
                    });
                    self.enqueue(Request {
                        call_id: self.id.clone(),
                        queue,
                        skills,
                        language,
                        agent: None,
                        overflow,
                    });
                }
                engine::Action::Transfer { target } => {
                    info!(%target, "transfer");
                    self.shared.sip.command(Command::Refer {
                        call_id: self.id.clone(),
                        target,
                    });
                }
                engine::Action::Hangup { cause } => self.hangup(HangupBy::Koe, &cause),
                engine::Action::Event(e) => {
                    if let EventKind::LanguageChanged { language } = &e {
                        let language = language.clone();
                        self.open_asr(&language);
                    }
                    self.shared.events.publish(&self.id, e);
                }
            }
        }
        if let Behaviour::Ivr(ivr) = &self.behaviour {
            self.record.ivr = Some(ivr.engine.record().clone());
        }
    }

    /// Ends the voicemail message in progress (the engine said so, or the call ended).
    fn close_voicemail(&mut self) {
        let Behaviour::Ivr(ivr) = &mut self.behaviour else {
            return;
        };
        let Some(vm) = ivr.voicemail.take() else { return };
        let elapsed = vm.started.elapsed();
        match vm.recorder.finish() {
            Ok(duration) => {
                info!(path = %vm.path, ms = duration.as_millis() as u64, "voicemail saved");
                self.shared.events.publish(
                    &self.id,
                    EventKind::VoicemailRecorded {
                        path: vm.path,
                        duration_ms: duration.as_millis() as u64,
                    },
                );
            }
            Err(e) => warn!(error = %e, ?elapsed, "could not close the voicemail"),
        }
        self.dirty = true;
    }

    /// What a caller whose request found nobody waits for: anyone with the call's skills (not only
    /// the agent a transfer named), for as long as it takes.
    fn fallback_request(&self, req: Request) -> Request {
        let service = self.record.service.as_ref();
        let language = self.ivr_language().unwrap_or_else(|| req.language.clone());
        Request {
            skills: match req.agent {
                Some(_) => service.map(|s| s.skills.clone()).unwrap_or_default(),
                None => req.skills,
            },
            language,
            agent: None,
            overflow: false,
            ..req
        }
    }

    /// Asks routing for an agent.
    fn enqueue(&mut self, req: Request) {
        self.queued = true;
        self.dirty = true;
        self.request = Some(req.clone());
        self.shared.routing.enqueue(req, self.notices_tx.clone());
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Offer { agent, attempt } => self.dial(&agent, attempt),
            Notice::Withdraw { agent, cause } => {
                if let Some(i) = self
                    .legs
                    .iter()
                    .position(|l| l.agent == agent && l.state == LegState::Ringing)
                {
                    let leg = self.legs.remove(i);
                    self.end_leg_sip(&leg.leg_id, &cause);
                    self.settle_offer(&agent, &cause);
                }
            }
            Notice::Position { position, .. } => {
                if let Behaviour::Ivr(ivr) = &mut self.behaviour
                    && !self.legs.iter().any(|l| l.state == LegState::Connected)
                {
                    let actions = ivr.engine.queue_position(position, ivr_now(self.answered));
                    self.apply_ivr(actions);
                }
            }
            Notice::Overflow { cause } => {
                self.queued = false;
                self.dirty = true;
                if let Some(service) = self.record.service.as_mut() {
                    service.overflow = Some(cause);
                }
                if self.legs.iter().any(|l| l.state == LegState::Connected) {
                    return; // a warm transfer nobody took: the agent keeps the caller
                }
                let by_ivr = match &mut self.behaviour {
                    Behaviour::Ivr(ivr) => ivr.engine.overflow(ivr_now(self.answered)),
                    Behaviour::LineTest(_) => None,
                };
                match (by_ivr, self.request.clone()) {
                    (Some(actions), _) => self.apply_ivr(actions),
                    // A transfer nobody took, and the IVR has no way out: never a dead end, the
                    // caller waits in the queue for whoever fits.
                    (None, Some(req)) => {
                        let fallback = self.fallback_request(req);
                        self.enqueue(fallback);
                    }
                    (None, None) => {}
                }
            }
        }
    }

    /// Rings the agent's phone for this call.
    fn dial(&mut self, agent: &str, attempt: u32) {
        let lease = match self.shared.ports.allocate() {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, %agent, "no RTP port for the agent's leg");
                self.shared.routing.offer_failed(&self.id, agent);
                return;
            }
        };
        let leg_id = format!("leg-{:016x}@koe", rand::random::<u64>());
        let advertised = SocketAddr::new(self.advertised.ip(), lease.port());
        info!(%agent, attempt, %leg_id, "ringing the agent");
        self.shared.directory.insert(&leg_id, self.inputs_tx.clone());
        self.shared.sip.command(Command::Dial {
            call_id: leg_id.clone(),
            user: agent.to_string(),
            from_uri: self.record.from_uri.clone(),
            from_display: None,
            local_media: advertised,
            headers: vec![("X-Koe-Call-Id".into(), self.id.clone())],
        });
        self.legs
            .push(AgentLeg::ringing(agent, leg_id, lease, advertised));
        if let Some(service) = self.record.service.as_mut() {
            service.offers.push(OfferRecord {
                agent: agent.to_string(),
                at_ms: now_ms(),
                result: None,
            });
        }
        self.dirty = true;
    }

    /// Ends an agent leg's SIP dialog (CANCEL while ringing, BYE once answered).
    fn end_leg_sip(&self, leg_id: &str, cause: &str) {
        self.shared.sip.command(Command::Hangup {
            call_id: leg_id.to_string(),
            by: HangupBy::Koe,
            cause: cause.to_string(),
        });
    }

    /// Writes how the latest offer to `agent` went.
    fn settle_offer(&mut self, agent: &str, result: &str) {
        if let Some(offer) = self.record.service.as_mut().and_then(|s| {
            s.offers
                .iter_mut()
                .rev()
                .find(|o| o.agent == agent && o.result.is_none())
        }) {
            offer.result = Some(result.to_string());
        }
        self.dirty = true;
    }

    fn on_leg(&mut self, leg_id: &str, event: LegEvent) {
        let Some(i) = self.legs.iter().position(|l| l.leg_id == leg_id) else {
            // A leg this call already gave up (the ring timed out) answered after all: end it.
            if matches!(event, LegEvent::Answered(_)) {
                self.end_leg_sip(leg_id, "withdrawn");
            }
            return;
        };
        let jitter = (
            self.shared.config.media.jitter_min_frames as u32,
            self.shared.config.media.jitter_max_frames as u32,
        );
        match event {
            LegEvent::Ringing => debug!(agent = %self.legs[i].agent, "agent's phone rings"),
            LegEvent::MediaChanged(media) => self.legs[i].set_media(media, jitter),
            LegEvent::Answered(media) => {
                if self.legs[i].state != LegState::Ringing {
                    return;
                }
                self.legs[i].connect(media, jitter);
                let agent = self.legs[i].agent.clone();
                info!(%agent, "agent connected");
                self.queued = false;
                self.shared.routing.answered(&self.id, &agent);
                self.settle_offer(&agent, "answered");
                if let Some(service) = self.record.service.as_mut() {
                    service.agent = Some(agent.clone());
                    service.connected_at_ms = Some(now_ms());
                }
                self.shared
                    .events
                    .publish(&self.id, EventKind::AgentConnected { agent });
                if let Behaviour::Ivr(ivr) = &mut self.behaviour {
                    let actions = ivr.engine.connected(ivr_now(self.answered));
                    self.apply_ivr(actions);
                }
                self.playout = None;
                self.open_agent_asr();
            }
            LegEvent::Ended { cause, .. } => {
                let leg = self.legs.remove(i);
                match leg.state {
                    LegState::Ringing => {
                        info!(agent = %leg.agent, %cause, "the agent did not take the call");
                        self.shared.events.publish(
                            &self.id,
                            EventKind::AgentNoAnswer {
                                agent: leg.agent.clone(),
                                cause: cause.clone(),
                            },
                        );
                        self.settle_offer(&leg.agent, &cause);
                        self.shared.routing.offer_failed(&self.id, &leg.agent);
                    }
                    LegState::Connected => {
                        self.agent_left(&leg.agent, "agent");
                        let nobody = !self.queued && self.legs.is_empty();
                        if nobody {
                            self.hangup(HangupBy::Koe, "agent-hangup");
                        }
                    }
                }
            }
        }
    }

    /// An agent's part of the call is over: they wrap up.
    fn agent_left(&mut self, agent: &str, by: &str) {
        info!(%agent, by, "agent left the call");
        self.shared.routing.agent_done(agent);
        if let Some(service) = self.record.service.as_mut() {
            service.agent_left_at_ms = Some(now_ms());
        }
        self.dirty = true;
        self.shared.events.publish(
            &self.id,
            EventKind::AgentLeft {
                agent: agent.to_string(),
                by: by.to_string(),
            },
        );
    }

    /// Ends every agent leg (the caller hung up, or a cold transfer): `by` says why, for the screens.
    fn end_legs(&mut self, by: &str) {
        for leg in std::mem::take(&mut self.legs) {
            // The leg stays in the directory until its end comes back from SIP (then it is dropped).
            self.end_leg_sip(&leg.leg_id, by);
            match leg.state {
                LegState::Ringing => self.settle_offer(&leg.agent, &format!("{by}-ended")),
                LegState::Connected => self.agent_left(&leg.agent, by),
            }
        }
    }

    fn open_agent_asr(&mut self) {
        let s = self.shared.clone();
        let Some(engine) = &s.asr else { return };
        if self.agent_asr.is_some() {
            return;
        }
        let language = self
            .ivr_language()
            .unwrap_or_else(|| s.config.asr.language.clone());
        match engine.open_stream_at(
            &self.id,
            Channel::Agent,
            &language,
            s.events.clone(),
            self.finals_tx.clone(),
            self.stream_at(Channel::Agent),
        ) {
            Ok(stream) => self.agent_asr = Some(stream),
            Err(e) => warn!(error = %e, "no transcription of the agent's side"),
        }
    }

    /// Audio between the caller and the connected agents: each agent hears the caller and the other
    /// agents; returns what the caller hears from them (None with no agent connected).
    fn bridge(&mut self, caller: &[i16; FRAME]) -> Option<[i16; FRAME]> {
        let connected: Vec<usize> = (0..self.legs.len())
            .filter(|&i| self.legs[i].state == LegState::Connected)
            .collect();
        if connected.is_empty() {
            // Between agents (a cold transfer) the agents' channel hears silence, so that its
            // transcript's times stay the call's.
            if let Some(asr) = self.agent_asr.as_mut() {
                asr.push(&[0; FRAME]);
            }
            return None;
        }
        let frames: Vec<[i16; FRAME]> = connected.iter().map(|&i| self.legs[i].pop()).collect();
        let mut all = [0i16; FRAME];
        for f in &frames {
            leg::mix_into(&mut all, f);
        }
        for (k, &i) in connected.iter().enumerate() {
            let mut to = *caller;
            for (j, f) in frames.iter().enumerate() {
                if j != k {
                    leg::mix_into(&mut to, f);
                }
            }
            self.legs[i].send(&to);
        }
        if let Some(asr) = self.agent_asr.as_mut() {
            asr.push(&all);
        }
        Some(all)
    }

    /// A request from an agent's or supervisor's screen (transfer, recording pause).
    fn on_control(&mut self, control: Control) {
        match control {
            Control::Recording { paused, reason } => {
                self.pause_api = paused;
                self.pause_changed(&reason);
            }
            Control::Transfer { to, warm, by } => {
                let (target, req) = {
                    let current = self.record.service.as_ref();
                    let queue = current
                        .map(|s| s.queue.clone())
                        .unwrap_or_else(|| "general".into());
                    let language = self.ivr_language().unwrap_or_default();
                    match &to {
                        TransferTarget::Agent(a) => (
                            format!("agent:{a}"),
                            Request {
                                call_id: self.id.clone(),
                                queue,
                                skills: Vec::new(),
                                language: String::new(),
                                agent: Some(a.clone()),
                                overflow: true,
                            },
                        ),
                        TransferTarget::Queue(q) => (
                            format!("queue:{q}"),
                            Request {
                                call_id: self.id.clone(),
                                queue: q.clone(),
                                skills: vec![q.clone()],
                                language,
                                agent: None,
                                overflow: true,
                            },
                        ),
                    }
                };
                info!(%target, warm, %by, "transfer");
                let from_agent = self
                    .legs
                    .iter()
                    .find(|l| l.state == LegState::Connected)
                    .map(|l| l.agent.clone());
                let service = self.record.service.get_or_insert_with(|| ServiceRecord {
                    queue: req.queue.clone(),
                    queued_at_ms: now_ms(),
                    ..ServiceRecord::default()
                });
                service.transfers.push(TransferRecord {
                    from_agent,
                    to: target.clone(),
                    mode: if warm { "warm" } else { "cold" }.into(),
                    at_ms: now_ms(),
                });
                self.shared
                    .events
                    .publish(&self.id, EventKind::CallTransferred { target });
                if !warm {
                    self.end_legs("transfer");
                }
                self.enqueue(req);
            }
        }
    }

    /// PCI after the fact: a card number was read out between `from_ms` and `to_ms` (call time), which
    /// the recording already holds; that span is silenced and kept with the pauses.
    fn redact(&mut self, from_ms: u64, to_ms: u64) {
        let Some(rec) = &self.recorder else { return };
        let ms = Duration::from_millis;
        if let Err(e) = rec.redact(ms(from_ms), ms(to_ms)) {
            warn!(error = %e, "could not silence a card number in the recording");
            return;
        }
        info!(from_ms, to_ms, "card number silenced in the recording");
        let spans = &mut self.record.recording_pauses;
        // In order of start, but a pause still open stays last (`pause_changed` closes the last one).
        let mut at = spans.partition_point(|(start, _)| *start <= from_ms);
        if spans.last().is_some_and(|(_, end)| end.is_none()) {
            at = at.min(spans.len() - 1);
        }
        spans.insert(at, (from_ms, Some(to_ms)));
        self.dirty = true;
        self.shared.events.publish(
            &self.id,
            EventKind::RecordingRedacted {
                from_ms,
                to_ms,
                reason: "card-number".into(),
            },
        );
    }

    /// The IVR's sensitive collect pauses the recording by itself.
    fn update_pause(&mut self) {
        let sensitive = matches!(&self.behaviour, Behaviour::Ivr(ivr) if ivr.engine.is_sensitive());
        if sensitive != self.pause_ivr {
            self.pause_ivr = sensitive;
            self.pause_changed("ivr");
        }
    }

    /// Publishes and records a change of the effective pause (either source).
    fn pause_changed(&mut self, reason: &str) {
        let paused = self.pause_api || self.pause_ivr;
        let at = self.answered.elapsed().as_millis() as u64;
        let spans = &mut self.record.recording_pauses;
        let open = spans.last().is_some_and(|(_, end)| end.is_none());
        if paused && !open {
            spans.push((at, None));
            self.shared.events.publish(
                &self.id,
                EventKind::RecordingPaused {
                    reason: reason.to_string(),
                },
            );
        } else if !paused && open {
            if let Some(last) = spans.last_mut() {
                last.1 = Some(at);
            }
            self.shared.events.publish(&self.id, EventKind::RecordingResumed);
        } else {
            return;
        }
        info!(paused, reason, "recording pause");
        self.dirty = true;
    }

    fn hangup(&mut self, by: HangupBy, cause: &str) {
        if !self.hangup_sent {
            self.hangup_sent = true;
            info!(cause, "hanging up");
            self.shared.sip.command(Command::Hangup {
                call_id: self.id.clone(),
                by,
                cause: cause.to_string(),
            });
        }
    }

    async fn on_tick(&mut self, ticks: u64) {
        let now = self.answered.elapsed();
        let popped = self.jitter.pop(now.as_millis() as u64);
        let caller = popped.pcm;
        if let Some(det) = self.inband.as_mut()
            && popped.state == FrameState::Audio
        {
            for key in det.push(&caller) {
                self.on_key(key, DtmfMethod::Inband);
            }
        }
        if let Some(asr) = self.asr.as_mut() {
            asr.push(&caller);
        }
        if let Behaviour::Ivr(ivr) = &mut self.behaviour
            && let Some(vm) = ivr.voicemail.as_mut()
            && let Err(e) = vm.recorder.write_channels(&[&caller])
        {
            warn!(error = %e, "voicemail recording failed");
            self.close_voicemail();
        }
        let frame = self.playout.as_mut().and_then(Playout::next_frame);
        if frame.is_none()
            && let Some(done) = self.playout.take()
            && done.notify
        {
            self.on_prompt_done();
        }
        let mut out = frame.unwrap_or([0; FRAME]);
        if let Some(agents) = self.bridge(&caller) {
            leg::mix_into(&mut out, &agents);
        }
        self.update_pause();
        let peer = self.latch.as_ref().map(Latch::peer);
        match peer.filter(|_| self.media.direction.sends()) {
            Some(to) => {
                let mut encoded = Vec::with_capacity(FRAME);
                self.codec.encode(&out, &mut encoded);
                if let Some(packet) = self.sender.push(&encoded, self.media.codec_pt, self.media.ptime) {
                    let _ = self.lease.rtp.try_send_to(&packet, to);
                }
            }
            None => self.sender.skip(),
        }
        let sent = if self.media.direction.sends() {
            out
        } else {
            [0; FRAME]
        };
        let (caller, sent) = if self.pause_api || self.pause_ivr {
            ([0; FRAME], [0; FRAME])
        } else {
            (caller, sent)
        };
        if let Some(rec) = self.recorder.as_mut()
            && let Err(e) = rec.write_frame(&caller, &sent)
        {
            warn!(error = %e, "recording failed; continuing without it");
            self.recorder = None;
        }
        if ticks.is_multiple_of(RTCP_INTERVAL_TICKS) {
            self.send_rtcp();
        }
        let timeout = Duration::from_secs(self.shared.config.media.rtp_timeout_s);
        if self.media.direction.receives() && self.media.remote.is_some() && self.last_rtp.elapsed() > timeout
        {
            self.hangup(HangupBy::System, "rtp-timeout");
        }
        match &mut self.behaviour {
            Behaviour::LineTest(demo) => {
                let actions = demo.on_tick(now);
                self.apply_demo(actions);
            }
            Behaviour::Ivr(ivr) => {
                let actions = ivr.engine.tick(ivr_now(self.answered));
                self.apply_ivr(actions);
                if now >= Duration::from_secs(self.shared.config.calls.max_duration_s) {
                    self.hangup(HangupBy::Koe, "max-duration");
                }
            }
        }
    }

    /// A compound SR + SDES (RFC 3550 §6.1) to the RTP peer's port + 1, reporting on the caller's stream.
    fn send_rtcp(&mut self) {
        let Some(rtp_peer) = self.latch.as_ref().map(Latch::peer) else {
            return;
        };
        let to = SocketAddr::new(rtp_peer.ip(), rtp_peer.port().wrapping_add(1));
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, (at.elapsed().as_secs_f64() * 65536.0) as u32),
            None => (0, 0),
        };
        let report = self
            .remote_ssrc
            .map(|ssrc| self.receiver.report_block(ssrc, lsr, dlsr));
        let mut packet = rtcp::build_sr(
            self.sender.ssrc,
            ntp_now(),
            self.sender.ts,
            self.sender.packets as u32,
            self.sender.octets as u32,
            report,
        );
        packet.extend(rtcp::build_sdes_cname(self.sender.ssrc, "koe"));
        let _ = self.lease.rtcp.try_send_to(&packet, to);
    }

    async fn finish(&mut self) {
        let (by, cause) = self.ended.take().unwrap_or((HangupBy::System, "unknown".into()));
        self.end_legs("caller");
        if self.queued {
            self.shared.routing.leave(&self.id);
        }
        if let Some(asr) = self.agent_asr.take() {
            asr.finish().await;
        }
        // The utterance in progress is finalised (and stored) before the call is declared ended.
        if let Some(asr) = self.asr.take() {
            asr.finish().await;
        }
        while let Ok(f) = self.finals_rx.try_recv() {
            let _ = self.shared.finals.send(f);
        }
        self.close_voicemail();
        if let Behaviour::Ivr(ivr) = &self.behaviour {
            self.record.ivr = Some(ivr.engine.record().clone());
        }
        if let Some(rec) = self.recorder.take()
            && let Err(e) = rec.finish()
        {
            warn!(error = %e, "could not close the recording");
        }
        let js = self.jitter.stats();
        let rtp = &mut self.record.rtp;
        rtp.packets_sent = self.sender.packets;
        rtp.packets_received = js.received;
        rtp.packets_lost = self.lost_before + i64::from(self.receiver.cumulative_lost()).max(0) as u64;
        rtp.jitter_ms = f64::from(self.receiver.jitter()) / 8.0;
        rtp.concealed_frames = js.concealed_frames;
        if let Some(latch) = &self.latch {
            rtp.rejected_packets += latch.rejected();
        }
        self.record.ended_at_ms = Some(now_ms());
        self.record.status = CallStatus::Ended;
        self.record.hangup_by = Some(by.as_str().to_string());
        self.record.end_cause = Some(cause.clone());
        let rtp = self.record.rtp.clone();
        self.save().await;
        let m = &self.shared.metrics;
        m.inc_by(
            "koe_rtp_packets_total",
            "RTP packets",
            &[("direction", "sent")],
            rtp.packets_sent as f64,
        );
        m.inc_by(
            "koe_rtp_packets_total",
            "RTP packets",
            &[("direction", "received")],
            rtp.packets_received as f64,
        );
        m.inc_by(
            "koe_rtp_packets_lost_total",
            "RTP packets lost by callers' streams",
            &[],
            rtp.packets_lost as f64,
        );
        m.inc_by(
            "koe_rtp_late_frames_total",
            "20 ms ticks handled more than 10 ms late",
            &[],
            self.late_frames as f64,
        );
        m.observe(
            "koe_rtp_jitter_seconds",
            "Interarrival jitter per call at its end",
            &[],
            rtp.jitter_ms / 1000.0,
        );
        self.shared.events.publish(
            &self.id,
            EventKind::CallEnded {
                cause: cause.clone(),
                hangup_by: by.as_str().into(),
            },
        );
        info!(by = by.as_str(), %cause, packets_sent = rtp.packets_sent, packets_received = rtp.packets_received, "call ended");
    }
}

/// The next RTP packet on any agent leg: (leg index, length, source); pending with no leg.
async fn leg_recv(legs: &[AgentLeg], buf: &mut [u8]) -> Option<(usize, usize, SocketAddr)> {
    if legs.is_empty() {
        return std::future::pending().await;
    }
    let recvs = legs.iter().enumerate().map(|(i, l)| {
        Box::pin(async move {
            l.lease.rtp.readable().await.ok()?;
            Some(i)
        })
    });
    let (ready, _, _) = futures_util::future::select_all(recvs).await;
    let i = ready?;
    match legs[i].lease.rtp.try_recv_from(buf) {
        Ok((n, from)) => Some((i, n, from)),
        Err(_) => None,
    }
}

fn ivr_now(answered: Instant) -> Now {
    Now {
        elapsed: answered.elapsed(),
        wall: jiff::Timestamp::now(),
    }
}

/// The wall clock as a 64-bit NTP timestamp (seconds since 1900 in the high half).
fn ntp_now() -> u64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_unix.as_secs() + 2_208_988_800;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

fn payload_types(media: &Negotiated) -> Vec<u8> {
    let mut pts = vec![media.codec_pt, 13]; // 13: comfort noise, often sent by phones in silence
    pts.extend(media.dtmf_pt);
    pts
}
