//! Sending one leg's audio as RTP: sequence numbers, timestamps, the marker bit and packetisation.

use rtp_rs::{RtpPacketBuilder, Seq};

const FRAME: usize = 160;
const FRAME_MS: u64 = 20;

/// RTP sender state: sequence numbers, timestamps and the marker bit (RFC 3550 §5.1, RFC 3551 §4.1).
pub struct RtpSender {
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    marker: bool,
    pending: Vec<u8>,
    pending_ts: u32,
    pub packets: u64,
    pub octets: u64,
}

impl Default for RtpSender {
    fn default() -> Self {
        Self::new()
    }
}

impl RtpSender {
    pub fn new() -> Self {
        RtpSender {
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
            marker: true,
            pending: Vec::with_capacity(480),
            pending_ts: 0,
            packets: 0,
            octets: 0,
        }
    }

    /// Adds one 20 ms frame; returns a packet once `ptime` worth of audio is gathered.
    pub fn push(&mut self, encoded: &[u8], pt: u8, ptime: u32) -> Option<Vec<u8>> {
        if self.pending.is_empty() {
            self.pending_ts = self.ts;
        }
        self.pending.extend_from_slice(encoded);
        self.ts = self.ts.wrapping_add(FRAME as u32);
        if self.pending.len() < FRAME * (ptime as usize / FRAME_MS as usize).max(1) {
            return None;
        }
        let packet = RtpPacketBuilder::new()
            .payload_type(pt)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.seq))
            .timestamp(self.pending_ts)
            .marked(self.marker)
            .payload(&self.pending)
            .build()
            .ok();
        self.octets += self.pending.len() as u64;
        self.packets += 1;
        self.seq = self.seq.wrapping_add(1);
        self.marker = false;
        self.pending.clear();
        packet
    }

    /// Time passes without sending (hold): keep the clock running, and mark the next talkspurt.
    pub fn skip(&mut self) {
        self.pending.clear();
        self.ts = self.ts.wrapping_add(FRAME as u32);
        self.marker = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtp_rs::RtpReader;

    #[test]
    fn sender_numbers_packets_and_marks_talkspurts() {
        let mut s = RtpSender::new();
        let (seq0, ts0) = (s.seq, s.ts);
        let p1 = s.push(&[0xff; 160], 0, 20).unwrap();
        let p2 = s.push(&[0xff; 160], 0, 20).unwrap();
        let (r1, r2) = (RtpReader::new(&p1).unwrap(), RtpReader::new(&p2).unwrap());
        assert!(r1.mark() && !r2.mark());
        assert_eq!(u16::from(r2.sequence_number()), seq0.wrapping_add(1));
        assert_eq!(r2.timestamp(), ts0.wrapping_add(160));
        s.skip();
        let p3 = s.push(&[0xff; 160], 0, 20).unwrap();
        let r3 = RtpReader::new(&p3).unwrap();
        assert!(r3.mark(), "first packet after a pause is marked");
        assert_eq!(r3.timestamp(), ts0.wrapping_add(480));
        assert_eq!(
            u16::from(r3.sequence_number()),
            seq0.wrapping_add(2),
            "no sequence gap for a pause"
        );
    }

    #[test]
    fn ptime_40_packs_two_frames() {
        let mut s = RtpSender::new();
        assert!(s.push(&[1; 160], 8, 40).is_none());
        let p = s.push(&[2; 160], 8, 40).unwrap();
        assert_eq!(RtpReader::new(&p).unwrap().payload().len(), 320);
    }
}
