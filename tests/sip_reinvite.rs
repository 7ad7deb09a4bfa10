//! Re-INVITEs inside a call: hold (the caller's a=sendonly is answered a=recvonly), resume (sendrecv),
//! and a move of the caller's media to a new port, after which koe's RTP goes there.

mod common;

use common::*;
use koe::store::CallStatus;
use std::time::Duration;

#[test]
fn hold_resume_and_new_media_port() {
    let koe = Koe::start(&[]);
    let moved = RtpSink::start();
    // The scenario itself checks the answers' directions (recvonly, then sendrecv).
    let outcome = Sipp::new("reinvite.xml", koe.sip_addr())
        .key("newport", moved.port)
        .timeout(30)
        .run();
    outcome.assert_success();

    // Moved 2.3 s after the answer, the caller still hears the rest of the 6 s welcome prompt, at the
    // new port: 3 s of it is 150 packets.
    let rtp = moved.finish();
    assert!(rtp.pt(0) >= 100, "koe's RTP after the move: {rtp:?}");
    assert_eq!(rtp.sources.len(), 1, "{rtp:?}");
    let (lo, hi) = koe.rtp_ports();
    let from = rtp.sources.iter().next().expect("a source").port();
    assert!(
        (lo..=hi).contains(&from),
        "koe sends from its own RTP port {from}"
    );

    let answers = outcome.received("SIP/2.0 200");
    let hold = answers
        .iter()
        .find(|m| header(m, "CSeq") == Some("2 INVITE"))
        .expect("200 to the hold");
    assert!(
        hold.contains("a=recvonly") && !hold.contains("a=sendrecv"),
        "{hold}"
    );
    assert!(
        !hold.contains("c=IN IP4 0.0.0.0"),
        "a hold answer keeps a real address: {hold}"
    );

    let record = koe.wait_single_call_closed(Duration::from_secs(5));
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.hangup_by.as_deref(), Some("caller"));
    assert_eq!(record.codec.as_deref(), Some("PCMU"));
}
