//! The SIP user-agent server core, sans-IO: datagrams, commands and time go in; datagrams to send and
//! call events come out (RFC 3261 transactions and dialogs for a UAS that also hangs up).
//!
//! Drive it like str0m's `Rtc`: feed [`SipCore::handle_message`], [`SipCore::handle_command`] or
//! [`SipCore::handle_timeout`], then drain [`SipCore::poll_output`] and sleep until
//! [`SipCore::poll_timeout`]. Invariant: every call announced with `CallEvent::Incoming` ends with exactly
//! one `CallEvent::Ended`.

use super::message::{Message, StartLine, header_uri, uri_host_port};
use super::sdp::{self, Negotiated, SdpError, SessionDesc};
use crate::media::dtmf;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";
/// Methods koe knows but does not serve: 405 with Allow, rather than 501.
const KNOWN_UNSUPPORTED: [&str; 6] = ["REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER", "PRACK"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The far end of a message: which transport and which address (for TCP, the connection's peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupBy {
    Caller,
    Koe,
    System,
}

impl HangupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Caller => "caller",
            HangupBy::Koe => "koe",
            HangupBy::System => "system",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A new call was offered; answer it with `Command::Answer` (or reject it).
    Incoming {
        call_id: String,
        from: String,
        to: String,
        media: Negotiated,
        source: Peer,
    },
    /// The caller's ACK arrived for koe's 200 OK.
    Confirmed {
        call_id: String,
    },
    /// A re-INVITE or UPDATE changed the media (hold/resume, new address, codec).
    MediaChanged {
        call_id: String,
        media: Negotiated,
    },
    Dtmf {
        call_id: String,
        key: char,
    },
    Ended {
        call_id: String,
        by: HangupBy,
        cause: String,
    },
    /// How a transfer koe asked for (REFER) went: the caller's side reached the target, or why not.
    Transfer {
        call_id: String,
        result: Result<(), String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Ringing {
        call_id: String,
    },
    /// Answer with koe's RTP address (as written in SDP).
    Answer {
        call_id: String,
        local_media: SocketAddr,
    },
    Reject {
        call_id: String,
        code: u16,
        reason: String,
    },
    /// Ends the call from koe's side; `by` is Koe for the call's behaviour, System for drains and timers.
    Hangup {
        call_id: String,
        by: HangupBy,
        cause: String,
    },
    /// Blind transfer (RFC 3515 REFER): asks the caller's side to call `target` instead.
    Refer {
        call_id: String,
        target: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send { to: Peer, data: Vec<u8> },
    Event(CallEvent),
}

#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub user_agent: String,
    pub t1: Duration,
    pub t2: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            user_agent: "koe".into(),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
        }
    }
}

/// A message sent again on a doubling interval until acknowledged or timed out (Timers G/H, E/F).
#[derive(Debug)]
struct Retransmit {
    to: Peer,
    data: Vec<u8>,
    interval: Duration,
    next_at: Instant,
    give_up_at: Instant,
}

impl Retransmit {
    fn new(to: Peer, data: Vec<u8>, now: Instant, t1: Duration) -> Self {
        Retransmit {
            to,
            data,
            interval: t1,
            next_at: now + t1,
            give_up_at: now + 64 * t1,
        }
    }

    /// Queues a resend when one is due, doubling the interval up to T2; false once timed out.
    fn poll(&mut self, now: Instant, t2: Duration, out: &mut Vec<Output>) -> bool {
        if now >= self.give_up_at {
            return false;
        }
        if now >= self.next_at {
            out.push(Output::Send {
                to: self.to,
                data: self.data.clone(),
            });
            self.interval = (self.interval * 2).min(t2);
            self.next_at = now + self.interval;
        }
        true
    }
}

#[derive(Debug, PartialEq, Eq)]
enum CallState {
    /// INVITE received, no final response yet.
    Proceeding,
    /// 200 OK sent, waiting for the ACK.
    Answered,
    Confirmed,
}

#[derive(Debug)]
struct Call {
    invite: Message,
    invite_branch: String,
    source: Peer,
    /// koe's SIP address as the caller reached it (for Contact and Via).
    local_sip: SocketAddr,
    local_tag: String,
    state: CallState,
    offer: SessionDesc,
    media: Negotiated,
    local_media: Option<SocketAddr>,
    session_id: u64,
    sdp_version: u64,
    /// Last response to the INVITE, resent when the INVITE is retransmitted.
    last_response: Option<Vec<u8>>,
    /// The 2xx to the INVITE or a re-INVITE, resent until ACK; the CSeq it answers.
    pending_2xx: Option<(u32, Retransmit)>,
    remote_cseq: u32,
    local_cseq: u32,
}

/// A request koe sent within a dialog (BYE, REFER), until its final response or Timer F.
#[derive(Debug)]
struct OutTxn {
    branch: String,
    retransmit: Option<Retransmit>,
    /// For a REFER: the call whose transfer it asks for.
    refer_of: Option<String>,
}

pub struct SipCore {
    config: CoreConfig,
    calls: HashMap<String, Call>,
    /// Responses to non-INVITE requests, kept for retransmitted requests (Timer J), by branch+method.
    answered: HashMap<(String, String), (Vec<u8>, Instant)>,
    /// Non-2xx final responses to INVITEs whose call is gone, resent until their ACK (Timer G/H).
    rejected: HashMap<String, Retransmit>,
    requests: Vec<OutTxn>,
    outputs: VecDeque<Output>,
    draining: bool,
    counter: u64,
}

fn response(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
    let mut r = Message::response_to(req, code, reason);
    if let Some(tag) = to_tag
        && req.to_tag().is_none()
        && let Some(to) = r.headers.iter_mut().find(|(n, _)| n == "To")
    {
        to.1 = format!("{};tag={tag}", to.1);
    }
    r
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Unknown",
    }
}

impl SipCore {
    pub fn new(config: CoreConfig) -> Self {
        SipCore {
            config,
            calls: HashMap::new(),
            answered: HashMap::new(),
            rejected: HashMap::new(),
            requests: Vec::new(),
            outputs: VecDeque::new(),
            draining: false,
            counter: rand::random::<u32>() as u64,
        }
    }

    /// While draining, new INVITEs are refused with 503; calls in progress go on.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest instant at which [`SipCore::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self
            .calls
            .values()
            .filter_map(|c| c.pending_2xx.as_ref())
            .map(|(_, r)| r.next_at.min(r.give_up_at));
        let rejected = self.rejected.values().map(|r| r.next_at.min(r.give_up_at));
        let requests = self
            .requests
            .iter()
            .filter_map(|b| b.retransmit.as_ref())
            .map(|r| r.next_at.min(r.give_up_at));
        let answered = self.answered.values().map(|(_, t)| *t);
        calls.chain(rejected).chain(requests).chain(answered).min()
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter = self.counter.wrapping_add(1);
        format!("{prefix}{:x}{:08x}", self.counter, rand::random::<u32>())
    }

    fn send(&mut self, to: Peer, msg: &Message) -> Vec<u8> {
        self.send_raw(to, msg.to_bytes())
    }

    /// Sends bytes already built; returns them for retransmission.
    fn send_raw(&mut self, to: Peer, data: Vec<u8>) -> Vec<u8> {
        self.outputs.push_back(Output::Send {
            to,
            data: data.clone(),
        });
        data
    }

    fn event(&mut self, e: CallEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    fn reply(&mut self, req: &Message, to: Peer, code: u16, extra: &[(&str, String)]) -> Vec<u8> {
        let mut r = response(req, code, reason_phrase(code), None);
        if code >= 200 && req.to_tag().is_none() {
            // A final response needs a To tag even when it creates no dialog (RFC 3261 §8.2.6.2).
            let tag = self.fresh("k");
            r = response(req, code, reason_phrase(code), Some(&tag));
        }
        for (n, v) in extra {
            r.push_header(n, v.clone());
        }
        r.push_header("Server", self.config.user_agent.clone());
        self.send(to, &r)
    }

    /// Answers a non-INVITE request and remembers the response for retransmissions of it.
    fn reply_non_invite(
        &mut self,
        req: &Message,
        from: Peer,
        code: u16,
        extra: &[(&str, String)],
        now: Instant,
    ) {
        let data = self.reply(req, from, code, extra);
        if let (Some(branch), Some(method)) = (req.via_branch(), req.method()) {
            let keep = if from.transport == Transport::Udp {
                64 * self.config.t1
            } else {
                Duration::ZERO
            };
            self.answered
                .insert((branch.to_string(), method.to_string()), (data, now + keep));
        }
    }

    /// A datagram or stream frame that failed to parse: 400 if enough of it was a request.
    pub fn handle_malformed(&mut self, err: &super::message::ParseError, from: Peer) {
        if let Some(partial) = &err.partial
            && partial.method().is_some_and(|m| m != "ACK")
            && partial.header("Via").is_some()
            && partial.header("Call-ID").is_some()
        {
            let reason = format!("Bad Request ({})", err.reason.replace(['\r', '\n'], " "));
            let mut r = Message::response_to(partial, 400, &reason);
            r.push_header("Server", self.config.user_agent.clone());
            self.send(from, &r);
        }
    }

    pub fn handle_message(&mut self, msg: Message, from: Peer, local_sip: SocketAddr, now: Instant) {
        match &msg.start {
            StartLine::Response { code, .. } => self.handle_response(*code, &msg),
            StartLine::Request { method, .. } => {
                let method = method.clone();
                self.handle_request(&method, msg, from, local_sip, now)
            }
        }
    }

    fn handle_request(
        &mut self,
        method: &str,
        req: Message,
        from: Peer,
        local_sip: SocketAddr,
        now: Instant,
    ) {
        // Retransmission of a non-INVITE request already answered.
        if method != "INVITE"
            && method != "ACK"
            && let Some(branch) = req.via_branch()
            && let Some((data, _)) = self.answered.get(&(branch.to_string(), method.to_string()))
        {
            let data = data.clone();
            self.outputs.push_back(Output::Send { to: from, data });
            return;
        }
        match method {
            "INVITE" => self.on_invite(req, from, local_sip, now),
            "ACK" => self.on_ack(&req),
            "CANCEL" => self.on_cancel(&req, from, now),
            "BYE" => self.on_bye(&req, from, now),
            "OPTIONS" => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Accept", ACCEPT.to_string()),
                    ("Supported", String::new()),
                ];
                let extra: Vec<_> = extra.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                self.reply_non_invite(&req, from, 200, &extra, now)
            }
            "INFO" => self.on_info(&req, from, now),
            "UPDATE" => self.on_update(&req, from, now),
            "NOTIFY" => self.on_notify(&req, from, now),
            m if KNOWN_UNSUPPORTED.contains(&m) => {
                self.reply_non_invite(&req, from, 405, &[("Allow", ALLOW.to_string())], now)
            }
            _ => self.reply_non_invite(&req, from, 501, &[("Allow", ALLOW.to_string())], now),
        }
    }

    /// The call this in-dialog request belongs to, or a 481.
    fn dialog_of(&mut self, req: &Message, from: Peer, now: Instant) -> Option<String> {
        let id = req.call_id().to_string();
        let ok = self.calls.get(&id).is_some_and(|c| {
            req.to_tag() == Some(c.local_tag.as_str()) && req.from_tag() == c.invite.from_tag()
        });
        if ok {
            Some(id)
        } else {
            self.reply_non_invite(req, from, 481, &[], now);
            None
        }
    }

    fn on_invite(&mut self, req: Message, from: Peer, local_sip: SocketAddr, now: Instant) {
        let call_id = req.call_id().to_string();
        let branch = req.via_branch().unwrap_or_default().to_string();
        if let Some(r) = self.rejected.get(&branch) {
            let data = r.data.clone();
            self.outputs.push_back(Output::Send { to: from, data });
            return;
        }
        if req.to_tag().is_some() {
            return self.on_reinvite(req, from, now);
        }
        if let Some(call) = self.calls.get(&call_id) {
            if call.invite_branch == branch {
                // A retransmission: repeat what was last said (100 Trying if nothing else yet).
                match call.last_response.clone() {
                    Some(data) => self.outputs.push_back(Output::Send { to: from, data }),
                    None => {
                        self.reply(&req, from, 100, &[]);
                    }
                }
            } else {
                self.reject(&req, from, 482, &[], now);
            }
            return;
        }
        if self.draining {
            return self.reject(&req, from, 503, &[("Retry-After", "30".into())], now);
        }
        if let Some(required) = req.header("Require").filter(|r| !r.trim().is_empty()) {
            return self.reject(&req, from, 420, &[("Unsupported", required.to_string())], now);
        }
        let offer = if req.body.is_empty() {
            Err(SdpError::Malformed(
                "an INVITE without an SDP offer is not supported".into(),
            ))
        } else if req.content_type().as_deref() != Some("application/sdp") {
            return self.reject(&req, from, 415, &[("Accept", "application/sdp".into())], now);
        } else {
            SessionDesc::parse(&String::from_utf8_lossy(&req.body))
        };
        let negotiated = offer.and_then(|o| o.negotiate().map(|n| (o, n)));
        let (offer, media) = match negotiated {
            Ok(v) => v,
            Err(SdpError::NoCommonCodec) => {
                info!(%call_id, "no common codec: 488");
                let warning = "399 koe \"no common codec: PCMU, PCMA\"".to_string();
                return self.reject(&req, from, 488, &[("Warning", warning)], now);
            }
            Err(SdpError::Malformed(why)) => {
                info!(%call_id, %why, "bad SDP offer");
                return self.reject_with_reason(&req, from, 400, &format!("Bad Request ({why})"), now);
            }
        };
        let local_tag = self.fresh("koe");
        let trying = self.reply(&req, from, 100, &[]);
        let call = Call {
            invite_branch: branch,
            source: from,
            local_sip,
            local_tag,
            state: CallState::Proceeding,
            offer,
            media: media.clone(),
            local_media: None,
            session_id: rand::random::<u32>() as u64,
            sdp_version: 1,
            last_response: Some(trying),
            pending_2xx: None,
            remote_cseq: req.cseq().map(|(n, _)| n).unwrap_or(0),
            local_cseq: rand::random::<u16>() as u32,
            invite: req,
        };
        let from_uri = call.invite.header_uri("From").unwrap_or_default().to_string();
        let to_uri = call.invite.header_uri("To").unwrap_or_default().to_string();
        self.calls.insert(call_id.clone(), call);
        self.event(CallEvent::Incoming {
            call_id,
            from: from_uri,
            to: to_uri,
            media,
            source: from,
        });
    }

    fn reject(&mut self, req: &Message, from: Peer, code: u16, extra: &[(&str, String)], now: Instant) {
        let data = self.reply(req, from, code, extra);
        self.remember_rejection(req, from, data, now);
    }

    fn reject_with_reason(&mut self, req: &Message, from: Peer, code: u16, reason: &str, now: Instant) {
        let tag = self.fresh("k");
        let mut r = response(req, code, reason, Some(&tag));
        r.push_header("Server", self.config.user_agent.clone());
        let data = self.send(from, &r);
        self.remember_rejection(req, from, data, now);
    }

    fn remember_rejection(&mut self, req: &Message, from: Peer, data: Vec<u8>, now: Instant) {
        let branch = req.via_branch().unwrap_or_default().to_string();
        let mut r = Retransmit::new(from, data, now, self.config.t1);
        if from.transport == Transport::Tcp {
            r.next_at = r.give_up_at; // reliable transport: no Timer G, only wait for the ACK (Timer H)
        }
        self.rejected.insert(branch, r);
    }

    fn on_reinvite(&mut self, req: Message, from: Peer, now: Instant) {
        let Some(id) = self.dialog_of(&req, from, now) else {
            return;
        };
        let cseq = req.cseq().map(|(n, _)| n).unwrap_or(0);
        let call = self.calls.get(&id).expect("dialog_of found it");
        if let Some((pending, r)) = &call.pending_2xx {
            if *pending == cseq {
                let data = r.data.clone();
                self.outputs.push_back(Output::Send { to: from, data });
            } else {
                self.reject(&req, from, 491, &[], now);
            }
            return;
        }
        if cseq <= call.remote_cseq {
            return self.reject_with_reason(
                &req,
                from,
                500,
                "Server Internal Error (CSeq out of order)",
                now,
            );
        }
        let Some((answer, media)) = self.renegotiate(&id, &req, from, now) else {
            return;
        };
        let call = self.calls.get_mut(&id).expect("exists");
        call.remote_cseq = cseq;
        let msg = Self::ok_with_sdp(&req, call, answer, &self.config.user_agent);
        let data = msg.to_bytes();
        self.outputs.push_back(Output::Send {
            to: from,
            data: data.clone(),
        });
        let call = self.calls.get_mut(&id).expect("exists");
        call.pending_2xx = Some((cseq, Retransmit::new(from, data, now, self.config.t1)));
        self.event(CallEvent::MediaChanged { call_id: id, media });
    }

    /// Negotiates a new offer in a dialog; answers 488/400 itself and returns None when it fails.
    fn renegotiate(
        &mut self,
        id: &str,
        req: &Message,
        from: Peer,
        now: Instant,
    ) -> Option<(String, Negotiated)> {
        let call = self.calls.get(id).expect("caller checked");
        let local = call.local_media?;
        if req.body.is_empty() {
            // An offer-less re-INVITE: koe offers its current session again.
            let neg = call.media.clone();
            return Some((
                sdp::answer(&call.offer, &neg, local, call.session_id, call.sdp_version),
                neg,
            ));
        }
        let parsed = SessionDesc::parse(&String::from_utf8_lossy(&req.body))
            .and_then(|o| o.negotiate().map(|n| (o, n)));
        match parsed {
            Ok((offer, neg)) => {
                let call = self.calls.get_mut(id).expect("exists");
                call.sdp_version += 1;
                let answer = sdp::answer(&offer, &neg, local, call.session_id, call.sdp_version);
                call.offer = offer;
                call.media = neg.clone();
                Some((answer, neg))
            }
            Err(SdpError::NoCommonCodec) => {
                self.reply_non_invite(req, from, 488, &[], now);
                None
            }
            Err(SdpError::Malformed(why)) => {
                let mut r = response(req, 400, &format!("Bad Request ({why})"), None);
                r.push_header("Server", self.config.user_agent.clone());
                self.send(from, &r);
                None
            }
        }
    }

    fn ok_with_sdp(req: &Message, call: &Call, sdp: String, user_agent: &str) -> Message {
        let mut r = response(req, 200, "OK", Some(&call.local_tag));
        r.push_header("Contact", Self::contact(call));
        r.push_header("Allow", ALLOW);
        r.push_header("Server", user_agent.to_string());
        r.push_header("Content-Type", "application/sdp");
        r.body = sdp.into_bytes();
        r
    }

    fn contact(call: &Call) -> String {
        let transport = match call.source.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        match call.local_sip.ip() {
            IpAddr::V6(ip) => format!("<sip:koe@[{ip}]:{}{transport}>", call.local_sip.port()),
            IpAddr::V4(ip) => format!("<sip:koe@{ip}:{}{transport}>", call.local_sip.port()),
        }
    }

    fn on_ack(&mut self, req: &Message) {
        if let Some(branch) = req.via_branch()
            && self.rejected.remove(branch).is_some()
        {
            return;
        }
        let id = req.call_id().to_string();
        let cseq = req.cseq().map(|(n, _)| n);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.pending_2xx.as_ref().is_some_and(|(n, _)| Some(*n) == cseq) {
            call.pending_2xx = None;
            if call.state == CallState::Answered {
                call.state = CallState::Confirmed;
                self.event(CallEvent::Confirmed { call_id: id });
            }
        }
    }

    fn on_cancel(&mut self, req: &Message, from: Peer, now: Instant) {
        let id = req.call_id().to_string();
        // RFC 3261 §9.2 matches by branch; callers that reuse neither get the RFC 2543 rule (§17.2.3):
        // same Call-ID, From tag and CSeq number as the INVITE.
        let matches = self.calls.get(&id).is_some_and(|c| {
            Some(c.invite_branch.as_str()) == req.via_branch()
                || (req.from_tag() == c.invite.from_tag()
                    && req.cseq().map(|(n, _)| n) == c.invite.cseq().map(|(n, _)| n))
        });
        if !matches {
            return self.reply_non_invite(req, from, 481, &[], now);
        }
        self.reply_non_invite(req, from, 200, &[], now);
        let call = self.calls.get(&id).expect("matched");
        if call.state != CallState::Proceeding {
            return; // the final response was already sent: CANCEL has no effect (RFC 3261 §9.2)
        }
        let call = self.calls.remove(&id).expect("matched");
        let tag = call.local_tag.clone();
        let mut r = response(&call.invite, 487, "Request Terminated", Some(&tag));
        r.push_header("Server", self.config.user_agent.clone());
        let data = self.send(call.source, &r);
        self.remember_rejection(&call.invite, call.source, data, now);
        self.event(CallEvent::Ended {
            call_id: id,
            by: HangupBy::Caller,
            cause: "cancel".into(),
        });
    }

    fn on_bye(&mut self, req: &Message, from: Peer, now: Instant) {
        let Some(id) = self.dialog_of(req, from, now) else {
            return;
        };
        self.reply_non_invite(req, from, 200, &[], now);
        self.calls.remove(&id);
        self.event(CallEvent::Ended {
            call_id: id,
            by: HangupBy::Caller,
            cause: "bye".into(),
        });
    }

    fn on_info(&mut self, req: &Message, from: Peer, now: Instant) {
        let Some(id) = self.dialog_of(req, from, now) else {
            return;
        };
        let body = String::from_utf8_lossy(&req.body);
        match req.content_type() {
            None if req.body.is_empty() => self.reply_non_invite(req, from, 200, &[], now),
            Some(ct) if ct == "application/dtmf-relay" || ct == "application/dtmf" => {
                match dtmf::parse_info(&ct, &body) {
                    Some(key) => {
                        self.reply_non_invite(req, from, 200, &[], now);
                        self.event(CallEvent::Dtmf { call_id: id, key });
                    }
                    None => {
                        let mut r = response(req, 400, "Bad Request (no DTMF signal in body)", None);
                        r.push_header("Server", self.config.user_agent.clone());
                        self.send(from, &r);
                    }
                }
            }
            _ => self.reply_non_invite(req, from, 415, &[("Accept", ACCEPT.to_string())], now),
        }
    }

    fn on_update(&mut self, req: &Message, from: Peer, now: Instant) {
        let Some(id) = self.dialog_of(req, from, now) else {
            return;
        };
        if req.body.is_empty() {
            return self.reply_non_invite(req, from, 200, &[], now);
        }
        let Some((answer, media)) = self.renegotiate(&id, req, from, now) else {
            return;
        };
        let call = self.calls.get(&id).expect("exists");
        let msg = Self::ok_with_sdp(req, call, answer, &self.config.user_agent);
        let data = self.send(from, &msg);
        if let Some(branch) = req.via_branch() {
            self.answered.insert(
                (branch.to_string(), "UPDATE".into()),
                (data, now + 64 * self.config.t1),
            );
        }
        self.event(CallEvent::MediaChanged { call_id: id, media });
    }

    fn handle_response(&mut self, code: u16, msg: &Message) {
        if code < 200 {
            return;
        }
        let Some(branch) = msg.via_branch() else { return };
        let Some(i) = self.requests.iter().position(|r| r.branch == branch) else {
            return;
        };
        let txn = self.requests.remove(i);
        debug!(call_id = msg.call_id(), code, "koe's request answered");
        // A REFER accepted (202) waits for the NOTIFY that says how the new call went.
        if let Some(call_id) = txn.refer_of
            && code >= 300
        {
            self.event(CallEvent::Transfer {
                call_id,
                result: Err(format!("transfer refused with {code}")),
            });
        }
    }

    pub fn handle_command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Ringing { call_id } => {
                let Some(call) = self.calls.get(&call_id) else {
                    return;
                };
                if call.state != CallState::Proceeding {
                    return;
                }
                let mut r = response(&call.invite, 180, "Ringing", Some(&call.local_tag));
                r.push_header("Contact", Self::contact(call));
                let to = call.source;
                let data = self.send(to, &r);
                self.calls.get_mut(&call_id).expect("exists").last_response = Some(data);
            }
            Command::Answer { call_id, local_media } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return;
                };
                if call.state != CallState::Proceeding {
                    return;
                }
                call.local_media = Some(local_media);
                let answer = sdp::answer(
                    &call.offer,
                    &call.media,
                    local_media,
                    call.session_id,
                    call.sdp_version,
                );
                let msg = Self::ok_with_sdp(&call.invite, call, answer, &self.config.user_agent);
                let data = msg.to_bytes();
                let cseq = call.invite.cseq().map(|(n, _)| n).unwrap_or(0);
                call.state = CallState::Answered;
                call.last_response = Some(data.clone());
                call.pending_2xx = Some((
                    cseq,
                    Retransmit::new(call.source, data.clone(), now, self.config.t1),
                ));
                let to = call.source;
                self.outputs.push_back(Output::Send { to, data });
            }
            Command::Reject {
                call_id,
                code,
                reason,
            } => {
                let Some(call) = self.calls.get(&call_id) else {
                    return;
                };
                if call.state != CallState::Proceeding {
                    return;
                }
                let call = self.calls.remove(&call_id).expect("exists");
                let mut r = response(&call.invite, code, &reason, Some(&call.local_tag));
                r.push_header("Server", self.config.user_agent.clone());
                let data = self.send(call.source, &r);
                self.remember_rejection(&call.invite, call.source, data, now);
                self.event(CallEvent::Ended {
                    call_id,
                    by: HangupBy::Koe,
                    cause: format!("rejected {code}"),
                });
            }
            Command::Hangup { call_id, by, cause } => self.hangup(&call_id, by, cause, now),
            Command::Refer { call_id, target } => self.send_refer(&call_id, &target, now),
        }
    }

    /// NOTIFY for koe's REFER (RFC 3515 §2.4.5): its message/sipfrag body carries the status line of
    /// the new call; a final one settles the transfer.
    fn on_notify(&mut self, req: &Message, from: Peer, now: Instant) {
        let Some(id) = self.dialog_of(req, from, now) else {
            return;
        };
        self.reply_non_invite(req, from, 200, &[], now);
        let body = String::from_utf8_lossy(&req.body);
        let code = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("SIP/2.0 "))
            .and_then(|l| l.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        let result = match code {
            Some(200..=299) => Ok(()),
            Some(c) if c >= 300 => Err(format!("the transfer target answered {c}")),
            _ => return,
        };
        self.event(CallEvent::Transfer { call_id: id, result });
    }

    fn send_refer(&mut self, call_id: &str, target: &str, now: Instant) {
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        if call.state != CallState::Answered && call.state != CallState::Confirmed {
            return;
        }
        call.local_cseq += 1;
        let referred_by = call.invite.header_uri("To").unwrap_or_default().to_string();
        let extra = [
            ("Refer-To".to_string(), format!("<{target}>")),
            ("Referred-By".to_string(), format!("<{referred_by}>")),
            ("Contact".to_string(), Self::contact(call)),
        ];
        let branch = format!("z9hG4bK{}", self.fresh(""));
        let call = self.calls.get(call_id).expect("exists");
        let (to, data) = self.in_dialog_request(call, "REFER", &branch, &extra);
        let data = self.send_raw(to, data);
        let retransmit =
            (to.transport == Transport::Udp).then(|| Retransmit::new(to, data, now, self.config.t1));
        self.requests.push(OutTxn {
            branch,
            retransmit,
            refer_of: Some(call_id.to_string()),
        });
    }

    /// Ends a call from koe's side: BYE once answered, 480 before.
    fn hangup(&mut self, call_id: &str, by: HangupBy, cause: String, now: Instant) {
        let Some(call) = self.calls.remove(call_id) else {
            return;
        };
        if call.state == CallState::Proceeding {
            let mut r = response(
                &call.invite,
                480,
                "Temporarily Unavailable",
                Some(&call.local_tag),
            );
            r.push_header("Server", self.config.user_agent.clone());
            let data = self.send(call.source, &r);
            self.remember_rejection(&call.invite, call.source, data, now);
        } else {
            self.send_bye(&call, now);
        }
        self.event(CallEvent::Ended {
            call_id: call_id.to_string(),
            by,
            cause,
        });
    }

    /// BYE within the dialog.
    fn send_bye(&mut self, call: &Call, now: Instant) {
        let branch = format!("z9hG4bK{}", self.fresh(""));
        let (to, data) = self.in_dialog_request(call, "BYE", &branch, &[]);
        let data = self.send_raw(to, data);
        let retransmit =
            (to.transport == Transport::Udp).then(|| Retransmit::new(to, data, now, self.config.t1));
        self.requests.push(OutTxn {
            branch,
            retransmit,
            refer_of: None,
        });
    }

    /// A request within the dialog, as RFC 3261 §12.2.1.1 builds it for the UAS side: where it goes,
    /// its bytes and its branch.
    fn in_dialog_request(
        &self,
        call: &Call,
        method: &str,
        branch: &str,
        extra: &[(String, String)],
    ) -> (Peer, Vec<u8>) {
        let inv = &call.invite;
        let target = inv
            .header_uri("Contact")
            .unwrap_or_else(|| inv.header_uri("From").unwrap_or_default());
        let routes: Vec<String> = inv
            .header_values("Record-Route")
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut req = Message::request(method, target);
        let via_host = match call.local_sip.ip() {
            IpAddr::V6(ip) => format!("[{ip}]:{}", call.local_sip.port()),
            IpAddr::V4(ip) => format!("{ip}:{}", call.local_sip.port()),
        };
        req.push_header(
            "Via",
            format!(
                "SIP/2.0/{} {via_host};branch={branch};rport",
                call.source.transport.via_name()
            ),
        );
        req.push_header("Max-Forwards", "70");
        for r in &routes {
            req.push_header("Route", r.clone());
        }
        let to = inv.header("From").unwrap_or_default().to_string();
        let from = format!("{};tag={}", inv.header("To").unwrap_or_default(), call.local_tag);
        req.push_header("From", from);
        req.push_header("To", to);
        req.push_header("Call-ID", inv.call_id().to_string());
        req.push_header("CSeq", format!("{} {method}", call.local_cseq + 1));
        for (name, value) in extra {
            req.push_header(name, value.clone());
        }
        req.push_header("User-Agent", self.config.user_agent.clone());
        // Where to: the first loose route, else the remote target; over TCP, the caller's connection.
        let next_hop = routes
            .first()
            .and_then(|r| header_uri(r))
            .unwrap_or(target)
            .to_string();
        let to = match call.source.transport {
            Transport::Tcp => call.source,
            Transport::Udp => {
                let addr = uri_host_port(&next_hop)
                    .and_then(|(h, p)| h.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, p)))
                    .unwrap_or(call.source.addr);
                Peer {
                    transport: Transport::Udp,
                    addr,
                }
            }
        };
        (to, req.to_bytes())
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let t2 = self.config.t2;
        let mut resend = Vec::new();
        let mut no_ack = Vec::new();
        for (id, call) in self.calls.iter_mut() {
            let Some((_, r)) = call.pending_2xx.as_mut() else {
                continue;
            };
            if !r.poll(now, t2, &mut resend) {
                if call.state == CallState::Answered {
                    no_ack.push(id.clone());
                }
                call.pending_2xx = None;
            }
        }
        self.rejected.retain(|_, r| r.poll(now, t2, &mut resend));
        // Timer F ends the retransmissions of koe's requests: for a BYE the call is over either way; a
        // REFER never answered is a failed transfer.
        let mut unanswered = Vec::new();
        self.requests.retain_mut(|r| {
            let alive = r
                .retransmit
                .as_mut()
                .is_some_and(|x| x.poll(now, t2, &mut resend));
            if !alive && let Some(id) = r.refer_of.take() {
                unanswered.push(id);
            }
            alive
        });
        for call_id in unanswered {
            self.event(CallEvent::Transfer {
                call_id,
                result: Err("the REFER was never answered".into()),
            });
        }
        self.answered.retain(|_, (_, until)| now < *until);
        self.outputs.extend(resend);
        for id in no_ack {
            warn!(call_id = %id, "no ACK for the 200 OK (Timer H): hanging up");
            self.hangup(&id, HangupBy::System, "no-ack".into(), now);
        }
    }
}

#[cfg(test)]
mod tests;
