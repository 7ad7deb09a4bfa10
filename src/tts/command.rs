//! TTS engines that run as a child process writing a WAV file: espeak-ng, pyopenjtalk (through a Python
//! snippet embedded here, so nothing depends on the working directory) and any command line with
//! `{text}` and `{out}` in it.

use super::TtsEngine;
use anyhow::{Context, anyhow, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest an engine may take for one prompt (or a probe) before it is killed.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an engine's stderr an error message quotes (its end, where the reason usually is).
const STDERR_TAIL: usize = 600;

/// pyopenjtalk's samples are on the int16 scale but can overshoot it (peaks of 38 000 seen on plain
/// sentences), so they are scaled down rather than clipped. argv: out path, text.
const PYOPENJTALK: &str = r#"
import sys, wave
import numpy as np
import pyopenjtalk
out, text = sys.argv[1], sys.argv[2]
x, rate = pyopenjtalk.tts(text)
x = np.asarray(x, dtype=np.float64)
peak = float(np.abs(x).max()) if x.size else 0.0
if peak > 32767.0:
    x = x * (32767.0 / peak)
with wave.open(out, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(int(rate))
    w.writeframes(np.round(x).astype("<i2").tobytes())
"#;

/// Prints the installed version on a line of its own (importing pyopenjtalk-plus prints a warning about
/// ONNX Runtime on stdout first).
const PYOPENJTALK_PROBE: &str = r#"
import pyopenjtalk
print("koe-version", getattr(pyopenjtalk, "__version__", "unknown"))
"#;

/// One engine: a program and its arguments, in which `{text}` and `{out}` are replaced per prompt.
#[derive(Debug, Clone)]
pub struct CommandEngine {
    /// The voice spec and engine version: the cache key's voice.
    voice: String,
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl CommandEngine {
    /// The engine for a `[tts.voices]` value, probed: an error when its program, module or voice is not
    /// installed here.
    ///
    /// `espeak-ng:<voice>`, `pyopenjtalk`, or a command line whose words (split on whitespace; no shell,
    /// so prompt text can never be run as a command) contain `{text}` and `{out}` (a WAV file path).
    pub fn from_spec(spec: &str) -> anyhow::Result<CommandEngine> {
        let spec = spec.trim();
        if let Some(voice) = spec.strip_prefix("espeak-ng:") {
            espeak_ng(voice)
        } else if spec == "pyopenjtalk" {
            pyopenjtalk()
        } else {
            template(spec)
        }
    }

    fn run(&self, text: &str, out: &Path) -> anyhow::Result<()> {
        let out = out.to_str().context("temporary file path is not UTF-8")?;
        let args = self
            .args
            .iter()
            .map(|a| a.replace("{out}", out).replace("{text}", text));
        run_with_timeout(Command::new(&self.program).args(args), self.timeout).map(drop)
    }
}

impl TtsEngine for CommandEngine {
    fn voice(&self) -> String {
        self.voice.clone()
    }

    fn synthesize(&self, text: &str) -> anyhow::Result<Vec<i16>> {
        let out = TempWav::new();
        self.run(text, &out.0)
            .with_context(|| format!("TTS {}", self.voice))?;
        let bytes =
            std::fs::read(&out.0).map_err(|e| anyhow!("TTS {}: wrote no audio file ({e})", self.voice))?;
        let samples = super::wav::to_phone(&bytes).map_err(|e| anyhow!("TTS {}: {e}", self.voice))?;
        if samples.is_empty() {
            bail!("TTS {}: the engine produced empty audio", self.voice);
        }
        Ok(samples)
    }
}

fn espeak_ng(voice: &str) -> anyhow::Result<CommandEngine> {
    if voice.is_empty() || voice.contains(char::is_whitespace) {
        bail!("espeak-ng voice {voice:?}: expected a voice name such as en-us");
    }
    let version = run_with_timeout(Command::new("espeak-ng").arg("--version"), TIMEOUT)?;
    // "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/…": the version, not the install path.
    let version = version
        .split("Data at")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    // -q: speak to nothing; fails when the voice does not exist.
    run_with_timeout(Command::new("espeak-ng").args(["-q", "-v", voice, "x"]), TIMEOUT)?;
    Ok(CommandEngine {
        voice: format!("espeak-ng:{voice} ({version})"),
        program: "espeak-ng".into(),
        // -b 1: the text is UTF-8 whatever the locale; `--`: text starting with '-' is text.
        args: ["-v", voice, "-b", "1", "-w", "{out}", "--", "{text}"]
            .map(String::from)
            .to_vec(),
        timeout: TIMEOUT,
    })
}

fn pyopenjtalk() -> anyhow::Result<CommandEngine> {
    let out = run_with_timeout(Command::new("python3").args(["-c", PYOPENJTALK_PROBE]), TIMEOUT)
        .context("python3 cannot import pyopenjtalk (pip install pyopenjtalk-plus)")?;
    let version = out
        .lines()
        .find_map(|l| l.strip_prefix("koe-version "))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    Ok(CommandEngine {
        voice: format!("pyopenjtalk ({version})"),
        program: "python3".into(),
        args: ["-c", PYOPENJTALK, "{out}", "{text}"].map(String::from).to_vec(),
        timeout: TIMEOUT,
    })
}

fn template(spec: &str) -> anyhow::Result<CommandEngine> {
    let mut words = spec.split_whitespace().map(String::from);
    let program = words.next().unwrap_or_default();
    let args: Vec<String> = words.collect();
    if !args.iter().any(|a| a.contains("{text}")) || !args.iter().any(|a| a.contains("{out}")) {
        bail!(
            "voice {spec:?}: expected espeak-ng:<voice>, pyopenjtalk, or a command line with {{text}} and {{out}}"
        );
    }
    if find_program(&program).is_none() {
        bail!("voice {spec:?}: {program}: command not found");
    }
    Ok(CommandEngine {
        voice: spec.to_string(),
        program,
        args,
        timeout: TIMEOUT,
    })
}

/// The executable `program` names: a path, or a name looked up in `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// Runs `cmd` to completion within `timeout`; its stdout on success. A program that is not installed,
/// a non-zero exit (quoting the end of its stderr) and a timeout (the process is killed) are errors.
fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> anyhow::Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!("{program}: command not found"),
            _ => anyhow!("{program}: cannot start: {e}"),
        })?;
    // Drained on threads so that a chatty engine cannot fill a pipe and stall.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));

    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            // The reader threads end when the pipes close; not joined, in case a grandchild holds them.
            bail!(
                "{program}: timed out after {} s and was killed",
                timeout.as_secs_f32()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let tail = stderr.trim();
        let tail = &tail[tail.floor_char_boundary(tail.len().saturating_sub(STDERR_TAIL))..];
        bail!("{program}: {status}: {tail}");
    }
    Ok(stdout)
}

/// A fresh path in the temporary directory for the engine's output, removed when dropped.
struct TempWav(PathBuf);

impl TempWav {
    fn new() -> TempWav {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        TempWav(std::env::temp_dir().join(format!(
            "koe-tts-{}-{}.wav",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for TempWav {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn message(r: anyhow::Result<impl std::fmt::Debug>) -> String {
        format!("{:#}", r.expect_err("should fail"))
    }

    #[test]
    fn specs_without_placeholders_or_program_are_refused() {
        let m = message(CommandEngine::from_spec("festival"));
        assert!(m.contains("{text} and {out}"), "{m}");
        let m = message(CommandEngine::from_spec("no-such-tts-program {text} {out}"));
        assert!(m.contains("no-such-tts-program: command not found"), "{m}");
        let m = message(CommandEngine::from_spec("espeak-ng:"));
        assert!(m.contains("expected a voice name"), "{m}");
    }

    #[test]
    fn a_missing_espeak_voice_is_found_by_the_probe() {
        let m = message(CommandEngine::from_spec("espeak-ng:nosuchvoice"));
        assert!(m.contains("voice does not exist"), "{m}");
    }

    #[test]
    fn engine_failures_say_what_happened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let failing = script(dir.path(), "fail.sh", "echo 'voice model missing' >&2; exit 3");
        let engine =
            CommandEngine::from_spec(&format!("{} {{text}} {{out}}", failing.display())).expect("engine");
        let m = message(engine.synthesize("hello"));
        assert!(
            m.contains("exit status: 3") && m.contains("voice model missing"),
            "{m}"
        );

        let silent = script(dir.path(), "nothing.sh", "exit 0");
        let engine =
            CommandEngine::from_spec(&format!("{} {{text}} {{out}}", silent.display())).expect("engine");
        let m = message(engine.synthesize("hello"));
        assert!(m.contains("wrote no audio file"), "{m}");

        let empty = script(
            dir.path(),
            "empty.sh",
            r#"sox -n -r 16000 -c 1 -b 16 "$2" trim 0 0"#,
        );
        let engine =
            CommandEngine::from_spec(&format!("{} {{text}} {{out}}", empty.display())).expect("engine");
        let m = message(engine.synthesize("hello"));
        assert!(m.contains("empty audio"), "{m}");

        let junk = script(dir.path(), "junk.sh", r#"echo "$1" > "$2""#);
        let engine =
            CommandEngine::from_spec(&format!("{} {{text}} {{out}}", junk.display())).expect("engine");
        let m = message(engine.synthesize("hello"));
        assert!(m.contains("not a usable WAV file"), "{m}");
    }

    #[test]
    fn a_hung_engine_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hung = script(dir.path(), "hang.sh", "exec sleep 30");
        let mut engine =
            CommandEngine::from_spec(&format!("{} {{text}} {{out}}", hung.display())).expect("engine");
        engine.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let m = message(engine.synthesize("hello"));
        assert!(m.contains("timed out after 0.3 s"), "{m}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn text_is_one_argument_never_a_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("pwned");
        // Writes its first argument as the "audio"; the text tries shell injection and option injection.
        let echo = script(
            dir.path(),
            "args.sh",
            r#"printf '%s|%s' "$#" "$1" > "$2.args"; sox -n -r 8000 -c 1 "$2" synth 0.1 sine 440"#,
        );
        let engine =
            CommandEngine::from_spec(&format!("{} {{text}} {{out}}", echo.display())).expect("engine");
        let text = format!("-x $(touch {}); `touch {}`", marker.display(), marker.display());
        let out = TempWav::new();
        engine.run(&text, &out.0).expect("run");
        let args = std::fs::read_to_string(out.0.with_extension("wav.args")).expect("args");
        let _ = std::fs::remove_file(out.0.with_extension("wav.args"));
        assert_eq!(args, format!("2|{text}"));
        assert!(!marker.exists(), "the text was run");
    }
}
