//! Fixtures shared by the ASR tests and benches: real speech fetched from package registries into
//! `tests/.cache/`, the tiny.en model installed (once) into the checkout's `models/`, the raw μ-law
//! streams SIPp plays, and a follower of koe's `/api/events`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

pub const JFK_TEXT: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

static SETUP: Mutex<()> = Mutex::new(());

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cache() -> PathBuf {
    let dir = root().join("tests/.cache");
    std::fs::create_dir_all(&dir).expect("create tests/.cache");
    dir
}

pub fn koe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_koe"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run koe")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// jfk.wav (11 s, 16 kHz) from npm `nodejs-whisper@0.3.1`.
pub fn jfk_wav() -> PathBuf {
    let _g = SETUP.lock().unwrap_or_else(|p| p.into_inner());
    let wav = cache().join("jfk.wav");
    if !wav.exists() {
        let tgz = cache().join("nodejs-whisper-0.3.1.tgz");
        if !tgz.exists() {
            run(Command::new("npm")
                .args(["pack", "nodejs-whisper@0.3.1"])
                .current_dir(cache()));
        }
        let member = "package/cpp/whisper.cpp/bindings/go/samples/jfk.wav";
        run(Command::new("tar")
            .arg("xzf")
            .arg(&tgz)
            .arg(member)
            .current_dir(cache()));
        std::fs::rename(cache().join(member), &wav).expect("move jfk.wav");
    }
    wav
}

/// Debian `pocketsphinx-testdata`: the `cards` recordings and their reference text.
pub fn pocketsphinx_cards() -> Vec<(PathBuf, String)> {
    let _g = SETUP.lock().unwrap_or_else(|p| p.into_inner());
    let dir = cache().join("pocketsphinx");
    let data = dir.join("usr/share/pocketsphinx/test/data/cards");
    if !data.exists() {
        let deb = std::fs::read_dir(cache())
            .expect("read cache")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains("pocketsphinx-testdata"));
        let deb = deb.unwrap_or_else(|| {
            run(Command::new("apt-get")
                .args(["download", "pocketsphinx-testdata"])
                .current_dir(cache()));
            std::fs::read_dir(cache())
                .expect("read cache")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().contains("pocketsphinx-testdata"))
                .expect("downloaded pocketsphinx-testdata")
        });
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir));
    }
    let refs = std::fs::read_to_string(data.join("cards.transcription")).expect("cards.transcription");
    refs.lines()
        .filter_map(|l| {
            // "<s> ten of clubs  </s> (001)"
            let (text, id) = l.rsplit_once(" (")?;
            let id = id.trim_end_matches(')');
            let text = text.replace("<s>", "").replace("</s>", "");
            Some((data.join(format!("{id}.wav")), text.trim().to_string()))
        })
        .filter(|(p, _)| p.exists())
        .collect()
}

/// tiny.en installed into the checkout's `models/` (the first run converts it: about a minute).
pub fn tiny_en() -> PathBuf {
    installed("tiny.en")
}

/// `name` (a catalogued model, e.g. `tiny.en-q8_0`) installed into the checkout's `models/`.
pub fn installed(name: &str) -> PathBuf {
    let _g = SETUP.lock().unwrap_or_else(|p| p.into_inner());
    let path = root().join(format!("models/ggml-{name}.bin"));
    if !path.exists() {
        let out = koe(&["models", "install", name]);
        assert!(
            out.status.success(),
            "install {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    path
}

/// A G.711 μ-law 8 kHz copy of `wav`, as a phone line would carry it.
pub fn phone_copy(wav: &Path) -> PathBuf {
    let out = cache().join(format!(
        "{}.ulaw8k.wav",
        wav.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    if !out.exists() {
        run(Command::new("sox")
            .arg(wav)
            .args(["-r", "8000", "-c", "1", "-e", "mu-law"])
            .arg(&out));
    }
    out
}

/// What Whisper hears in `wav` (the real tiny.en model, offline), lower case without punctuation.
pub fn transcribe(wav: &Path) -> String {
    tiny_en();
    let out = koe(&["transcribe", &wav.display().to_string(), "--model", "tiny.en"]);
    assert!(
        out.status.success(),
        "transcribe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == ' ' { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The alsa-utils voice `name` (`Front_Center`, `Noise`, ...).
pub fn alsa(name: &str) -> PathBuf {
    let path = PathBuf::from(format!("/usr/share/sounds/alsa/{name}.wav"));
    assert!(
        path.exists(),
        "{} is missing: apt-get install alsa-utils",
        path.display()
    );
    path
}

/// The short-command part of the corpus: the pocketsphinx cards and three alsa-utils voices.
pub fn short_utterances() -> Vec<(PathBuf, String)> {
    let mut list = pocketsphinx_cards();
    for (name, text) in [
        ("Front_Center", "front center"),
        ("Rear_Left", "rear left"),
        ("Side_Right", "side right"),
    ] {
        list.push((alsa(name), text.to_string()));
    }
    list
}

/// The speech corpus: jfk.wav and the short utterances, with their reference text.
pub fn speech_corpus() -> Vec<(PathBuf, String)> {
    let mut list = vec![(jfk_wav(), JFK_TEXT.to_string())];
    list.extend(short_utterances());
    list
}

/// 8 kHz μ-law silence.
const ULAW_SILENCE: u8 = 0xFF;

/// Writes `tests/.cache/NAME` (raw 8 kHz G.711 μ-law, what SIPp's `rtp_stream` plays): `gap_ms` of
/// silence before each part's phone copy and after the last. Returns where each part lies in the
/// stream, in milliseconds.
pub fn ulaw_stream(name: &str, parts: &[PathBuf], gap_ms: u64) -> (PathBuf, Vec<(u64, u64)>) {
    let gap = vec![ULAW_SILENCE; (gap_ms * 8) as usize];
    let mut bytes = Vec::new();
    let mut spans = Vec::new();
    for part in parts {
        bytes.extend_from_slice(&gap);
        let out = Command::new("sox")
            .arg(phone_copy(part))
            .args(["-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law", "-"])
            .output()
            .expect("run sox");
        assert!(
            out.status.success(),
            "sox {}: {}",
            part.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let audio = out.stdout;
        let start = bytes.len() as u64 / 8;
        bytes.extend_from_slice(&audio);
        spans.push((start, bytes.len() as u64 / 8));
    }
    bytes.extend_from_slice(&gap);
    let out = cache().join(name);
    let tmp = cache().join(format!("{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes).expect("write μ-law stream");
    std::fs::rename(&tmp, &out).expect("rename μ-law stream");
    (out, spans)
}

/// The caller's side of a talking call: the speech corpus as one μ-law stream.
pub struct SpeechStream {
    /// `tests/.cache/asr-speech.ulaw`, the file `tests/sipp/speak.xml` plays.
    pub path: PathBuf,
    /// Each clip's reference text and where it lies in the stream (ms).
    pub clips: Vec<(String, (u64, u64))>,
    pub duration_ms: u64,
}

/// Silence before each clip of the speech stream: the pause of a caller waiting for an answer, long
/// enough for the utterance's final to come before the next one starts.
pub const SPEECH_GAP_MS: u64 = 1500;

/// Writes the speech stream (the same bytes every time, so tests and benches can share the file).
pub fn speech_stream() -> SpeechStream {
    let (paths, texts): (Vec<_>, Vec<_>) = speech_corpus().into_iter().unzip();
    let (path, spans) = ulaw_stream("asr-speech.ulaw", &paths, SPEECH_GAP_MS);
    let duration_ms = spans.last().map_or(0, |s| s.1) + SPEECH_GAP_MS;
    SpeechStream {
        path,
        clips: texts.into_iter().zip(spans).collect(),
        duration_ms,
    }
}

/// Follows `ws://http/api/events`, signed in with the session `token`, on a thread of its own for at
/// most `until`; every event arrives on the returned channel as JSON. Returns once the WebSocket is
/// connected.
pub fn follow_events(
    http: std::net::SocketAddr,
    token: &str,
    until: Duration,
) -> std::sync::mpsc::Receiver<serde_json::Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{http}/api/events")
        .into_client_request()
        .expect("a WebSocket request");
    let bearer = format!("Bearer {token}").parse().expect("a header value");
    request.headers_mut().insert("Authorization", bearer);
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(request)
                .await
                .expect("connect /api/events");
            let _ = ready_tx.send(());
            let deadline = tokio::time::Instant::now() + until;
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
                if let Ok(text) = msg.into_text()
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("WebSocket connected");
    rx
}
