//! Drivers for the real SIP user agents: baresip (driven through its stdin menu) and a pjsua2 caller
//! (`tests/peers/pjsua_caller.py`).

use super::net::free_port;
use super::{repo_path, wait_for};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A headless baresip with its own configuration directory, listening on a free loopback port.
pub struct Baresip {
    child: Child,
    stdin: ChildStdin,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Baresip {
    /// Starts baresip; `audio_source` (an 8 kHz WAV, padded: baresip hangs up when it ends) is what it
    /// sends, and its `sndfile` module records what it hears into its directory.
    pub fn start(audio_source: &Path) -> Baresip {
        Self::start_with(audio_source, |port| {
            format!("<sip:tester@127.0.0.1:{port}>;regint=0;audio_codecs=PCMU")
        })
    }

    /// A caller whose SIP user (the From number koe sees) is `user`, e.g. a phone number.
    pub fn caller(audio_source: &Path, user: &str) -> Baresip {
        Self::start_with(audio_source, |port| {
            format!("<sip:{user}@127.0.0.1:{port}>;regint=0;audio_codecs=PCMU")
        })
    }

    /// An agent's phone: registers to koe as `user` with digest `password` and answers calls by itself
    /// when `auto_answer` (else it rings until koe gives up). `audio_source` is what the agent says.
    pub fn agent(
        audio_source: &Path,
        koe: SocketAddr,
        user: &str,
        password: &str,
        auto_answer: bool,
    ) -> Baresip {
        let mode = if auto_answer { "auto" } else { "manual" };
        Self::start_with(audio_source, |_| {
            format!(
                "<sip:{user}@{koe};transport=udp>;auth_pass={password};regint=600;answermode={mode};audio_codecs=PCMU"
            )
        })
    }

    /// Starts baresip with the account line `account(port)`.
    fn start_with(audio_source: &Path, account: impl FnOnce(u16) -> String) -> Baresip {
        let dir = tempfile::tempdir().expect("temp dir for baresip");
        let port = free_port();
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{port}\n\
             rtp_ports 10000-19998\n\
             audio_source aufile,{source}\n\
             audio_player alsa,null\n\
             audio_alert alsa,null\n\
             module_path /usr/lib/baresip/modules\n\
             module stdio.so\nmodule g711.so\nmodule aufile.so\nmodule alsa.so\nmodule sndfile.so\n\
             module_app account.so\nmodule_app menu.so\n\
             snd_path {dir}\n",
            source = audio_source.display(),
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("config"), config).expect("write baresip config");
        let account = format!("{}\n", account(port));
        std::fs::write(dir.path().join("accounts"), account).expect("write baresip accounts");
        let log = std::fs::File::create(dir.path().join("baresip.log")).expect("baresip log");
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("spawn baresip (apt-get install baresip-core)");
        let stdin = child.stdin.take().expect("baresip stdin");
        let baresip = Baresip {
            child,
            stdin,
            dir,
            port,
        };
        baresip.wait_output("baresip is ready", Duration::from_secs(10));
        baresip
    }

    /// Types one menu command (`/dial sip:...`, `/sndcode 1`, `/hangup`).
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to baresip");
        self.stdin.flush().expect("flush baresip stdin");
    }

    pub fn dial(&mut self, target: SocketAddr) {
        self.command(&format!("/dial sip:demo@{target}"));
    }

    /// Walks the demo flow (sip-config/ivr/support.json) to the orders queue once the call is up:
    /// English, orders, order number 123456.
    pub fn walk_demo_to_orders(&mut self) {
        self.wait_output("Call established", Duration::from_secs(10));
        // Welcome, then the language choice in English and Japanese: press 1 once the English part is said.
        std::thread::sleep(Duration::from_millis(5_500));
        self.send_key('1');
        // The main menu: orders is 1, pressed while the prompt still plays (barge-in).
        std::thread::sleep(Duration::from_millis(5_000));
        self.send_key('1');
        // The order number, after its prompt.
        std::thread::sleep(Duration::from_millis(5_500));
        for k in "123456#".chars() {
            self.send_key(k);
            std::thread::sleep(Duration::from_millis(400));
        }
    }

    /// Sends one key as an RFC 4733 telephone event.
    pub fn send_key(&mut self, key: char) {
        self.command(&format!("/sndcode {key}"));
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Waits until baresip's output contains `needle`.
    pub fn wait_output(&self, needle: &str, timeout: Duration) {
        wait_for(timeout, &format!("baresip to print {needle:?}"), || {
            self.output().contains(needle).then_some(())
        });
    }

    /// The WAV that `sndfile` wrote with what baresip heard (decoded), once the call has ended.
    pub fn heard(&self) -> PathBuf {
        self.dump("-dec.wav")
    }

    /// The WAV that `sndfile` wrote with what baresip sent.
    pub fn sent(&self) -> PathBuf {
        self.dump("-enc.wav")
    }

    fn dump(&self, suffix: &str) -> PathBuf {
        let entries = std::fs::read_dir(self.dir.path()).expect("read baresip dir");
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix))
            })
            .unwrap_or_else(|| panic!("baresip wrote no *{suffix}:\n{}", self.output()))
    }

    /// `/quit`, and waits for the process to end (which closes the sndfile dumps).
    pub fn quit(&mut self) {
        self.command("/quit");
        let child = &mut self.child;
        wait_for(Duration::from_secs(10), "baresip to quit", || {
            child.try_wait().ok().flatten()
        });
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- baresip output ----\n{}", self.output());
        }
    }
}

/// Options for one pjsua2 call (see `tests/peers/pjsua_caller.py`).
#[derive(Debug, Clone, Default)]
pub struct PjsuaCall {
    pub wav: Option<PathBuf>,
    pub record: Option<PathBuf>,
    pub keys: String,
    /// "info" (SIP INFO application/dtmf-relay) or "rfc2833".
    pub dtmf: &'static str,
    pub keys_at_s: f64,
    pub hold_at_s: Option<f64>,
    pub talk_s: f64,
    pub wait_bye: bool,
}

impl PjsuaCall {
    /// Calls `target` and returns the caller's JSON report (confirmed, keys_sent, hold, resume,
    /// call_id, last_status, media_events, ...).
    pub fn run(&self, target: SocketAddr) -> serde_json::Value {
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(repo_path("tests/peers/pjsua_caller.py"))
            .arg(format!("sip:demo@{target}"))
            .args(["--port", &port.to_string(), "--keys", &self.keys])
            .args(["--dtmf", if self.dtmf.is_empty() { "info" } else { self.dtmf }])
            .args([
                "--keys-at",
                &self.keys_at_s.to_string(),
                "--talk",
                &self.talk_s.to_string(),
            ]);
        if let Some(wav) = &self.wav {
            cmd.arg("--wav").arg(wav);
        }
        if let Some(record) = &self.record {
            cmd.arg("--record").arg(record);
        }
        if let Some(hold) = self.hold_at_s {
            cmd.args(["--hold-at", &hold.to_string()]);
        }
        if self.wait_bye {
            cmd.arg("--wait-bye");
        }
        let out = cmd
            .output()
            .expect("run python3 tests/peers/pjsua_caller.py (pip install pjsua2-python)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report = stdout.lines().rev().find(|l| l.starts_with('{'));
        match report.map(serde_json::from_str::<serde_json::Value>) {
            Some(Ok(v)) if out.status.success() => v,
            _ => panic!(
                "pjsua caller failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}
