//! The SIP user-agent core, sans-IO: datagrams, commands and time go in; datagrams to send and call
//! events come out. RFC 3261 transactions and dialogs for koe as a UAS (it answers callers, hangs up,
//! transfers) and as a UAC (it calls agents' phones), and a registrar with digest authentication for
//! those phones.
//!
//! Drive it like str0m's `Rtc`: feed [`SipCore::handle_message`], [`SipCore::handle_command`] or
//! [`SipCore::handle_timeout`], then drain [`SipCore::poll_output`] and sleep until
//! [`SipCore::poll_timeout`]. Invariant: every call announced with `CallEvent::Incoming` or asked for with
//! `Command::Dial` ends with exactly one `CallEvent::Ended`.

mod dialog;
mod uac;
mod uas;

use super::message::{Message, StartLine};
use super::registrar::{self, Account, Binding, Registrar};
use super::sdp::{self, Negotiated, SdpError, SessionDesc};
use crate::media::dtmf;
use dialog::Dialog;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REGISTER";
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";
/// Methods koe knows but does not serve: 405 with Allow, rather than 501.
const KNOWN_UNSUPPORTED: [&str; 5] = ["SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER", "PRACK"];

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

/// Who ended a call. For a call koe placed (`Command::Dial`), `Caller` is the called phone's side.
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
    /// A phone koe dialled is ringing (180 or 183; once per call).
    Ringing {
        call_id: String,
    },
    /// A phone koe dialled answered (its 200 OK is acknowledged); `media` is what its answer agreed.
    Answered {
        call_id: String,
        media: Negotiated,
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
    /// Causes: "bye", "cancel", "no-ack", "rejected NNN" (koe refused), and for dialled calls
    /// "not-registered", "invalid-dial", "timeout", "busy", "declined", "no-answer", "rejected NNN" (the
    /// phone refused), "bad-answer"; a hangup command's own cause otherwise.
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
    /// A phone's registration appeared, was refreshed or went away (`expires_s` 0: removed, expired, or
    /// its account deleted).
    Registration {
        user: String,
        contact: String,
        source: Peer,
        expires_s: u32,
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
    /// A dialled call not yet answered is cancelled (CANCEL once the phone has answered provisionally).
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
    /// Calls the phone registered for `user` with an SDP offer for `local_media` (koe's RTP address).
    /// `call_id` names the new leg in every event about it and must be unique (a Dial whose call_id is
    /// in use is ignored and logged). `headers` are added to the INVITE (e.g. `X-Koe-Call`); names that
    /// are not tokens, values with line breaks and the headers koe sets itself are left out.
    Dial {
        call_id: String,
        user: String,
        from_uri: String,
        from_display: Option<String>,
        local_media: SocketAddr,
        headers: Vec<(String, String)>,
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
    /// The registrar's digest realm.
    pub realm: String,
    /// Also offer SHA-256 digest (RFC 8760) in 401s, before MD5. Off by default: libre before 2.x
    /// (baresip 1.0, Debian 12's) fails on a challenge set that has any algorithm but MD5.
    pub digest_sha256: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            user_agent: "koe".into(),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            realm: "koe".into(),
            digest_sha256: false,
        }
    }
}

/// A message sent again on a doubling interval until acknowledged or timed out (Timers G/H, E/F, A/B).
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

    /// Over TCP nothing is resent (the transport is reliable); only the 64×T1 timeout runs.
    fn on_transport(to: Peer, data: Vec<u8>, now: Instant, t1: Duration) -> Self {
        let mut r = Retransmit::new(to, data, now, t1);
        if to.transport == Transport::Tcp {
            r.next_at = r.give_up_at;
        }
        r
    }

    /// Queues a resend when one is due, doubling the interval up to `cap`; false once timed out.
    fn poll(&mut self, now: Instant, cap: Duration, out: &mut Vec<Output>) -> bool {
        if now >= self.give_up_at {
            return false;
        }
        if now >= self.next_at {
            out.push(Output::Send {
                to: self.to,
                data: self.data.clone(),
            });
            self.interval = (self.interval * 2).min(cap);
            self.next_at = now + self.interval;
        }
        true
    }

    fn due(&self) -> Instant {
        self.next_at.min(self.give_up_at)
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

/// The INVITE of a call koe answers, and the last response to it (resent when the INVITE is).
#[derive(Debug)]
struct Inbound {
    invite: Message,
    branch: String,
    last_response: Option<Vec<u8>>,
}

/// An established (or, for koe as UAS, being answered) call.
#[derive(Debug)]
struct Call {
    dialog: Dialog,
    state: CallState,
    /// Some when koe is the UAS.
    inbound: Option<Inbound>,
    /// The far end's last session description (its offer, or its answer to koe's offer).
    remote_sdp: SessionDesc,
    media: Negotiated,
    local_media: Option<SocketAddr>,
    session_id: u64,
    sdp_version: u64,
    /// The 2xx to the INVITE or a re-INVITE, resent until ACK; the CSeq it answers.
    pending_2xx: Option<(u32, Retransmit)>,
}

/// A request koe sent within a dialog (BYE, REFER, CANCEL), until its final response or Timer F.
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
    /// Calls koe placed that have no final response yet.
    dials: HashMap<String, uac::Dial>,
    /// ACKs koe sent for final responses to its INVITEs, by the INVITE's branch, resent when the response
    /// is (Timer D for non-2xx, RFC 6026's Timer M for 2xx).
    acked: HashMap<String, (Peer, Vec<u8>, Instant)>,
    /// Responses to non-INVITE requests, kept for retransmitted requests (Timer J), by branch+method.
    answered: HashMap<(String, String), (Vec<u8>, Instant)>,
    /// Non-2xx final responses to INVITEs whose call is gone, resent until their ACK (Timer G/H).
    rejected: HashMap<String, Retransmit>,
    requests: Vec<OutTxn>,
    registrar: Registrar,
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
        401 => "Unauthorized",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
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
        let algorithms = if config.digest_sha256 {
            vec![super::digest::Algorithm::Sha256, super::digest::Algorithm::Md5]
        } else {
            vec![super::digest::Algorithm::Md5]
        };
        SipCore {
            registrar: Registrar::new(config.realm.clone(), algorithms),
            config,
            calls: HashMap::new(),
            dials: HashMap::new(),
            acked: HashMap::new(),
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

    /// Replaces the accounts phones register with (at any time); the bindings of removed accounts go,
    /// each with a `Registration` event of `expires_s` 0.
    pub fn set_accounts(&mut self, accounts: Vec<Account>) {
        let changes = self.registrar.set_accounts(accounts);
        self.registration_events(changes);
    }

    /// Where `user`'s phone is registered (the binding registered or refreshed last).
    pub fn binding(&self, user: &str) -> Option<&Binding> {
        self.registrar.binding(user)
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len() + self.dials.len()
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
            .map(|(_, r)| r.due());
        let rejected = self.rejected.values().map(Retransmit::due);
        let requests = self
            .requests
            .iter()
            .filter_map(|b| b.retransmit.as_ref())
            .map(Retransmit::due);
        let answered = self.answered.values().map(|(_, t)| *t);
        let acked = self.acked.values().map(|(_, _, t)| *t);
        let dials = self.dials.values().filter_map(uac::Dial::due);
        calls
            .chain(rejected)
            .chain(requests)
            .chain(answered)
            .chain(acked)
            .chain(dials)
            .chain(self.registrar.next_expiry())
            .min()
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter = self.counter.wrapping_add(1);
        format!("{prefix}{:x}{:08x}", self.counter, rand::random::<u32>())
    }

    fn fresh_branch(&mut self) -> String {
        format!("z9hG4bK{}", self.fresh(""))
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

    fn registration_events(&mut self, changes: Vec<registrar::Change>) {
        for c in changes {
            info!(user = %c.user, contact = %c.contact, source = %c.source.addr, expires_s = c.expires_s, "registration");
            self.event(CallEvent::Registration {
                user: c.user,
                contact: c.contact,
                source: c.source,
                expires_s: c.expires_s,
            });
        }
    }

    /// Answers `req` with `code` (and `reason`, else the usual phrase); returns the bytes sent.
    fn reply(
        &mut self,
        req: &Message,
        to: Peer,
        code: u16,
        reason: Option<&str>,
        extra: &[(&str, String)],
    ) -> Vec<u8> {
        // A final response needs a To tag even when it creates no dialog (RFC 3261 §8.2.6.2).
        let tag = (code >= 200 && req.to_tag().is_none()).then(|| self.fresh("k"));
        let mut r = response(req, code, reason.unwrap_or(reason_phrase(code)), tag.as_deref());
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
        let data = self.reply(req, from, code, None, extra);
        self.remember_answer(req, from, data, now);
    }

    fn remember_answer(&mut self, req: &Message, from: Peer, data: Vec<u8>, now: Instant) {
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
            StartLine::Response { code, .. } => self.handle_response(*code, &msg, now),
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
                let extra = [("Allow", ALLOW.to_string()), ("Accept", ACCEPT.to_string())];
                self.reply_non_invite(&req, from, 200, &extra, now)
            }
            "INFO" => self.on_info(&req, from, now),
            "UPDATE" => self.on_update(&req, from, now),
            "NOTIFY" => self.on_notify(&req, from, now),
            "REGISTER" => self.on_register(&req, from, local_sip, now),
            m if KNOWN_UNSUPPORTED.contains(&m) => {
                self.reply_non_invite(&req, from, 405, &[("Allow", ALLOW.to_string())], now)
            }
            _ => self.reply_non_invite(&req, from, 501, &[("Allow", ALLOW.to_string())], now),
        }
    }

    fn on_register(&mut self, req: &Message, from: Peer, local_sip: SocketAddr, now: Instant) {
        let (answer, changes) = self.registrar.register(req, from, local_sip, now);
        let data = self.reply(req, from, answer.code, answer.reason.as_deref(), &answer.headers);
        self.remember_answer(req, from, data, now);
        self.registration_events(changes);
    }

    /// The call this in-dialog request belongs to, or a 481.
    fn dialog_of(&mut self, req: &Message, from: Peer, now: Instant) -> Option<String> {
        let id = req.call_id().to_string();
        if self.calls.get(&id).is_some_and(|c| c.dialog.matches(req)) {
            Some(id)
        } else {
            self.reply_non_invite(req, from, 481, &[], now);
            None
        }
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
        if cseq <= call.dialog.remote_cseq {
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
        call.dialog.remote_cseq = cseq;
        call.dialog.refresh_target(&req);
        let msg = Self::ok_with_sdp(&req, call, answer, &self.config.user_agent);
        let data = self.send(from, &msg);
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
                sdp::answer(&call.remote_sdp, &neg, local, call.session_id, call.sdp_version),
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
                call.remote_sdp = offer;
                call.media = neg.clone();
                Some((answer, neg))
            }
            Err(SdpError::NoCommonCodec) => {
                self.reply_non_invite(req, from, 488, &[], now);
                None
            }
            Err(SdpError::Malformed(why)) => {
                self.reply(req, from, 400, Some(&format!("Bad Request ({why})")), &[]);
                None
            }
        }
    }

    fn ok_with_sdp(req: &Message, call: &Call, sdp: String, user_agent: &str) -> Message {
        let mut r = response(req, 200, "OK", Some(&call.dialog.local_tag));
        r.push_header("Contact", call.dialog.contact());
        r.push_header("Allow", ALLOW);
        r.push_header("Server", user_agent.to_string());
        r.push_header("Content-Type", "application/sdp");
        r.body = sdp.into_bytes();
        r
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
                        let why = "Bad Request (no DTMF signal in body)";
                        self.reply(req, from, 400, Some(why), &[]);
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
        let call = self.calls.get_mut(&id).expect("exists");
        call.dialog.refresh_target(req);
        let msg = Self::ok_with_sdp(req, call, answer, &self.config.user_agent);
        let data = self.send(from, &msg);
        self.remember_answer(req, from, data, now);
        self.event(CallEvent::MediaChanged { call_id: id, media });
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

    fn handle_response(&mut self, code: u16, msg: &Message, now: Instant) {
        if msg.cseq().is_some_and(|(_, m)| m == "INVITE") {
            return self.on_invite_response(code, msg, now);
        }
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
            Command::Ringing { call_id } => self.ring(&call_id),
            Command::Answer { call_id, local_media } => self.answer(&call_id, local_media, now),
            Command::Reject {
                call_id,
                code,
                reason,
            } => self.refuse(&call_id, code, &reason, now),
            Command::Hangup { call_id, by, cause } => self.hangup(&call_id, by, cause, now),
            Command::Refer { call_id, target } => self.send_refer(&call_id, &target, now),
            Command::Dial {
                call_id,
                user,
                from_uri,
                from_display,
                local_media,
                headers,
            } => self.dial(
                uac::DialRequest {
                    call_id,
                    user,
                    from_uri,
                    from_display,
                    local_media,
                    headers,
                },
                now,
            ),
        }
    }

    fn send_refer(&mut self, call_id: &str, target: &str, now: Instant) {
        let Some(call) = self.calls.get(call_id) else {
            return;
        };
        if call.state == CallState::Proceeding {
            return;
        }
        let extra = [
            ("Refer-To".to_string(), format!("<{target}>")),
            (
                "Referred-By".to_string(),
                format!("<{}>", call.dialog.local_uri()),
            ),
            ("Contact".to_string(), call.dialog.contact()),
        ];
        let branch = self.fresh_branch();
        let call = self.calls.get_mut(call_id).expect("exists");
        let (to, data) = call
            .dialog
            .request("REFER", &branch, &extra, &self.config.user_agent);
        self.send_txn(to, data, branch, Some(call_id.to_string()), now);
    }

    /// Sends a non-INVITE request koe starts and tracks it until its answer (Timer E/F over UDP).
    fn send_txn(&mut self, to: Peer, data: Vec<u8>, branch: String, refer_of: Option<String>, now: Instant) {
        let data = self.send_raw(to, data);
        let retransmit =
            (to.transport == Transport::Udp).then(|| Retransmit::new(to, data, now, self.config.t1));
        self.requests.push(OutTxn {
            branch,
            retransmit,
            refer_of,
        });
    }

    /// Ends a call from koe's side: BYE once answered, 480 before; a dialled call not answered yet is
    /// cancelled.
    fn hangup(&mut self, call_id: &str, by: HangupBy, cause: String, now: Instant) {
        if self.dials.contains_key(call_id) {
            return self.cancel_dial(call_id, by, cause, now);
        }
        let Some(mut call) = self.calls.remove(call_id) else {
            return;
        };
        match (&call.state, &call.inbound) {
            (CallState::Proceeding, Some(inbound)) => {
                let mut r = response(
                    &inbound.invite,
                    480,
                    "Temporarily Unavailable",
                    Some(&call.dialog.local_tag),
                );
                r.push_header("Server", self.config.user_agent.clone());
                let data = self.send(call.dialog.peer, &r);
                self.remember_rejection(&inbound.invite, call.dialog.peer, data, now);
            }
            _ => self.send_bye(&mut call.dialog, now),
        }
        self.event(CallEvent::Ended {
            call_id: call_id.to_string(),
            by,
            cause,
        });
    }

    /// BYE within the dialog.
    fn send_bye(&mut self, dialog: &mut Dialog, now: Instant) {
        let branch = self.fresh_branch();
        let (to, data) = dialog.request("BYE", &branch, &[], &self.config.user_agent);
        self.send_txn(to, data, branch, None, now);
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
        self.acked.retain(|_, (_, _, until)| now < *until);
        self.outputs.extend(resend);
        self.dial_timeouts(now);
        for id in no_ack {
            warn!(call_id = %id, "no ACK for the 200 OK (Timer H): hanging up");
            self.hangup(&id, HangupBy::System, "no-ack".into(), now);
        }
        let expired = self.registrar.expire(now);
        self.registration_events(expired);
    }
}

#[cfg(test)]
mod tests;
