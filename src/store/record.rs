//! What koe keeps about each call.

use serde::{Deserialize, Serialize};

/// RTP statistics for one call, both directions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RtpStats {
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Packets the caller sent that never arrived (from sequence numbers).
    pub packets_lost: u64,
    /// Interarrival jitter of the caller's stream (RFC 3550), milliseconds.
    pub jitter_ms: f64,
    /// Fraction lost and jitter that the caller reported for koe's stream in its RTCP receiver reports.
    pub remote_fraction_lost: Option<f64>,
    pub remote_jitter_ms: Option<f64>,
    /// Frames the jitter buffer had to conceal (loss or late packets).
    pub concealed_frames: u64,
    /// Packets from addresses other than the locked peer, dropped.
    pub rejected_packets: u64,
}

/// Lifecycle of a call record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Ringing,
    Answered,
    Ended,
    /// The process died with the call in progress; found and closed at the next start.
    Abnormal,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ringing => "ringing",
            CallStatus::Answered => "answered",
            CallStatus::Ended => "ended",
            CallStatus::Abnormal => "abnormal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ringing" => CallStatus::Ringing,
            "answered" => CallStatus::Answered,
            "ended" => CallStatus::Ended,
            "abnormal" => CallStatus::Abnormal,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The SIP Call-ID.
    pub id: String,
    pub from_uri: String,
    pub to_uri: String,
    /// Unix time in milliseconds.
    pub invite_at_ms: i64,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub status: CallStatus,
    /// "caller", "koe" or "system" (drain, timers, errors).
    pub hangup_by: Option<String>,
    /// Why it ended: "bye", "cancel", "no-ack", "timeout", "drain", "rtp-timeout", "rejected 488", ...
    pub end_cause: Option<String>,
    /// Negotiated codec, e.g. "PCMU".
    pub codec: Option<String>,
    pub rtp: RtpStats,
    /// Keys received, in order.
    pub dtmf: String,
    /// Path of the stereo WAV (caller left, koe right), relative to the data directory.
    pub recording_path: Option<String>,
}

impl CallRecord {
    pub fn new(id: &str, from_uri: &str, to_uri: &str, invite_at_ms: i64) -> Self {
        CallRecord {
            id: id.to_string(),
            from_uri: from_uri.to_string(),
            to_uri: to_uri.to_string(),
            invite_at_ms,
            answered_at_ms: None,
            ended_at_ms: None,
            status: CallStatus::Ringing,
            hangup_by: None,
            end_cause: None,
            codec: None,
            rtp: RtpStats::default(),
            dtmf: String::new(),
            recording_path: None,
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
