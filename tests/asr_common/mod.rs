//! Fixtures shared by the ASR tests: real speech fetched from package registries into `tests/.cache/`,
//! and the tiny.en model installed (once) into the checkout's `models/`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

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
    let _g = SETUP.lock().unwrap_or_else(|p| p.into_inner());
    let path = root().join("models/ggml-tiny.en.bin");
    if !path.exists() {
        let out = koe(&["models", "install", "tiny.en"]);
        assert!(
            out.status.success(),
            "install: {}",
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
