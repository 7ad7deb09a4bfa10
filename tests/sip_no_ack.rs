//! A caller that never ACKs: koe retransmits its 200 OK (T1, 2T1, 4T1, ... capped at T2) and gives up
//! after Timer H = 64·T1, closing the call with end cause "no-ack" (and a BYE, which SIPp answers).
//!
//! Contract choice (tell the lead): `sip.t1_ms` (`KOE_SIP_T1_MS`) shortens T1 so Timer H is 6.4 s here.

mod common;

use common::*;
use koe::store::CallStatus;
use std::time::{Duration, Instant};

#[test]
fn unacknowledged_answer_is_retransmitted_then_torn_down() {
    let koe = Koe::start(&[("KOE_SIP_T1_MS", "100")]);
    let started = Instant::now();
    let outcome = Sipp::new("no_ack.xml", koe.sip_addr()).timeout(30).run();
    outcome.assert_success();

    // With T1 = 100 ms: sent at 0, then 0.1, 0.3, 0.7, 1.5, 3.1 s (+4 s cap later): at least 5 copies
    // before Timer H at 6.4 s; all the same response.
    let oks: Vec<String> = outcome
        .received("SIP/2.0 200")
        .into_iter()
        .filter(|m| header(m, "CSeq") == Some("1 INVITE"))
        .collect();
    assert!((5..=10).contains(&oks.len()), "200 OK copies seen: {}", oks.len());
    assert!(
        oks.iter().all(|m| header(m, "To") == header(&oks[0], "To")),
        "same dialog in every copy"
    );

    let record = koe.wait_single_call_closed(Duration::from_secs(20));
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.end_cause.as_deref(), Some("no-ack"));
    assert_eq!(record.hangup_by.as_deref(), Some("system"));
    let lasted = (record.ended_at_ms.expect("ended") - record.invite_at_ms) as f64 / 1000.0;
    assert!(
        (5.5..=9.0).contains(&lasted),
        "closed {lasted} s after the INVITE (Timer H 6.4 s)"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(metric(&koe.metrics(), "koe_active_calls"), Some(0.0));
}
