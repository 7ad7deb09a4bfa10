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
    /// What the IVR did; None for calls that ran no flow.
    pub ivr: Option<IvrRecord>,
    /// Queue, offers to agents, the agent who took it, transfers; None for calls never queued.
    pub service: Option<ServiceRecord>,
    /// Spans of the call (ms since the answer; the end None while paused) that the recording holds as
    /// silence (PCI: paused while a card number was read out, or silenced once its transcript showed one).
    pub recording_pauses: Vec<(u64, Option<u64>)>,
}

/// A call's way to and with a human agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub queue: String,
    pub skills: Vec<String>,
    pub queued_at_ms: i64,
    /// Each agent rung, in order, and how it went.
    pub offers: Vec<OfferRecord>,
    /// The agent on the call (the last one, after transfers).
    pub agent: Option<String>,
    pub connected_at_ms: Option<i64>,
    pub agent_left_at_ms: Option<i64>,
    /// Why the caller left the queue without an agent ("max-wait", "no-agents").
    pub overflow: Option<String>,
    pub transfers: Vec<TransferRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferRecord {
    pub agent: String,
    pub at_ms: i64,
    /// "answered", "no-answer", "busy", …; None while ringing.
    pub result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRecord {
    pub from_agent: Option<String>,
    /// "agent:<id>" or "queue:<name>".
    pub to: String,
    pub mode: String,
    pub at_ms: i64,
}

/// What the agent writes after the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrapUp {
    #[serde(default)]
    pub agent: String,
    pub reason: String,
    pub disposition: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub saved_at_ms: i64,
}

/// One earlier call of the same caller, as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub call_id: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub intent: Option<String>,
    pub wrapup: Option<WrapUp>,
    pub summary: Option<serde_json::Value>,
}

/// The number part of a SIP URI's user ("sip:+81 90-1234@x" → "+81901234"); None when it has no digits.
pub fn caller_number(uri: &str) -> Option<String> {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let user = rest.split(['@', ';']).next().unwrap_or_default();
    let number: String = user
        .chars()
        .enumerate()
        .filter(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '+'))
        .map(|(_, c)| c)
        .collect();
    number.chars().any(|c| c.is_ascii_digit()).then_some(number)
}

/// A call's way through the IVR: kept with the call and handed to the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IvrRecord {
    pub flow_id: String,
    /// The published version the call ran from its start to its end.
    pub version: i64,
    /// The call's language when the IVR ended.
    pub language: String,
    /// Every node entered, in order, with the time since the call was answered.
    pub path: Vec<IvrStep>,
    /// Variables: `caller`, collected digits, lookup results, `intent`, the spoken reason.
    pub vars: std::collections::BTreeMap<String, String>,
    /// How the IVR part ended: queue, voicemail, transfer, hangup; None while it runs or if the caller
    /// hung up in it.
    pub outcome: Option<IvrOutcome>,
    /// The voicemail message (mono WAV, relative to the data directory).
    pub voicemail_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvrStep {
    pub node: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvrOutcome {
    /// "queue", "voicemail", "transfer" or "hangup".
    pub kind: String,
    pub node: String,
    /// The queue, or the transfer target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
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
            ivr: None,
            service: None,
            recording_pauses: Vec::new(),
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
