//! RTCP (RFC 3550 §6): receiver statistics kept per received stream, and the SR, RR, SDES and BYE
//! packets that carry them.
//!
//! [`ReceiverStats`] follows the RFC's appendix algorithms (A.1 sequence tracking, A.3 loss, A.8
//! jitter) with arrival times given in RTP timestamp units, so it needs no clock. [`parse`] reads
//! compound packets defensively: any length or count that does not fit is an error, never a panic.

/// RTCP packet types (RFC 3550 §12.1).
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;
/// A jump in sequence numbers larger than this is a restart, not loss (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
/// A sequence number this far behind is a late or duplicate packet (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;
const REPORT_BLOCK_LEN: usize = 24;

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Packets lost since the start (signed 24 bits: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from the source (0 if none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// A source description chunk: one SSRC and its (type, text) items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    /// The described source.
    pub ssrc: u32,
    /// Items such as (`SDES_CNAME`, "user@host").
    pub items: Vec<(u8, String)>,
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// Sender report.
    SenderReport {
        /// Sender's SSRC.
        ssrc: u32,
        /// 64-bit NTP timestamp.
        ntp: u64,
        /// RTP timestamp corresponding to `ntp`.
        rtp_ts: u32,
        /// Packets sent.
        packets: u32,
        /// Payload octets sent.
        octets: u32,
        /// Reception reports.
        reports: Vec<ReportBlock>,
    },
    /// Receiver report.
    ReceiverReport {
        /// Reporter's SSRC.
        ssrc: u32,
        /// Reception reports.
        reports: Vec<ReportBlock>,
    },
    /// Source description.
    SourceDescription(Vec<SdesChunk>),
    /// Goodbye.
    Bye {
        /// Sources leaving.
        sources: Vec<u32>,
        /// Optional reason.
        reason: Option<String>,
    },
}

/// Why an RTCP packet could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Fewer bytes than a header, or than the header's length field says.
    #[error("RTCP packet truncated")]
    Truncated,
    /// Version other than 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// A count or padding that does not fit the packet length.
    #[error("RTCP packet malformed: {0}")]
    Malformed(&'static str),
}

/// Reception statistics for one source (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    started: bool,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    /// Sequence number that would confirm a restart after a big jump.
    bad_seq: Option<u16>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    transit: Option<u32>,
    /// Jitter scaled by 16, as in A.8.
    jitter_x16: u32,
}

impl ReceiverStats {
    /// Statistics with no packet seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one received packet; `arrival` is the arrival time in the stream's RTP timestamp units
    /// (any origin). Returns false for a packet after a large sequence jump that is not (yet) taken
    /// as a restart of the source.
    pub fn update(&mut self, seq: u16, rtp_ts: u32, arrival: u32) -> bool {
        if !self.started {
            self.restart(seq);
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = seq;
            } else if delta <= u16::MAX - MAX_MISORDER {
                // A big jump: accept it only when the next packet confirms the new sequence.
                if self.bad_seq == Some(seq) {
                    self.restart(seq);
                } else {
                    self.bad_seq = Some(seq.wrapping_add(1));
                    return false;
                }
            }
        }
        self.received += 1;
        self.update_jitter(rtp_ts, arrival);
        true
    }

    fn restart(&mut self, seq: u16) {
        *self = ReceiverStats {
            started: true,
            max_seq: seq,
            base_seq: u32::from(seq),
            jitter_x16: self.jitter_x16,
            ..ReceiverStats::default()
        };
    }

    /// A.8: J += (|D| - J) / 16, in integer arithmetic scaled by 16.
    fn update_jitter(&mut self, rtp_ts: u32, arrival: u32) {
        let transit = arrival.wrapping_sub(rtp_ts);
        if let Some(previous) = self.transit {
            let d = (transit.wrapping_sub(previous) as i32).unsigned_abs();
            self.jitter_x16 = self
                .jitter_x16
                .wrapping_add(d)
                .wrapping_sub((self.jitter_x16 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Extended highest sequence number received.
    pub fn extended_highest(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected so far (from the first to the highest sequence number).
    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        u64::from(self.cycles) + u64::from(self.max_seq) + 1 - u64::from(self.base_seq)
    }

    /// Packets received (duplicates included, as the RFC counts them).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Expected minus received, clamped to the 24-bit signed field of a report block.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_x16 >> 4
    }

    /// The report block for this source, starting a new interval for the fraction lost. `lsr` and
    /// `dlsr` come from the last SR received from the source (0 if none).
    pub fn report_block(&mut self, ssrc: u32, lsr: u32, dlsr: u32) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            highest_seq: self.extended_highest(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }
}

/// The middle 32 bits of a 64-bit NTP timestamp, as carried in LSR.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

fn header(out: &mut Vec<u8>, count: usize, pt: u8) {
    out.extend_from_slice(&[0x80 | (count as u8 & 0x1F), pt, 0, 0]);
}

/// Pads the packet to 32 bits and fills in its length field.
fn finish(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    let words = (out.len() / 4 - 1) as u16;
    out[2..4].copy_from_slice(&words.to_be_bytes());
}

fn write_block(out: &mut Vec<u8>, block: &ReportBlock) {
    out.extend_from_slice(&block.ssrc.to_be_bytes());
    let lost = (block.cumulative_lost as u32) & 0x00FF_FFFF;
    out.extend_from_slice(&((u32::from(block.fraction_lost) << 24) | lost).to_be_bytes());
    for field in [block.highest_seq, block.jitter, block.lsr, block.dlsr] {
        out.extend_from_slice(&field.to_be_bytes());
    }
}

/// A sender report with at most one reception report.
pub fn build_sr(
    ssrc: u32,
    ntp: u64,
    rtp_ts: u32,
    packets: u32,
    octets: u32,
    report: Option<ReportBlock>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(28 + REPORT_BLOCK_LEN);
    header(&mut out, usize::from(report.is_some()), PT_SR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&ntp.to_be_bytes());
    for field in [rtp_ts, packets, octets] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    if let Some(block) = &report {
        write_block(&mut out, block);
    }
    finish(&mut out);
    out
}

/// A receiver report with at most one reception report.
pub fn build_rr(ssrc: u32, report: Option<ReportBlock>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + REPORT_BLOCK_LEN);
    header(&mut out, usize::from(report.is_some()), PT_RR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(block) = &report {
        write_block(&mut out, block);
    }
    finish(&mut out);
    out
}

/// An SDES packet with the CNAME of one source (required in every compound packet). The name is
/// cut to 255 bytes.
pub fn build_sdes_cname(ssrc: u32, cname: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + cname.len());
    header(&mut out, 1, PT_SDES);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let name = &cname.as_bytes()[..cname.len().min(255)];
    out.extend_from_slice(&[SDES_CNAME, name.len() as u8]);
    out.extend_from_slice(name);
    out.push(0); // end of the item list; `finish` pads to the word boundary
    finish(&mut out);
    out
}

/// A BYE for one source.
pub fn build_bye(ssrc: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    header(&mut out, 1, PT_BYE);
    out.extend_from_slice(&ssrc.to_be_bytes());
    finish(&mut out);
    out
}

/// Bounds-checked big-endian reads over one packet body.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RtcpError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(RtcpError::Truncated)?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, RtcpError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, RtcpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, RtcpError> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// Parses a (compound) RTCP packet. SR, RR, SDES and BYE are returned; other types are skipped.
pub fn parse(bytes: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut packets = Vec::new();
    let mut rest = bytes;
    if rest.is_empty() {
        return Err(RtcpError::Truncated);
    }
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return Err(RtcpError::Truncated);
        }
        let (packet, next) = rest.split_at(len);
        rest = next;
        let mut body_len = len;
        if packet[0] & 0x20 != 0 {
            let padding = usize::from(packet[len - 1]);
            if padding == 0 || padding > len - 4 {
                return Err(RtcpError::Malformed("padding"));
            }
            body_len -= padding;
        }
        let count = usize::from(packet[0] & 0x1F);
        let body = Reader {
            bytes: &packet[..body_len],
            at: 4,
        };
        if let Some(parsed) = parse_one(packet[1], count, body)? {
            packets.push(parsed);
        }
    }
    Ok(packets)
}

fn parse_one(pt: u8, count: usize, mut r: Reader<'_>) -> Result<Option<RtcpPacket>, RtcpError> {
    let packet = match pt {
        PT_SR => RtcpPacket::SenderReport {
            ssrc: r.u32()?,
            ntp: r.u64()?,
            rtp_ts: r.u32()?,
            packets: r.u32()?,
            octets: r.u32()?,
            reports: parse_blocks(&mut r, count)?,
        },
        PT_RR => RtcpPacket::ReceiverReport {
            ssrc: r.u32()?,
            reports: parse_blocks(&mut r, count)?,
        },
        PT_SDES => RtcpPacket::SourceDescription(
            (0..count)
                .map(|_| parse_chunk(&mut r))
                .collect::<Result<_, _>>()?,
        ),
        PT_BYE => {
            let sources = (0..count).map(|_| r.u32()).collect::<Result<_, _>>()?;
            let reason = if r.remaining() > 0 {
                let len = usize::from(r.u8()?);
                Some(String::from_utf8_lossy(r.take(len)?).into_owned())
            } else {
                None
            };
            RtcpPacket::Bye { sources, reason }
        }
        _ => return Ok(None),
    };
    Ok(Some(packet))
}

fn parse_blocks(r: &mut Reader<'_>, count: usize) -> Result<Vec<ReportBlock>, RtcpError> {
    if r.remaining() < count * REPORT_BLOCK_LEN {
        return Err(RtcpError::Malformed("report count exceeds length"));
    }
    (0..count)
        .map(|_| {
            let ssrc = r.u32()?;
            let word = r.u32()?;
            // Sign-extend the 24-bit cumulative loss.
            let cumulative_lost = ((word << 8) as i32) >> 8;
            Ok(ReportBlock {
                ssrc,
                fraction_lost: (word >> 24) as u8,
                cumulative_lost,
                highest_seq: r.u32()?,
                jitter: r.u32()?,
                lsr: r.u32()?,
                dlsr: r.u32()?,
            })
        })
        .collect()
}

fn parse_chunk(r: &mut Reader<'_>) -> Result<SdesChunk, RtcpError> {
    let start = r.at;
    let ssrc = r.u32()?;
    let mut items = Vec::new();
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            break;
        }
        let len = usize::from(r.u8()?);
        items.push((kind, String::from_utf8_lossy(r.take(len)?).into_owned()));
    }
    // Chunks end on a 32-bit boundary (null padding after the end item).
    let used = r.at - start;
    r.take((4 - used % 4) % 4)?;
    Ok(SdesChunk { ssrc, items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0xAABB_CCDD,
            fraction_lost: 0x15,
            cumulative_lost: 1,
            highest_seq: 0x0001_0005,
            jitter: 16,
            lsr: 0x1234_5678,
            dlsr: 0x0001_0000,
        }
    }

    #[test]
    fn receiver_report_matches_hand_built_bytes() {
        let expected: Vec<u8> = [
            &[0x81, 201, 0, 7][..],
            &[0x11, 0x22, 0x33, 0x44],
            &[0xAA, 0xBB, 0xCC, 0xDD],
            &[0x15, 0, 0, 1],
            &[0, 1, 0, 5],
            &[0, 0, 0, 16],
            &[0x12, 0x34, 0x56, 0x78],
            &[0, 1, 0, 0],
        ]
        .concat();
        assert_eq!(build_rr(0x1122_3344, Some(block())), expected);
        assert_eq!(
            parse(&expected).unwrap(),
            vec![RtcpPacket::ReceiverReport {
                ssrc: 0x1122_3344,
                reports: vec![block()]
            }]
        );
        assert_eq!(build_rr(7, None), vec![0x80, 201, 0, 1, 0, 0, 0, 7]);
    }

    #[test]
    fn sender_report_matches_hand_built_bytes() {
        let ntp = 0xE6A1_2B3C_8000_0000u64;
        let expected: Vec<u8> = [
            &[0x80, 200, 0, 6][..],
            &[0, 0, 0, 9],
            &[0xE6, 0xA1, 0x2B, 0x3C, 0x80, 0, 0, 0],
            &[0, 0, 0x1F, 0x40],
            &[0, 0, 0, 50],
            &[0, 0, 0x1F, 0x40],
        ]
        .concat();
        assert_eq!(build_sr(9, ntp, 8000, 50, 8000, None), expected);
        let with_block = build_sr(9, ntp, 8000, 50, 8000, Some(block()));
        assert_eq!(with_block.len(), 52);
        assert_eq!(
            parse(&with_block).unwrap(),
            vec![RtcpPacket::SenderReport {
                ssrc: 9,
                ntp,
                rtp_ts: 8000,
                packets: 50,
                octets: 8000,
                reports: vec![block()]
            }]
        );
        assert_eq!(ntp_middle(ntp), 0x2B3C_8000);
    }

    #[test]
    fn compound_packet_with_sdes_bye_and_unknown_types() {
        let sdes = build_sdes_cname(0x0102_0304, "koe@host");
        assert_eq!(sdes.len(), 20);
        assert_eq!(&sdes[..10], &[0x81, 202, 0, 4, 1, 2, 3, 4, SDES_CNAME, 8]);
        let app = [0x80, 204, 0, 2, 0, 0, 0, 1, b'n', b'a', b'm', b'e']; // APP: skipped
        // BYE from two sources with a reason, hand-built: "gone" + 3 bytes of padding to the word.
        let bye = [
            &[0x82, 203, 0, 4][..],
            &[0, 0, 0, 1],
            &[0, 0, 0, 2],
            &[4, b'g', b'o', b'n', b'e', 0, 0, 0],
        ]
        .concat();
        let compound = [build_rr(1, Some(block())), sdes, app.to_vec(), bye, build_bye(5)].concat();
        let parsed = parse(&compound).unwrap();
        assert_eq!(parsed.len(), 4);
        assert_eq!(
            parsed[1],
            RtcpPacket::SourceDescription(vec![SdesChunk {
                ssrc: 0x0102_0304,
                items: vec![(SDES_CNAME, "koe@host".into())]
            }])
        );
        assert_eq!(
            parsed[2],
            RtcpPacket::Bye {
                sources: vec![1, 2],
                reason: Some("gone".into())
            }
        );
        assert_eq!(
            parsed[3],
            RtcpPacket::Bye {
                sources: vec![5],
                reason: None
            }
        );
    }

    #[test]
    fn padding_bit_and_negative_cumulative_loss() {
        let mut b = block();
        b.cumulative_lost = -3;
        let mut rr = build_rr(1, Some(b));
        assert_eq!(&rr[12..16], &[0x15, 0xFF, 0xFF, 0xFD]);
        // Add 4 bytes of padding, flagged in the header.
        rr[0] |= 0x20;
        rr.extend_from_slice(&[0, 0, 0, 4]);
        rr[3] += 1;
        assert_eq!(
            parse(&rr).unwrap(),
            vec![RtcpPacket::ReceiverReport {
                ssrc: 1,
                reports: vec![b]
            }]
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        let rr = build_rr(1, Some(block()));
        assert_eq!(parse(&[]), Err(RtcpError::Truncated));
        assert_eq!(parse(&rr[..31]), Err(RtcpError::Truncated));
        assert_eq!(parse(&[0x40, 201, 0, 0]), Err(RtcpError::BadVersion(1)));
        let mut lying_count = build_rr(1, None);
        lying_count[0] |= 3;
        assert!(matches!(parse(&lying_count), Err(RtcpError::Malformed(_))));
        let mut bad_padding = build_rr(1, None);
        bad_padding[0] |= 0x20;
        bad_padding[7] = 9;
        assert!(matches!(parse(&bad_padding), Err(RtcpError::Malformed(_))));
        let unterminated_sdes = [0x81, 202, 0, 2, 0, 0, 0, 1, 1, 200, b'x', b'y'];
        assert_eq!(parse(&unterminated_sdes), Err(RtcpError::Truncated));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let valid = [
            build_sr(9, 1, 2, 3, 4, Some(block())),
            build_sdes_cname(9, "someone@example.org"),
            build_bye(9),
        ]
        .concat();
        let mut rng = StdRng::seed_from_u64(3550);
        for cut in 0..=valid.len() {
            let _ = parse(&valid[..cut]);
        }
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            bytes.truncate(rng.random_range(0..=bytes.len()));
            let _ = parse(&bytes);
            let noise: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
            let _ = parse(&noise);
        }
    }

    /// Arrival times 20 ms apart (160 timestamp units), plus an offset per packet.
    fn feed(stats: &mut ReceiverStats, packets: &[(u16, i64)]) {
        for &(seq, extra_delay) in packets {
            let ts = u32::from(seq).wrapping_mul(160);
            let arrival = (i64::from(ts) + 1000 + extra_delay) as u32;
            stats.update(seq, ts, arrival);
        }
    }

    #[test]
    fn sequence_wrap_loss_and_fraction_per_interval() {
        let mut stats = ReceiverStats::new();
        let seqs: Vec<(u16, i64)> = (65_530u16..=65_535)
            .chain(0..=5)
            .filter(|&s| s != 2)
            .map(|s| (s, 0))
            .collect();
        feed(&mut stats, &seqs);
        assert_eq!(stats.extended_highest(), 65_536 + 5);
        assert_eq!(stats.expected(), 12);
        assert_eq!(stats.received(), 11);
        assert_eq!(stats.cumulative_lost(), 1);
        let first = stats.report_block(42, 0, 0);
        assert_eq!(first.fraction_lost, (256 / 12) as u8);
        assert_eq!(
            (first.cumulative_lost, first.highest_seq, first.jitter),
            (1, 65_541, 0)
        );
        // Next interval: 10 packets, 5 lost → 50 % = 128/256.
        feed(
            &mut stats,
            &(6u16..16).step_by(2).map(|s| (s, 0)).collect::<Vec<_>>(),
        );
        feed(&mut stats, &[(16, 0)]);
        let second = stats.report_block(42, 0, 0);
        assert_eq!(stats.expected() - 12, 11);
        assert_eq!(second.fraction_lost, (5 * 256 / 11) as u8);
        assert_eq!(second.cumulative_lost, 6);
        // Duplicates in an interval do not make the fraction negative.
        feed(&mut stats, &[(16, 0), (16, 0), (17, 0)]);
        let third = stats.report_block(42, 0, 0);
        assert_eq!((third.fraction_lost, third.cumulative_lost), (0, 4));
    }

    #[test]
    fn reordering_is_not_loss_and_old_packets_do_not_wrap() {
        let mut stats = ReceiverStats::new();
        feed(&mut stats, &[(10, 0), (12, 0), (11, 0), (13, 0), (5, 0)]);
        assert_eq!(stats.extended_highest(), 13);
        assert_eq!(
            stats.cumulative_lost(),
            -1,
            "the stray old packet counts as received"
        );
    }

    #[test]
    fn big_jump_is_a_restart_once_confirmed() {
        let mut stats = ReceiverStats::new();
        feed(&mut stats, &[(100, 0), (101, 0), (102, 0)]);
        assert!(!stats.update(40_000, 0, 0));
        assert_eq!(stats.extended_highest(), 102);
        assert!(stats.update(40_001, 160, 160));
        assert_eq!(stats.extended_highest(), 40_001);
        assert_eq!((stats.expected(), stats.received()), (1, 1));
    }

    #[test]
    fn jitter_follows_rfc3550_a8() {
        let mut stats = ReceiverStats::new();
        feed(&mut stats, &(0u16..50).map(|s| (s, 0)).collect::<Vec<_>>());
        assert_eq!(stats.jitter(), 0, "constant transit has no jitter");
        // Alternating 0 / 80 units of extra delay: |D| = 80 every packet, so J converges to 80.
        let mut stats = ReceiverStats::new();
        feed(
            &mut stats,
            &(0u16..400)
                .map(|s| (s, i64::from(s % 2) * 80))
                .collect::<Vec<_>>(),
        );
        assert!((78..=80).contains(&stats.jitter()), "jitter {}", stats.jitter());
        // First steps by hand: J1 = 80/16 = 5, J2 = 5 + (80 - 5)/16 = 9.6875.
        let mut stats = ReceiverStats::new();
        feed(&mut stats, &[(0, 0), (1, 80)]);
        assert_eq!(stats.jitter_x16, 80);
        feed(&mut stats, &[(2, 0)]);
        assert_eq!(stats.jitter_x16, 80 + 80 - 5);
        assert_eq!(stats.jitter(), 9);
    }
}
