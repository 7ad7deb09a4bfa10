//! SIP messages (RFC 3261 §7): parsing from bytes and printing back, with typed access to the few
//! headers koe acts on. Parsing is strict where the protocol needs it (start line, Content-Length) and
//! keeps enough of a broken request (Via, From, To, Call-ID, CSeq) to answer it with a 400.

use std::fmt::{self, Write};

/// Largest message koe accepts (UDP datagrams are smaller; this bounds TCP bodies).
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// Headers in order, names in their canonical long form.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    pub reason: String,
    /// What could be read of the headers, so that a request can still be answered with 400.
    pub partial: Option<Box<Message>>,
}

impl ParseError {
    fn new(reason: impl Into<String>, partial: Option<Message>) -> Self {
        ParseError {
            reason: reason.into(),
            partial: partial.map(Box::new),
        }
    }
}

/// RFC 3261 §7.3.3 compact forms.
fn canonical_name(name: &str) -> String {
    let long = match name.to_ascii_lowercase().as_str() {
        "i" | "call-id" => "Call-ID",
        "m" | "contact" => "Contact",
        "e" | "content-encoding" => "Content-Encoding",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "f" | "from" => "From",
        "s" | "subject" => "Subject",
        "k" | "supported" => "Supported",
        "t" | "to" => "To",
        "v" | "via" => "Via",
        "cseq" => "CSeq",
        "max-forwards" => "Max-Forwards",
        "record-route" => "Record-Route",
        "route" => "Route",
        "www-authenticate" => "WWW-Authenticate",
        _ => return name.to_string(),
    };
    long.to_string()
}

/// An RFC 3261 token (method and header names).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Where the head ends and the body begins, tolerating bare LF line ends.
fn split_head(buf: &[u8]) -> Option<(usize, usize)> {
    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((i, i + 4));
    }
    buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2))
}

impl Message {
    /// Parses one complete message (a UDP datagram, or a frame cut by [`frame_len`] from a stream).
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        // Keep-alives (RFC 5626 CRLF) are not messages; the transport filters them first.
        let (head_end, body_start) =
            split_head(buf).ok_or_else(|| ParseError::new("no blank line after the headers", None))?;
        let head = std::str::from_utf8(&buf[..head_end])
            .map_err(|_| ParseError::new("headers are not UTF-8", None))?;
        let mut lines = unfold(head).into_iter();
        let first = lines.next().unwrap_or_default();
        let start = parse_start_line(first.trim_end());
        let mut msg = Message {
            start: start.clone().unwrap_or(StartLine::Request {
                method: String::new(),
                uri: String::new(),
            }),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let mut bad_header = None;
        for line in lines {
            match line.split_once(':') {
                Some((name, value)) if is_token(name.trim()) => {
                    msg.headers
                        .push((canonical_name(name.trim()), value.trim().to_string()));
                }
                _ => {
                    bad_header
                        .get_or_insert_with(|| format!("malformed header line {:?}", truncate(&line, 60)));
                }
            }
        }
        let start = start.map_err(|e| ParseError::new(e, None))?;
        msg.start = start;
        if let Some(reason) = bad_header {
            return Err(ParseError::new(reason, Some(msg)));
        }
        let available = buf.len() - body_start;
        let body_len = match msg.header("Content-Length") {
            None => available,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > MAX_MESSAGE => {
                    return Err(ParseError::new(
                        format!("Content-Length {n} is too large"),
                        Some(msg),
                    ));
                }
                Ok(n) if n > available => {
                    return Err(ParseError::new(
                        format!("Content-Length {n} exceeds the {available} bytes received"),
                        Some(msg),
                    ));
                }
                Ok(n) => n,
                Err(_) => {
                    return Err(ParseError::new(
                        format!("invalid Content-Length {v:?}"),
                        Some(msg),
                    ));
                }
            },
        };
        msg.body = buf[body_start..body_start + body_len].to_vec();
        for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if msg.header(required).is_none() {
                return Err(ParseError::new(format!("missing {required} header"), Some(msg)));
            }
        }
        if msg.cseq().is_none() {
            let v = msg.header("CSeq").unwrap_or_default().to_string();
            return Err(ParseError::new(format!("invalid CSeq {v:?}"), Some(msg)));
        }
        if let (StartLine::Request { method, .. }, Some((_, cseq_method))) = (&msg.start, msg.cseq())
            && *method != cseq_method
        {
            return Err(ParseError::new(
                "CSeq method does not match the request method",
                Some(msg),
            ));
        }
        Ok(msg)
    }

    pub fn request(method: &str, uri: &str) -> Message {
        Message {
            start: StartLine::Request {
                method: method.to_string(),
                uri: uri.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response to `req` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied.
    pub fn response_to(req: &Message, code: u16, reason: &str) -> Message {
        let mut resp = Message {
            start: StartLine::Response {
                code,
                reason: reason.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (name, value) in &req.headers {
            if matches!(
                name.as_str(),
                "Via" | "From" | "To" | "Call-ID" | "CSeq" | "Record-Route"
            ) {
                resp.headers.push((name.clone(), value.clone()));
            }
        }
        resp
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The first value of a header (case-insensitive name, compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, with comma-separated lists split (for Via, Route, Record-Route).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = canonical_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .flat_map(|(_, v)| split_list(v))
            .collect()
    }

    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }

    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value,
            None => self.headers.push((name.to_string(), value)),
        }
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or_default()
    }

    pub fn cseq(&self) -> Option<(u32, String)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse().ok()?;
        let method = it.next()?.to_string();
        it.next().is_none().then_some((n, method))
    }

    /// The branch parameter of the top Via: the transaction key (RFC 3261 §17.2.3).
    pub fn via_branch(&self) -> Option<&str> {
        param(self.header_values("Via").first()?, "branch")
    }

    pub fn from_tag(&self) -> Option<&str> {
        param(self.header("From")?, "tag")
    }

    pub fn to_tag(&self) -> Option<&str> {
        param(self.header("To")?, "tag")
    }

    /// The URI inside a name-addr or addr-spec header value (From, To, Contact).
    pub fn header_uri(&self, name: &str) -> Option<&str> {
        header_uri(self.header(name)?)
    }

    pub fn content_type(&self) -> Option<String> {
        self.header("Content-Type")
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
    }

    /// Serializes, setting Content-Length from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(512);
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(s, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(s, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for (n, v) in &self.headers {
            if !n.eq_ignore_ascii_case("Content-Length") {
                let _ = write!(s, "{n}: {v}\r\n");
            }
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Joins folded header lines (RFC 3261 §7.3.1: a line starting with white space continues the previous).
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if (line.starts_with(' ') || line.starts_with('\t')) && lines.len() > 1 {
            let last = lines.last_mut().expect("checked non-empty");
            last.push(' ');
            last.push_str(line.trim());
        } else {
            lines.push(line.to_string());
        }
    }
    lines
}

fn parse_start_line(line: &str) -> Result<StartLine, String> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code
            .parse()
            .map_err(|_| format!("invalid status code in {line:?}"))?;
        if !(100..700).contains(&code) {
            return Err(format!("status code {code} out of range"));
        }
        return Ok(StartLine::Response {
            code,
            reason: reason.to_string(),
        });
    }
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(uri), Some("SIP/2.0"), None) if is_token(method) && uri.contains(':') => {
            Ok(StartLine::Request {
                method: method.to_string(),
                uri: uri.to_string(),
            })
        }
        (_, _, Some(v), None) if v.starts_with("SIP/") => Err(format!("unsupported SIP version {v:?}")),
        _ => Err(format!("invalid start line {:?}", truncate(line, 80))),
    }
}

/// Splits a header value at commas that are outside quotes and angle brackets.
pub fn split_list(v: &str) -> Vec<&str> {
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// A `;name=value` parameter of a header value, outside the `<...>` URI.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub fn header_uri(value: &str) -> Option<&str> {
    if let (Some(a), Some(b)) = (value.find('<'), value.find('>')) {
        return (a < b).then(|| &value[a + 1..b]);
    }
    let v = value.split(';').next()?.trim();
    (!v.is_empty()).then_some(v)
}

/// For stream transports: the length of the first complete message in `buf`, `Ok(None)` if more bytes
/// are needed, or an error for a head without a usable Content-Length or a message too large.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some((head_end, body_start)) = split_head(buf) else {
        return if buf.len() > MAX_MESSAGE {
            Err("headers too large".into())
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let len = unfold(&head)
        .iter()
        .skip(1)
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            (canonical_name(n.trim()) == "Content-Length").then(|| v.trim().to_string())
        })
        .ok_or("Content-Length is required on stream transports")?;
    let len: usize = len
        .parse()
        .map_err(|_| format!("invalid Content-Length {len:?}"))?;
    if len > MAX_MESSAGE {
        return Err(format!("Content-Length {len} is too large"));
    }
    Ok((buf.len() >= body_start + len).then_some(body_start + len))
}

/// Host and port of a SIP URI (`sip:user@host:port;params`), port defaulting to 5060.
pub fn uri_host_port(uri: &str) -> Option<(String, u16)> {
    let rest = uri.strip_prefix("sip:").or_else(|| uri.strip_prefix("sips:"))?;
    let rest = rest.split(['?', ';']).next()?;
    let hostport = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map(str::parse)
            .transpose()
            .ok()?
            .unwrap_or(5060);
        return Some((host.to_string(), port));
    }
    match hostport.split_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((hostport.to_string(), 5060)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=1\r\n\
To: sut <sip:service@127.0.0.1:5060>\r\n\
Call-ID: 1-123@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn parses_a_request() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.call_id(), "1-123@127.0.0.1");
        assert_eq!(m.cseq(), Some((1, "INVITE".into())));
        assert_eq!(m.via_branch(), Some("z9hG4bK-1-0"));
        assert_eq!(m.from_tag(), Some("1"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.header_uri("Contact"), Some("sip:sipp@127.0.0.1:5061"));
        assert_eq!(m.body, b"v=0\n");
    }

    #[test]
    fn compact_forms_and_folding() {
        let raw = "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx\r\nf: <sip:x@y>;tag=9\r\n\
t: <sip:a@b>\r\ni: abc\r\nCSeq: 2\r\n  OPTIONS\r\nl: 0\r\n\r\n";
        let m = Message::parse(raw.as_bytes()).unwrap();
        assert_eq!(m.call_id(), "abc");
        assert_eq!(m.cseq(), Some((2, "OPTIONS".into())));
        assert_eq!(m.from_tag(), Some("9"));
    }

    #[test]
    fn round_trips() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(Message::parse(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn broken_requests_keep_enough_to_answer() {
        let raw = INVITE.replace("Content-Length: 4", "Content-Length: 99999999");
        let e = Message::parse(raw.as_bytes()).unwrap_err();
        assert!(e.reason.contains("too large"), "{e}");
        let partial = e.partial.unwrap();
        assert_eq!(partial.call_id(), "1-123@127.0.0.1");

        let raw = INVITE.replace("Content-Length: 4", "Content-Length: 40");
        let e = Message::parse(raw.as_bytes()).unwrap_err();
        assert!(e.reason.contains("exceeds"), "{e}");

        let raw = INVITE.replace("Max-Forwards: 70", "this is not a header");
        let e = Message::parse(raw.as_bytes()).unwrap_err();
        assert!(e.reason.contains("malformed header"), "{e}");
        assert!(e.partial.is_some());

        let raw = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        assert!(
            Message::parse(raw.as_bytes())
                .unwrap_err()
                .reason
                .contains("CSeq")
        );
    }

    #[test]
    fn garbage_never_panics() {
        for junk in [
            &b""[..],
            b"\r\n\r\n",
            b"\xff\xfe\x00\x01\r\n\r\n",
            b"SIP/2.0 99999 x\r\n\r\n",
            b"A B C D\r\n\r\n",
        ] {
            assert!(Message::parse(junk).is_err());
        }
        let mut state = 12345u32;
        for _ in 0..2000 {
            let len = (state % 300) as usize;
            let mut buf = INVITE.as_bytes().to_vec();
            buf.truncate(len.min(buf.len()));
            for b in buf.iter_mut() {
                state = state.wrapping_mul(1103515245).wrapping_add(12345);
                if state.is_multiple_of(17) {
                    *b = (state >> 16) as u8;
                }
            }
            let _ = Message::parse(&buf);
            let _ = frame_len(&buf);
        }
    }

    #[test]
    fn stream_framing() {
        let two = format!("{INVITE}{INVITE}");
        let n = frame_len(two.as_bytes()).unwrap().unwrap();
        assert_eq!(n, INVITE.len());
        assert_eq!(frame_len(&INVITE.as_bytes()[..INVITE.len() - 1]).unwrap(), None);
        let raw = INVITE.replace("Content-Length: 4\r\n", "");
        assert!(frame_len(raw.as_bytes()).is_err());
    }

    #[test]
    fn uris_and_params() {
        assert_eq!(
            uri_host_port("sip:bob@10.0.0.1:5070;transport=tcp"),
            Some(("10.0.0.1".into(), 5070))
        );
        assert_eq!(
            uri_host_port("sip:example.com"),
            Some(("example.com".into(), 5060))
        );
        assert_eq!(uri_host_port("sip:a@[::1]:5080"), Some(("::1".into(), 5080)));
        assert_eq!(param("\"A, B\" <sip:a@b;x=1>;tag=abc;lr", "tag"), Some("abc"));
        assert_eq!(
            split_list("<sip:a@b>, \"x,y\" <sip:c@d>"),
            vec!["<sip:a@b>", "\"x,y\" <sip:c@d>"]
        );
    }
}
