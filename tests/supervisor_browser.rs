//! The supervisor's view in a real browser (headless Chromium over WebDriver) against the real koe: a
//! supervisor signs in through the form (an agent is turned away), sees every agent as the API lists
//! them and an agent's presence change live; a SIPp caller who talks (real recorded speech) waits in a
//! queue, and the board shows the call and the queue as the overview API does; a reload rebuilds the
//! same board from the REST API; the call opens into its live transcript, transcribed by Whisper
//! (partials in place, then finals equal to what koe stored, no line twice); when the caller hangs up,
//! the call leaves the board. The browser's console stays free of errors. Screenshot:
//! `$CARGO_TARGET_DIR/test-artifacts/supervisor.png`.

#[path = "asr_common/mod.rs"]
mod asr_common;
#[path = "browser_common/mod.rs"]
mod browser_common;
mod common;

use browser_common::{ChromeDriver, Page};
use common::gateway::encode_path;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const ADMIN_PASSWORD: &str = "browser-test-Passw0rd";
const SUPERVISOR: (&str, &str) = ("sam", "supervisor-Passw0rd");
const AGENT: (&str, &str) = ("ann", "agent-ann-Passw0rd");
/// How long the caller talks before hanging up: jfk.wav (1.5–12.5 s of the speech stream) and a little.
const TALK_MS: u64 = 17_000;

/// A line whose callers wait in the `general` queue at once: no prompt, no menu.
fn hold_flow(dir: &std::path::Path) -> std::path::PathBuf {
    let flow = json!({
        "id": "hold", "name": "Hold for a person", "start": "hold", "languages": ["en"], "agent_node": "hold",
        "nodes": { "hold": {"type": "queue", "queue": "general", "skills": ["general"]} }
    });
    let path = dir.join("hold.json");
    std::fs::write(&path, flow.to_string()).expect("write the flow");
    path
}

fn created(koe: &Koe, token: &str, path: &str, body: Value) {
    let r = koe.api("POST", path, Some(token), Some(&body));
    assert_eq!(r.status, 201, "POST {path}: {}", r.body);
}

fn get(koe: &Koe, token: &str, path: &str) -> Value {
    let r = koe.api("GET", path, Some(token), None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

/// `[id, presence]` of every agent, as the API says and as the page's rows say.
fn agents_of_api(koe: &Koe, token: &str) -> BTreeSet<(String, String)> {
    get(koe, token, "/api/agents")
        .as_array()
        .expect("a list of agents")
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["presence"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn agents_on_page(page: &Page) -> BTreeSet<(String, String)> {
    let rows = page
        .js(
            "return [...document.querySelectorAll('#agents tr[data-agent]')]
               .map(tr => [tr.dataset.agent, tr.dataset.presence])",
            vec![],
        )
        .await;
    serde_json::from_value::<Vec<(String, String)>>(rows)
        .expect("rows")
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_watches_queues_agents_and_a_live_transcript_in_chromium() {
    let model = asr_common::tiny_en();
    // The file speak.xml streams.
    asr_common::speech_stream();
    let dir = tempfile::tempdir().expect("temp dir");
    let flow = hold_flow(dir.path());
    let models = model.parent().expect("models dir").display().to_string();
    let mut koe = Koe::start(&[
        ("KOE_IVR_FLOW", &flow.display().to_string()),
        ("KOE_ADMIN_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD),
        ("KOE_ASR_ENABLED", "true"),
        ("KOE_ASR_MODELS_DIR", &models),
        // Nobody's phone is registered: the caller must stay in the queue while the test watches.
        ("KOE_ROUTING_UNSTAFFED_WAIT_S", "300"),
        ("KOE_ROUTING_MAX_WAIT_S", "300"),
    ]);
    let admin = koe.sign_in("admin", ADMIN_PASSWORD);
    created(
        &koe,
        &admin,
        "/api/users",
        json!({"name": SUPERVISOR.0, "password": SUPERVISOR.1, "role": "supervisor"}),
    );
    created(
        &koe,
        &admin,
        "/api/agents",
        json!({"id": AGENT.0, "name": "Ann Lee", "skills": {"general": 1}, "languages": ["en"],
               "password": AGENT.1}),
    );
    let supervisor = koe.sign_in(SUPERVISOR.0, SUPERVISOR.1);

    let driver = ChromeDriver::start();
    let page = Page {
        client: driver.session().await,
    };
    page.client
        .goto(&format!("http://{}/supervisor", koe.http_addr()))
        .await
        .expect("open /supervisor");

    // The form; an agent may not use this view, a supervisor may.
    page.wait_visible("#login-form").await;
    page.type_into("#login-user", AGENT.0).await;
    page.type_into("#login-password", AGENT.1).await;
    page.click("#login-submit").await;
    page.wait_visible("#login-error").await;
    assert!(
        page.text("#login-error").await.contains("ann is an agent"),
        "{}",
        page.text("#login-error").await
    );
    assert!(!page.visible("#board").await);
    page.type_into("#login-user", SUPERVISOR.0).await;
    page.type_into("#login-password", SUPERVISOR.1).await;
    page.click("#login-submit").await;
    page.wait_visible("#board").await;
    assert_eq!(page.text("#account-name").await, SUPERVISOR.0);
    page.until(
        "the event stream to be live",
        "return document.getElementById('connection').dataset.state === 'live' || null",
        vec![],
    )
    .await;

    // Every agent (the configured ones and Ann), each with the presence the API gives.
    let api_agents = agents_of_api(&koe, &supervisor);
    let ids: BTreeSet<&str> = api_agents.iter().map(|(id, _)| id.as_str()).collect();
    assert!(
        ["aiko", "ben", "chloe", "ann"].iter().all(|a| ids.contains(a)),
        "{api_agents:?}"
    );
    page.until(
        "the agents' rows",
        "return document.querySelectorAll('#agents tr[data-agent]').length || null",
        vec![],
    )
    .await;
    assert_eq!(agents_on_page(&page).await, api_agents);
    assert!(
        page.text(r#"#agents tr[data-agent="ann"] th"#)
            .await
            .contains("Ann Lee")
    );

    // Ann makes herself available: her row follows live, without a reload.
    let ann = koe.sign_in(AGENT.0, AGENT.1);
    let r = koe.api(
        "PUT",
        "/api/agent/presence",
        Some(&ann),
        Some(&json!({"presence": "available"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    page.wait_find(r#"#agents tr[data-agent="ann"][data-presence="available"]"#)
        .await;
    assert_eq!(agents_on_page(&page).await, agents_of_api(&koe, &supervisor));

    // A caller who talks waits in the general queue: the board shows the call and the queue.
    let caller = Sipp::new("speak.xml", koe.sip_addr())
        .arg("-d")
        .arg(TALK_MS.to_string())
        .timeout(TALK_MS / 1000 + 60)
        .spawn();
    let call_id = page
        .until(
            "a queued call on the board",
            "return document.querySelector('#calls tr[data-state=\"queued\"]')?.dataset.call ?? null",
            vec![],
        )
        .await
        .as_str()
        .expect("a call id")
        .to_string();
    let in_queue =
        format!(r#"#queues li[data-queue="general"][data-waiting="1"] .callers li[data-call="{call_id}"]"#);
    page.wait_find(&in_queue).await;
    let overview = get(&koe, &supervisor, "/api/supervisor/overview");
    let general = overview["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["name"] == "general")
        .unwrap_or_else(|| panic!("no general queue: {overview}"));
    assert_eq!(general["waiting"][0]["call_id"], json!(call_id), "{overview}");
    assert!(
        overview["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .any(|c| c["call_id"] == json!(call_id) && c["state"] == "queued"),
        "{overview}"
    );
    let row = format!(r#"#calls tr[data-call="{call_id}"]"#);
    assert!(
        page.text(&row).await.contains("general"),
        "{}",
        page.text(&row).await
    );

    // A reload rebuilds the same board from the REST API.
    page.client.refresh().await.expect("reload");
    page.wait_find(&in_queue).await;
    page.wait_find(r#"#agents tr[data-agent="ann"][data-presence="available"]"#)
        .await;

    // The call opens into its live transcript: partials in place while the caller speaks, then finals.
    page.click(&format!(r#"#calls button.open-call[data-call="{call_id}"]"#))
        .await;
    page.wait_visible("#watch").await;
    page.js(
        "window.sawPartial = false;
         new MutationObserver(() => {
           if (document.querySelector('#watch-transcript .line.partial[data-channel=\"caller\"]')) window.sawPartial = true;
         }).observe(document.getElementById('watch-transcript'), { subtree: true, childList: true, characterData: true, attributes: true });",
        vec![],
    )
    .await;
    let said = page
        .until(
            "the caller's words in the transcript",
            "const t = [...document.querySelectorAll('#watch-transcript .line.final[data-channel=\"caller\"] .text')]
               .map(p => p.textContent).join(' ').toLowerCase();
             return t.includes('country') ? t : null",
            vec![],
        )
        .await;
    eprintln!("the supervisor read: {said}");
    page.screenshot("supervisor.png").await;

    // The caller hangs up: the call leaves the board and the queue; the transcript says it ended.
    tokio::task::block_in_place(|| caller.wait()).assert_success();
    page.until(
        "the call to leave the board",
        "return (!document.querySelector(arguments[0])
                 && !!document.querySelector('#queues li[data-queue=\"general\"][data-waiting=\"0\"]')) || null",
        vec![json!(row)],
    )
    .await;
    page.wait_visible("#watch-ended").await;
    assert!(
        page.js("return window.sawPartial", vec![]).await == Value::Bool(true),
        "no partial was shown while the caller spoke"
    );

    // What the page shows is what koe stored: every final once, in order.
    koe.wait_call_closed(&call_id, Duration::from_secs(20));
    let stored = get(
        &koe,
        &supervisor,
        &format!("/api/calls/{}/transcript", encode_path(&call_id)),
    );
    let stored: Vec<(String, u64, String)> = stored["utterances"]
        .as_array()
        .expect("utterances")
        .iter()
        .map(|u| {
            (
                u["channel"].as_str().unwrap().to_string(),
                u["utterance_id"].as_u64().unwrap(),
                u["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!stored.is_empty(), "koe stored no transcript");
    let shown = page
        .until(
            "every stored final on screen",
            "const lines = [...document.querySelectorAll('#watch-transcript .line')];
             return lines.some(l => l.dataset.kind !== 'final') ? null
               : lines.map(l => [l.dataset.channel, Number(l.dataset.utterance), l.querySelector('.text').textContent]);",
            vec![],
        )
        .await;
    let shown: Vec<(String, u64, String)> = serde_json::from_value(shown).expect("lines");
    assert_eq!(shown, stored, "the transcript on screen against koe's");

    // The only errors so far: /api/me before signing in (401).
    let problems: Vec<Value> = page
        .console_problems()
        .await
        .into_iter()
        .filter(|e| {
            let msg = e["message"].as_str().unwrap_or_default();
            !(e["source"] == "network" && msg.contains("/api/me") && msg.contains("status of 401"))
        })
        .collect();
    assert!(problems.is_empty(), "console: {problems:#?}");

    // koe restarts (killed): its events are numbered from 1 again, so the page's resume point is ahead
    // of them; koe says so (close 4002) and the page rebuilds the board from the REST API.
    page.js(
        "window.connection = [];
         new MutationObserver(() => window.connection.push(document.getElementById('connection').dataset.state))
           .observe(document.getElementById('connection'), { attributes: true });",
        vec![],
    )
    .await;
    koe.kill9();
    koe.restart();
    let seen = page
        .until(
            "the board to be live again after a resync",
            "const s = window.connection;
             return s.includes('resyncing') && s.at(-1) === 'live' ? s : null",
            vec![],
        )
        .await;
    eprintln!("connection states across the restart: {seen}");
    let supervisor = koe.sign_in(SUPERVISOR.0, SUPERVISOR.1);
    page.until(
        "the agents as the restarted koe lists them",
        "return document.querySelectorAll('#agents tr[data-agent]').length || null",
        vec![],
    )
    .await;
    assert_eq!(agents_on_page(&page).await, agents_of_api(&koe, &supervisor));
    assert!(!page.visible(&row).await, "no call survives the restart");
    page.client.close().await.expect("close the browser");
}
