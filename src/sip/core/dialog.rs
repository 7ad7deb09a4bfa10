//! A dialog (RFC 3261 §12) as either side holds it, and the requests koe sends within it.

use super::{Peer, Transport};
use crate::sip::message::{Message, header_uri, uri_host_port};
use std::net::{IpAddr, SocketAddr};

/// Which side of the dialog koe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// koe answered the INVITE.
    Uas,
    /// koe sent the INVITE (to a registered phone).
    Uac,
}

#[derive(Debug)]
pub(super) struct Dialog {
    pub role: Role,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// koe's From in its requests (with koe's tag).
    pub local: String,
    /// The far end's To in koe's requests (with its tag).
    pub remote: String,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    /// The far end's transport address: where its INVITE came from, or where the phone registered from.
    pub peer: Peer,
    /// koe's SIP address as the far end reaches it (for Via and Contact).
    pub local_sip: SocketAddr,
}

fn host_port(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
    }
}

/// koe's Via for a request it sends.
pub(super) fn via(transport: Transport, local_sip: SocketAddr, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {};branch={branch};rport",
        transport.via_name(),
        host_port(local_sip)
    )
}

/// koe's Contact as the far end reaches it.
pub(super) fn contact(local_sip: SocketAddr, transport: Transport) -> String {
    let transport = match transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
    };
    format!("<sip:koe@{}{transport}>", host_port(local_sip))
}

fn cseq_of(msg: &Message) -> u32 {
    msg.cseq().map_or(0, |(n, _)| n)
}

impl Dialog {
    /// koe as UAS, from the INVITE it received.
    pub fn uas(invite: &Message, local_tag: String, peer: Peer, local_sip: SocketAddr) -> Dialog {
        Dialog {
            role: Role::Uas,
            call_id: invite.call_id().to_string(),
            remote_tag: invite.from_tag().map(str::to_string),
            local: format!("{};tag={local_tag}", invite.header("To").unwrap_or_default()),
            local_tag,
            remote: invite.header("From").unwrap_or_default().to_string(),
            remote_target: invite
                .header_uri("Contact")
                .or_else(|| invite.header_uri("From"))
                .unwrap_or_default()
                .to_string(),
            route_set: invite
                .header_values("Record-Route")
                .into_iter()
                .map(str::to_string)
                .collect(),
            local_cseq: rand::random::<u16>() as u32,
            remote_cseq: cseq_of(invite),
            peer,
            local_sip,
        }
    }

    /// koe as UAC, from its INVITE and the 2xx that answered it (§12.1.2: the route set is the 2xx's
    /// Record-Route reversed, the remote target its Contact).
    pub fn uac(invite: &Message, ok: &Message, peer: Peer, local_sip: SocketAddr) -> Dialog {
        let request_uri = match &invite.start {
            super::StartLine::Request { uri, .. } => uri.as_str(),
            super::StartLine::Response { .. } => "",
        };
        let mut route_set: Vec<String> = ok
            .header_values("Record-Route")
            .into_iter()
            .map(str::to_string)
            .collect();
        route_set.reverse();
        Dialog {
            role: Role::Uac,
            call_id: invite.call_id().to_string(),
            local_tag: invite.from_tag().unwrap_or_default().to_string(),
            remote_tag: ok.to_tag().map(str::to_string),
            local: invite.header("From").unwrap_or_default().to_string(),
            remote: ok.header("To").unwrap_or_default().to_string(),
            remote_target: ok.header_uri("Contact").unwrap_or(request_uri).to_string(),
            route_set,
            local_cseq: cseq_of(invite),
            remote_cseq: 0,
            peer,
            local_sip,
        }
    }

    /// Whether a request from the far end belongs to this dialog (its To tag is koe's, its From tag the
    /// far end's).
    pub fn matches(&self, req: &Message) -> bool {
        req.to_tag() == Some(self.local_tag.as_str()) && req.from_tag() == self.remote_tag.as_deref()
    }

    pub fn contact(&self) -> String {
        contact(self.local_sip, self.peer.transport)
    }

    /// koe's address in the dialog (its From URI), e.g. for Referred-By.
    pub fn local_uri(&self) -> &str {
        header_uri(&self.local).unwrap_or_default()
    }

    /// A target refresh (§12.2.2): a re-INVITE or UPDATE with a Contact moves the remote target.
    pub fn refresh_target(&mut self, req: &Message) {
        if let Some(uri) = req.header_uri("Contact") {
            self.remote_target = uri.to_string();
        }
    }

    /// The next request koe sends in the dialog (§12.2.1.1), with the next CSeq: where it goes and its
    /// bytes.
    pub fn request(
        &mut self,
        method: &str,
        branch: &str,
        extra: &[(String, String)],
        user_agent: &str,
    ) -> (Peer, Vec<u8>) {
        self.local_cseq += 1;
        self.build(method, self.local_cseq, branch, extra, user_agent)
    }

    /// The ACK for a 2xx to koe's INVITE number `cseq` (§13.2.2.4): a transaction of its own.
    pub fn ack(&self, cseq: u32, branch: &str, user_agent: &str) -> (Peer, Vec<u8>) {
        self.build("ACK", cseq, branch, &[], user_agent)
    }

    fn build(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &[(String, String)],
        user_agent: &str,
    ) -> (Peer, Vec<u8>) {
        let mut req = Message::request(method, &self.remote_target);
        req.push_header("Via", via(self.peer.transport, self.local_sip, branch));
        req.push_header("Max-Forwards", "70");
        for r in &self.route_set {
            req.push_header("Route", r.clone());
        }
        req.push_header("From", self.local.clone());
        req.push_header("To", self.remote.clone());
        req.push_header("Call-ID", self.call_id.clone());
        req.push_header("CSeq", format!("{cseq} {method}"));
        for (name, value) in extra {
            req.push_header(name, value.clone());
        }
        req.push_header("User-Agent", user_agent.to_string());
        (self.next_hop(), req.to_bytes())
    }

    /// Where koe's requests go: over TCP, the far end's connection; to a phone koe called, the address it
    /// registered from (its Contact may be a private address behind NAT); else the first loose route or
    /// the remote target.
    fn next_hop(&self) -> Peer {
        if self.peer.transport == Transport::Tcp || self.role == Role::Uac {
            return self.peer;
        }
        let next = self
            .route_set
            .first()
            .and_then(|r| header_uri(r))
            .unwrap_or(&self.remote_target);
        let addr = uri_host_port(next)
            .and_then(|(h, p)| h.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, p)))
            .unwrap_or(self.peer.addr);
        Peer {
            transport: Transport::Udp,
            addr,
        }
    }
}
