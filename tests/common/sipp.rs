//! Runs SIPp with a scenario from `tests/sipp/` against koe, non-interactively, with its message trace,
//! error log and statistics kept in a temporary directory for the test to inspect.
//!
//! SIPp runs in `tests/.cache/` so that scenarios name the audio they stream by file name.

use super::net::free_port;
use super::repo_path;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A SIPp command line being built.
pub struct Sipp {
    scenario: PathBuf,
    /// Whom to call; `None` for a server scenario, which listens on `port`.
    target: Option<SocketAddr>,
    port: u16,
    args: Vec<String>,
    timeout_s: u64,
}

/// What a finished SIPp run left.
#[derive(Debug)]
pub struct SippOutcome {
    /// Exit code: 0 when every call passed the scenario.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Unexpected messages and scenario errors (`-trace_err`).
    pub errors: String,
    /// Every SIP message sent and received (`-trace_msg`).
    pub messages: String,
    /// The statistics CSV (`-trace_stat`).
    pub stats: String,
    /// The SIP port SIPp used, to tell its messages apart.
    pub port: u16,
}

impl SippOutcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with everything SIPp said unless every call passed.
    pub fn assert_success(&self) {
        assert!(
            self.success(),
            "SIPp failed (exit {:?})\n--- errors ---\n{}\n--- stderr ---\n{}\n--- messages ---\n{}",
            self.code,
            self.errors,
            self.stderr,
            self.messages
        );
    }

    /// The messages SIPp received whose first line starts with `start_line` (e.g. "SIP/2.0 200",
    /// "BYE "), in order.
    pub fn received(&self, start_line: &str) -> Vec<String> {
        self.messages
            .split("----------------------------------------------- ")
            .filter(|block| block.contains(" message received ["))
            .filter_map(|block| {
                block
                    .split_once("\n\n")
                    .map(|(_, msg)| msg.trim_start().to_string())
            })
            .filter(|msg| msg.starts_with(start_line))
            .collect()
    }
}

impl Sipp {
    /// `scenario` is a file name under `tests/sipp/`.
    pub fn new(scenario: &str, target: SocketAddr) -> Self {
        Sipp {
            scenario: repo_path("tests/sipp").join(scenario),
            target: Some(target),
            port: free_port(),
            args: Vec::new(),
            timeout_s: 60,
        }
    }

    /// A scenario that waits for calls on 127.0.0.1:`port`.
    pub fn server(scenario: &str, port: u16) -> Self {
        Sipp {
            target: None,
            port,
            ..Sipp::new(scenario, SocketAddr::from(([127, 0, 0, 1], port)))
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// `-key name value`: `[name]` in the scenario's messages.
    pub fn key(self, name: &str, value: impl ToString) -> Self {
        self.arg("-key").arg(name).arg(value.to_string())
    }

    /// `-m calls` total, `-l limit` at once.
    pub fn calls(self, total: u32, at_once: u32) -> Self {
        self.arg("-m")
            .arg(total.to_string())
            .arg("-l")
            .arg(at_once.to_string())
    }

    /// SIP over TCP (one connection per call) instead of UDP.
    pub fn tcp(self) -> Self {
        self.arg("-t").arg("t1")
    }

    /// SIPp's global timeout; reaching it is a failure.
    pub fn timeout(mut self, seconds: u64) -> Self {
        self.timeout_s = seconds;
        self
    }

    pub fn spawn(self) -> SippRun {
        let dir = tempfile::tempdir().expect("temp dir for SIPp logs");
        let port = self.port;
        let media_port = free_port();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let mut cmd = Command::new("sipp");
        cmd.current_dir(repo_path("tests/.cache"))
            .arg("-sf")
            .arg(&self.scenario)
            .args([
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-nostdin",
                "-timeout_error",
            ])
            .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(["-timeout", &format!("{}s", self.timeout_s)])
            .args(["-trace_err", "-error_file", &file("errors.log")])
            .args(["-trace_msg", "-message_file", &file("messages.log")])
            .args(["-trace_stat", "-stf", &file("stats.csv"), "-fd", "1"])
            .args(&self.args)
            .args(self.target.map(|t| t.to_string()))
            .stdin(Stdio::null())
            // Files, not pipes: SIPp prints its screen periodically and would block on a full pipe.
            .stdout(std::fs::File::create(file("stdout.txt")).expect("sipp stdout file"))
            .stderr(std::fs::File::create(file("stderr.txt")).expect("sipp stderr file"));
        if !self.args.iter().any(|a| a == "-m") {
            cmd.args(["-m", "1"]);
        }
        let child = cmd.spawn().expect("spawn sipp (apt-get install sip-tester)");
        SippRun {
            child,
            dir,
            port,
            deadline: Instant::now() + Duration::from_secs(self.timeout_s + 30),
        }
    }

    /// Runs to the end.
    pub fn run(self) -> SippOutcome {
        self.spawn().wait()
    }
}

/// A SIPp still running.
pub struct SippRun {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    deadline: Instant,
}

impl SippRun {
    /// Ends SIPp now (its call is abandoned) and returns what it left.
    pub fn kill(mut self) -> SippOutcome {
        let _ = self.child.kill();
        self.wait()
    }

    pub fn wait(mut self) -> SippOutcome {
        // SIPp's own -timeout ends it; the deadline only guards against a hung SIPp.
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait sipp") {
                break Some(status);
            }
            if Instant::now() > self.deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        SippOutcome {
            code: status.and_then(|s| s.code()),
            stdout: read("stdout.txt"),
            stderr: read("stderr.txt"),
            errors: read("errors.log"),
            messages: read("messages.log"),
            stats: read("stats.csv"),
            port: self.port,
        }
    }
}
