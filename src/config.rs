//! Configuration: `sip-config/koe.toml` (embedded as the default), a file given with `--config`,
//! and `KOE_<SECTION>_<KEY>` environment variables over both.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The configuration embedded in the binary, so that `koe serve` runs with no files at all.
pub const EMBEDDED: &str = include_str!("../sip-config/koe.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub http: HttpConfig,
    pub data: DataConfig,
    pub calls: CallsConfig,
    pub asr: AsrConfig,
    pub ivr: IvrConfig,
    pub tts: TtsConfig,
    pub admin: AdminConfig,
    pub routing: RoutingConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// How long an agent's phone rings before the call goes to the next agent.
    pub offer_timeout_s: u64,
    /// Longest wait in a queue before the queue's overflow node.
    pub max_wait_s: u64,
    /// Wait before the overflow when no agent at all could take the call.
    pub unstaffed_wait_s: u64,
    /// Wrap-up ends by itself after this long.
    pub wrap_up_s: u64,
    /// Agents added at first start (relative to the config directory; the demo file is embedded).
    pub agents: String,
}

impl RoutingConfig {
    pub fn router(&self) -> crate::routing::router::RouterConfig {
        let s = std::time::Duration::from_secs;
        crate::routing::router::RouterConfig {
            offer_timeout: s(self.offer_timeout_s),
            max_wait: s(self.max_wait_s),
            unstaffed_wait: s(self.unstaffed_wait_s),
            wrap_up: s(self.wrap_up_s),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IvrConfig {
    /// The flow published as version 1 when the database has none (relative to the config directory;
    /// the demo flow is embedded). Empty: no IVR, calls get the line-test behaviour (read back keys).
    pub flow: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsConfig {
    /// Voice per language: a built-in engine (`espeak-ng:<voice>`, `pyopenjtalk`) or a command line
    /// with `{text}` and `{out}` (a WAV file of any rate) in it.
    pub voices: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Password of the `admin` account created when there is no account yet. Empty: a random one is
    /// generated and written to the log once. Never a fixed default.
    pub bootstrap_password: String,
    /// How long a sign-in lasts.
    pub session_hours: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Address and port for SIP over UDP and TCP.
    pub bind: SocketAddr,
    /// Whether to listen on TCP as well as UDP.
    pub tcp: bool,
    pub user_agent: String,
    /// RFC 3261 T1 (round-trip estimate): retransmission intervals and Timer H (64×T1) derive from it.
    pub t1_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Address the RTP sockets bind to.
    pub bind_ip: std::net::IpAddr,
    /// Address written into SDP answers; empty means "the address the INVITE arrived on".
    pub advertise_ip: String,
    /// Public address for deployments behind NAT; overrides `advertise_ip` in SDP when set.
    pub external_ip: String,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Jitter buffer bounds, in 20 ms frames.
    pub jitter_min_frames: usize,
    pub jitter_max_frames: usize,
    /// Detect DTMF tones in the audio for peers that send no RFC 4733 events or SIP INFO.
    pub inband_dtmf: bool,
    /// Seconds without any RTP from the caller before the call is ended.
    pub rtp_timeout_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Holds the SQLite database and `recordings/`.
    pub dir: PathBuf,
    pub record_calls: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsConfig {
    /// On SIGTERM/SIGINT, how long calls in progress may go on before they are hung up.
    pub drain_timeout_s: u64,
    /// How long koe lets the caller hear ringing before it answers.
    pub answer_delay_ms: u64,
    /// The demo behaviour hangs up after this many seconds.
    pub max_duration_s: u64,
    /// Seconds with no key pressed before the demo behaviour hangs up.
    pub idle_timeout_s: u64,
    /// Welcome prompt played when a call is answered (relative to the config directory).
    pub welcome_prompt: PathBuf,
    /// Directory of digit prompts `0.wav` … `9.wav`, `star.wav`, `pound.wav`.
    pub digit_prompts: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsrConfig {
    pub enabled: bool,
    /// Directory of installed ggml models.
    pub models_dir: PathBuf,
    /// Default model, used for languages not listed in `models`.
    pub model: String,
    /// Model per language, e.g. `ja = "small"`.
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, String>,
    pub language: String,
    /// Whisper states in the shared pool.
    pub workers: usize,
    /// Threads per decode.
    pub threads: usize,
    /// Bounded work queue length.
    pub queue: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("environment variable {0}: {1}")]
    Env(String, String),
}

impl Config {
    /// Loads `file` (or the embedded default) and applies `KOE_*` overrides from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, PathBuf), ConfigError> {
        let (text, base) = match file {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| ConfigError::Read(p.to_owned(), e))?,
                p.parent().map(Path::to_path_buf).unwrap_or_default(),
            ),
            None => (EMBEDDED.to_string(), PathBuf::from("sip-config")),
        };
        let mut value: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        for (name, raw) in env {
            if let Some(rest) = name.strip_prefix("KOE_") {
                apply_override(&mut value, rest, &raw).map_err(|e| ConfigError::Env(name.clone(), e))?;
            }
        }
        let config: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        Ok((config, base))
    }
}

/// `SECTION_KEY=value`: the longest table name that prefixes the lower-cased variable wins, so that
/// keys with underscores (`KOE_MEDIA_RTP_PORT_MIN`) find their table.
fn apply_override(root: &mut toml::Table, var: &str, raw: &str) -> Result<(), String> {
    let var = var.to_ascii_lowercase();
    let section = root
        .iter()
        .filter(|(k, v)| v.is_table() && var.starts_with(&format!("{k}_")))
        .map(|(k, _)| k.clone())
        .max_by_key(String::len)
        .ok_or_else(|| "no such configuration section".to_string())?;
    let key = &var[section.len() + 1..];
    let table = root[&section].as_table_mut().expect("filtered to tables");
    let value = parse_value(raw);
    match table.get(key) {
        Some(old) if !old.same_type(&value) && !(old.is_str()) => {
            return Err(format!("expected a {}, got {raw:?}", old.type_str()));
        }
        Some(old) if old.is_str() => {
            table.insert(key.to_string(), toml::Value::String(raw.to_string()));
        }
        None => return Err(format!("no key {key:?} in [{section}]")),
        _ => {
            table.insert(key.to_string(), value);
        }
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn embedded_defaults_load() {
        let (c, _) = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.sip.bind.port(), 5060);
        assert_eq!(c.http.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_keys_with_underscores() {
        let (c, _) = Config::load(
            None,
            env(&[
                ("KOE_MEDIA_RTP_PORT_MIN", "40000"),
                ("KOE_SIP_BIND", "127.0.0.1:5999"),
                ("PATH", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.media.rtp_port_min, 40000);
        assert_eq!(c.sip.bind.port(), 5999);
    }

    #[test]
    fn env_override_errors_are_clear() {
        let e = Config::load(None, env(&[("KOE_MEDIA_RTP_PORT_MIN", "many")])).unwrap_err();
        assert!(e.to_string().contains("KOE_MEDIA_RTP_PORT_MIN"), "{e}");
        let e = Config::load(None, env(&[("KOE_NOPE_X", "1")])).unwrap_err();
        assert!(e.to_string().contains("no such configuration section"), "{e}");
    }
}
