//! koe as the calling side (RFC 3261 §13.2, §17.1.1): the INVITE to a registered phone, Timers A and B,
//! provisional and final responses, ACK, and CANCEL (§9.1) for a call hung up before it is answered.

use super::dialog::{self, Dialog};
use super::{
    Call, CallEvent, CallState, HangupBy, Message, Peer, Retransmit, SessionDesc, SipCore, StartLine,
    Transport, sdp,
};
use crate::sip::message::is_token;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// What `Command::Dial` asks for.
pub(super) struct DialRequest {
    pub call_id: String,
    pub user: String,
    pub from_uri: String,
    pub from_display: Option<String>,
    pub local_media: SocketAddr,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
enum DialState {
    /// INVITE sent, nothing heard yet (Timers A and B run).
    Calling,
    /// A provisional response came: the phone is alerting.
    Proceeding,
    /// CANCEL sent; waiting for the 487 (or a 200 that crossed it).
    Cancelling { give_up_at: Instant },
}

/// A call koe placed that has no final response yet.
#[derive(Debug)]
pub(super) struct Dial {
    invite: Message,
    branch: String,
    peer: Peer,
    local_sip: SocketAddr,
    local_media: SocketAddr,
    session_id: u64,
    state: DialState,
    /// Timer A (resends over UDP) and Timer B, while Calling.
    timer: Option<Retransmit>,
    rang: bool,
    /// Asked to hang up before the final response: how the call is to end.
    hangup: Option<(HangupBy, String)>,
}

impl Dial {
    pub(super) fn due(&self) -> Option<Instant> {
        match self.state {
            DialState::Cancelling { give_up_at } => Some(give_up_at),
            _ => self.timer.as_ref().map(Retransmit::due),
        }
    }
}

/// Headers a Dial may not set: koe writes them itself.
const RESERVED: [&str; 14] = [
    "via",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "max-forwards",
    "route",
    "record-route",
    "content-type",
    "content-length",
    "allow",
    "user-agent",
    "authorization",
];

/// A SIP URI that can go between angle brackets as it is.
fn plain_sip_uri(uri: &str) -> bool {
    (uri.starts_with("sip:") || uri.starts_with("sips:"))
        && uri.len() > 4
        && !uri.contains(|c: char| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
}

/// A display name as a quoted string (RFC 3261 §25.1), line breaks dropped.
fn quoted(display: &str) -> String {
    let clean: String = display.chars().filter(|c| !c.is_control()).collect();
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How a phone's refusal reads in `Ended`.
fn refusal_cause(code: u16) -> String {
    match code {
        486 | 600 => "busy".into(),
        603 => "declined".into(),
        480 | 408 => "no-answer".into(),
        c => format!("rejected {c}"),
    }
}

/// A request in koe's INVITE transaction (CANCEL, or the ACK of a non-2xx): the INVITE's Request-URI,
/// Via, Route, From, Call-ID and CSeq number (§9.1, §17.1.1.3), with `to` as its To.
fn same_transaction(invite: &Message, method: &str, to: &str, user_agent: &str) -> Vec<u8> {
    let uri = match &invite.start {
        StartLine::Request { uri, .. } => uri.as_str(),
        StartLine::Response { .. } => "",
    };
    let mut req = Message::request(method, uri);
    for name in ["Via", "Max-Forwards", "Route"] {
        for (_, v) in invite.headers.iter().filter(|(n, _)| n == name) {
            req.push_header(name, v.clone());
        }
    }
    req.push_header("From", invite.header("From").unwrap_or_default().to_string());
    req.push_header("To", to.to_string());
    req.push_header("Call-ID", invite.call_id().to_string());
    let cseq = invite.cseq().map_or(0, |(n, _)| n);
    req.push_header("CSeq", format!("{cseq} {method}"));
    req.push_header("User-Agent", user_agent.to_string());
    req.to_bytes()
}

impl SipCore {
    pub(super) fn dial(&mut self, d: DialRequest, now: Instant) {
        if self.calls.contains_key(&d.call_id) || self.dials.contains_key(&d.call_id) {
            warn!(call_id = %d.call_id, "Dial with a Call-ID already in use: ignored");
            return;
        }
        let end = |core: &mut SipCore, cause: &str| {
            core.event(CallEvent::Ended {
                call_id: d.call_id.clone(),
                by: HangupBy::System,
                cause: cause.into(),
            })
        };
        if !plain_sip_uri(&d.from_uri) || !is_token_call_id(&d.call_id) {
            warn!(call_id = %d.call_id, from = %d.from_uri, "Dial with an invalid From URI or Call-ID");
            return end(self, "invalid-dial");
        }
        let Some(binding) = self.registrar.binding(&d.user).cloned() else {
            info!(call_id = %d.call_id, user = %d.user, "Dial: the user has no registered phone");
            return end(self, "not-registered");
        };
        let branch = self.fresh_branch();
        let tag = self.fresh("koe");
        let session_id = rand::random::<u32>() as u64;
        let cseq = rand::random::<u16>() as u32 + 1;
        let transport = binding.source.transport;
        let mut invite = Message::request("INVITE", &binding.contact);
        invite.push_header("Via", dialog::via(transport, binding.local_sip, &branch));
        invite.push_header("Max-Forwards", "70");
        let display = d.from_display.as_deref().map(|n| format!("{} ", quoted(n)));
        invite.push_header(
            "From",
            format!("{}<{}>;tag={tag}", display.unwrap_or_default(), d.from_uri),
        );
        invite.push_header("To", format!("<{}>", binding.aor));
        invite.push_header("Call-ID", d.call_id.clone());
        invite.push_header("CSeq", format!("{cseq} INVITE"));
        invite.push_header("Contact", dialog::contact(binding.local_sip, transport));
        invite.push_header("Allow", super::ALLOW);
        invite.push_header("User-Agent", self.config.user_agent.clone());
        for (name, value) in &d.headers {
            let reserved = RESERVED.contains(&name.to_ascii_lowercase().as_str());
            if !is_token(name) || reserved || value.contains(['\r', '\n']) {
                warn!(call_id = %d.call_id, header = %name, "Dial header left out");
                continue;
            }
            invite.push_header(name, value.clone());
        }
        invite.push_header("Content-Type", "application/sdp");
        invite.body = sdp::offer(d.local_media, session_id, 1).into_bytes();
        let data = self.send(binding.source, &invite);
        let timer = Retransmit::on_transport(binding.source, data, now, self.config.t1);
        self.dials.insert(
            d.call_id,
            Dial {
                invite,
                branch,
                peer: binding.source,
                local_sip: binding.local_sip,
                local_media: d.local_media,
                session_id,
                state: DialState::Calling,
                timer: Some(timer),
                rang: false,
                hangup: None,
            },
        );
    }

    /// A response to one of koe's INVITEs: a dial's, or a retransmitted final one already ACKed.
    pub(super) fn on_invite_response(&mut self, code: u16, msg: &Message, now: Instant) {
        let Some(branch) = msg.via_branch() else { return };
        if let Some((to, ack, _)) = self.acked.get(branch) {
            if code >= 200 {
                let (to, data) = (*to, ack.clone());
                self.send_raw(to, data);
            }
            return;
        }
        let call_id = msg.call_id().to_string();
        if self.dials.get(&call_id).is_none_or(|d| d.branch != branch) {
            return;
        }
        match code {
            100..=199 => self.provisional(&call_id, code, now),
            200..=299 => self.dial_answered(&call_id, msg, now),
            _ => self.dial_refused(&call_id, code, msg, now),
        }
    }

    fn provisional(&mut self, call_id: &str, code: u16, now: Instant) {
        let dial = self.dials.get_mut(call_id).expect("caller checked");
        dial.timer = None;
        if dial.state == DialState::Calling {
            dial.state = DialState::Proceeding;
        }
        let ringing = matches!(code, 180 | 183) && !dial.rang;
        dial.rang |= ringing;
        // A hangup asked for while nothing was heard: CANCEL may go now (§9.1).
        if let Some((by, cause)) = dial.hangup.take() {
            self.cancel_dial(call_id, by, cause, now);
        } else if ringing {
            self.event(CallEvent::Ringing {
                call_id: call_id.to_string(),
            });
        }
    }

    fn dial_answered(&mut self, call_id: &str, ok: &Message, now: Instant) {
        let dial = self.dials.remove(call_id).expect("caller checked");
        let mut dialog = Dialog::uac(&dial.invite, ok, dial.peer, dial.local_sip);
        let cseq = dial.invite.cseq().map_or(0, |(n, _)| n);
        let ack_branch = self.fresh_branch();
        let (to, ack) = dialog.ack(cseq, &ack_branch, &self.config.user_agent);
        let ack = self.send_raw(to, ack);
        self.acked
            .insert(dial.branch.clone(), (to, ack, now + 64 * self.config.t1));
        if let Some((by, cause)) = dial.hangup {
            // The 200 crossed koe's CANCEL (§9.1): the call is up, so it is ended with a BYE.
            self.send_bye(&mut dialog, now);
            return self.event(CallEvent::Ended {
                call_id: call_id.to_string(),
                by,
                cause,
            });
        }
        let answer = (ok.content_type().as_deref() == Some("application/sdp"))
            .then(|| String::from_utf8_lossy(&ok.body).to_string())
            .ok_or_else(|| "no SDP answer".to_string())
            .and_then(|text| {
                let sd = SessionDesc::parse(&text).map_err(|e| e.to_string())?;
                let media = sd.negotiate().map_err(|e| e.to_string())?;
                Ok((sd, media))
            });
        let (remote_sdp, media) = match answer {
            Ok(v) => v,
            Err(why) => {
                warn!(%call_id, %why, "the phone's answer is unusable: hanging up");
                self.send_bye(&mut dialog, now);
                return self.event(CallEvent::Ended {
                    call_id: call_id.to_string(),
                    by: HangupBy::System,
                    cause: "bad-answer".into(),
                });
            }
        };
        self.calls.insert(
            call_id.to_string(),
            Call {
                dialog,
                state: CallState::Confirmed,
                inbound: None,
                remote_sdp,
                media: media.clone(),
                local_media: Some(dial.local_media),
                session_id: dial.session_id,
                sdp_version: 1,
                pending_2xx: None,
            },
        );
        self.event(CallEvent::Answered {
            call_id: call_id.to_string(),
            media,
        });
    }

    fn dial_refused(&mut self, call_id: &str, code: u16, msg: &Message, now: Instant) {
        let dial = self.dials.remove(call_id).expect("caller checked");
        let to = msg.header("To").unwrap_or_default();
        let ack = same_transaction(&dial.invite, "ACK", to, &self.config.user_agent);
        let ack = self.send_raw(dial.peer, ack);
        // Timer D: 32 s over UDP to absorb retransmitted finals; none over TCP.
        let keep = match dial.peer.transport {
            Transport::Udp => Duration::from_secs(32).max(64 * self.config.t1),
            Transport::Tcp => Duration::ZERO,
        };
        self.acked.insert(dial.branch, (dial.peer, ack, now + keep));
        let (by, cause) = dial
            .hangup
            .unwrap_or_else(|| (HangupBy::Caller, refusal_cause(code)));
        info!(%call_id, code, %cause, "the dialled phone refused");
        self.event(CallEvent::Ended {
            call_id: call_id.to_string(),
            by,
            cause,
        });
    }

    /// Hangs up a call not answered yet: CANCEL once the phone answered provisionally, else later.
    pub(super) fn cancel_dial(&mut self, call_id: &str, by: HangupBy, cause: String, now: Instant) {
        let t1 = self.config.t1;
        let Some(dial) = self.dials.get_mut(call_id) else {
            return;
        };
        match dial.state {
            DialState::Calling => dial.hangup = Some((by, cause)),
            DialState::Proceeding => {
                dial.hangup = Some((by, cause));
                dial.state = DialState::Cancelling {
                    give_up_at: now + 64 * t1,
                };
                let to = dial.invite.header("To").unwrap_or_default();
                let cancel = same_transaction(&dial.invite, "CANCEL", to, &self.config.user_agent);
                let (peer, branch) = (dial.peer, dial.branch.clone());
                self.send_txn(peer, cancel, branch, None, now);
            }
            DialState::Cancelling { .. } => {}
        }
    }

    /// Timer B (no answer at all to the INVITE) and the end of waiting for a cancelled INVITE's final
    /// response (§9.1: 64×T1).
    pub(super) fn dial_timeouts(&mut self, now: Instant) {
        let mut resend = Vec::new();
        let mut over = Vec::new();
        for (id, dial) in self.dials.iter_mut() {
            let alive = match (&dial.state, dial.timer.as_mut()) {
                (DialState::Cancelling { give_up_at }, _) => now < *give_up_at,
                // Timer A is not capped at T2 (§17.1.1.2).
                (_, Some(timer)) => timer.poll(now, Duration::MAX, &mut resend),
                (_, None) => true,
            };
            if !alive {
                over.push(id.clone());
            }
        }
        self.outputs.extend(resend);
        for id in over {
            let dial = self.dials.remove(&id).expect("listed");
            let (by, cause) = dial.hangup.unwrap_or((HangupBy::System, "timeout".into()));
            info!(call_id = %id, %cause, "the dialled phone never answered the INVITE");
            self.event(CallEvent::Ended {
                call_id: id,
                by,
                cause,
            });
        }
    }
}

/// A Call-ID koe can write as it is (RFC 3261 §25.1 `word ["@" word]`, without the rarer characters).
fn is_token_call_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~@:".contains(&b))
}
