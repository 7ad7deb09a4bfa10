//! SDP (RFC 4566) parsing and the offer/answer model (RFC 3264) for one audio stream: G.711 μ-law and
//! A-law with RFC 4733 telephone-events, in the offerer's order of preference.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The answerer's direction for an offered one (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Whether koe, holding this direction, sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDesc {
    pub media: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    /// payload type → encoding name/clock rate, e.g. (101, "telephone-event/8000").
    pub rtpmap: Vec<(u8, String)>,
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub ptime: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDesc {
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<MediaDesc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("bad SDP: {0}")]
    Malformed(String),
    #[error("no common audio codec (koe supports PCMU, PCMA)")]
    NoCommonCodec,
}

/// Codecs koe speaks, by static payload type and name.
const CODECS: [(u8, &str); 2] = [(0, "PCMU"), (8, "PCMA")];

/// What was agreed for the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec_pt: u8,
    pub codec_name: &'static str,
    /// The payload type the peer uses for telephone-event/8000, if offered.
    pub dtmf_pt: Option<u8>,
    /// Where the peer wants to receive RTP (`None`: on hold with 0.0.0.0 or port 0).
    pub remote: Option<SocketAddr>,
    /// koe's direction.
    pub direction: Direction,
    /// Packetisation koe sends with, in ms.
    pub ptime: u32,
    /// Index of the accepted m-line; the others are answered with port 0.
    pub index: usize,
}

impl SessionDesc {
    pub fn parse(text: &str) -> Result<SessionDesc, SdpError> {
        let bad = |m: String| SdpError::Malformed(m);
        let mut sd = SessionDesc {
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        let mut saw_version = false;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (kind, value) = line
                .split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or_else(|| bad(format!("line {} is not type=value: {line:?}", n + 1)))?;
            match kind {
                "v" => {
                    if value != "0" {
                        return Err(bad(format!("unsupported version v={value}")));
                    }
                    saw_version = true;
                }
                "c" => {
                    let addr = parse_connection(value)?;
                    match sd.media.last_mut() {
                        Some(m) => m.connection = Some(addr),
                        None => sd.connection = Some(addr),
                    }
                }
                "m" => {
                    let mut parts = value.split_whitespace();
                    let media = parts
                        .next()
                        .ok_or_else(|| bad("empty m= line".into()))?
                        .to_string();
                    let port = parts.next().ok_or_else(|| bad("m= line without port".into()))?;
                    let port: u16 = port
                        .split('/')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| bad(format!("invalid port in m={value}")))?;
                    let proto = parts
                        .next()
                        .ok_or_else(|| bad("m= line without protocol".into()))?
                        .to_string();
                    let formats: Vec<String> = parts.map(str::to_string).collect();
                    if formats.is_empty() {
                        return Err(bad(format!("m={value} lists no formats")));
                    }
                    sd.media.push(MediaDesc {
                        media,
                        port,
                        proto,
                        formats,
                        rtpmap: Vec::new(),
                        connection: None,
                        direction: None,
                        ptime: None,
                    });
                }
                "a" => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    let dir = match name {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    match (sd.media.last_mut(), dir) {
                        (Some(m), Some(d)) => m.direction = Some(d),
                        (None, Some(d)) => sd.direction = Some(d),
                        (Some(m), None) if name == "rtpmap" => {
                            let (pt, enc) = arg
                                .split_once(' ')
                                .ok_or_else(|| bad(format!("invalid rtpmap {arg:?}")))?;
                            let pt = pt.parse().map_err(|_| bad(format!("invalid rtpmap {arg:?}")))?;
                            m.rtpmap.push((pt, enc.trim().to_string()));
                        }
                        (Some(m), None) if name == "ptime" => m.ptime = arg.trim().parse().ok(),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(bad("missing v= line".into()));
        }
        if sd.media.is_empty() {
            return Err(bad("no m= line".into()));
        }
        Ok(sd)
    }

    /// Chooses the first audio stream with a codec koe supports, in the offerer's order.
    pub fn negotiate(&self) -> Result<Negotiated, SdpError> {
        for (index, m) in self.media.iter().enumerate() {
            if m.media != "audio" || m.port == 0 || !m.proto.starts_with("RTP/AVP") {
                continue;
            }
            let name_of = |pt: u8| -> Option<String> {
                m.rtpmap
                    .iter()
                    .find(|(p, _)| *p == pt)
                    .map(|(_, e)| e.to_ascii_uppercase())
                    .or_else(|| {
                        CODECS
                            .iter()
                            .find(|(p, _)| *p == pt)
                            .map(|(_, n)| format!("{n}/8000"))
                    })
            };
            let pts: Vec<u8> = m.formats.iter().filter_map(|f| f.parse().ok()).collect();
            let codec = pts.iter().find_map(|&pt| {
                let name = name_of(pt)?;
                CODECS
                    .iter()
                    .find(|(_, n)| name == format!("{n}/8000"))
                    .map(|(_, n)| (pt, *n))
            });
            let Some((codec_pt, codec_name)) = codec else {
                continue;
            };
            let dtmf_pt = pts
                .iter()
                .copied()
                .find(|&pt| name_of(pt).is_some_and(|n| n == "TELEPHONE-EVENT/8000"));
            let addr = m
                .connection
                .or(self.connection)
                .ok_or_else(|| SdpError::Malformed("no c= line for the audio stream".into()))?;
            let offered = m.direction.or(self.direction).unwrap_or(Direction::SendRecv);
            // RFC 2543 hold: c=0.0.0.0 means "don't send to me".
            let remote = (!addr.is_unspecified()).then(|| SocketAddr::new(addr, m.port));
            let direction = match (offered.answer(), remote) {
                (d, None) if d.sends() => {
                    if d.receives() {
                        Direction::RecvOnly
                    } else {
                        Direction::Inactive
                    }
                }
                (d, _) => d,
            };
            // koe's clock ticks in 20 ms; ptimes that are not multiples of it are answered with 20.
            let ptime = m.ptime.filter(|p| matches!(p, 20 | 40 | 60)).unwrap_or(20);
            return Ok(Negotiated {
                codec_pt,
                codec_name,
                dtmf_pt,
                remote,
                direction,
                ptime,
                index,
            });
        }
        Err(SdpError::NoCommonCodec)
    }
}

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    let mut parts = value.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("IN"), Some("IP4" | "IP6"), Some(addr)) => {
            let addr = addr.split('/').next().unwrap_or(addr);
            addr.parse()
                .map_err(|_| SdpError::Malformed(format!("invalid address in c={value}")))
        }
        _ => Err(SdpError::Malformed(format!("invalid c={value}"))),
    }
}

/// The session lines koe's descriptions start with (o=, s=, c=, t=) for RTP at `local`.
fn session_lines(local: SocketAddr, session_id: u64, version: u64) -> String {
    let ip = local.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=koe {session_id} {version} IN {family} {ip}\r\ns=koe\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
    )
}

fn rtpmap(s: &mut String, pt: u8, name: &str) {
    let _ = write!(s, "a=rtpmap:{pt} {name}/8000\r\n");
}

fn telephone_event(s: &mut String, pt: u8) {
    let _ = write!(s, "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-15\r\n");
}

fn ptime_and_direction(s: &mut String, ptime: u32, direction: Direction) {
    let _ = write!(s, "a=ptime:{ptime}\r\na={}\r\n", direction.attr());
}

/// The payload type koe offers RFC 4733 telephone-events with.
pub const OFFER_DTMF_PT: u8 = 101;

/// koe's offer when it places a call: PCMU, PCMA (in that order of preference) and telephone-event,
/// 20 ms, sendrecv.
pub fn offer(local: SocketAddr, session_id: u64, version: u64) -> String {
    let mut s = session_lines(local, session_id, version);
    let pts: Vec<String> = CODECS.iter().map(|(pt, _)| pt.to_string()).collect();
    let _ = write!(
        s,
        "m=audio {} RTP/AVP {} {OFFER_DTMF_PT}\r\n",
        local.port(),
        pts.join(" ")
    );
    for (pt, name) in CODECS {
        rtpmap(&mut s, pt, name);
    }
    telephone_event(&mut s, OFFER_DTMF_PT);
    ptime_and_direction(&mut s, 20, Direction::SendRecv);
    s
}

/// Builds koe's answer: the accepted stream with one codec (+ telephone-event), other streams refused.
pub fn answer(
    offer: &SessionDesc,
    neg: &Negotiated,
    local: SocketAddr,
    session_id: u64,
    version: u64,
) -> String {
    let mut s = session_lines(local, session_id, version);
    for (i, m) in offer.media.iter().enumerate() {
        if i != neg.index {
            let _ = write!(s, "m={} 0 {} {}\r\n", m.media, m.proto, m.formats.join(" "));
            continue;
        }
        let _ = write!(s, "m=audio {} RTP/AVP {}", local.port(), neg.codec_pt);
        if let Some(pt) = neg.dtmf_pt {
            let _ = write!(s, " {pt}");
        }
        s.push_str("\r\n");
        rtpmap(&mut s, neg.codec_pt, neg.codec_name);
        if let Some(pt) = neg.dtmf_pt {
            telephone_event(&mut s, pt);
        }
        ptime_and_direction(&mut s, neg.ptime, neg.direction);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(m: &str, extra: &str) -> SessionDesc {
        let text = format!(
            "v=0\r\no=user 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n{m}\r\n{extra}"
        );
        SessionDesc::parse(&text).unwrap()
    }

    #[test]
    fn follows_the_offerers_preference() {
        let o = offer(
            "m=audio 4000 RTP/AVP 8 0 101",
            "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        );
        let n = o.negotiate().unwrap();
        assert_eq!((n.codec_pt, n.codec_name, n.dtmf_pt), (8, "PCMA", Some(101)));
        assert_eq!(n.remote, Some("192.0.2.10:4000".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);
    }

    #[test]
    fn static_types_without_rtpmap_and_dynamic_names() {
        let n = offer("m=audio 4000 RTP/AVP 0", "").negotiate().unwrap();
        assert_eq!(n.codec_name, "PCMU");
        assert_eq!(n.dtmf_pt, None);
        // A dynamic payload type mapped to PCMU is PCMU too.
        let n = offer(
            "m=audio 4000 RTP/AVP 96 97",
            "a=rtpmap:96 pcmu/8000\r\na=rtpmap:97 telephone-event/8000\r\n",
        )
        .negotiate()
        .unwrap();
        assert_eq!((n.codec_pt, n.codec_name, n.dtmf_pt), (96, "PCMU", Some(97)));
    }

    #[test]
    fn nothing_common_is_488() {
        let o = offer(
            "m=audio 4000 RTP/AVP 9 18",
            "a=rtpmap:9 G722/8000\r\na=rtpmap:18 G729/8000\r\n",
        );
        assert_eq!(o.negotiate(), Err(SdpError::NoCommonCodec));
        // Opus at 48 kHz named with a dynamic type is not PCMU even if numbered 0-like.
        let o = offer("m=audio 4000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2\r\n");
        assert_eq!(o.negotiate(), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn directions_and_hold() {
        let n = offer("m=audio 4000 RTP/AVP 0", "a=sendonly\r\n")
            .negotiate()
            .unwrap();
        assert_eq!(n.direction, Direction::RecvOnly);
        let n = offer("m=audio 4000 RTP/AVP 0", "a=recvonly\r\n")
            .negotiate()
            .unwrap();
        assert_eq!(n.direction, Direction::SendOnly);
        let n = offer("m=audio 4000 RTP/AVP 0", "a=inactive\r\n")
            .negotiate()
            .unwrap();
        assert_eq!(n.direction, Direction::Inactive);
        let text =
            "v=0\r\no=u 1 2 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let n = SessionDesc::parse(text).unwrap().negotiate().unwrap();
        assert_eq!((n.remote, n.direction), (None, Direction::RecvOnly));
    }

    #[test]
    fn answer_refuses_other_streams_and_uses_local_address() {
        let text = "v=0\r\no=u 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 4000 RTP/AVP 0 101\r\na=ptime:40\r\n\
a=rtpmap:101 telephone-event/8000\r\n";
        let o = SessionDesc::parse(text).unwrap();
        let n = o.negotiate().unwrap();
        assert_eq!((n.index, n.ptime), (1, 40));
        let a = answer(&o, &n, "203.0.113.5:20000".parse().unwrap(), 7, 8);
        assert!(a.contains("c=IN IP4 203.0.113.5\r\n"), "{a}");
        assert!(a.contains("m=video 0 RTP/AVP 96\r\n"), "{a}");
        assert!(a.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{a}");
        assert!(a.contains("a=ptime:40\r\na=sendrecv"), "{a}");
        // The answer is itself valid SDP with the same choice.
        let back = SessionDesc::parse(&a).unwrap().negotiate().unwrap();
        assert_eq!((back.codec_pt, back.dtmf_pt), (0, Some(101)));
    }

    #[test]
    fn koes_offer_lists_both_codecs_and_dtmf() {
        let o = super::offer("192.0.2.7:20002".parse().unwrap(), 9, 1);
        assert!(o.starts_with("v=0\r\no=koe 9 1 IN IP4 192.0.2.7\r\n"), "{o}");
        assert!(o.contains("m=audio 20002 RTP/AVP 0 8 101\r\n"), "{o}");
        assert!(
            o.contains("a=rtpmap:8 PCMA/8000\r\n") && o.contains("a=fmtp:101 0-15\r\n"),
            "{o}"
        );
        // An answerer reading it picks PCMU first and finds the telephone-events.
        let n = SessionDesc::parse(&o).unwrap().negotiate().unwrap();
        assert_eq!((n.codec_name, n.dtmf_pt, n.ptime), ("PCMU", Some(101), 20));
        assert_eq!(n.remote, Some("192.0.2.7:20002".parse().unwrap()));
    }

    #[test]
    fn malformed_sdp_is_an_error() {
        for text in [
            "",
            "hello",
            "v=0\r\nm=audio x RTP/AVP 0\r\n",
            "v=1\r\n",
            "v=0\r\nc=IN IP4 nope\r\n",
        ] {
            assert!(SessionDesc::parse(text).is_err(), "{text:?}");
        }
        let o = SessionDesc::parse("v=0\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap();
        assert!(matches!(o.negotiate(), Err(SdpError::Malformed(_))));
    }
}
