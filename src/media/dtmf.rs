//! DTMF carried out of band: RFC 4733 telephone-events in RTP, and SIP INFO bodies
//! (`application/dtmf-relay` and `application/dtmf`).
//!
//! An RFC 4733 event is sent as several packets that share one RTP timestamp (begin, updates for a long
//! press, and three redundant end packets), any of which may be lost; so the decoder keys events by
//! timestamp and reports each one on the first packet it sees.

/// The 16 keys of RFC 4733 §3.2, indexed by event code.
const KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// How many recent events are remembered, so that a reordered end packet of an earlier event is not
/// mistaken for a new key.
const REMEMBERED_EVENTS: usize = 8;

/// The key for an RFC 4733 event code, if it is one of the 16 DTMF events.
pub fn key_for_event(event: u8) -> Option<char> {
    KEYS.get(usize::from(event)).copied()
}

/// The RFC 4733 event code for a key (`0-9`, `*`, `#`, `A-D`; letters in either case).
pub fn event_for_key(key: char) -> Option<u8> {
    let key = key.to_ascii_uppercase();
    KEYS.iter()
        .position(|&k| k == key)
        .and_then(|i| u8::try_from(i).ok())
}

/// Turns a stream of telephone-event payloads into key presses, each reported exactly once.
#[derive(Debug, Default)]
pub struct Rfc4733Decoder {
    /// (RTP timestamp, event code) of the most recent events, newest last.
    recent: Vec<(u32, u8)>,
}

impl Rfc4733Decoder {
    /// A decoder that has seen no events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event payload; returns the key when this packet is the first seen of a new
    /// event. Packets of an event already reported (updates, end packets, retransmissions) return
    /// `None`, as do short payloads and non-DTMF events. A marker packet that reuses a known timestamp
    /// with a different event starts a new event (some senders do not advance the timestamp).
    pub fn push(&mut self, rtp_ts: u32, marker: bool, payload: &[u8]) -> Option<char> {
        let [event, ..] = *payload else { return None };
        if payload.len() < 4 {
            return None;
        }
        let key = key_for_event(event)?;
        match self.recent.iter().find(|(ts, _)| *ts == rtp_ts) {
            Some(&(_, seen)) if seen == event || !marker => None,
            _ => {
                self.recent.retain(|(ts, _)| *ts != rtp_ts);
                if self.recent.len() == REMEMBERED_EVENTS {
                    self.recent.remove(0);
                }
                self.recent.push((rtp_ts, event));
                Some(key)
            }
        }
    }
}

/// Builds one telephone-event payload: `volume` is the level in -dBm0 (6 bits, 0..=63) and `duration`
/// is in RTP timestamp units since the event began. `None` for a key that is not a DTMF key.
pub fn encode_event(key: char, end: bool, volume: u8, duration: u16) -> Option<[u8; 4]> {
    let event = event_for_key(key)?;
    let flags = if end { 0x80 } else { 0 } | (volume & 0x3F);
    let [hi, lo] = duration.to_be_bytes();
    Some([event, flags, hi, lo])
}

/// Reads the key from a SIP INFO body, given its Content-Type (parameters and case ignored).
/// `application/dtmf-relay` carries `Signal=<key>` (digits, `*`, `#`, `A-D`, or 10..15); `application/dtmf`
/// carries the key alone.
pub fn parse_info(content_type: &str, body: &str) -> Option<char> {
    let media_type = content_type.split(';').next()?.trim().to_ascii_lowercase();
    match media_type.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("signal") {
                parse_signal(value)
            } else {
                None
            }
        }),
        "application/dtmf" => parse_signal(body),
        _ => None,
    }
}

/// A key written as itself or as its event code.
fn parse_signal(value: &str) -> Option<char> {
    let value = value.trim();
    if let Ok(code) = value.parse::<u8>() {
        return key_for_event(code);
    }
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(key), None) => event_for_key(key).and_then(key_for_event),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RTP packets (timestamp, marker, payload type, payload) found in a classic pcap capture of
    /// Ethernet/IPv4/UDP, as SIPp ships them. Written here because the format is small and fixed.
    fn rtp_packets_in_pcap(bytes: &[u8]) -> Vec<(u32, bool, u8, Vec<u8>)> {
        let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let little_endian = match magic {
            0xa1b2_c3d4 | 0xa1b2_3c4d => true,
            0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
            other => panic!("not a pcap file: magic {other:#x}"),
        };
        let read_u32 = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().unwrap();
            if little_endian {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        assert_eq!(read_u32(&bytes[20..24]), 1, "expected Ethernet link type");
        let mut packets = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let captured = read_u32(&bytes[at + 8..at + 12]) as usize;
            let frame = &bytes[at + 16..at + 16 + captured];
            at += 16 + captured;
            if frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
                continue; // not IPv4 or not UDP
            }
            let ip_header = usize::from(frame[14] & 0x0F) * 4;
            let udp = &frame[14 + ip_header..];
            let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            let rtp = &udp[8..udp_len];
            assert_eq!(rtp[0] >> 6, 2, "RTP version");
            let header = 12 + usize::from(rtp[0] & 0x0F) * 4;
            let ts = u32::from_be_bytes(rtp[4..8].try_into().unwrap());
            packets.push((ts, rtp[1] & 0x80 != 0, rtp[1] & 0x7F, rtp[header..].to_vec()));
        }
        packets
    }

    #[test]
    fn sipp_rfc2833_captures_yield_their_key_once() {
        let files = [
            ("0", '0'),
            ("1", '1'),
            ("2", '2'),
            ("3", '3'),
            ("4", '4'),
            ("5", '5'),
            ("6", '6'),
            ("7", '7'),
            ("8", '8'),
            ("9", '9'),
            ("star", '*'),
            ("pound", '#'),
        ];
        for (name, expected) in files {
            let path = format!("/usr/share/sip-tester/dtmf_2833_{name}.pcap");
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{path}: {e} (apt-get install -y sip-tester)"));
            let packets = rtp_packets_in_pcap(&bytes);
            assert!(packets.len() >= 4, "{path}: only {} packets", packets.len());
            let mut decoder = Rfc4733Decoder::new();
            let keys: Vec<char> = packets
                .iter()
                .filter(|(_, _, pt, _)| *pt == 101)
                .filter_map(|(ts, marker, _, payload)| decoder.push(*ts, *marker, payload))
                .collect();
            assert_eq!(keys, vec![expected], "{path}");
        }
    }

    /// The packets a sender emits for one press: begin (marker), updates, three end packets.
    fn press(key: char, ts: u32, updates: u16) -> Vec<(u32, bool, [u8; 4])> {
        let mut packets = vec![(ts, true, encode_event(key, false, 10, 160).unwrap())];
        for i in 2..=updates {
            packets.push((ts, false, encode_event(key, false, 10, 160 * i).unwrap()));
        }
        for _ in 0..3 {
            packets.push((
                ts,
                false,
                encode_event(key, true, 10, 160 * (updates + 1)).unwrap(),
            ));
        }
        packets
    }

    fn decode(packets: &[(u32, bool, [u8; 4])]) -> String {
        let mut decoder = Rfc4733Decoder::new();
        packets
            .iter()
            .filter_map(|(ts, marker, payload)| decoder.push(*ts, *marker, payload))
            .collect()
    }

    #[test]
    fn long_press_and_redundant_end_packets_report_once() {
        assert_eq!(decode(&press('7', 1000, 40)), "7");
    }

    #[test]
    fn same_key_twice_is_two_presses() {
        let mut packets = press('5', 1000, 3);
        packets.extend(press('5', 3000, 3));
        packets.extend(press('#', 5000, 3));
        assert_eq!(decode(&packets), "55#");
    }

    #[test]
    fn lost_begin_packet_still_reports_the_key() {
        let packets = press('9', 1000, 4);
        assert_eq!(decode(&packets[2..]), "9");
        // Only the end packets survived.
        assert_eq!(decode(&packets[packets.len() - 1..]), "9");
    }

    #[test]
    fn reordered_end_packet_of_previous_event_is_not_a_new_key() {
        let first = press('1', 1000, 2);
        let second = press('2', 2000, 2);
        let mut packets = first[..2].to_vec();
        packets.push(second[0]);
        packets.push(first[3]); // a late end packet of '1'
        packets.extend_from_slice(&second[1..]);
        assert_eq!(decode(&packets), "12");
    }

    #[test]
    fn timestamp_wraps_and_reused_timestamps_with_marker() {
        let mut packets = press('3', u32::MAX, 2);
        packets.extend(press('4', 200, 2));
        // A sender that keeps the timestamp but marks a new event.
        packets.extend(press('6', 200, 2));
        assert_eq!(decode(&packets), "346");
    }

    #[test]
    fn non_dtmf_events_and_short_payloads_are_ignored() {
        let mut decoder = Rfc4733Decoder::new();
        assert_eq!(decoder.push(1, true, &[16, 0x0A, 0, 160]), None); // flash
        assert_eq!(decoder.push(2, true, &[36, 0x0A, 0, 160]), None); // fax tone
        assert_eq!(decoder.push(3, true, &[1, 0x0A]), None);
        assert_eq!(decoder.push(4, true, &[]), None);
        assert_eq!(decoder.push(5, true, &[15, 0x0A, 0, 160]), Some('D'));
    }

    #[test]
    fn encode_event_layout() {
        assert_eq!(encode_event('#', true, 10, 800), Some([11, 0x8A, 0x03, 0x20]));
        assert_eq!(encode_event('a', false, 0xFF, 1), Some([12, 0x3F, 0, 1]));
        assert_eq!(encode_event('x', false, 10, 1), None);
    }

    #[test]
    fn sip_info_bodies() {
        let relay = "application/dtmf-relay";
        assert_eq!(parse_info(relay, "Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(
            parse_info("Application/DTMF-Relay; charset=x", "signal = *\nduration=100"),
            Some('*')
        );
        assert_eq!(parse_info(relay, "Signal=10\r\nDuration=160"), Some('*'));
        assert_eq!(parse_info(relay, "Signal=11\r\nDuration=160"), Some('#'));
        assert_eq!(parse_info(relay, "Duration=160\r\nSIGNAL= b"), Some('B'));
        assert_eq!(parse_info(relay, "Signal=16"), None);
        assert_eq!(parse_info(relay, "Signal=55"), None);
        assert_eq!(parse_info(relay, "Duration=160"), None);
        assert_eq!(parse_info("application/dtmf", " 5\r\n"), Some('5'));
        assert_eq!(parse_info("application/dtmf", "#"), Some('#'));
        assert_eq!(parse_info("text/plain", "Signal=5"), None);
    }
}
