//! The real `koe` binary under test: started on free ports with its own data directory, waited on until
//! `/healthz` answers, killed when the test ends; its log is printed when the test fails.

use super::net::{HttpResponse, free_port, free_port_block, http_get, http_request};
use super::{repo_path, wait_for};
use koe::store::{CallRecord, CallStatus};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One running koe, with everything a test needs to reach it.
pub struct Koe {
    child: Option<Child>,
    env: Vec<(String, String)>,
    sip: SocketAddr,
    http: SocketAddr,
    rtp_ports: (u16, u16),
    data: tempfile::TempDir,
    /// Log of every start, appended: a restart after a kill keeps the first run's lines.
    log: PathBuf,
    /// The admin session `http` uses, signed in at its first use.
    token: std::sync::OnceLock<String>,
}

/// The first admin's password unless a test names its own (an empty one makes koe generate one).
pub const ADMIN_PASSWORD: &str = "test-admin-password-1";

impl Koe {
    /// Starts koe with the test defaults (loopback, free ports, ASR off, a fresh data directory), then
    /// `overrides` (`("KOE_CALLS_IDLE_TIMEOUT_S", "5")`, ...), and waits until it is healthy.
    pub fn start(overrides: &[(&str, &str)]) -> Koe {
        let sip = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let rtp_ports = free_port_block(40);
        let data = tempfile::tempdir().expect("temp data dir");
        let log = data.path().join("koe.log");
        let mut env: Vec<(String, String)> = [
            ("KOE_SIP_BIND", sip.to_string()),
            ("KOE_HTTP_BIND", http.to_string()),
            ("KOE_DATA_DIR", data.path().display().to_string()),
            ("KOE_MEDIA_BIND_IP", "127.0.0.1".into()),
            ("KOE_MEDIA_RTP_PORT_MIN", rtp_ports.0.to_string()),
            ("KOE_MEDIA_RTP_PORT_MAX", rtp_ports.1.to_string()),
            ("KOE_ASR_ENABLED", "false".into()),
            // The line-test behaviour (read back keys) unless a test asks for the IVR.
            ("KOE_IVR_FLOW", String::new()),
            ("KOE_CALLS_IDLE_TIMEOUT_S", "30".into()),
            ("KOE_ADMIN_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD.into()),
            ("RUST_LOG", "info".into()),
            ("NO_COLOR", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in overrides {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut koe = Koe {
            child: None,
            env,
            sip,
            http,
            rtp_ports,
            data,
            log,
            token: Default::default(),
        };
        koe.spawn();
        koe
    }

    /// Starts koe again on the same ports and data directory (after `kill9` or `stop_gracefully`).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a koe that still runs");
        self.spawn();
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open koe log");
        let child = Command::new(env!("CARGO_BIN_EXE_koe"))
            .arg("serve")
            .current_dir(repo_path(""))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn koe");
        self.child = Some(child);
        let http = self.http;
        wait_for(Duration::from_secs(60), "koe /healthz", || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("koe exited during start-up ({status}):\n{}", self.log_text());
            }
            http_get(http, "/healthz").ok().filter(|r| r.status == 200)
        });
    }

    pub fn sip_addr(&self) -> SocketAddr {
        self.sip
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    pub fn rtp_ports(&self) -> (u16, u16) {
        self.rtp_ports
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("koe is running").id()
    }

    /// `GET path` as the admin (call data needs a sign-in).
    pub fn http(&self, path: &str) -> HttpResponse {
        let auth = format!("Bearer {}", self.admin_token());
        http_request(self.http, "GET", path, &[("Authorization", &auth)], &[])
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A session of the first admin, whose password the test gave koe.
    pub fn admin_token(&self) -> &str {
        self.token.get_or_init(|| {
            let password = self
                .env
                .iter()
                .find(|(k, _)| k == "KOE_ADMIN_BOOTSTRAP_PASSWORD")
                .map(|(_, v)| v.as_str())
                .filter(|p| !p.is_empty())
                .expect("the test let koe generate the admin password: sign in with it");
            self.sign_in("admin", password)
        })
    }

    /// `GET path`, expecting 200 and JSON.
    pub fn http_get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.http(path);
        assert_eq!(resp.status, 200, "GET {path}: {}", resp.body);
        serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", resp.body))
    }

    /// A JSON API request with an optional bearer token.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> HttpResponse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        http_request(self.http, method, path, &headers, body.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Signs in as `user` and returns the session token, asserting success.
    pub fn sign_in(&self, user: &str, password: &str) -> String {
        let body = serde_json::json!({"user": user, "password": password});
        let r = self.api("POST", "/api/login", None, Some(&body));
        assert_eq!(r.status, 200, "login {user}: {}", r.body);
        r.json()["token"].as_str().expect("a token").to_string()
    }

    /// Every call record, newest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        serde_json::from_value(self.http_get_json("/api/calls")["calls"].clone())
            .expect("/api/calls has a list of CallRecord")
    }

    pub fn call(&self, call_id: &str) -> CallRecord {
        let path = format!("/api/calls/{}", encode_path(call_id));
        serde_json::from_value(self.http_get_json(&path)).expect("a CallRecord")
    }

    /// Waits until the only call koe has seen is closed (ended or abnormal) and returns its record.
    pub fn wait_single_call_closed(&self, timeout: Duration) -> CallRecord {
        wait_for(timeout, "the call record to be closed", || {
            let calls = self.calls();
            assert!(
                calls.len() <= 1,
                "expected one call, koe has {}: {calls:#?}",
                calls.len()
            );
            calls
                .into_iter()
                .next()
                .filter(|c| c.status == CallStatus::Ended || c.status == CallStatus::Abnormal)
        })
    }

    /// Waits until the record of `call_id` is closed.
    pub fn wait_call_closed(&self, call_id: &str, timeout: Duration) -> CallRecord {
        wait_for(timeout, "the call record to be closed", || {
            let c = self.call(call_id);
            (c.status == CallStatus::Ended || c.status == CallStatus::Abnormal).then_some(c)
        })
    }

    pub fn metrics(&self) -> String {
        let resp = self.http("/metrics");
        assert_eq!(resp.status, 200, "GET /metrics");
        resp.body
    }

    /// The recording of a call, as an absolute path.
    pub fn recording(&self, record: &CallRecord) -> PathBuf {
        let rel = record
            .recording_path
            .as_deref()
            .expect("the call has a recording");
        self.data.path().join(rel)
    }

    /// SIGTERM (`kill -TERM`): koe drains. Does not wait for the exit; see `wait_exit`.
    pub fn stop_gracefully(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit by itself; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("koe is running");
        let status = wait_for(timeout, "koe to exit", || child.try_wait().ok().flatten());
        self.child = None;
        status
    }

    /// SIGKILL: no chance to close anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Koe {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(300).collect();
            eprintln!("---- koe log (last {} lines) ----", tail.len());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Percent-encodes a Call-ID for a URL path (SIPp's contain '@').
pub fn encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
