//! Ports, a minimal HTTP/1.1 client and raw SIP over UDP and TCP: what the tests need to talk to koe
//! without pulling a client stack that could hide protocol mistakes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The ports the tests hand out: below Linux's ephemeral range (32768-60999), so that no socket bound to
/// port 0 (koe's, a peer's) can take one between the test choosing it and the peer binding it, and above
/// the range baresip is told to use for RTP.
const POOL: std::ops::Range<u16> = 20_000..32_000;

/// Where this test process takes its next ports: a random start, then onwards, so that parallel tests
/// in one binary never receive the same port.
static NEXT: std::sync::Mutex<Option<u16>> = std::sync::Mutex::new(None);

/// `len` consecutive ports, free for UDP (and TCP when `tcp`), never handed out before by this process.
fn reserve(len: u16, tcp: bool) -> u16 {
    let span = POOL.end - POOL.start;
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    let mut cursor = next.unwrap_or_else(|| rand::random::<u16>() % span);
    for _ in 0..span / len {
        // A block that would run past the pool's end starts over at its beginning.
        if cursor + len > span {
            cursor = 0;
        }
        let start = POOL.start + cursor;
        cursor += len;
        let free = (start..start + len).all(|p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok() && (!tcp || TcpListener::bind(("127.0.0.1", p)).is_ok())
        });
        if free {
            *next = Some(cursor);
            return start;
        }
    }
    panic!("no free block of {len} ports on 127.0.0.1");
}

/// A port free on 127.0.0.1 for both UDP and TCP (SIP listens on both). The next three stay unused:
/// SIPp binds its RTP port's neighbours for RTCP and video.
pub fn free_port() -> u16 {
    reserve(4, true)
}

/// A block of `len` consecutive free UDP ports, so that parallel tests (each with its own koe) never
/// share RTP ports.
pub fn free_port_block(len: u16) -> (u16, u16) {
    let start = reserve(len, false);
    (start, start + len - 1)
}

/// A parsed HTTP response.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy); `bytes` has it exactly.
    pub body: String,
    pub bytes: Vec<u8>,
}

impl HttpResponse {
    /// The first header of that name, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }
}

/// `GET path` on `addr`, `Connection: close`; handles fixed-length and chunked bodies.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<HttpResponse> {
    http_request(addr, "GET", path, &[], &[])
}

/// Any request, `Connection: close`, with extra `headers` and a body (`Content-Length` is added when
/// the body is not empty).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // A server may answer (413, 401) and close before reading the whole body: that is its reply.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let rest = &raw[split + 4..];
    let bytes = if chunked {
        dechunk(rest).ok_or_else(bad)?
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        let after = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

/// The value of one Prometheus sample, e.g. `metric(text, "koe_calls_total{result=\"answered\"}")`;
/// labels must be written as koe prints them. Absent: `None`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The sum of every sample of a metric family, whatever its labels (0 when absent).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// A SIP client socket for hand-written messages (hostile input, drain checks).
pub struct RawSip {
    pub udp: UdpSocket,
    pub target: SocketAddr,
}

impl RawSip {
    pub fn new(target: SocketAddr) -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        RawSip { udp, target }
    }

    pub fn local(&self) -> SocketAddr {
        self.udp.local_addr().expect("local addr")
    }

    pub fn send(&self, bytes: &[u8]) {
        self.udp.send_to(bytes, self.target).expect("send UDP");
    }

    /// The next datagram that arrives within `timeout`, as text.
    pub fn recv(&self, timeout: Duration) -> Option<String> {
        self.udp.set_read_timeout(Some(timeout)).ok()?;
        let mut buf = vec![0u8; 65_536];
        let (n, _) = self.udp.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Waits for a final response (≥ 200) to the request with `cseq_method`, skipping provisional ones
    /// and anything else koe sends meanwhile; returns its status code and text.
    pub fn final_response(&self, cseq_method: &str, timeout: Duration) -> Option<(u16, String)> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let msg = self.recv(left)?;
            if let Some(code) = status_code(&msg)
                && code >= 200
                && header(&msg, "CSeq").is_some_and(|c| c.ends_with(cseq_method))
            {
                return Some((code, msg));
            }
        }
        None
    }
}

/// Sends one message over a fresh TCP connection and reads what comes back within `timeout`.
pub fn tcp_exchange(target: SocketAddr, bytes: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2)).expect("connect TCP");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    stream.write_all(bytes).expect("write TCP");
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                // One complete response without a body is all these exchanges expect.
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a SIP response, `None` for a request.
pub fn status_code(msg: &str) -> Option<u16> {
    msg.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// The value of a header (full or compact name), case-insensitive.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let head = msg.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// An SDP offer from 127.0.0.1:`rtp_port` with the given `m=` payload types and their rtpmaps.
pub fn sdp_offer(rtp_port: u16, payloads: &[(u8, &str)], direction: &str) -> String {
    let pts: Vec<String> = payloads.iter().map(|(pt, _)| pt.to_string()).collect();
    let mut sdp = format!(
        "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP {}\r\n",
        pts.join(" ")
    );
    for (pt, map) in payloads {
        sdp.push_str(&format!("a=rtpmap:{pt} {map}\r\n"));
    }
    sdp.push_str(&format!("a={direction}\r\n"));
    sdp
}

/// A request from `local` to `target` with the usual headers; `body` may be empty.
pub fn sip_request(
    method: &str,
    target: SocketAddr,
    local: SocketAddr,
    call_id: &str,
    cseq: u32,
    content_type: &str,
    body: &str,
) -> String {
    let branch: u64 = rand::random();
    let ctype = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {content_type}\r\n")
    };
    format!(
        "{method} sip:demo@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch:x}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@{local}>;tag=t{cseq}\r\n\
         To: <sip:demo@{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:tester@{local}>\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Counts the RTP packets that arrive at a UDP port, by payload type, in a background thread: the far
/// end of a call when the test stands in for the callee or checks where koe sends media.
pub struct RtpSink {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<RtpCounts>,
}

/// What an `RtpSink` saw.
#[derive(Debug, Default, Clone)]
pub struct RtpCounts {
    /// Packets per payload type.
    pub by_pt: std::collections::BTreeMap<u8, u64>,
    /// Distinct source addresses.
    pub sources: std::collections::BTreeSet<SocketAddr>,
}

impl RtpCounts {
    pub fn pt(&self, pt: u8) -> u64 {
        self.by_pt.get(&pt).copied().unwrap_or(0)
    }
}

impl RtpSink {
    pub fn start() -> RtpSink {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind RTP sink");
        let port = socket.local_addr().expect("sink addr").port();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut counts = RtpCounts::default();
            let mut buf = [0u8; 2048];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf)
                    && n >= 12
                    && buf[0] >> 6 == 2
                {
                    *counts.by_pt.entry(buf[1] & 0x7f).or_default() += 1;
                    counts.sources.insert(from);
                }
            }
            counts
        });
        RtpSink { port, stop, thread }
    }

    pub fn finish(self) -> RtpCounts {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("RTP sink thread")
    }
}
