//! Calls: the manager that turns SIP call events into one task per call, and what those tasks share.

pub mod demo;
pub mod leg;
pub mod ports;
pub mod session;

use crate::config::Config;
use crate::events::EventBus;
use crate::media::prompt;
use crate::metrics::Metrics;
use crate::sip::core::{CallEvent, Command, HangupBy};
use crate::sip::endpoint::SipHandle;
use crate::sip::sdp::Negotiated;
use crate::store::{Store, now_ms};
use ports::PortPool;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// What the SIP side tells a call task.
#[derive(Debug)]
pub enum CallInput {
    Confirmed,
    MediaChanged(Negotiated),
    Dtmf(char),
    Ended {
        by: HangupBy,
        cause: String,
    },
    /// The outcome of a transfer the call asked for.
    Transfer(Result<(), String>),
    /// Something happened on one of the call's agent legs.
    Leg {
        leg_id: String,
        event: LegEvent,
    },
    /// An agent or supervisor asked for something (the API).
    Control(Control),
}

/// SIP events of an agent leg koe dialled.
#[derive(Debug)]
pub enum LegEvent {
    Ringing,
    Answered(Negotiated),
    MediaChanged(Negotiated),
    Ended { by: HangupBy, cause: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Hand the caller to another agent or queue; `warm`: the current agent stays until the new one has
    /// answered (all three hear each other), then leaves when they hang up.
    Transfer {
        to: TransferTarget,
        warm: bool,
        by: String,
    },
    /// PCI pause: the recording holds silence while paused.
    Recording { paused: bool, reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TransferTarget {
    Agent(String),
    Queue(String),
}

/// Every live call and agent leg by SIP Call-ID, so that SIP events of a leg and API requests reach the
/// call task that owns them.
#[derive(Default)]
pub struct Directory {
    entries: std::sync::Mutex<HashMap<String, mpsc::UnboundedSender<CallInput>>>,
}

impl Directory {
    pub fn insert(&self, id: &str, tx: mpsc::UnboundedSender<CallInput>) {
        self.entries.lock().expect("directory").insert(id.to_string(), tx);
    }

    pub fn remove(&self, id: &str) {
        self.entries.lock().expect("directory").remove(id);
    }

    /// Sends to the call (or leg owner); false when it is not live.
    pub fn send(&self, id: &str, input: CallInput) -> bool {
        let tx = self.entries.lock().expect("directory").get(id).cloned();
        tx.is_some_and(|tx| tx.send(input).is_ok())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.lock().expect("directory").contains_key(id)
    }
}

/// Prompts loaded once at start (mono 8 kHz), shared by every call.
pub struct Prompts {
    pub welcome: Arc<[i16]>,
    pub digits: HashMap<char, Arc<[i16]>>,
}

/// The demo prompts, embedded so that `koe serve` runs from any directory with its defaults.
const EMBEDDED_PROMPTS: [(&str, &[u8]); 13] = [
    (
        "prompts/welcome.wav",
        include_bytes!("../../sip-config/prompts/welcome.wav"),
    ),
    (
        "prompts/digits/0.wav",
        include_bytes!("../../sip-config/prompts/digits/0.wav"),
    ),
    (
        "prompts/digits/1.wav",
        include_bytes!("../../sip-config/prompts/digits/1.wav"),
    ),
    (
        "prompts/digits/2.wav",
        include_bytes!("../../sip-config/prompts/digits/2.wav"),
    ),
    (
        "prompts/digits/3.wav",
        include_bytes!("../../sip-config/prompts/digits/3.wav"),
    ),
    (
        "prompts/digits/4.wav",
        include_bytes!("../../sip-config/prompts/digits/4.wav"),
    ),
    (
        "prompts/digits/5.wav",
        include_bytes!("../../sip-config/prompts/digits/5.wav"),
    ),
    (
        "prompts/digits/6.wav",
        include_bytes!("../../sip-config/prompts/digits/6.wav"),
    ),
    (
        "prompts/digits/7.wav",
        include_bytes!("../../sip-config/prompts/digits/7.wav"),
    ),
    (
        "prompts/digits/8.wav",
        include_bytes!("../../sip-config/prompts/digits/8.wav"),
    ),
    (
        "prompts/digits/9.wav",
        include_bytes!("../../sip-config/prompts/digits/9.wav"),
    ),
    (
        "prompts/digits/star.wav",
        include_bytes!("../../sip-config/prompts/digits/star.wav"),
    ),
    (
        "prompts/digits/pound.wav",
        include_bytes!("../../sip-config/prompts/digits/pound.wav"),
    ),
];

impl Prompts {
    /// Loads the prompts named in the config (relative to `base`, the config's directory); a default
    /// prompt missing on disk comes from the copy embedded in the binary.
    pub fn load(base: &Path, welcome: &Path, digits_dir: &Path) -> Result<Self, prompt::PromptError> {
        let load = |rel: PathBuf| {
            let on_disk = if rel.is_absolute() {
                rel.clone()
            } else {
                base.join(&rel)
            };
            let embedded = EMBEDDED_PROMPTS.iter().find(|(name, _)| Path::new(name) == rel);
            match embedded {
                Some((_, bytes)) if !on_disk.exists() => prompt::load_wav_bytes(bytes, &rel),
                _ => prompt::load_wav(&on_disk),
            }
        };
        let mut digits = HashMap::new();
        for k in "0123456789*#".chars() {
            let name = match k {
                '*' => "star".to_string(),
                '#' => "pound".to_string(),
                d => d.to_string(),
            };
            digits.insert(k, load(digits_dir.join(format!("{name}.wav")))?.into());
        }
        Ok(Prompts {
            welcome: load(welcome.to_path_buf())?.into(),
            digits,
        })
    }
}

pub struct Shared {
    pub config: Config,
    /// Live transcription; None when `asr.enabled` is off.
    pub asr: Option<crate::asr::AsrEngine>,
    /// Where call tasks send final transcripts to be stored.
    pub finals: mpsc::UnboundedSender<crate::asr::stream::FinalTranscript>,
    pub store: Store,
    pub events: Arc<EventBus>,
    pub metrics: Arc<Metrics>,
    pub sip: SipHandle,
    pub prompts: Prompts,
    pub ports: Arc<PortPool>,
    pub data_dir: PathBuf,
    /// The published IVR flow new calls start with.
    pub ivr: Arc<crate::ivr::registry::Registry>,
    pub routing: crate::routing::Routing,
    /// Live calls (by Call-ID) and the agent legs they dialled (by the leg's Call-ID).
    pub directory: Arc<Directory>,
}

impl Shared {
    /// Where a call's recording goes: (path relative to the data dir, absolute path).
    pub fn recording_path(&self, call_id: &str) -> (String, PathBuf) {
        self.call_file("recordings", call_id)
    }

    /// Where a call's voicemail message goes: (path relative to the data dir, absolute path).
    pub fn voicemail_path(&self, call_id: &str) -> (String, PathBuf) {
        self.call_file("voicemail", call_id)
    }

    /// A new WAV file named for the call in `folder` of the data dir.
    fn call_file(&self, folder: &str, call_id: &str) -> (String, PathBuf) {
        let safe: String = call_id
            .chars()
            .take(96)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self.data_dir.join(folder);
        let mut name = format!("{safe}.wav");
        let mut n = 1;
        while dir.join(&name).exists() {
            n += 1;
            name = format!("{safe}-{n}.wav");
        }
        (format!("{folder}/{name}"), dir.join(name))
    }

    /// The RTP address for koe's SDP: configured external or advertised address, else the one the caller
    /// reaches koe's SIP on. Never 0.0.0.0.
    fn advertised_media(&self, port: u16, caller: SocketAddr) -> SocketAddr {
        let m = &self.config.media;
        let configured = [&m.external_ip, &m.advertise_ip]
            .into_iter()
            .find_map(|s| s.parse::<IpAddr>().ok());
        let ip = configured
            .or((!m.bind_ip.is_unspecified()).then_some(m.bind_ip))
            .or_else(|| crate::sip::endpoint::route_source(caller))
            .unwrap_or(caller.ip());
        SocketAddr::new(ip, port)
    }
}

/// Routes SIP call events to call tasks until `events` closes. `hangup_all` ends the calls left when
/// the drain timeout expires.
pub async fn run_manager(
    shared: Arc<Shared>,
    mut events: mpsc::UnboundedReceiver<CallEvent>,
    tracker: TaskTracker,
    hangup_all: CancellationToken,
) {
    // The calls this manager started (not their agent legs), for the drain.
    let mut calls: std::collections::HashSet<String> = Default::default();
    let mut hung_up = false;
    let dir = shared.directory.clone();
    loop {
        let event = tokio::select! {
            e = events.recv() => match e { Some(e) => e, None => break },
            _ = hangup_all.cancelled(), if !hung_up => {
                hung_up = true;
                for id in &calls {
                    shared.sip.command(Command::Hangup { call_id: id.clone(), by: HangupBy::System, cause: "drain".into() });
                }
                continue;
            }
        };
        // An agent leg's events go to the call that dialled it.
        if let Some((leg_id, event)) = leg_event(&event)
            && !calls.contains(&leg_id)
            && dir.contains(&leg_id)
        {
            let ended = matches!(event, LegEvent::Ended { .. });
            dir.send(
                &leg_id,
                CallInput::Leg {
                    leg_id: leg_id.clone(),
                    event,
                },
            );
            if ended {
                dir.remove(&leg_id);
            }
            continue;
        }
        match event {
            CallEvent::Incoming {
                call_id,
                from,
                to,
                media,
                source,
            } => {
                let lease = match shared.ports.allocate() {
                    Ok(l) => l,
                    Err(e) => {
                        warn!(%call_id, error = %e, "no RTP port: refusing the call");
                        shared.sip.command(Command::Reject {
                            call_id,
                            code: 503,
                            reason: "Service Unavailable".into(),
                        });
                        continue;
                    }
                };
                let advertised = shared.advertised_media(lease.port(), source.addr);
                let (tx, rx) = mpsc::unbounded_channel();
                dir.insert(&call_id, tx.clone());
                calls.insert(call_id.clone());
                info!(%call_id, %from, %to, "incoming call");
                let setup = session::Setup {
                    call_id,
                    from,
                    to,
                    media,
                    advertised,
                    invite_at_ms: now_ms(),
                    inputs: tx,
                };
                let shared = shared.clone();
                let metrics = shared.metrics.clone();
                metrics.add("koe_active_calls", "Calls in progress", &[], 1.0);
                tracker.spawn(async move {
                    session::run(shared, setup, lease, rx).await;
                    metrics.add("koe_active_calls", "Calls in progress", &[], -1.0);
                });
            }
            CallEvent::Registration { user, expires_s, .. } => {
                info!(%user, expires_s, "agent phone registration");
                shared.routing.registered(&user, expires_s > 0);
            }
            CallEvent::Confirmed { call_id } => {
                dir.send(&call_id, CallInput::Confirmed);
            }
            CallEvent::MediaChanged { call_id, media } => {
                dir.send(&call_id, CallInput::MediaChanged(media));
            }
            CallEvent::Dtmf { call_id, key } => {
                dir.send(&call_id, CallInput::Dtmf(key));
            }
            CallEvent::Transfer { call_id, result } => {
                dir.send(&call_id, CallInput::Transfer(result));
            }
            CallEvent::Ringing { .. } | CallEvent::Answered { .. } => {}
            CallEvent::Ended { call_id, by, cause } => {
                let result = match cause.as_str() {
                    "cancel" => "cancelled",
                    c if c.starts_with("rejected") => "rejected",
                    "no-ack" | "rtp-timeout" => "failed",
                    _ => "completed",
                };
                shared
                    .metrics
                    .inc("koe_calls_total", "Calls by result", &[("result", result)]);
                calls.remove(&call_id);
                dir.send(&call_id, CallInput::Ended { by, cause });
                dir.remove(&call_id);
            }
        }
    }
}

/// The event as an agent leg's, if it is of a kind legs have (which leg: the caller checks).
fn leg_event(event: &CallEvent) -> Option<(String, LegEvent)> {
    Some(match event {
        CallEvent::Ringing { call_id } => (call_id.clone(), LegEvent::Ringing),
        CallEvent::Answered { call_id, media } => (call_id.clone(), LegEvent::Answered(media.clone())),
        CallEvent::MediaChanged { call_id, media } => {
            (call_id.clone(), LegEvent::MediaChanged(media.clone()))
        }
        CallEvent::Ended { call_id, by, cause } => (
            call_id.clone(),
            LegEvent::Ended {
                by: *by,
                cause: cause.clone(),
            },
        ),
        _ => return None,
    })
}
