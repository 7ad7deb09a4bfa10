//! koe calling a registered phone: the INVITE client transaction (Timers A and B), provisional and
//! final responses, ACKs, CANCEL and its race with a 200, and the phone's requests in the dialog; then
//! one SipCore dialling another through the wire bytes.

use super::register::{PHONE, Phone, accounts};
use super::*;

const MEDIA: &str = "127.0.0.1:30000";

fn dial_command(call_id: &str) -> Command {
    Command::Dial {
        call_id: call_id.into(),
        user: "agent1".into(),
        from_uri: "sip:+81312345678@koe".into(),
        from_display: Some("Caller \"A\"".into()),
        local_media: MEDIA.parse().unwrap(),
        headers: vec![
            ("X-Koe-Call".into(), "call-42".into()),
            ("Via".into(), "SIP/2.0/UDP 192.0.2.1".into()),
            ("X-Bad".into(), "a\r\nInjected: 1".into()),
            ("Bad Name".into(), "x".into()),
        ],
    }
}

/// A harness where agent1's phone registered from PHONE.
fn registered() -> (Harness, Phone) {
    let mut h = Harness::new();
    h.core.set_accounts(accounts());
    let mut phone = Phone::new("agent1", "secret", PHONE);
    assert_eq!(codes(&phone.register(&mut h, 3600)), vec![200]);
    (h, phone)
}

fn sent_to(out: &[Output]) -> Vec<(Peer, Message)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, data } => Some((*to, Message::parse(data).unwrap())),
            _ => None,
        })
        .collect()
}

/// Dials agent1 and returns the INVITE, checking it went to where the phone registered from.
fn dial(h: &mut Harness, phone: &Phone, call_id: &str) -> Message {
    let out = h.command(dial_command(call_id));
    assert!(events(&out).is_empty());
    let mut sent = sent_to(&out);
    assert_eq!(sent.len(), 1);
    let (to, invite) = sent.remove(0);
    assert_eq!(to, phone.peer());
    invite
}

/// The phone's answer to koe's INVITE, with its To tag "ph1".
fn phone_response(invite: &Message, code: u16, contact: &str, body: &str) -> Message {
    let mut r = response(invite, code, reason_phrase(code), Some("ph1"));
    if !contact.is_empty() {
        r.push_header("Contact", contact.to_string());
    }
    if !body.is_empty() {
        r.push_header("Content-Type", "application/sdp");
        r.body = body.as_bytes().to_vec();
    }
    r
}

/// A response to one of koe's non-INVITE requests.
fn ok_to(req: &Message) -> Message {
    response(req, 200, "OK", Some("ph1"))
}

/// A request the phone sends in the dialog koe's INVITE made.
fn phone_request(method: &str, invite: &Message, branch: &str, cseq: u32, body: &str) -> Message {
    let from_koe = invite.header("From").unwrap();
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    let raw = format!(
        "{method} sip:koe@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch={branch}\r\n\
From: <sip:agent1@127.0.0.1>;tag=ph1\r\nTo: {from_koe}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
Contact: <sip:agent1@{PHONE}>\r\nMax-Forwards: 70\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        invite.call_id(),
        body.len()
    );
    Message::parse(raw.as_bytes()).unwrap()
}

fn ended(out: &[Output]) -> Vec<(HangupBy, String)> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Ended { by, cause, .. } => Some((by, cause)),
            _ => None,
        })
        .collect()
}

fn cseq_number(m: &Message) -> u32 {
    m.cseq().unwrap().0
}

/// Dials, and the phone answers at once with 200 (Contact at a private address, two Record-Routes).
fn answered(h: &mut Harness, phone: &Phone, call_id: &str) -> (Message, Vec<Output>) {
    let invite = dial(h, phone, call_id);
    let mut ok = phone_response(&invite, 200, "<sip:agent1@10.0.0.5:5062>", &sdp(""));
    ok.push_header("Record-Route", "<sip:p1@127.0.0.1;lr>, <sip:p2@127.0.0.1;lr>");
    let out = h.input_from(ok, phone.peer());
    (invite, out)
}

#[test]
fn a_dial_without_a_registered_phone_ends_at_once() {
    let mut h = Harness::new();
    h.core.set_accounts(accounts());
    let out = h.command(dial_command("d1"));
    assert!(sent(&out).is_empty());
    assert_eq!(
        events(&out),
        vec![CallEvent::Ended {
            call_id: "d1".into(),
            by: HangupBy::System,
            cause: "not-registered".into()
        }]
    );
    let (mut h, _) = registered();
    let mut bad = dial_command("d2");
    if let Command::Dial { from_uri, .. } = &mut bad {
        *from_uri = "sip:x>\r\nVia: evil".into();
    }
    let out = h.command(bad);
    assert!(sent(&out).is_empty());
    assert_eq!(ended(&out), vec![(HangupBy::System, "invalid-dial".to_string())]);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn the_phone_rings_answers_and_is_acked() {
    let (mut h, phone) = registered();
    let invite = dial(&mut h, &phone, "d3");
    assert_eq!(
        invite.start,
        StartLine::Request {
            method: "INVITE".into(),
            uri: "sip:agent1@127.0.0.1:5062".into()
        }
    );
    assert_eq!(invite.header("To"), Some("<sip:agent1@127.0.0.1>"));
    let from = invite.header("From").unwrap();
    assert!(
        from.starts_with(r#""Caller \"A\"" <sip:+81312345678@koe>;tag="#),
        "{from}"
    );
    assert_eq!(invite.header("Contact"), Some("<sip:koe@127.0.0.1:5060>"));
    assert_eq!(invite.header("X-Koe-Call"), Some("call-42"));
    assert_eq!(invite.header_values("Via").len(), 1);
    assert!(invite.header("Injected").is_none() && invite.header("X-Bad").is_none());
    let offer = String::from_utf8_lossy(&invite.body).to_string();
    assert!(offer.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"), "{offer}");

    // Timer A resends the INVITE until the phone answers anything.
    let out = h.advance(Duration::from_millis(600));
    assert_eq!(sent(&out), vec![invite.clone()]);
    let out = h.input_from(phone_response(&invite, 100, "", ""), phone.peer());
    assert!(out.is_empty());
    assert!(h.advance(Duration::from_secs(10)).is_empty());

    let out = h.input_from(phone_response(&invite, 180, "", ""), phone.peer());
    assert_eq!(events(&out), vec![CallEvent::Ringing { call_id: "d3".into() }]);
    let out = h.input_from(phone_response(&invite, 183, "", ""), phone.peer());
    assert!(events(&out).is_empty(), "Ringing once");

    let mut ok = phone_response(&invite, 200, "<sip:agent1@10.0.0.5:5062>", &sdp(""));
    ok.push_header("Record-Route", "<sip:p1@127.0.0.1;lr>, <sip:p2@127.0.0.1;lr>");
    let out = h.input_from(ok.clone(), phone.peer());
    let mut acks = sent_to(&out);
    assert_eq!(acks.len(), 1);
    let (to, ack) = acks.remove(0);
    // To where the phone registered from, not its private Contact; the route set reversed.
    assert_eq!(to, phone.peer());
    assert_eq!(
        ack.start,
        StartLine::Request {
            method: "ACK".into(),
            uri: "sip:agent1@10.0.0.5:5062".into()
        }
    );
    assert_eq!(
        ack.header_values("Route"),
        vec!["<sip:p2@127.0.0.1;lr>", "<sip:p1@127.0.0.1;lr>"]
    );
    assert_eq!(ack.cseq(), Some((cseq_number(&invite), "ACK".into())));
    assert_ne!(ack.via_branch(), invite.via_branch());
    assert_eq!(ack.to_tag(), Some("ph1"));
    assert_eq!(ack.from_tag(), invite.from_tag());
    match &events(&out)[..] {
        [CallEvent::Answered { call_id, media }] => {
            assert_eq!(call_id, "d3");
            assert_eq!((media.codec_name, media.dtmf_pt), ("PCMU", Some(101)));
            assert_eq!(media.remote, Some("127.0.0.1:6000".parse().unwrap()));
        }
        other => panic!("expected Answered, got {other:?}"),
    }

    // A retransmitted 200 (the ACK was lost) is ACKed again, and is not a second answer.
    let out = h.input_from(ok, phone.peer());
    assert_eq!(sent(&out), vec![ack.clone()]);
    assert!(events(&out).is_empty());

    // koe hangs up: BYE as the UAC (§12.2.1.1).
    let out = h.command(Command::Hangup {
        call_id: "d3".into(),
        by: HangupBy::Koe,
        cause: "agent-done".into(),
    });
    let (to, bye) = sent_to(&out).remove(0);
    assert_eq!(to, phone.peer());
    assert_eq!(bye.method(), Some("BYE"));
    assert_eq!(
        bye.start,
        StartLine::Request {
            method: "BYE".into(),
            uri: "sip:agent1@10.0.0.5:5062".into()
        }
    );
    assert_eq!((bye.from_tag(), bye.to_tag()), (invite.from_tag(), Some("ph1")));
    assert_eq!(bye.cseq(), Some((cseq_number(&invite) + 1, "BYE".into())));
    assert_eq!(ended(&out), vec![(HangupBy::Koe, "agent-done".to_string())]);
    h.input_from(ok_to(&bye), phone.peer());
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn refusals_are_acked_and_end_with_their_cause() {
    let (mut h, phone) = registered();
    for (code, cause) in [
        (486, "busy"),
        (600, "busy"),
        (603, "declined"),
        (480, "no-answer"),
        (408, "no-answer"),
        (404, "rejected 404"),
        (302, "rejected 302"),
    ] {
        let id = format!("r{code}");
        let invite = dial(&mut h, &phone, &id);
        h.input_from(phone_response(&invite, 180, "", ""), phone.peer());
        let refusal = phone_response(&invite, code, "", "");
        let out = h.input_from(refusal.clone(), phone.peer());
        let ack = sent(&out).remove(0);
        // The non-2xx ACK belongs to the INVITE's transaction: same branch and Request-URI.
        assert_eq!(ack.method(), Some("ACK"));
        assert_eq!(ack.via_branch(), invite.via_branch());
        assert_eq!(ack.start, {
            let mut s = invite.start.clone();
            if let StartLine::Request { method, .. } = &mut s {
                *method = "ACK".into();
            }
            s
        });
        assert_eq!(ack.to_tag(), Some("ph1"));
        assert_eq!(ack.cseq(), Some((cseq_number(&invite), "ACK".into())));
        assert_eq!(ended(&out), vec![(HangupBy::Caller, cause.to_string())], "{code}");
        // The response again (the ACK was lost): the same ACK, no second end.
        let out = h.input_from(refusal, phone.peer());
        assert_eq!(sent(&out), vec![ack]);
        assert!(events(&out).is_empty());
    }
    assert!(sent(&h.advance(Duration::from_secs(40))).is_empty());
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn timer_b_gives_up_on_a_silent_phone() {
    let (mut h, phone) = registered();
    let invite = dial(&mut h, &phone, "d4");
    let out = h.advance(Duration::from_millis(31_900));
    // T1 = 500 ms doubling without a cap: at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s.
    assert_eq!(sent(&out), vec![invite; 6]);
    assert!(events(&out).is_empty());
    let out = h.advance(Duration::from_millis(200));
    assert_eq!(ended(&out), vec![(HangupBy::System, "timeout".to_string())]);
    assert!(sent(&h.advance(Duration::from_secs(60))).is_empty());
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn hangup_while_ringing_cancels() {
    let (mut h, phone) = registered();
    let invite = dial(&mut h, &phone, "d5");
    h.input_from(phone_response(&invite, 180, "", ""), phone.peer());
    let hangup = Command::Hangup {
        call_id: "d5".into(),
        by: HangupBy::Koe,
        cause: "agent-timeout".into(),
    };
    let out = h.command(hangup.clone());
    assert!(events(&out).is_empty(), "ended once the INVITE is settled");
    let (to, cancel) = sent_to(&out).remove(0);
    assert_eq!(to, phone.peer());
    assert_eq!(cancel.method(), Some("CANCEL"));
    assert_eq!(cancel.via_branch(), invite.via_branch());
    assert_eq!(cancel.cseq(), Some((cseq_number(&invite), "CANCEL".into())));
    assert_eq!(cancel.to_tag(), None);
    assert_eq!(cancel.header("From"), invite.header("From"));
    assert!(h.command(hangup).is_empty(), "a second hangup changes nothing");
    // Timer E resends the CANCEL until its 200.
    assert_eq!(sent(&h.advance(Duration::from_millis(600))), vec![cancel.clone()]);
    assert!(h.input_from(ok_to(&cancel), phone.peer()).is_empty());
    let out = h.input_from(phone_response(&invite, 487, "", ""), phone.peer());
    let ack = sent(&out).remove(0);
    assert_eq!(
        (ack.method(), ack.via_branch()),
        (Some("ACK"), invite.via_branch())
    );
    assert_eq!(ended(&out), vec![(HangupBy::Koe, "agent-timeout".to_string())]);
    assert!(sent(&h.advance(Duration::from_secs(40))).is_empty());
}

#[test]
fn hangup_before_any_response_cancels_after_the_first() {
    let (mut h, phone) = registered();
    let invite = dial(&mut h, &phone, "d6");
    let out = h.command(Command::Hangup {
        call_id: "d6".into(),
        by: HangupBy::System,
        cause: "drain".into(),
    });
    assert!(out.is_empty(), "no CANCEL before a provisional response (§9.1)");
    let out = h.input_from(phone_response(&invite, 100, "", ""), phone.peer());
    let cancel = sent(&out).remove(0);
    assert_eq!(cancel.method(), Some("CANCEL"));
    h.input_from(ok_to(&cancel), phone.peer());
    let out = h.input_from(phone_response(&invite, 487, "", ""), phone.peer());
    assert_eq!(ended(&out), vec![(HangupBy::System, "drain".to_string())]);

    // A phone that never answers the CANCEL with a final response: given up after 64×T1.
    let invite = dial(&mut h, &phone, "d7");
    h.input_from(phone_response(&invite, 180, "", ""), phone.peer());
    h.command(Command::Hangup {
        call_id: "d7".into(),
        by: HangupBy::Koe,
        cause: "agent-timeout".into(),
    });
    let out = h.advance(Duration::from_secs(33));
    assert_eq!(ended(&out), vec![(HangupBy::Koe, "agent-timeout".to_string())]);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn a_200_crossing_the_cancel_is_acked_then_hung_up() {
    let (mut h, phone) = registered();
    let invite = dial(&mut h, &phone, "d8");
    h.input_from(phone_response(&invite, 180, "", ""), phone.peer());
    let out = h.command(Command::Hangup {
        call_id: "d8".into(),
        by: HangupBy::Koe,
        cause: "caller-gone".into(),
    });
    let cancel = sent(&out).remove(0);
    let out = h.input_from(
        phone_response(&invite, 200, &format!("<sip:agent1@{PHONE}>"), &sdp("")),
        phone.peer(),
    );
    let methods: Vec<_> = sent(&out)
        .iter()
        .map(|m| m.method().unwrap().to_string())
        .collect();
    assert_eq!(methods, vec!["ACK", "BYE"]);
    let bye = &sent(&out)[1];
    assert_eq!(bye.to_tag(), Some("ph1"));
    assert_eq!(ended(&out), vec![(HangupBy::Koe, "caller-gone".to_string())]);
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, CallEvent::Answered { .. }))
    );
    // The CANCEL's own answer and the BYE's close it all; nothing is left.
    h.input_from(
        response(&cancel, 481, "Call/Transaction Does Not Exist", Some("ph1")),
        phone.peer(),
    );
    h.input_from(ok_to(bye), phone.peer());
    assert!(sent(&h.advance(Duration::from_secs(40))).is_empty());
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn a_2xx_without_a_usable_answer_is_hung_up() {
    let (mut h, phone) = registered();
    let invite = dial(&mut h, &phone, "d9");
    let g729 = sdp("").replace("0 8 101", "18");
    let out = h.input_from(
        phone_response(&invite, 200, &format!("<sip:agent1@{PHONE}>"), &g729),
        phone.peer(),
    );
    let methods: Vec<_> = sent(&out)
        .iter()
        .map(|m| m.method().unwrap().to_string())
        .collect();
    assert_eq!(methods, vec!["ACK", "BYE"]);
    assert_eq!(ended(&out), vec![(HangupBy::System, "bad-answer".to_string())]);
}

#[test]
fn the_phone_holds_sends_keys_and_hangs_up() {
    let (mut h, phone) = registered();
    let (invite, _) = answered(&mut h, &phone, "d10");
    let out = h.input_from(
        phone_request("INVITE", &invite, "z9hG4bKp1", 1, &sdp("a=sendonly\r\n")),
        phone.peer(),
    );
    let ok = sent(&out).remove(0);
    assert_eq!(ok.status(), Some(200));
    let body = String::from_utf8_lossy(&ok.body).to_string();
    assert!(
        body.contains("m=audio 30000 ") && body.contains("a=recvonly"),
        "{body}"
    );
    assert!(
        matches!(&events(&out)[..], [CallEvent::MediaChanged { call_id, media }] if call_id == "d10" && media.direction == sdp::Direction::RecvOnly)
    );
    h.input_from(phone_request("ACK", &invite, "z9hG4bKp2", 1, ""), phone.peer());
    assert!(
        sent(&h.advance(Duration::from_secs(5))).is_empty(),
        "the 200 was ACKed"
    );

    let mut info = phone_request("INFO", &invite, "z9hG4bKp3", 2, "");
    info.set_header("Content-Type", "application/dtmf-relay");
    info.body = b"Signal=7\r\nDuration=160\r\n".to_vec();
    let out = h.input_from(info, phone.peer());
    assert_eq!(codes(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Dtmf {
            call_id: "d10".into(),
            key: '7'
        }]
    );
    let out = h.input_from(
        phone_request("OPTIONS", &invite, "z9hG4bKp4", 3, ""),
        phone.peer(),
    );
    assert_eq!(codes(&out), vec![200]);

    // A request with koe's tag but another From tag is not this dialog's.
    let mut stray = phone_request("BYE", &invite, "z9hG4bKp5", 4, "");
    stray.set_header("From", "<sip:agent1@127.0.0.1>;tag=other");
    assert_eq!(codes(&h.input_from(stray, phone.peer())), vec![481]);

    let out = h.input_from(phone_request("BYE", &invite, "z9hG4bKp6", 5, ""), phone.peer());
    assert_eq!(codes(&out), vec![200]);
    assert_eq!(ended(&out), vec![(HangupBy::Caller, "bye".to_string())]);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn a_dial_reusing_a_live_call_id_is_ignored() {
    let (mut h, phone) = registered();
    dial(&mut h, &phone, "d11");
    assert!(h.command(dial_command("d11")).is_empty());
    assert_eq!(h.core.active_calls(), 1);
}

/// Delivers what each core sends to the other until both are quiet; each one's events.
fn exchange(a: &mut SipCore, b: &mut SipCore, now: Instant) -> (Vec<CallEvent>, Vec<CallEvent>) {
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (local(), PHONE.parse().unwrap());
    let (mut a_events, mut b_events) = (Vec::new(), Vec::new());
    loop {
        let mut quiet = true;
        while let Some(o) = a.poll_output() {
            quiet = false;
            match o {
                Output::Send { to, data } => {
                    assert_eq!(to.addr, b_addr);
                    let from = Peer {
                        transport: Transport::Udp,
                        addr: a_addr,
                    };
                    b.handle_message(Message::parse(&data).unwrap(), from, b_addr, now);
                }
                Output::Event(e) => a_events.push(e),
            }
        }
        while let Some(o) = b.poll_output() {
            quiet = false;
            match o {
                Output::Send { to, data } => {
                    assert_eq!(to.addr, a_addr);
                    let from = Peer {
                        transport: Transport::Udp,
                        addr: b_addr,
                    };
                    a.handle_message(Message::parse(&data).unwrap(), from, a_addr, now);
                }
                Output::Event(e) => b_events.push(e),
            }
        }
        if quiet {
            return (a_events, b_events);
        }
    }
}

#[test]
fn one_core_dials_another() {
    // A: koe with its registrar; B: a second SipCore as the agent's phone (a UAS) at PHONE.
    let (mut a, _) = registered();
    let mut b = SipCore::new(CoreConfig::default());
    let now = a.now;
    a.core.handle_command(dial_command("agent-1@koe"), now);
    let (ea, eb) = exchange(&mut a.core, &mut b, now);
    assert!(ea.is_empty());
    let CallEvent::Incoming {
        call_id, from, media, ..
    } = &eb[0]
    else {
        panic!("B sees no call: {eb:?}");
    };
    assert_eq!(
        (call_id.as_str(), from.as_str()),
        ("agent-1@koe", "sip:+81312345678@koe")
    );
    assert_eq!(media.remote, Some(MEDIA.parse().unwrap()));

    b.handle_command(
        Command::Ringing {
            call_id: "agent-1@koe".into(),
        },
        now,
    );
    let (ea, _) = exchange(&mut a.core, &mut b, now);
    assert_eq!(
        ea,
        vec![CallEvent::Ringing {
            call_id: "agent-1@koe".into()
        }]
    );

    b.handle_command(
        Command::Answer {
            call_id: "agent-1@koe".into(),
            local_media: "127.0.0.1:31000".parse().unwrap(),
        },
        now,
    );
    let (ea, eb) = exchange(&mut a.core, &mut b, now);
    match &ea[..] {
        [CallEvent::Answered { media, .. }] => {
            assert_eq!(media.remote, Some("127.0.0.1:31000".parse().unwrap()));
            assert_eq!(media.codec_name, "PCMU");
        }
        other => panic!("A: {other:?}"),
    }
    assert_eq!(
        eb,
        vec![CallEvent::Confirmed {
            call_id: "agent-1@koe".into()
        }]
    );

    // The phone hangs up: its BYE reaches A in A's dialog.
    b.handle_command(
        Command::Hangup {
            call_id: "agent-1@koe".into(),
            by: HangupBy::Koe,
            cause: "agent hung up".into(),
        },
        now,
    );
    let (ea, eb) = exchange(&mut a.core, &mut b, now);
    assert_eq!(
        ea,
        vec![CallEvent::Ended {
            call_id: "agent-1@koe".into(),
            by: HangupBy::Caller,
            cause: "bye".into()
        }]
    );
    assert_eq!(eb.len(), 1, "B ended once: {eb:?}");
    assert_eq!((a.core.active_calls(), b.active_calls()), (0, 0));
    // Both are quiet afterwards: every request was answered.
    let later = now + Duration::from_secs(40);
    a.core.handle_timeout(later);
    b.handle_timeout(later);
    let (ea, eb) = exchange(&mut a.core, &mut b, later);
    assert!(ea.iter().all(|e| matches!(e, CallEvent::Registration { .. })));
    assert!(eb.is_empty());
}
