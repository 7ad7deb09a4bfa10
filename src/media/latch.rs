//! Symmetric-RTP latching: decides which source address a call's media is accepted from and sent to.
//!
//! A peer behind NAT sends from an address other than the one in its SDP, so the address has to be
//! learned from the media itself; but learning from "whoever sends first" lets a stranger inject audio
//! into the call or divert it ("RTP bleed"). The rule here locks at once on the SDP address, or else on
//! the first source that sends `LEARN_RUN` consecutive, well-formed packets, and then never moves except
//! on [`Latch::reset`] (a re-INVITE).

use std::net::SocketAddr;

/// Consecutive packets from one (address, SSRC), with consecutive sequence numbers, that lock a source
/// other than the SDP address.
pub const LEARN_RUN: u32 = 3;

/// Sources followed at once while learning; more would only help a sprayer.
const MAX_CANDIDATES: usize = 4;

/// What to do with one received RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the locked source: play it.
    Accept,
    /// From a source that may still be locked; not trusted yet, so do not play it.
    Learning,
    /// From a stranger or with a payload type that was not negotiated: drop it.
    Reject,
}

/// A source under observation while no address is locked.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    last_seq: u16,
    run: u32,
}

/// The latching state of one call leg.
#[derive(Debug, Clone)]
pub struct Latch {
    sdp_addr: SocketAddr,
    payload_types: Vec<u8>,
    locked: Option<SocketAddr>,
    /// The source locked before a re-INVITE moved the media: still the same peer, so its packets are
    /// heard while it switches over, but they do not pull koe's stream back to the old address.
    previous: Option<SocketAddr>,
    candidates: Vec<Candidate>,
    rejected: u64,
}

impl Latch {
    /// A latch for a leg whose SDP announced `sdp_addr` and negotiated `payload_types` (include the
    /// telephone-event type).
    pub fn new(sdp_addr: SocketAddr, payload_types: Vec<u8>) -> Self {
        Latch {
            sdp_addr,
            payload_types,
            locked: None,
            previous: None,
            candidates: Vec::new(),
            rejected: 0,
        }
    }

    /// Judges one packet by its source address and RTP header fields.
    pub fn accept(&mut self, from: SocketAddr, ssrc: u32, seq: u16, pt: u8) -> Verdict {
        let verdict = self.judge(from, ssrc, seq, pt);
        if verdict == Verdict::Reject {
            self.rejected += 1;
        }
        verdict
    }

    fn judge(&mut self, from: SocketAddr, ssrc: u32, seq: u16, pt: u8) -> Verdict {
        if !self.payload_types.contains(&pt) {
            return Verdict::Reject;
        }
        if let Some(locked) = self.locked {
            return if from == locked {
                Verdict::Accept
            } else {
                Verdict::Reject
            };
        }
        if from == self.sdp_addr {
            self.lock(from);
            return Verdict::Accept;
        }
        if Some(from) == self.previous {
            return Verdict::Accept;
        }
        self.learn(from, ssrc, seq)
    }

    fn learn(&mut self, from: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        let is_source = |c: &Candidate| c.addr == from && c.ssrc == ssrc;
        // Once some other source is well on its way, packets that do not form a run are a stranger's.
        let leader_elsewhere = self.candidates.iter().any(|c| c.run > 1 && !is_source(c));
        let run = match self.candidates.iter_mut().find(|c| is_source(c)) {
            Some(candidate) => {
                let consecutive = seq == candidate.last_seq.wrapping_add(1);
                candidate.run = if consecutive { candidate.run + 1 } else { 1 };
                candidate.last_seq = seq;
                candidate.run
            }
            None if leader_elsewhere => return Verdict::Reject,
            None => {
                if self.candidates.len() == MAX_CANDIDATES {
                    self.candidates.remove(0);
                }
                self.candidates.push(Candidate {
                    addr: from,
                    ssrc,
                    last_seq: seq,
                    run: 1,
                });
                1
            }
        };
        if run >= LEARN_RUN {
            self.lock(from);
            Verdict::Accept
        } else if run == 1 && leader_elsewhere {
            Verdict::Reject
        } else {
            Verdict::Learning
        }
    }

    fn lock(&mut self, addr: SocketAddr) {
        self.locked = Some(addr);
        self.previous = None;
        self.candidates.clear();
    }

    /// Where to send media: the SDP address until a source is locked, then the locked source.
    pub fn peer(&self) -> SocketAddr {
        self.locked.unwrap_or(self.sdp_addr)
    }

    /// Whether a source has been locked.
    pub fn is_locked(&self) -> bool {
        self.locked.is_some()
    }

    /// Packets rejected so far (strangers and unnegotiated payload types).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Starts over for a new SDP address (re-INVITE): koe sends to the new address, the candidates are
    /// forgotten, and the old source is still heard until a new one locks.
    pub fn reset(&mut self, new_sdp_addr: SocketAddr) {
        self.sdp_addr = new_sdp_addr;
        self.previous = self.locked.take().or(self.previous);
        self.candidates.clear();
    }

    /// Replaces the negotiated payload types (a re-INVITE may change them).
    pub fn set_payload_types(&mut self, payload_types: Vec<u8>) {
        self.payload_types = payload_types;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const PTS: [u8; 2] = [0, 101];

    fn latch(sdp: &str) -> Latch {
        Latch::new(addr(sdp), PTS.to_vec())
    }

    #[test]
    fn sdp_address_locks_at_once() {
        let mut l = latch("198.51.100.1:4000");
        assert_eq!(l.accept(addr("198.51.100.1:4000"), 7, 100, 0), Verdict::Accept);
        assert!(l.is_locked());
        assert_eq!(l.accept(addr("198.51.100.1:4000"), 7, 101, 101), Verdict::Accept);
        assert_eq!(l.peer(), addr("198.51.100.1:4000"));
    }

    #[test]
    fn nat_peer_is_learned_from_consecutive_packets() {
        let mut l = latch("10.0.0.5:4000");
        let nat = addr("203.0.113.7:30000");
        assert_eq!(l.peer(), addr("10.0.0.5:4000"));
        assert_eq!(l.accept(nat, 42, 65534, 0), Verdict::Learning);
        assert_eq!(l.accept(nat, 42, 65535, 0), Verdict::Learning);
        assert_eq!(
            l.accept(nat, 42, 0, 0),
            Verdict::Accept,
            "sequence wrap still counts as consecutive"
        );
        assert_eq!(l.peer(), nat);
        // Locked: even the SDP address cannot take over any more.
        assert_eq!(l.accept(addr("10.0.0.5:4000"), 42, 1, 0), Verdict::Reject);
        assert_eq!(l.accept(nat, 42, 1, 0), Verdict::Accept);
        assert_eq!(l.peer(), nat);
    }

    #[test]
    fn gaps_in_sequence_or_ssrc_changes_restart_learning() {
        let mut l = latch("10.0.0.5:4000");
        let nat = addr("203.0.113.7:30000");
        assert_eq!(l.accept(nat, 1, 10, 0), Verdict::Learning);
        assert_eq!(l.accept(nat, 1, 12, 0), Verdict::Learning);
        assert_eq!(l.accept(nat, 1, 13, 0), Verdict::Learning);
        assert!(!l.is_locked());
        assert_eq!(l.accept(nat, 1, 14, 0), Verdict::Accept);
    }

    #[test]
    fn stranger_spraying_before_lock_does_not_win() {
        let mut l = latch("10.0.0.5:4000");
        let peer = addr("203.0.113.7:30000");
        let stranger = addr("192.0.2.66:5555");
        // The stranger sprays packets with random sequence numbers, interleaved with the real peer.
        let spray = [9u16, 4000, 17, 60000, 3];
        let mut verdicts = Vec::new();
        for (i, seq) in (500u16..503).enumerate() {
            verdicts.push(l.accept(stranger, 0xBAD, spray[i], 0));
            verdicts.push(l.accept(peer, 42, seq, 0));
        }
        assert_eq!(verdicts.last(), Some(&Verdict::Accept));
        assert_eq!(l.peer(), peer);
        // After the peer had two in a row, the stranger was already rejected.
        assert_eq!(verdicts[4], Verdict::Reject);
        for seq in spray {
            assert_eq!(l.accept(stranger, 0xBAD, seq, 0), Verdict::Reject);
        }
        assert_eq!(l.rejected(), 1 + spray.len() as u64);
    }

    #[test]
    fn stranger_after_lock_is_rejected_and_counted() {
        let mut l = latch("198.51.100.1:4000");
        assert_eq!(l.accept(addr("198.51.100.1:4000"), 7, 1, 0), Verdict::Accept);
        for seq in 0..10u16 {
            assert_eq!(l.accept(addr("192.0.2.66:5555"), 7, seq + 2, 0), Verdict::Reject);
        }
        assert_eq!(l.rejected(), 10);
        assert_eq!(l.peer(), addr("198.51.100.1:4000"));
    }

    #[test]
    fn wrong_payload_type_never_locks() {
        let mut l = latch("198.51.100.1:4000");
        let stranger = addr("192.0.2.66:5555");
        for seq in 0..5u16 {
            assert_eq!(l.accept(stranger, 9, seq, 8), Verdict::Reject);
        }
        assert_eq!(l.accept(addr("198.51.100.1:4000"), 7, 1, 96), Verdict::Reject);
        assert!(!l.is_locked());
        assert_eq!(l.rejected(), 6);
    }

    #[test]
    fn reinvite_reset_moves_the_lock() {
        let mut l = latch("198.51.100.1:4000");
        let old = addr("198.51.100.1:4000");
        let new = addr("198.51.100.2:5000");
        assert_eq!(l.accept(old, 7, 1, 0), Verdict::Accept);
        assert_eq!(l.accept(new, 8, 1, 0), Verdict::Reject);
        l.reset(new);
        assert!(!l.is_locked());
        assert_eq!(l.peer(), new);
        assert_eq!(l.accept(new, 8, 2, 0), Verdict::Accept);
        assert_eq!(l.accept(old, 7, 2, 0), Verdict::Reject);
        l.set_payload_types(vec![0]);
    }

    #[test]
    fn after_a_move_the_old_source_is_heard_but_does_not_pull_the_stream_back() {
        let mut l = latch("198.51.100.1:4000");
        let old = addr("198.51.100.1:4000");
        let new = addr("198.51.100.1:5000");
        assert_eq!(l.accept(old, 7, 1, 0), Verdict::Accept);
        l.reset(new);
        for seq in 2..10 {
            assert_eq!(l.accept(old, 7, seq, 0), Verdict::Accept);
        }
        assert_eq!(l.peer(), new, "koe keeps sending where the re-INVITE said");
        assert_eq!(l.accept(addr("203.0.113.9:6000"), 1, 1, 0), Verdict::Learning);
        assert_eq!(l.accept(new, 7, 10, 0), Verdict::Accept);
        assert_eq!(
            l.accept(old, 7, 11, 0),
            Verdict::Reject,
            "once the new source locks, the old is a stranger"
        );
    }

    #[test]
    fn payload_type_changes_apply() {
        let mut l = latch("198.51.100.1:4000");
        let new = addr("198.51.100.1:4000");
        l.set_payload_types(vec![8]);
        assert_eq!(l.accept(new, 8, 3, 0), Verdict::Reject);
        assert_eq!(l.accept(new, 8, 4, 8), Verdict::Accept);
    }
}
