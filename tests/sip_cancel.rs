//! The caller gives up while koe is still ringing: 200 for the CANCEL, 487 for the INVITE, no answer.
//!
//! Contract choice (tell the lead): koe answers at once in the demo, so this test makes it ring first
//! with `calls.answer_delay_ms` (`KOE_CALLS_ANSWER_DELAY_MS`), the time between 180 Ringing and 200 OK.

mod common;

use common::*;
use koe::store::CallStatus;
use std::time::Duration;

#[test]
fn cancel_before_answer() {
    let koe = Koe::start(&[("KOE_CALLS_ANSWER_DELAY_MS", "3000")]);
    let outcome = Sipp::new("cancel.xml", koe.sip_addr()).timeout(20).run();
    outcome.assert_success();
    let oks = outcome.received("SIP/2.0 200");
    assert!(
        oks.iter().all(|m| header(m, "CSeq") == Some("1 CANCEL")),
        "no 200 for the cancelled INVITE: {oks:#?}"
    );

    let record = koe.wait_single_call_closed(Duration::from_secs(5));
    assert_eq!(record.status, CallStatus::Ended);
    assert_eq!(record.end_cause.as_deref(), Some("cancel"));
    assert_eq!(record.hangup_by.as_deref(), Some("caller"));
    assert_eq!(record.answered_at_ms, None, "never answered");
    assert_eq!(record.rtp.packets_sent, 0);

    // The port koe reserved for the call is free again: a second call still works.
    Sipp::new("keys_koe_hangs_up.xml", koe.sip_addr())
        .timeout(30)
        .run()
        .assert_success();
}
