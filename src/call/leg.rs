//! An agent's leg of a call: the phone koe rang for the caller, its RTP socket and audio both ways, and
//! the transcription of what the agent says.

use super::ports::Lease;
use crate::asr::stream::AsrStream;
use crate::media::g711::Codec;
use crate::media::jitter::JitterBuffer;
use crate::media::latch::{Latch, Verdict};
use crate::media::sender::RtpSender;
use crate::sip::sdp::Negotiated;
use rtp_rs::RtpReader;
use std::net::SocketAddr;
use std::time::Instant;

pub const FRAME: usize = 160;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    Ringing,
    Connected,
}

pub struct AgentLeg {
    pub agent: String,
    /// The SIP Call-ID koe gave the leg.
    pub leg_id: String,
    pub state: LegState,
    pub lease: Lease,
    /// What koe wrote in its SDP offer for this leg.
    pub advertised: SocketAddr,
    media: Option<LegMedia>,
    pub asr: Option<AsrStream>,
}

struct LegMedia {
    negotiated: Negotiated,
    codec: Codec,
    latch: Latch,
    jitter: JitterBuffer,
    sender: RtpSender,
    started: Instant,
}

impl AgentLeg {
    pub fn ringing(agent: &str, leg_id: String, lease: Lease, advertised: SocketAddr) -> Self {
        AgentLeg {
            agent: agent.to_string(),
            leg_id,
            state: LegState::Ringing,
            lease,
            advertised,
            media: None,
            asr: None,
        }
    }

    /// The phone answered with this media; `jitter` is (min, max) frames.
    pub fn connect(&mut self, negotiated: Negotiated, jitter: (u32, u32)) {
        self.state = LegState::Connected;
        self.set_media(negotiated, jitter);
    }

    /// A re-INVITE from the phone (hold, a new address or codec).
    pub fn set_media(&mut self, negotiated: Negotiated, jitter: (u32, u32)) {
        let codec = codec_of(&negotiated);
        let mut pts = vec![negotiated.codec_pt, 13];
        pts.extend(negotiated.dtmf_pt);
        let Some(remote) = negotiated.remote else {
            self.media = None;
            return;
        };
        match self.media.as_mut() {
            Some(m) => {
                if Some(remote) != m.negotiated.remote {
                    m.latch.reset(remote);
                }
                m.latch.set_payload_types(pts);
                m.codec = codec;
                m.negotiated = negotiated;
            }
            None => {
                self.media = Some(LegMedia {
                    codec,
                    latch: Latch::new(remote, pts),
                    jitter: JitterBuffer::new(jitter.0, jitter.1),
                    sender: RtpSender::new(),
                    started: Instant::now(),
                    negotiated,
                });
            }
        }
    }

    /// One RTP packet from the phone: its audio goes to the jitter buffer.
    pub fn on_rtp(&mut self, packet: &[u8], from: SocketAddr) {
        let Some(m) = self.media.as_mut() else { return };
        let Ok(rtp) = RtpReader::new(packet) else { return };
        let pt = rtp.payload_type();
        let seq: u16 = rtp.sequence_number().into();
        if m.latch.accept(from, rtp.ssrc(), seq, pt) != Verdict::Accept || pt != m.negotiated.codec_pt {
            return;
        }
        let mut pcm = Vec::with_capacity(rtp.payload().len());
        m.codec.decode(rtp.payload(), &mut pcm);
        let arrival_ms = m.started.elapsed().as_millis() as u64;
        m.jitter.push(seq, rtp.timestamp(), rtp.ssrc(), pcm, arrival_ms);
    }

    /// The agent's next 20 ms (silence while ringing or on hold).
    pub fn pop(&mut self) -> [i16; FRAME] {
        match self.media.as_mut() {
            Some(m) => m.jitter.pop(m.started.elapsed().as_millis() as u64).pcm,
            None => [0; FRAME],
        }
    }

    /// Sends 20 ms to the phone.
    pub fn send(&mut self, pcm: &[i16; FRAME]) {
        let Some(m) = self.media.as_mut() else { return };
        if !m.negotiated.direction.sends() {
            m.sender.skip();
            return;
        }
        let mut encoded = Vec::with_capacity(FRAME);
        m.codec.encode(pcm, &mut encoded);
        if let Some(packet) = m.sender.push(&encoded, m.negotiated.codec_pt, m.negotiated.ptime) {
            let _ = self.lease.rtp.try_send_to(&packet, m.latch.peer());
        }
    }
}

pub fn codec_of(media: &Negotiated) -> Codec {
    Codec::from_payload_type(if media.codec_name == "PCMA" { 8 } else { 0 }).expect("static types")
}

/// Adds `b` into `a`, clipping (a three-way call during a warm transfer).
pub fn mix_into(a: &mut [i16; FRAME], b: &[i16; FRAME]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_add(*y);
    }
}
