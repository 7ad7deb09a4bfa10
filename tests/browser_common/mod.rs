//! Real-browser testing of koe's pages: headless Chromium driven over WebDriver (chromedriver), and the
//! few moves a test makes on a page, each waiting as a person would. Shared by the browser tests
//! (`#[path = "browser_common/mod.rs"] mod browser_common;` next to `mod common;`).

#![allow(dead_code)]

use crate::common::{free_port, repo_path, wait_for};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core machine (validation, TTS rendering at publish), short enough that a
/// broken page fails the test.
pub const WAIT: Duration = Duration::from_secs(30);

/// Headless flags that work here (../shared/TESTING.md), and a window large enough for the three columns.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
];

/// chromedriver on a free loopback port, in a process group of its own so that the Chromium it starts
/// goes with it even when a test fails half-way.
pub struct ChromeDriver {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl ChromeDriver {
    pub fn start() -> ChromeDriver {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let dir = tempfile::tempdir().expect("temp dir for chromedriver");
        let child = Command::new("chromedriver")
            .arg(format!("--port={}", addr.port()))
            .arg(format!(
                "--log-path={}",
                dir.path().join("chromedriver.log").display()
            ))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run chromedriver ({e}): apt-get install chromium chromium-driver")
            });
        // It listens once it is ready (and keeps HTTP connections open, so no plain GET here).
        wait_for(Duration::from_secs(20), "chromedriver to listen", || {
            std::net::TcpStream::connect(addr).ok()
        });
        ChromeDriver { child, addr, dir }
    }

    /// A new browser session with its own profile, logging the console.
    pub async fn session(&self) -> Client {
        let profile = self.dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
        });
        let Value::Object(caps) = caps else { unreachable!() };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{}", self.addr))
            .await
            .expect("a Chromium session through chromedriver")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium process it started. (`--` before the
        // negative id: without it, kill(1) does not take it as a process group.)
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// chromedriver's log endpoint (not in W3C WebDriver, which has no way to read the console).
#[derive(Debug)]
pub struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// The page under test, with the few moves the test needs, each waiting as a person would.
pub struct Page {
    pub client: Client,
}

impl Page {
    pub async fn wait_find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn click(&self, css: &str) {
        self.wait_find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the text of an input or textarea by typing, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` until it returns something other than null or false; that value.
    pub async fn until(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(script, args.clone()).await;
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.js(
            "return document.querySelector(arguments[0])?.textContent ?? null",
            vec![json!(css)],
        )
        .await
        .as_str()
        .unwrap_or_else(|| panic!("no element {css}"))
        .to_string()
    }

    pub async fn visible(&self, css: &str) -> bool {
        self.js(
            "const e = document.querySelector(arguments[0]); return !!e && e.checkVisibility()",
            vec![json!(css)],
        )
        .await
            == Value::Bool(true)
    }

    pub async fn wait_visible(&self, css: &str) {
        self.until(
            &format!("{css} to be visible"),
            "const e = document.querySelector(arguments[0]); return !!e && e.checkVisibility()",
            vec![json!(css)],
        )
        .await;
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_path("target"))
            .join("test-artifacts");
        std::fs::create_dir_all(&dir).expect("create the artifacts dir");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Console entries at SEVERE or WARNING level since the last call.
    pub async fn console_problems(&self) -> Vec<Value> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("read the browser log");
        log.as_array()
            .expect("the browser log is a list")
            .iter()
            .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
            .cloned()
            .collect()
    }
}
