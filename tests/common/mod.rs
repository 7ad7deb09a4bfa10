//! The end-to-end rig shared by every `tests/sip_*.rs` binary: start the real `koe` on free ports, drive
//! real SIP peers (SIPp, baresip, pjsua2) at it, and compare audio.
//!
//! Every test binary compiles this module and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod audio;
pub mod gateway;
pub mod net;
pub mod peers;
pub mod sipp;

pub use audio::*;
pub use gateway::Koe;
pub use net::*;
pub use peers::*;
pub use sipp::{Sipp, SippOutcome};

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The real speech fetched by `tests/fetch-audio.sh`; a missing file is a set-up error, said plainly.
pub fn cached_audio(name: &str) -> PathBuf {
    let path = repo_path("tests/.cache").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `bash tests/fetch-audio.sh` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Polls `probe` every 100 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The demo flow (sip-config/ivr/support.json) with its opening hours widened to every day, all day:
/// the same nodes and prompts, without a test that depends on the time of day.
pub fn demo_flow_always_open(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_path("sip-config/ivr/support.json")).expect("demo flow");
    let mut flow: serde_json::Value = serde_json::from_str(&text).expect("demo flow is JSON");
    let all_day: serde_json::Map<String, serde_json::Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| (d.to_string(), serde_json::json!(["00:00-24:00"])))
            .collect();
    flow["schedules"]["support"]["hours"] = all_day.into();
    flow["schedules"]["support"]["holidays"] = serde_json::json!([]);
    let path = dir.join("support-open.json");
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}
