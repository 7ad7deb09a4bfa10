//! The UAS core driven in virtual time, each test a protocol trace.

use super::*;

const CALLER: &str = "127.0.0.1:5061";

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: CALLER.parse().unwrap(),
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:5060".parse().unwrap()
}

fn sdp(extra: &str) -> String {
    format!(
        "v=0\r\no=sipp 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n{extra}"
    )
}

fn request(method: &str, call: &str, branch: &str, cseq: u32, to_tag: Option<&str>, body: &str) -> Message {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    let raw = format!(
        "{method} sip:service@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch={branch}\r\n\
From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:service@127.0.0.1>{to_tag}\r\nCall-ID: {call}\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:alice@{CALLER}>\r\nMax-Forwards: 70\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Message::parse(raw.as_bytes()).unwrap()
}

struct Harness {
    core: SipCore,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Harness {
            core: SipCore::new(CoreConfig::default()),
            now: Instant::now(),
        }
    }

    fn input(&mut self, msg: Message) -> Vec<Output> {
        self.input_from(msg, peer())
    }

    fn input_from(&mut self, msg: Message, from: Peer) -> Vec<Output> {
        self.core.handle_message(msg, from, local(), self.now);
        self.drain()
    }

    fn command(&mut self, c: Command) -> Vec<Output> {
        self.core.handle_command(c, self.now);
        self.drain()
    }

    fn advance(&mut self, d: Duration) -> Vec<Output> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.core.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.core.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    /// INVITE → 100, Incoming; Ringing → 180; Answer → 200. Returns koe's To tag.
    fn answered_call(&mut self, call: &str) -> String {
        let out = self.input(request("INVITE", call, "z9hG4bK1", 1, None, &sdp("")));
        assert_eq!(codes(&out), vec![100]);
        assert!(matches!(&events(&out)[..], [CallEvent::Incoming { .. }]));
        assert_eq!(
            codes(&self.command(Command::Ringing { call_id: call.into() })),
            vec![180]
        );
        let out = self.command(Command::Answer {
            call_id: call.into(),
            local_media: "127.0.0.1:20000".parse().unwrap(),
        });
        let ok = sent(&out).remove(0);
        assert_eq!(ok.status(), Some(200));
        assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 20000 RTP/AVP 0 101"));
        ok.to_tag().unwrap().to_string()
    }
}

fn sent(out: &[Output]) -> Vec<Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { data, .. } => Some(Message::parse(data).unwrap()),
            _ => None,
        })
        .collect()
}

fn codes(out: &[Output]) -> Vec<u16> {
    sent(out).iter().filter_map(Message::status).collect()
}

fn events(out: &[Output]) -> Vec<CallEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn basic_call_hung_up_by_the_caller() {
    let mut h = Harness::new();
    let tag = h.answered_call("c1");
    let out = h.input(request("ACK", "c1", "z9hG4bK2", 1, Some(&tag), ""));
    assert_eq!(events(&out), vec![CallEvent::Confirmed { call_id: "c1".into() }]);
    // No retransmission once acknowledged.
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    let out = h.input(request("BYE", "c1", "z9hG4bK3", 2, Some(&tag), ""));
    assert_eq!(codes(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Ended {
            call_id: "c1".into(),
            by: HangupBy::Caller,
            cause: "bye".into()
        }]
    );
    // A retransmitted BYE gets the same 200, not a 481.
    let out = h.input(request("BYE", "c1", "z9hG4bK3", 2, Some(&tag), ""));
    assert_eq!(codes(&out), vec![200]);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn the_200_is_retransmitted_until_ack_then_timer_h_hangs_up() {
    let mut h = Harness::new();
    h.answered_call("c2");
    let out = h.advance(Duration::from_secs(31));
    let resent: Vec<_> = sent(&out)
        .iter()
        .filter(|m| m.status() == Some(200))
        .cloned()
        .collect();
    // T1=500 ms doubling to T2=4 s: retransmits at 0.5, 1.5, 3.5, 7.5, 11.5, ... 27.5 s.
    assert_eq!(resent.len(), 9);
    let out = h.advance(Duration::from_secs(2));
    let bye = sent(&out)
        .into_iter()
        .find(|m| m.method() == Some("BYE"))
        .expect("BYE after Timer H");
    assert_eq!(bye.header("To").unwrap(), "<sip:alice@127.0.0.1>;tag=a1");
    assert_eq!(
        bye.start,
        StartLine::Request {
            method: "BYE".into(),
            uri: format!("sip:alice@{CALLER}")
        }
    );
    assert_eq!(
        events(&out),
        vec![CallEvent::Ended {
            call_id: "c2".into(),
            by: HangupBy::System,
            cause: "no-ack".into()
        }]
    );
}

#[test]
fn cancel_before_answer_is_487() {
    let mut h = Harness::new();
    h.input(request("INVITE", "c3", "z9hG4bKinv", 1, None, &sdp("")));
    let out = h.input(request("CANCEL", "c3", "z9hG4bKinv", 1, None, ""));
    assert_eq!(codes(&out), vec![200, 487]);
    assert!(matches!(&events(&out)[..], [CallEvent::Ended { cause, .. }] if cause == "cancel"));
    // The 487 is retransmitted until the ACK (same branch) arrives, then silence.
    assert_eq!(codes(&h.advance(Duration::from_millis(600))), vec![487]);
    h.input(request("ACK", "c3", "z9hG4bKinv", 1, Some("x"), ""));
    assert!(h.advance(Duration::from_secs(40)).is_empty());
}

#[test]
fn koe_hangs_up_with_bye_and_retransmits_it() {
    let mut h = Harness::new();
    let tag = h.answered_call("c4");
    h.input(request("ACK", "c4", "z9hG4bK2", 1, Some(&tag), ""));
    let out = h.command(Command::Hangup {
        call_id: "c4".into(),
        by: HangupBy::Koe,
        cause: "dtmf-hangup".into(),
    });
    let bye = sent(&out).remove(0);
    assert_eq!(bye.method(), Some("BYE"));
    assert_eq!(bye.from_tag(), Some(tag.as_str()));
    assert_eq!(bye.to_tag(), Some("a1"));
    let branch = bye.via_branch().unwrap().to_string();
    assert_eq!(
        sent(&h.advance(Duration::from_millis(600))).len(),
        1,
        "Timer E retransmission"
    );
    let mut ok = Message::response_to(&bye, 200, "OK");
    ok.set_header("Via", format!("SIP/2.0/UDP 127.0.0.1:5060;branch={branch}"));
    h.input(ok);
    assert!(h.advance(Duration::from_secs(40)).is_empty());
}

#[test]
fn hold_and_resume_by_reinvite() {
    let mut h = Harness::new();
    let tag = h.answered_call("c5");
    h.input(request("ACK", "c5", "z9hG4bK2", 1, Some(&tag), ""));
    let out = h.input(request(
        "INVITE",
        "c5",
        "z9hG4bK3",
        2,
        Some(&tag),
        &sdp("a=sendonly\r\n"),
    ));
    let ok = sent(&out).remove(0);
    let body = String::from_utf8_lossy(&ok.body).to_string();
    assert!(body.contains("a=recvonly"), "{body}");
    assert!(
        body.contains("o=koe ") && body.contains(" 2 IN IP4"),
        "SDP version increments: {body}"
    );
    assert!(
        matches!(&events(&out)[..], [CallEvent::MediaChanged { media, .. }] if media.direction == sdp::Direction::RecvOnly)
    );
    h.input(request("ACK", "c5", "z9hG4bK4", 2, Some(&tag), ""));
    let out = h.input(request(
        "INVITE",
        "c5",
        "z9hG4bK5",
        3,
        Some(&tag),
        &sdp("a=sendrecv\r\n").replace("6000", "6002"),
    ));
    let ok = sent(&out).remove(0);
    assert!(String::from_utf8_lossy(&ok.body).contains("a=sendrecv"));
    assert!(
        matches!(&events(&out)[..], [CallEvent::MediaChanged { media, .. }] if media.remote.unwrap().port() == 6002)
    );
}

#[test]
fn info_dtmf_update_and_options() {
    let mut h = Harness::new();
    let tag = h.answered_call("c6");
    let mut info = request("INFO", "c6", "z9hG4bK7", 2, Some(&tag), "");
    info.set_header("Content-Type", "application/dtmf-relay");
    info.body = b"Signal=5\r\nDuration=160\r\n".to_vec();
    let out = h.input(info);
    assert_eq!(codes(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Dtmf {
            call_id: "c6".into(),
            key: '5'
        }]
    );
    let mut info = request("INFO", "c6", "z9hG4bK8", 3, Some(&tag), "");
    info.set_header("Content-Type", "text/plain");
    info.body = b"hello".to_vec();
    assert_eq!(codes(&h.input(info)), vec![415]);
    let out = h.input(request("UPDATE", "c6", "z9hG4bK9", 4, Some(&tag), ""));
    assert_eq!(codes(&out), vec![200]);
    let out = h.input(request("OPTIONS", "other", "z9hG4bKa", 1, None, ""));
    let ok = sent(&out).remove(0);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header("Allow"), Some(ALLOW));
    assert!(ok.header("Accept").unwrap().contains("application/sdp"));
}

#[test]
fn errors_unknown_dialogs_methods_and_codecs() {
    let mut h = Harness::new();
    assert_eq!(
        codes(&h.input(request("BYE", "nope", "z9hG4bKb", 1, Some("t"), ""))),
        vec![481]
    );
    assert_eq!(
        codes(&h.input(request("FOO", "x", "z9hG4bKc", 1, None, ""))),
        vec![501]
    );
    assert_eq!(
        codes(&h.input(request("SUBSCRIBE", "x", "z9hG4bKd", 1, None, ""))),
        vec![405]
    );
    let g729 = sdp("").replace("0 8 101", "18");
    assert_eq!(
        codes(&h.input(request("INVITE", "x2", "z9hG4bKe", 1, None, &g729))),
        vec![488]
    );
    let out = h.input(request(
        "INVITE",
        "x3",
        "z9hG4bKf",
        1,
        None,
        "v=0\r\nnonsense\r\n",
    ));
    assert_eq!(codes(&out), vec![400]);
    assert!(events(&out).is_empty());
    let mut req = request("INVITE", "x4", "z9hG4bKg", 1, None, &sdp(""));
    req.push_header("Require", "100rel");
    assert_eq!(codes(&h.input(req)), vec![420]);
}

#[test]
fn draining_refuses_new_calls_only() {
    let mut h = Harness::new();
    let tag = h.answered_call("c7");
    h.core.set_draining(true);
    let out = h.input(request("INVITE", "c8", "z9hG4bKh", 1, None, &sdp("")));
    assert_eq!(codes(&out), vec![503]);
    assert_eq!(
        codes(&h.input(request("BYE", "c7", "z9hG4bKi", 2, Some(&tag), ""))),
        vec![200]
    );
}

#[test]
fn invite_retransmission_repeats_the_last_response() {
    let mut h = Harness::new();
    h.input(request("INVITE", "c9", "z9hG4bK1", 1, None, &sdp("")));
    h.command(Command::Ringing { call_id: "c9".into() });
    let out = h.input(request("INVITE", "c9", "z9hG4bK1", 1, None, &sdp("")));
    assert_eq!(codes(&out), vec![180]);
    assert!(events(&out).is_empty(), "a retransmission is not a new call");
}

#[test]
fn malformed_request_gets_400_with_reason() {
    let mut h = Harness::new();
    let raw = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKm\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:b@c>\r\nCall-ID: m1\r\nCSeq: 1 INVITE\r\nContent-Length: 5000\r\n\r\nv=0\r\n";
    let err = Message::parse(raw.as_bytes()).unwrap_err();
    h.core.handle_malformed(&err, peer());
    let out = h.drain();
    let r = sent(&out).remove(0);
    assert_eq!(r.status(), Some(400));
    assert_eq!(r.call_id(), "m1");
}

#[test]
fn blind_transfer_by_refer_settled_by_notify() {
    let mut h = Harness::new();
    let tag = h.answered_call("c20");
    h.input(request("ACK", "c20", "z9hG4bK2", 1, Some(&tag), ""));
    let out = h.command(Command::Refer {
        call_id: "c20".into(),
        target: "sip:sales@example.com".into(),
    });
    let refer = sent(&out).remove(0);
    assert_eq!(refer.method(), Some("REFER"));
    assert_eq!(refer.header("Refer-To"), Some("<sip:sales@example.com>"));
    assert_eq!(refer.from_tag(), Some(tag.as_str()));
    assert!(refer.header("Referred-By").is_some() && refer.header("Contact").is_some());
    let branch = refer.via_branch().unwrap().to_string();
    let mut accepted = Message::response_to(&refer, 202, "Accepted");
    accepted.set_header("Via", format!("SIP/2.0/UDP 127.0.0.1:5060;branch={branch}"));
    assert!(
        events(&h.input(accepted)).is_empty(),
        "202 only accepts; the NOTIFY settles"
    );
    // A provisional NOTIFY, then the final one.
    let mut notify = request(
        "NOTIFY",
        "c20",
        "z9hG4bK9",
        2,
        Some(&tag),
        "SIP/2.0 100 Trying\r\n",
    );
    notify.set_header("Content-Type", "message/sipfrag;version=2.0");
    notify.set_header("Event", "refer");
    let out = h.input(notify);
    assert_eq!(codes(&out), vec![200]);
    assert!(events(&out).is_empty());
    let mut notify = request("NOTIFY", "c20", "z9hG4bK10", 3, Some(&tag), "SIP/2.0 200 OK\r\n");
    notify.set_header("Content-Type", "message/sipfrag;version=2.0");
    let out = h.input(notify);
    assert_eq!(codes(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Transfer {
            call_id: "c20".into(),
            result: Ok(())
        }]
    );
}

#[test]
fn a_refused_or_unanswered_refer_is_a_failed_transfer() {
    let mut h = Harness::new();
    let tag = h.answered_call("c21");
    h.input(request("ACK", "c21", "z9hG4bK2", 1, Some(&tag), ""));
    let out = h.command(Command::Refer {
        call_id: "c21".into(),
        target: "sip:sales@example.com".into(),
    });
    let refer = sent(&out).remove(0);
    let branch = refer.via_branch().unwrap().to_string();
    let mut refused = Message::response_to(&refer, 403, "Forbidden");
    refused.set_header("Via", format!("SIP/2.0/UDP 127.0.0.1:5060;branch={branch}"));
    assert_eq!(
        events(&h.input(refused)),
        vec![CallEvent::Transfer {
            call_id: "c21".into(),
            result: Err("transfer refused with 403".into())
        }]
    );
    // Nobody answers the next one: Timer F (64×T1) gives up.
    h.command(Command::Refer {
        call_id: "c21".into(),
        target: "sip:sales@example.com".into(),
    });
    let out = h.advance(Duration::from_secs(40));
    assert!(events(&out).contains(&CallEvent::Transfer {
        call_id: "c21".into(),
        result: Err("the REFER was never answered".into())
    }));
}

mod register;
mod uac;
