//! koe as the called side: the INVITE server transaction (100, 180, 2xx until ACK, non-2xx until ACK),
//! CANCEL, and the answer koe gives.

use super::{
    Call, CallEvent, CallState, Dialog, HangupBy, Inbound, Message, Output, Peer, Retransmit, SdpError,
    SessionDesc, SipCore, response, sdp,
};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::info;

impl SipCore {
    pub(super) fn on_invite(&mut self, req: Message, from: Peer, local_sip: SocketAddr, now: Instant) {
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
            match &call.inbound {
                // A retransmission: repeat what was last said (100 Trying if nothing else yet).
                Some(inbound) if inbound.branch == branch => match inbound.last_response.clone() {
                    Some(data) => self.outputs.push_back(Output::Send { to: from, data }),
                    None => {
                        self.reply(&req, from, 100, None, &[]);
                    }
                },
                _ => self.reject(&req, from, 482, &[], now),
            }
            return;
        }
        if self.dials.contains_key(&call_id) {
            return self.reject(&req, from, 482, &[], now);
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
        let trying = self.reply(&req, from, 100, None, &[]);
        let from_uri = req.header_uri("From").unwrap_or_default().to_string();
        let to_uri = req.header_uri("To").unwrap_or_default().to_string();
        let call = Call {
            dialog: Dialog::uas(&req, local_tag, from, local_sip),
            state: CallState::Proceeding,
            inbound: Some(Inbound {
                invite: req,
                branch,
                last_response: Some(trying),
            }),
            remote_sdp: offer,
            media: media.clone(),
            local_media: None,
            session_id: rand::random::<u32>() as u64,
            sdp_version: 1,
            pending_2xx: None,
        };
        self.calls.insert(call_id.clone(), call);
        self.event(CallEvent::Incoming {
            call_id,
            from: from_uri,
            to: to_uri,
            media,
            source: from,
        });
    }

    pub(super) fn reject(
        &mut self,
        req: &Message,
        from: Peer,
        code: u16,
        extra: &[(&str, String)],
        now: Instant,
    ) {
        let data = self.reply(req, from, code, None, extra);
        self.remember_rejection(req, from, data, now);
    }

    pub(super) fn reject_with_reason(
        &mut self,
        req: &Message,
        from: Peer,
        code: u16,
        reason: &str,
        now: Instant,
    ) {
        let data = self.reply(req, from, code, Some(reason), &[]);
        self.remember_rejection(req, from, data, now);
    }

    pub(super) fn remember_rejection(&mut self, req: &Message, from: Peer, data: Vec<u8>, now: Instant) {
        let branch = req.via_branch().unwrap_or_default().to_string();
        // Over TCP: no Timer G, only wait for the ACK (Timer H).
        let r = Retransmit::on_transport(from, data, now, self.config.t1);
        self.rejected.insert(branch, r);
    }

    /// The call koe is answering, while its INVITE has no final response.
    fn proceeding(&self, call_id: &str) -> Option<&Call> {
        self.calls
            .get(call_id)
            .filter(|c| c.state == CallState::Proceeding && c.inbound.is_some())
    }

    pub(super) fn ring(&mut self, call_id: &str) {
        let Some(call) = self.proceeding(call_id) else {
            return;
        };
        let inbound = call.inbound.as_ref().expect("proceeding");
        let mut r = response(&inbound.invite, 180, "Ringing", Some(&call.dialog.local_tag));
        r.push_header("Contact", call.dialog.contact());
        let to = call.dialog.peer;
        let data = self.send(to, &r);
        let call = self.calls.get_mut(call_id).expect("exists");
        if let Some(inbound) = call.inbound.as_mut() {
            inbound.last_response = Some(data);
        }
    }

    pub(super) fn answer(&mut self, call_id: &str, local_media: SocketAddr, now: Instant) {
        if self.proceeding(call_id).is_none() {
            return;
        }
        let call = self.calls.get_mut(call_id).expect("proceeding");
        let inbound = call.inbound.as_ref().expect("proceeding");
        call.local_media = Some(local_media);
        let answer = sdp::answer(
            &call.remote_sdp,
            &call.media,
            local_media,
            call.session_id,
            call.sdp_version,
        );
        let msg = Self::ok_with_sdp(&inbound.invite, call, answer, &self.config.user_agent);
        let data = msg.to_bytes();
        let cseq = inbound.invite.cseq().map(|(n, _)| n).unwrap_or(0);
        let to = call.dialog.peer;
        call.state = CallState::Answered;
        if let Some(inbound) = call.inbound.as_mut() {
            inbound.last_response = Some(data.clone());
        }
        call.pending_2xx = Some((cseq, Retransmit::new(to, data.clone(), now, self.config.t1)));
        self.outputs.push_back(Output::Send { to, data });
    }

    pub(super) fn refuse(&mut self, call_id: &str, code: u16, reason: &str, now: Instant) {
        if self.proceeding(call_id).is_none() {
            return;
        }
        let call = self.calls.remove(call_id).expect("proceeding");
        let inbound = call.inbound.expect("proceeding");
        let mut r = response(&inbound.invite, code, reason, Some(&call.dialog.local_tag));
        r.push_header("Server", self.config.user_agent.clone());
        let data = self.send(call.dialog.peer, &r);
        self.remember_rejection(&inbound.invite, call.dialog.peer, data, now);
        self.event(CallEvent::Ended {
            call_id: call_id.to_string(),
            by: HangupBy::Koe,
            cause: format!("rejected {code}"),
        });
    }

    pub(super) fn on_ack(&mut self, req: &Message) {
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

    pub(super) fn on_cancel(&mut self, req: &Message, from: Peer, now: Instant) {
        let id = req.call_id().to_string();
        // RFC 3261 §9.2 matches by branch; callers that reuse neither get the RFC 2543 rule (§17.2.3):
        // same Call-ID, From tag and CSeq number as the INVITE.
        let matches = self
            .calls
            .get(&id)
            .and_then(|c| c.inbound.as_ref())
            .is_some_and(|inbound| {
                Some(inbound.branch.as_str()) == req.via_branch()
                    || (req.from_tag() == inbound.invite.from_tag()
                        && req.cseq().map(|(n, _)| n) == inbound.invite.cseq().map(|(n, _)| n))
            });
        if !matches {
            return self.reply_non_invite(req, from, 481, &[], now);
        }
        self.reply_non_invite(req, from, 200, &[], now);
        if self.proceeding(&id).is_none() {
            return; // the final response was already sent: CANCEL has no effect (RFC 3261 §9.2)
        }
        let call = self.calls.remove(&id).expect("matched");
        let inbound = call.inbound.expect("proceeding");
        let mut r = response(
            &inbound.invite,
            487,
            "Request Terminated",
            Some(&call.dialog.local_tag),
        );
        r.push_header("Server", self.config.user_agent.clone());
        let data = self.send(call.dialog.peer, &r);
        self.remember_rejection(&inbound.invite, call.dialog.peer, data, now);
        self.event(CallEvent::Ended {
            call_id: id,
            by: HangupBy::Caller,
            cause: "cancel".into(),
        });
    }
}
