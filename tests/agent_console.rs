//! The agent's screen end to end, with real peers: a caller (baresip, a phone number) walks the demo IVR
//! with keys (English, orders, order number 123456) into the orders queue; the agent's baresip phone,
//! registered to koe with digest authentication, answers by itself; headless Chromium signed in as that
//! agent at /agent shows the offer with the IVR's context, then the live transcript of both sides
//! (Whisper tiny.en on the caller's and the agent's speech), then the suggestion for what the caller said
//! about a late delivery ("track the order" with the order number the IVR collected). A reload keeps the
//! transcript with no line twice. The wrap-up is saved from the page and shows in the caller's history
//! when they call again. Prints the p95 time from a final transcript event to its text on the screen.
//! Screenshot: `$CARGO_TARGET_DIR/test-artifacts/agent-console.png`.

#[path = "asr_common/mod.rs"]
mod asr_common;
#[path = "browser_common/mod.rs"]
mod browser_common;
mod common;

use asr_common::follow_events;
use browser_common::{ChromeDriver, Page};
use common::gateway::encode_path;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ADMIN_PASSWORD: &str = "console-test-Passw0rd";
const AGENT: (&str, &str) = ("mia", "agent-mia-Passw0rd");
const CALLER: &str = "+81312345678";
const CALLER_SAYS: &str = "Hello. My order still has not arrived. It was supposed to be delivered last week.";
const AGENT_SAYS: &str = "I am sorry about that. Let me check where your order is.";

/// `text` spoken by flite's slt voice (not the prompts' voice), 8 kHz, after `lead_s` of silence and
/// padded to `total_s` (baresip hangs up when its source ends).
fn spoken(dir: &Path, name: &str, text: &str, lead_s: u32, total_s: u32) -> PathBuf {
    let raw = dir.join(format!("{name}-raw.wav"));
    let ok = std::process::Command::new("flite")
        .args(["-voice", "slt", "-t", text, "-o"])
        .arg(&raw)
        .status()
        .expect("flite (apt-get install flite)")
        .success();
    assert!(ok, "flite failed");
    let out = dir.join(format!("{name}.wav"));
    let ok = std::process::Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&out)
        .args([
            "pad",
            &lead_s.to_string(),
            "60",
            "trim",
            "0",
            &total_s.to_string(),
        ])
        .status()
        .expect("sox")
        .success();
    assert!(ok, "sox failed");
    out
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Every event with the wall-clock time this process received it, collected in the background.
fn stamped_events(koe: &Koe) -> Arc<Mutex<Vec<(f64, Value)>>> {
    let rx = follow_events(koe.http_addr(), koe.admin_token(), Duration::from_secs(240));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        while let Ok(e) = rx.recv() {
            sink.lock().unwrap().push((now_ms(), e));
        }
    });
    seen
}

fn wait_event(seen: &Arc<Mutex<Vec<(f64, Value)>>>, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait_for(Duration::from_secs(60), what, || {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e)
            .find(|e| f(e))
            .cloned()
    })
}

/// The final lines on the page: (channel, utterance, text), and whether any line appears twice.
async fn final_lines(page: &Page) -> (Vec<(String, u64, String)>, bool) {
    let v = page
        .js(
            "const li = [...document.querySelectorAll('#transcript li[data-channel]')];
             const keys = li.map(l => l.dataset.channel + '/' + l.dataset.utterance);
             return [li.filter(l => l.dataset.kind === 'final')
                       .map(l => [l.dataset.channel, Number(l.dataset.utterance), l.querySelector('.text').textContent]),
                     new Set(keys).size !== keys.length]",
            vec![],
        )
        .await;
    serde_json::from_value(v).expect("lines")
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_a_queued_call_with_its_context_live_transcript_and_suggestions() {
    let model = asr_common::tiny_en();
    let dir = tempfile::tempdir().unwrap();
    let flow = demo_flow_always_open(dir.path());
    let models = model.parent().unwrap().display().to_string();
    let koe = Koe::start(&[
        ("KOE_IVR_FLOW", &flow.display().to_string()),
        ("KOE_ADMIN_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD),
        ("KOE_ASR_ENABLED", "true"),
        ("KOE_ASR_MODELS_DIR", &models),
    ]);
    let admin = koe.sign_in("admin", ADMIN_PASSWORD);
    let body = json!({"id": AGENT.0, "name": "Mia Ito", "skills": {"orders": 2, "general": 1},
        "languages": ["en"], "password": AGENT.1});
    let r = koe.api("POST", "/api/agents", Some(&admin), Some(&body));
    assert_eq!(r.status, 201, "{}", r.body);
    let agent_audio = spoken(dir.path(), "agent", AGENT_SAYS, 2, 90);
    // The agent answers on the phone by hand (`/accept`), once the offer is on the screen.
    let mut phone = Baresip::agent(&agent_audio, koe.sip_addr(), AGENT.0, AGENT.1, false);
    let events = stamped_events(&koe);

    let driver = ChromeDriver::start();
    let page = Page {
        client: driver.session().await,
    };
    page.client
        .goto(&format!("http://{}/agent", koe.http_addr()))
        .await
        .expect("open /agent");
    page.wait_visible("#login-form").await;
    page.type_into("#login-user", AGENT.0).await;
    page.type_into("#login-password", AGENT.1).await;
    page.click("#login-submit").await;
    page.wait_visible("#console-view").await;
    // The page asked who is signed in before the form (a 401 by design); from here on, no error.
    page.console_problems().await;
    page.wait_find(r#"#phone[data-registered="true"]"#).await;
    page.click(r#"#presence button[data-set="available"]"#).await;
    page.wait_find(r#"#presence[data-presence="available"]"#).await;

    // The caller walks the IVR into the orders queue, and the agent's phone is rung.
    let quiet = silence(dir.path(), 120);
    let mut caller = Baresip::caller(&quiet, CALLER);
    caller.dial(koe.sip_addr());
    caller.walk_demo_to_orders();
    page.wait_visible("#offer").await;
    let offer = page.text("#offer").await;
    assert!(offer.contains("orders"), "the offer names the queue: {offer}");
    let queued = wait_event(&events, "CallQueued", |e| e["type"] == "CallQueued");
    let call_id = queued["call_id"].as_str().unwrap().to_string();
    assert_eq!(queued["vars"]["order_number"], "123456");

    page.wait_find(r#"#context dd[data-var="order_number"]"#).await;
    // The phone answers: the call view, with what the IVR learned.
    phone.wait_output("Incoming call", Duration::from_secs(10));
    phone.command("/accept");
    wait_event(&events, "AgentConnected", |e| e["type"] == "AgentConnected");
    page.wait_visible("#transcript").await;
    page.wait_find(r#"#context dd[data-var="order_number"]"#).await;
    assert_eq!(
        page.text(r#"#context dd[data-var="order_number"]"#).await,
        "123456"
    );
    let path: Vec<String> = serde_json::from_value(
        page.js(
            "return [...document.querySelectorAll('#ivr-path li')].map(l => l.dataset.node)",
            vec![],
        )
        .await,
    )
    .unwrap();
    assert_eq!(path.first().map(String::as_str), Some("welcome"));
    assert_eq!(path.last().map(String::as_str), Some("orders_queue"));

    // Now the caller says why they call.
    let caller_audio = spoken(dir.path(), "caller", CALLER_SAYS, 1, 40);
    caller.command(&format!("/ausrc aufile,{}", caller_audio.display()));
    page.until(
        "a final of the caller on the screen",
        "return document.querySelector('#transcript li[data-channel=\"caller\"][data-kind=\"final\"]') ? true : null",
        vec![],
    )
    .await;
    page.until(
        "a final of the agent on the screen",
        "return document.querySelector('#transcript li[data-channel=\"agent\"][data-kind=\"final\"]') ? true : null",
        vec![],
    )
    .await;
    page.wait_find(r#"#suggestions li[data-intent="order_tracking"]"#)
        .await;
    // Give the caller's sentence time to settle in all its finals.
    std::thread::sleep(Duration::from_secs(6));
    let (lines, twice) = final_lines(&page).await;
    assert!(!twice, "no line twice: {lines:?}");
    let said = |channel: &str| {
        lines
            .iter()
            .filter(|(c, _, _)| c == channel)
            .map(|(_, _, t)| t.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let caller_wer = koe::asr::wer::word_error_rate(CALLER_SAYS, &said("caller"));
    assert!(
        caller_wer <= 0.3,
        "the caller's words: {:?} (WER {caller_wer:.2})",
        said("caller")
    );
    let agent_wer = koe::asr::wer::word_error_rate(AGENT_SAYS, &said("agent"));
    assert!(
        agent_wer <= 0.3,
        "the agent's words: {:?} (WER {agent_wer:.2})",
        said("agent")
    );
    let top = page.text(r#"#suggestions li[data-rank="1"]"#).await;
    assert!(
        top.contains("123456"),
        "the top suggestion checks the order number: {top}"
    );
    let first = page
        .js(
            "return document.querySelector('#suggestions li[data-rank=\"1\"]').dataset.intent",
            vec![],
        )
        .await;
    assert_eq!(first, "order_tracking", "{top}");
    page.screenshot("agent-console.png").await;

    // From each final event to its text on the screen (both clocks are this machine's).
    let shown: Vec<(u64, f64)> = serde_json::from_value(
        page.js(
            "return window.koeMetrics.finals.map(f => [f.seq, window.koeMetrics.timeOrigin + f.shownAt])",
            vec![],
        )
        .await,
    )
    .unwrap();
    let received = events.lock().unwrap().clone();
    let latencies: Vec<f64> = shown
        .iter()
        .filter_map(|(seq, at)| {
            let (t, _) = received.iter().find(|(_, e)| e["seq"] == *seq)?;
            Some((at - t).max(0.0))
        })
        .collect();
    assert!(!latencies.is_empty(), "finals were timed: {shown:?}");
    eprintln!(
        "final transcript event → text on the agent's screen: p50 {:.0} ms, p95 {:.0} ms over {} finals",
        percentile(latencies.clone(), 0.5),
        percentile(latencies.clone(), 0.95),
        latencies.len()
    );

    // A reload rebuilds the same transcript, no line lost or twice.
    page.client.refresh().await.expect("reload");
    page.wait_visible("#transcript").await;
    page.until(
        "the transcript back after the reload",
        "return document.querySelectorAll('#transcript li[data-kind=\"final\"]').length || null",
        vec![],
    )
    .await;
    let (after, twice) = final_lines(&page).await;
    assert!(!twice, "no line twice after the reload: {after:?}");
    for line in &lines {
        assert!(
            after.contains(line),
            "{line:?} is still there after the reload: {after:?}"
        );
    }
    let stored = koe.http_get_json(&format!("/api/calls/{}/transcript", encode_path(&call_id)));
    let stored_caller: Vec<&str> = stored["utterances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["channel"] == "caller")
        .map(|u| u["text"].as_str().unwrap())
        .collect();
    assert!(
        stored_caller
            .iter()
            .all(|t| after.iter().any(|(c, _, x)| c == "caller" && x == t)),
        "the screen shows what koe stored: {stored_caller:?} vs {after:?}"
    );

    // The caller hangs up; the agent wraps up from the page.
    caller.command("/hangup");
    page.wait_visible("#wrapup-form").await;
    page.type_into("#wrapup-reason", "Late delivery").await;
    page.js("const s = document.getElementById('wrapup-disposition'); s.value = 'resolved'; s.dispatchEvent(new Event('change'))", vec![]).await;
    page.type_into("#wrapup-notes", "New delivery date given.").await;
    page.click("#wrapup-save").await;
    let outcome = page
        .until(
            "the wrap-up saved or refused",
            "const e = document.getElementById('wrapup-error');
             if (!e.hidden) return 'error: ' + e.textContent;
             // Saved: koe makes the agent available again, and the console goes back to idle.
             const idle = document.getElementById('idle').checkVisibility();
             const available = document.getElementById('presence').dataset.presence === 'available';
             return idle && available ? 'saved' : null",
            vec![],
        )
        .await;
    assert_eq!(outcome, "saved");
    let context = koe
        .api(
            "GET",
            &format!("/api/calls/{}/context", encode_path(&call_id)),
            Some(&admin),
            None,
        )
        .json();
    assert_eq!(context["wrapup"]["reason"], "Late delivery", "{context:#}");
    assert_eq!(context["wrapup"]["agent"], AGENT.0);
    wait_for(Duration::from_secs(10), "the summary with the wrap-up", || {
        let c = koe
            .api(
                "GET",
                &format!("/api/calls/{}/context", encode_path(&call_id)),
                Some(&admin),
                None,
            )
            .json();
        (c["summary"]["outcome"] == "resolved").then_some(c)
    });

    // The same number calls again and asks for a person: the offer shows the earlier call.
    let mut again = Baresip::caller(&quiet, CALLER);
    again.dial(koe.sip_addr());
    again.wait_output("Call established", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(3_000));
    again.send_key('0');
    page.wait_visible("#offer").await;
    page.wait_find("#history").await;
    let history = page.text("#history").await;
    assert!(
        history.contains("Late delivery"),
        "the caller's history: {history}"
    );
    again.command("/hangup");
    phone.quit();
    let problems = page.console_problems().await;
    assert!(problems.is_empty(), "the browser's console: {problems:#?}");
}
