//! Keys sent only as tones inside the audio (no telephone-event offered): real speech with the DTMF
//! pairs for 1, 5, 9 and # mixed in. koe must detect exactly those keys, none from the speech, and hang
//! up on the #.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn tones_mixed_into_speech_are_detected_exactly() {
    let koe = Koe::start(&[]);
    Sipp::new("inband_dtmf.xml", koe.sip_addr())
        .timeout(40)
        .run()
        .assert_success();

    let record = koe.wait_single_call_closed(Duration::from_secs(5));
    assert_eq!(record.dtmf, "159#");
    assert_eq!(record.hangup_by.as_deref(), Some("koe"));
    assert_eq!(record.codec.as_deref(), Some("PCMU"));
}
