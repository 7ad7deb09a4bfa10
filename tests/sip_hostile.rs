//! Malformed and hostile input, over UDP and TCP. koe answers what it can (400 when enough parses to
//! answer, 501/405 for an unknown method, 481 for an unknown dialog, 488 when no codec is common, 200
//! with Allow and Accept for OPTIONS), stays silent on what it cannot, never dies, logs each bad
//! message once rather than per byte, and still takes the next call normally.
//!
//! Contract choices (tell the lead): an INVITE whose SDP cannot be parsed gets 400 (488 also accepted);
//! a message over TCP announcing a body larger than koe will buffer gets 400/413/513 or the connection
//! is closed, never waited on forever.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(2);

fn invite(raw: &RawSip, call_id: &str, content_type: &str, body: &str) -> String {
    sip_request("INVITE", raw.target, raw.local(), call_id, 1, content_type, body)
}

/// Whatever comes back for `bytes`: `None` when koe stays silent.
fn answer(raw: &RawSip, bytes: &[u8]) -> Option<u16> {
    raw.send(bytes);
    raw.recv(WAIT).and_then(|m| status_code(&m))
}

fn assert_code(got: Option<u16>, allowed: &[u16], what: &str) {
    assert!(
        got.is_some_and(|c| allowed.contains(&c)),
        "{what}: got {got:?}, want one of {allowed:?}"
    );
}

fn assert_silent_or_400(got: Option<u16>, what: &str) {
    assert!(got.is_none() || got == Some(400), "{what}: got {got:?}");
}

fn options_is_answered(raw: &RawSip) {
    let options = sip_request("OPTIONS", raw.target, raw.local(), "opt-check", 1, "", "");
    raw.send(options.as_bytes());
    let (code, msg) = raw.final_response("OPTIONS", WAIT).expect("koe answers OPTIONS");
    assert_eq!(code, 200, "{msg}");
    let allow = header(&msg, "Allow").expect("Allow header");
    for method in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"] {
        assert!(allow.contains(method), "Allow lacks {method}: {allow}");
    }
    assert!(
        header(&msg, "Accept").is_some_and(|a| a.contains("application/sdp")),
        "{msg}"
    );
}

#[test]
fn hostile_datagrams_then_a_normal_call() {
    let koe = Koe::start(&[]);
    let raw = RawSip::new(koe.sip_addr());
    let log_before = koe.log_text().lines().count();

    options_is_answered(&raw);

    assert_silent_or_400(answer(&raw, b"hello koe\r\n\r\n"), "garbage text");
    let junk: Vec<u8> = (0..1500u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    assert_silent_or_400(answer(&raw, &junk), "binary junk");
    let truncated = invite(&raw, "truncated", "", "");
    let cut = truncated.find("CSeq").expect("has CSeq") + 6;
    assert_silent_or_400(answer(&raw, &truncated.as_bytes()[..cut]), "truncated headers");

    let huge = invite(
        &raw,
        "huge-length",
        "application/sdp",
        &sdp_offer(4000, &[(0, "PCMU/8000")], "sendrecv"),
    )
    .lines()
    .map(|l| {
        if l.starts_with("Content-Length:") {
            "Content-Length: 99999999"
        } else {
            l
        }
    })
    .collect::<Vec<_>>()
    .join("\r\n");
    assert_code(
        answer(&raw, huge.as_bytes()),
        &[400],
        "Content-Length beyond the datagram",
    );

    let bad_sdp = invite(
        &raw,
        "bad-sdp",
        "application/sdp",
        "v=0\r\nthis is not SDP\r\nm=audio x\r\n",
    );
    assert_code(
        answer_final(&raw, bad_sdp.as_bytes(), "INVITE"),
        &[400, 488],
        "unparsable SDP",
    );

    let g729 = invite(
        &raw,
        "no-common-codec",
        "application/sdp",
        &sdp_offer(4000, &[(18, "G729/8000")], "sendrecv"),
    );
    assert_code(
        answer_final(&raw, g729.as_bytes(), "INVITE"),
        &[488],
        "no common codec",
    );

    let foo = sip_request("FOO", raw.target, raw.local(), "foo", 1, "", "");
    assert_code(answer(&raw, foo.as_bytes()), &[405, 501], "unknown method");

    let bye = with_to_tag(&sip_request(
        "BYE",
        raw.target,
        raw.local(),
        "no-such-dialog",
        2,
        "",
        "",
    ));
    assert_code(answer(&raw, bye.as_bytes()), &[481], "BYE for an unknown dialog");

    // A 64 KiB datagram (the most UDP carries): an OPTIONS padded with a giant header.
    let pad = "a".repeat(64_000);
    let big = sip_request("OPTIONS", raw.target, raw.local(), "big", 1, "", "").replacen(
        "Max-Forwards",
        &format!("X-Pad: {pad}\r\nMax-Forwards"),
        1,
    );
    raw.send(big.as_bytes());
    let _ = raw.recv(WAIT); // 200, 400, 413 or 513 are all fine; surviving it is the point.

    options_is_answered(&raw);
    let log = koe.log_text();
    assert!(!log.contains("panicked"), "koe panicked:\n{log}");
    let logged = log.lines().count() - log_before;
    assert!(
        logged < 100,
        "{logged} log lines for a dozen bad messages: logged per byte?"
    );

    Sipp::new("keys_koe_hangs_up.xml", koe.sip_addr())
        .timeout(30)
        .run()
        .assert_success();
}

/// A final response for a request koe may first answer provisionally (INVITE).
fn answer_final(raw: &RawSip, bytes: &[u8], method: &str) -> Option<u16> {
    raw.send(bytes);
    raw.final_response(method, WAIT).map(|(code, _)| code)
}

/// Gives the To header a tag, as an in-dialog request has (`sip_request` puts Call-ID right after To).
fn with_to_tag(msg: &str) -> String {
    msg.replacen(">\r\nCall-ID", ">;tag=nonexistent\r\nCall-ID", 1)
}

fn tcp_code(target: SocketAddr, bytes: &[u8]) -> Option<u16> {
    status_code(&tcp_exchange(target, bytes, WAIT))
}

#[test]
fn hostile_messages_over_tcp() {
    let koe = Koe::start(&[]);
    let target = koe.sip_addr();
    let local: SocketAddr = "127.0.0.1:5999".parse().expect("addr");
    let request = |method: &str, call_id: &str| sip_request(method, target, local, call_id, 1, "", "");

    let options = tcp_exchange(target, request("OPTIONS", "tcp-opt").as_bytes(), WAIT);
    assert_eq!(status_code(&options), Some(200), "{options}");

    let got = tcp_code(target, b"\x00\x01\x02garbage\r\n\r\n");
    assert!(got.is_none() || got == Some(400), "garbage over TCP: {got:?}");
    assert_code(
        tcp_code(target, request("FOO", "tcp-foo").as_bytes()),
        &[405, 501],
        "unknown method",
    );
    let bye = with_to_tag(&request("BYE", "tcp-no-dialog"));
    assert_code(
        tcp_code(target, bye.as_bytes()),
        &[481],
        "BYE for an unknown dialog",
    );

    let huge = request("OPTIONS", "tcp-huge").replacen("Content-Length: 0", "Content-Length: 999999999", 1);
    let got = tcp_code(target, huge.as_bytes());
    assert!(
        got.is_none() || matches!(got, Some(400 | 413 | 513)),
        "huge Content-Length over TCP: {got:?}"
    );

    let options = tcp_exchange(target, request("OPTIONS", "tcp-opt-2").as_bytes(), WAIT);
    assert_eq!(
        status_code(&options),
        Some(200),
        "koe still serves TCP: {options}"
    );
    assert!(!koe.log_text().contains("panicked"));
}
