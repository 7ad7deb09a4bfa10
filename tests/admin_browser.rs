//! The admin's IVR editor in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against the real koe. An admin signs in through the form, changes the welcome prompt in the node
//! editor, breaks a menu option and sees live validation name the node, fixes it, publishes with a
//! comment, walks the flow in the simulator, and a following SIP call (baresip, transcribed with
//! Whisper) hears the new prompt; then the diff, a rollback, signing out. The HTTP API confirms every
//! step, and the browser's console must stay free of errors. Screenshots are kept under
//! `$CARGO_TARGET_DIR/test-artifacts/` (default `target/`).

#[path = "asr_common/mod.rs"]
mod asr_common;
#[path = "browser_common/mod.rs"]
mod browser_common;
mod common;

use browser_common::{ChromeDriver, Page};
use common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const PASSWORD: &str = "browser-test-Passw0rd";
const NEW_WELCOME: &str = "Welcome to Koe support, now edited in the browser.";
const PUBLISH_COMMENT: &str = "Shorter welcome, edited in the browser";
const ROLLBACK_COMMENT: &str = "Back to the original welcome";
/// The HTTP API, signed in with a bearer token: the independent witness of what the page did.
struct Api {
    addr: SocketAddr,
    token: String,
}

impl Api {
    fn login(koe: &Koe) -> Api {
        let body = json!({ "user": "admin", "password": PASSWORD }).to_string();
        let resp = http_request(
            koe.http_addr(),
            "POST",
            "/api/login",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .expect("POST /api/login");
        assert_eq!(resp.status, 200, "API sign-in: {}", resp.body);
        let token = resp.json()["token"].as_str().expect("a token").to_string();
        Api {
            addr: koe.http_addr(),
            token,
        }
    }

    fn get(&self, path: &str) -> Value {
        let auth = format!("Bearer {}", self.token);
        let resp = http_request(self.addr, "GET", path, &[("Authorization", &auth)], &[])
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(resp.status, 200, "GET {path}: {}", resp.body);
        resp.json()
    }
}

/// One call from baresip that listens to the first seconds (the welcome) and hangs up; what Whisper
/// hears in what baresip received. The call's record must say it ran published version 2.
fn call_and_transcribe(koe: &Koe) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut phone = Baresip::start(&silence(dir.path(), 30));
    phone.dial(koe.sip_addr());
    phone.wait_output("Call established", Duration::from_secs(10));
    // The new welcome is about 3 s of speech; the language choice starts after it.
    std::thread::sleep(Duration::from_secs(6));
    phone.command("/hangup");
    phone.wait_output("terminated", Duration::from_secs(10));
    phone.quit();
    let record = koe.wait_single_call_closed(Duration::from_secs(10));
    let ivr = record.ivr.as_ref().expect("the call ran the IVR");
    assert_eq!(ivr.version, 2, "the call got the published version: {ivr:#?}");
    asr_common::transcribe(&phone.heard())
}

fn welcome_text(flow: &Value) -> String {
    let start = flow["start"].as_str().expect("start");
    flow["nodes"][start]["prompt"]["en"]
        .as_str()
        .unwrap_or_else(|| panic!("the start node {start} has an English text prompt"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_edits_validates_publishes_diffs_and_rolls_back_in_chromium() {
    let koe = Koe::start(&[
        ("KOE_IVR_FLOW", "ivr/support.json"),
        ("KOE_ADMIN_BOOTSTRAP_PASSWORD", PASSWORD),
    ]);
    let api = Api::login(&koe);
    let v1 = api.get("/api/ivr/flows/support");
    assert_eq!(v1["active_version"], 1, "{v1}");
    let flow = &v1["flow"];
    let start = flow["start"].as_str().expect("start").to_string();
    let original = welcome_text(flow);
    assert_ne!(original, NEW_WELCOME);
    // The menu whose first option the admin breaks, and where that option really goes.
    let (menu, target) = flow["nodes"]
        .as_object()
        .expect("nodes")
        .iter()
        .find(|(_, n)| n["type"] == "menu")
        .map(|(name, n)| {
            (
                name.clone(),
                n["options"][0]["next"]
                    .as_str()
                    .expect("option 1 goes somewhere")
                    .to_string(),
            )
        })
        .expect("the demo flow has a menu");

    let driver = ChromeDriver::start();
    let page = Page {
        client: driver.session().await,
    };
    let base = format!("http://{}", koe.http_addr());
    page.client
        .goto(&format!("{base}/admin/ivr"))
        .await
        .expect("open /admin/ivr");

    // Not signed in: the form. A wrong password is refused on the form.
    page.wait_visible("#login-form").await;
    assert!(!page.visible("#app-view").await);
    page.type_into("#login-user", "admin").await;
    page.type_into("#login-password", "not the password").await;
    page.click("#login-submit").await;
    page.wait_visible("#login-error").await;
    assert_eq!(page.text("#login-error").await, "Wrong user or password.");
    page.type_into("#login-password", PASSWORD).await;
    page.click("#login-submit").await;
    page.wait_visible("#app-view").await;
    assert_eq!(page.text("#account-name").await, "admin");

    // Open the support flow; its graph has the start node, its version 1 is active.
    page.click(r#".flow-button[data-flow="support"]"#).await;
    page.wait_find(&format!(r#"#graph [data-node="{start}"].start"#))
        .await;
    page.wait_find(r#"#versions li[data-version="1"].active"#).await;
    page.until(
        "the first validation",
        "return document.getElementById('issues-summary').textContent.startsWith('Valid') || null",
        vec![],
    )
    .await;

    // Change the welcome prompt in the node editor: the JSON follows.
    page.click(&format!(r#"#graph [data-node="{start}"]"#)).await;
    let prompt = format!(r#"[data-node-form="{start}"] textarea[data-prompt="prompt"][data-lang="en"]"#);
    let shown = page
        .js(
            "return document.querySelector(arguments[0]).value",
            vec![json!(prompt)],
        )
        .await;
    assert_eq!(shown, json!(original), "the node editor shows the prompt");
    page.type_into(&prompt, NEW_WELCOME).await;
    let in_json: Value = serde_json::from_str(
        page.js("return document.getElementById('json').value", vec![])
            .await
            .as_str()
            .expect("the JSON text"),
    )
    .expect("the editor's JSON parses");
    assert_eq!(welcome_text(&in_json), NEW_WELCOME);
    assert!(page.visible("#dirty").await, "unsaved changes are shown");

    // Break the menu's first option: live validation names the node, the graph marks it red and draws
    // the missing target; clicking the issue selects the node and focuses the field to fix.
    page.click(&format!(r#"#graph [data-node="{menu}"]"#)).await;
    let option = format!(r#"[data-node-form="{menu}"] input[data-ref="options[0].next"]"#);
    page.type_into(&option, "nowhere").await;
    let issue = page
        .until(
            "an issue about the broken option",
            "return [...document.querySelectorAll('#issues .issue')]
               .find(b => b.dataset.node === arguments[0] && b.textContent.includes('options[0].next'))
               ?.textContent ?? null",
            vec![json!(menu)],
        )
        .await;
    assert!(page.text("#issues-summary").await.contains("problem"), "{issue}");
    assert!(
        page.js(
            "return document.querySelector(`#graph [data-node=\"${arguments[0]}\"]`).classList.contains('bad')",
            vec![json!(menu)],
        )
        .await
            == Value::Bool(true),
        "the menu is red in the graph"
    );
    assert!(page.text("#graph .node.ghost").await.contains("nowhere"));
    page.screenshot("admin-ivr-invalid.png").await;
    page.click(&format!(r#"#graph [data-node="{start}"]"#)).await;
    page.click(&format!(r#"#issues .issue[data-node="{menu}"]"#))
        .await;
    let focused = page
        .js(
            "const a = document.activeElement;
             return { ref: a.dataset.ref ?? null, invalid: a.hasAttribute('aria-invalid'),
                      selected: document.querySelector(`#graph [data-node=\"${arguments[0]}\"]`).classList.contains('selected') }",
            vec![json!(menu)],
        )
        .await;
    assert_eq!(
        focused,
        json!({ "ref": "options[0].next", "invalid": true, "selected": true }),
        "the issue leads to the field"
    );
    page.type_into(&option, &target).await;
    page.until(
        "the flow to be valid again",
        "return (document.getElementById('issues-summary').textContent.startsWith('Valid')
                 && document.querySelectorAll('#issues .issue').length === 0) || null",
        vec![],
    )
    .await;

    // Publish with a comment: version 2 is active, and the API serves the new text.
    page.type_into("#publish-comment", PUBLISH_COMMENT).await;
    page.click("#publish").await;
    page.wait_find(r#"#versions li[data-version="2"].active"#).await;
    page.until(
        "the publish notice",
        "return document.getElementById('notice').textContent.includes('Published version 2') || null",
        vec![],
    )
    .await;
    assert!(!page.visible("#dirty").await, "nothing unsaved after publishing");
    let v2 = api.get("/api/ivr/flows/support");
    assert_eq!(v2["active_version"], 2, "{v2}");
    assert_eq!(welcome_text(&v2["flow"]), NEW_WELCOME);
    assert_eq!(v2["flow"]["nodes"][&menu]["options"][0]["next"], json!(target));
    let versions = api.get("/api/ivr/flows/support/versions");
    let published = versions
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["version"] == 2)
        .expect("version 2 is listed");
    assert_eq!(published["comment"], PUBLISH_COMMENT);
    assert_eq!(published["author"], "admin");
    assert!(
        page.text(r#"#versions li[data-version="2"]"#)
            .await
            .contains(PUBLISH_COMMENT)
    );

    // The simulator walks the flow in the editor: the new welcome is said first; key 1 (English)
    // leads on through the language choice, and the graph marks the path.
    page.click("#tab-sim").await;
    let first = page
        .until(
            "the simulator's first step",
            "const s = document.querySelector('#sim-steps .sim-step'); return s ? s.textContent : null",
            vec![],
        )
        .await;
    assert!(
        first
            .as_str()
            .is_some_and(|t| t.starts_with(start.as_str()) && t.contains(NEW_WELCOME)),
        "{first}"
    );
    page.type_into("#sim-input", "1").await;
    page.click("#sim-send").await;
    let walked = page
        .until(
            "the walk after key 1",
            "const steps = [...document.querySelectorAll('#sim-steps .sim-step .link')].map(b => b.textContent);
             return steps.length > 2 ? steps : null",
            vec![],
        )
        .await;
    let walked: Vec<String> = serde_json::from_value(walked).expect("node names");
    let visited = page
        .js(
            "return [...document.querySelectorAll('#graph .node.visited')].map(g => g.dataset.node)",
            vec![],
        )
        .await;
    let visited: Vec<String> = serde_json::from_value(visited).expect("node names");
    for node in &walked {
        assert!(
            visited.contains(node),
            "{node} walked but not marked: {visited:?}"
        );
    }
    assert_eq!(walked[0], start);
    assert!(walked.contains(&menu), "{walked:?}");

    // A caller now hears the new welcome: a real SIP call (baresip), transcribed with Whisper.
    let heard = tokio::task::block_in_place(|| call_and_transcribe(&koe));
    eprintln!("the caller heard: {heard:?}");
    assert!(
        heard.contains("edited in the browser"),
        "the caller heard {heard:?}"
    );
    assert!(
        !heard.contains("thank you for calling"),
        "the old welcome: {heard:?}"
    );

    // The diff of version 1 → 2: exactly the welcome text, before and after.
    page.click(r#"#versions li[data-version="2"] [data-action="diff"]"#)
        .await;
    let rows = page
        .until(
            "the diff table",
            "const rows = [...document.querySelectorAll('#diff tbody tr')].map(tr =>
               [...tr.cells].map(td => td.textContent));
             return rows.length ? rows : null",
            vec![],
        )
        .await;
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).expect("rows of cells");
    assert_eq!(rows.len(), 1, "one change: {rows:?}");
    let [kind, node, path, before, after] = &rows[0][..] else {
        panic!("five cells: {rows:?}")
    };
    assert_eq!((kind.as_str(), node.as_str()), ("changed", start.as_str()));
    assert!(path.ends_with("prompt.en"), "{path}");
    assert_eq!(
        (before.as_str(), after.as_str()),
        (original.as_str(), NEW_WELCOME)
    );
    page.click(&format!(r#"#graph [data-node="{start}"]"#)).await;
    page.screenshot("admin-ivr.png").await;

    // Roll back to version 1, confirmed in the dialog: version 3 is version 1's flow.
    page.click(r#"#versions li[data-version="1"] [data-action="rollback"]"#)
        .await;
    page.wait_visible("#rollback-dialog[open]").await;
    page.type_into("#rollback-comment", ROLLBACK_COMMENT).await;
    page.click("#rollback-confirm").await;
    page.wait_find(r#"#versions li[data-version="3"].active"#).await;
    let v3 = api.get("/api/ivr/flows/support");
    assert_eq!(v3["active_version"], 3, "{v3}");
    assert_eq!(welcome_text(&v3["flow"]), original);
    let versions = api.get("/api/ivr/flows/support/versions");
    assert!(
        versions
            .as_array()
            .expect("versions")
            .iter()
            .any(|v| v["version"] == 3
                && v["comment"]
                    .as_str()
                    .is_some_and(|c| c.ends_with(ROLLBACK_COMMENT))
                && v["active"] == true),
        "{versions}"
    );
    let editor = page
        .js("return document.getElementById('json').value", vec![])
        .await;
    let editor: Value = serde_json::from_str(editor.as_str().expect("text")).expect("JSON");
    assert_eq!(
        welcome_text(&editor),
        original,
        "the editor shows the active version"
    );

    // Upload a recorded prompt (a real recording of any rate): it is listed, and it plays (the CSP lets
    // the page load its audio).
    let recording = "/usr/share/sounds/alsa/Front_Center.wav";
    page.type_into("#prompt-name", "front_center").await;
    page.wait_find("#prompt-file")
        .await
        .send_keys(recording)
        .await
        .expect("choose the WAV file");
    page.click("#prompt-form button").await;
    page.wait_find(r#"#prompts li[data-prompt="front_center"] audio"#)
        .await;
    assert_eq!(api.get("/api/prompts"), json!(["front_center"]));
    page.until(
        "the uploaded prompt's audio to load",
        "const a = document.querySelector('#prompts li[data-prompt=\"front_center\"] audio');
         if (a.preload !== 'auto') { a.preload = 'auto'; a.load(); }
         return a.readyState >= 1 ? a.duration : null",
        vec![],
    )
    .await;

    // Sign out: the form again, and the session no longer works.
    let cookie = page
        .client
        .get_named_cookie("koe_session")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true), "the session cookie is HttpOnly");
    page.click("#logout").await;
    page.wait_visible("#login-form").await;
    assert!(!page.visible("#app-view").await);
    let old = http_request(
        koe.http_addr(),
        "GET",
        "/api/me",
        &[("Cookie", &format!("koe_session={}", cookie.value()))],
        &[],
    )
    .expect("GET /api/me");
    assert_eq!(old.status, 401, "the signed-out session: {}", old.body);

    // A session that ends while the page is open sends the admin back to the form.
    page.type_into("#login-user", "admin").await;
    page.type_into("#login-password", PASSWORD).await;
    page.click("#login-submit").await;
    page.wait_visible("#app-view").await;
    let cookie = page
        .client
        .get_named_cookie("koe_session")
        .await
        .expect("the new session cookie");
    let ended = http_request(
        koe.http_addr(),
        "POST",
        "/api/logout",
        &[("Cookie", &format!("koe_session={}", cookie.value()))],
        &[],
    )
    .expect("POST /api/logout");
    assert!(ended.status < 300, "logout: {} {}", ended.status, ended.body);
    page.click(r#".flow-button[data-flow="support"]"#).await;
    page.wait_visible("#login-form").await;
    assert!(page.text("#login-error").await.contains("session has ended"));

    // Every 401 above was deliberate (/api/me before signing in and after signing out, the wrong
    // password, the ended session); nothing else may reach the console: no script error, no CSP
    // violation, no failed asset.
    let problems: Vec<Value> = page
        .console_problems()
        .await
        .into_iter()
        .filter(|e| {
            let msg = e["message"].as_str().unwrap_or_default();
            !(e["source"] == "network" && msg.contains("status of 401"))
        })
        .collect();
    assert!(problems.is_empty(), "console: {problems:#?}");
    page.client.close().await.expect("close the browser");
}
