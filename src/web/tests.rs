//! The HTTP side over a real socket: a server on 127.0.0.1:0 with a real SQLite store in a tempdir,
//! driven by raw HTTP/1.1 requests and a real WebSocket client.

use super::*;
use crate::events::{Channel, DtmfMethod, Event, EventKind};
use crate::store::{CallRecord, CallStatus};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Long enough for a loaded 2-core machine, short enough that a hang fails the test.
const WAIT: Duration = Duration::from_secs(10);

/// The session every test server has (a supervisor's): call data and events need a sign-in.
const TOKEN: &str = "test-session-token";

struct Server {
    addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    dir: tempfile::TempDir,
}

async fn start(bus_capacity: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let store = Store::open(&data_dir).await.unwrap();
    let ivr: Arc<crate::ivr::registry::Registry> = Default::default();
    // English prompts are spoken by espeak-ng, as in the default configuration.
    let voices = crate::config::TtsConfig {
        voices: [("en".to_string(), "espeak-ng:en-us".to_string())].into(),
    };
    let publisher = crate::ivr::publish::Publisher::new(
        store.clone(),
        ivr.clone(),
        Arc::new(crate::tts::Tts::from_config(&voices, data_dir.join("tts"))),
        Arc::new(crate::ivr::prompts::PromptLibrary::new(data_dir.join("prompts"))),
    );
    let events = Arc::new(EventBus::new(bus_capacity));
    let state = AppState {
        store,
        events: events.clone(),
        metrics: Arc::new(Metrics::new()),
        data_dir,
        draining: Arc::new(AtomicBool::new(false)),
        ivr,
        publisher: Arc::new(publisher),
        routing: crate::routing::Routing::start(Default::default(), Vec::new(), events.clone()),
        live: crate::live::LiveCalls::start(events.clone()),
        directory: Default::default(),
        sip: crate::sip::endpoint::SipHandle {
            commands: tokio::sync::mpsc::unbounded_channel().0,
        },
        session_ttl: Duration::from_secs(3600),
    };
    let user = crate::store::User {
        name: "sue".into(),
        password_hash: auth::password::hash("not used here"),
        role: crate::store::Role::Supervisor,
        created_at_ms: 0,
    };
    state.store.add_user(&user).await.unwrap();
    let hash = auth::password::token_hash(TOKEN);
    state.store.add_session(&hash, "sue", i64::MAX, 0).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
    Server {
        addr,
        state,
        shutdown,
        task,
        dir,
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_slice(&self.body).unwrap()
    }

    fn error(&self) -> String {
        let body: serde_json::Value = self.json();
        body["error"].as_str().unwrap().to_string()
    }
}

/// One signed-in `GET` over a fresh connection, read until the server closes it.
async fn get(addr: SocketAddr, path: &str) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    request(addr, "GET", path, &[("Authorization", &bearer)], b"").await
}

/// Any request over a fresh connection, read until the server closes it.
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let reply = Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    let length: usize = reply.header("content-length").map_or(0, |l| l.parse().unwrap());
    assert_eq!(length, reply.body.len(), "body length matches Content-Length");
    reply
}

fn call(id: &str, invite_at_ms: i64, status: CallStatus) -> CallRecord {
    CallRecord {
        status,
        codec: Some("PCMU".into()),
        dtmf: "42".into(),
        ..CallRecord::new(id, "sip:alice@example.com", "sip:support@koe.local", invite_at_ms)
    }
}

#[tokio::test]
async fn healthz_turns_503_while_draining() {
    let s = start(16).await;
    let ok = get(s.addr, "/healthz").await;
    assert_eq!((ok.status, ok.text()), (200, "ok"));
    s.state.draining.store(true, Ordering::Release);
    let draining = get(s.addr, "/healthz").await;
    assert_eq!((draining.status, draining.text()), (503, "draining"));
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let s = start(16).await;
    s.state
        .metrics
        .inc("koe_calls_total", "Calls received", &[("result", "answered")]);
    let r = get(s.addr, "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4"));
    assert!(
        r.text().contains("# TYPE koe_calls_total counter"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("koe_calls_total{result=\"answered\"} 1"));
}

#[tokio::test]
async fn calls_list_get_and_errors() {
    let s = start(16).await;
    let store = &s.state.store;
    let calls = [
        call("a84b4c76e66710@pc33.atlanta.com", 1_000, CallStatus::Ended),
        call("b2", 2_000, CallStatus::Answered),
        call("c3", 3_000, CallStatus::Ended),
    ];
    for c in &calls {
        store.upsert_call(c).await.unwrap();
    }
    let ids = |page: CallPage| page.calls.into_iter().map(|c| c.id).collect::<Vec<_>>();

    let all = get(s.addr, "/api/calls").await;
    assert_eq!(all.status, 200);
    assert_eq!(ids(all.json()), ["c3", "b2", "a84b4c76e66710@pc33.atlanta.com"]);
    assert_eq!(
        ids(get(s.addr, "/api/calls?limit=1&offset=1").await.json()),
        ["b2"]
    );
    assert_eq!(
        ids(get(s.addr, "/api/calls?status=ended").await.json()),
        ["c3", "a84b4c76e66710@pc33.atlanta.com"]
    );

    let one = get(s.addr, "/api/calls/a84b4c76e66710@pc33.atlanta.com").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json::<CallRecord>(), calls[0]);

    let missing = get(s.addr, "/api/calls/nope").await;
    assert_eq!(
        (missing.status, missing.error()),
        (404, "call nope not found".into())
    );

    for bad in ["status=bogus", "limit=0", "limit=501", "limit=abc", "offset=-1"] {
        let r = get(s.addr, &format!("/api/calls?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(!r.error().is_empty(), "{bad}");
    }
    assert!(
        get(s.addr, "/api/calls?status=bogus")
            .await
            .error()
            .contains("bogus")
    );
    let bad_after = get(s.addr, "/api/events?after=soon").await;
    assert_eq!(bad_after.status, 400);
    assert!(bad_after.error().contains("after"), "{}", bad_after.error());
    let not_ws = get(s.addr, "/api/events").await;
    assert_eq!(not_ws.status, 400);
    assert!(not_ws.error().contains("upgrade"), "{}", not_ws.error());
    // Call data and the event stream (transcripts, card-masked or not) are for signed-in users only.
    for path in [
        "/api/calls",
        "/api/calls/b2",
        "/api/calls/b2/transcript",
        "/api/calls/b2/recording",
        "/api/events?after=0",
    ] {
        let anonymous = request(s.addr, "GET", path, &[], b"").await;
        assert_eq!(anonymous.status, 401, "{path}");
        let forged = request(s.addr, "GET", path, &[("Authorization", "Bearer forged")], b"").await;
        assert_eq!(forged.status, 401, "{path}");
    }
    let url = format!("ws://{}/api/events", s.addr);
    assert!(
        tokio_tungstenite::connect_async(url).await.is_err(),
        "an anonymous WebSocket upgrade is refused"
    );
    let no_route = get(s.addr, "/api/nothing-here").await;
    assert_eq!(
        (no_route.status, no_route.error()),
        (404, "route not found".into())
    );
}

#[tokio::test]
async fn transcript_in_order_and_404() {
    let s = start(16).await;
    let store = &s.state.store;
    store
        .upsert_call(&call("t1", 0, CallStatus::Ended))
        .await
        .unwrap();
    store
        .add_transcript("t1", Channel::Agent, 1, "How can I help?", 1_500, 2_400)
        .await
        .unwrap();
    store
        .add_transcript("t1", Channel::Caller, 1, "Hello.", 200, 900)
        .await
        .unwrap();

    let r = get(s.addr, "/api/calls/t1/transcript").await;
    assert_eq!(r.status, 200);
    let t: Transcript = r.json();
    assert_eq!(t.call_id, "t1");
    let lines: Vec<_> = t
        .utterances
        .iter()
        .map(|u| (u.channel, u.text.as_str()))
        .collect();
    assert_eq!(
        lines,
        [(Channel::Caller, "Hello."), (Channel::Agent, "How can I help?")]
    );

    assert_eq!(get(s.addr, "/api/calls/none/transcript").await.status, 404);
}

#[tokio::test]
async fn recording_streams_the_wav_and_refuses_escapes() {
    let s = start(16).await;
    let data_dir = &s.state.data_dir;
    std::fs::create_dir_all(data_dir.join("recordings")).unwrap();
    // A real stereo WAV as the recorder writes it: 8 kHz, caller left, koe right.
    let wav_path = data_dir.join("recordings/r1.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav_path, spec).unwrap();
    for n in 0..8_000 {
        let tone = (n as f32 * 440.0 * std::f32::consts::TAU / 8_000.0).sin();
        writer.write_sample((tone * 8_000.0) as i16).unwrap();
        writer.write_sample(0i16).unwrap();
    }
    writer.finalize().unwrap();
    // A file that exists but lies outside the data directory, and a symlink inside pointing to it.
    let outside = s.dir.path().join("secret.wav");
    std::fs::write(&outside, b"RIFF secret").unwrap();
    std::os::unix::fs::symlink(&outside, data_dir.join("recordings/link.wav")).unwrap();

    let store = &s.state.store;
    for (id, path) in [
        ("r1", Some("recordings/r1.wav")),
        ("dotdot", Some("../secret.wav")),
        ("absolute", Some(outside.to_str().unwrap())),
        ("symlink", Some("recordings/link.wav")),
        ("gone", Some("recordings/never-written.wav")),
        ("dir", Some("recordings")),
        ("none", None),
    ] {
        let mut c = call(id, 0, CallStatus::Ended);
        c.recording_path = path.map(str::to_string);
        store.upsert_call(&c).await.unwrap();
    }

    let r = get(s.addr, "/api/calls/r1/recording").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    assert_eq!(r.body, std::fs::read(&wav_path).unwrap());
    let back = hound::WavReader::new(std::io::Cursor::new(&r.body)).unwrap();
    assert_eq!((back.spec().channels, back.duration()), (2, 8_000));

    for id in ["dotdot", "absolute", "symlink"] {
        let r = get(s.addr, &format!("/api/calls/{id}/recording")).await;
        assert_eq!(r.status, 403, "{id}");
        assert!(r.error().contains("outside the data directory"), "{id}");
    }
    for id in ["gone", "dir", "none", "unknown"] {
        assert_eq!(
            get(s.addr, &format!("/api/calls/{id}/recording")).await.status,
            404,
            "{id}"
        );
    }
}

async fn connect(addr: SocketAddr, query: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/api/events{query}")
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {TOKEN}").parse().unwrap();
    req.headers_mut().insert("Authorization", bearer);
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .unwrap();
    ws
}

/// The next frame: an event, or the close code and reason.
async fn next(ws: &mut Ws) -> Result<Event, (u16, String)> {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match msg {
            WsMessage::Text(text) => return Ok(serde_json::from_str(text.as_str()).unwrap()),
            WsMessage::Close(Some(frame)) => return Err((frame.code.into(), frame.reason.to_string())),
            WsMessage::Close(None) => return Err((0, String::new())),
            _ => {}
        }
    }
}

async fn next_event(ws: &mut Ws) -> Event {
    next(ws).await.unwrap()
}

/// Asserts that nothing more arrives for a while (no duplicate, no stray event).
async fn assert_quiet(ws: &mut Ws) {
    let more = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
    assert!(more.is_err(), "unexpected frame {more:?}");
}

fn dtmf(key: char) -> EventKind {
    EventKind::DtmfReceived {
        key,
        method: DtmfMethod::Rfc4733,
    }
}

#[tokio::test]
async fn events_backlog_then_live_filtered_by_call() {
    let s = start(100).await;
    let bus = &s.state.events;
    bus.publish(
        "c1",
        EventKind::CallStarted {
            from: "sip:alice@example.com".into(),
            to: "sip:support@koe.local".into(),
        },
    );
    bus.publish("c2", EventKind::CallHeld);
    bus.publish("c1", dtmf('1'));

    let mut ws = connect(s.addr, "?after=0&call_id=c1").await;
    let (history, _) = bus.subscribe_from(0);
    assert_eq!(next_event(&mut ws).await, history[0]);
    assert_eq!(next_event(&mut ws).await, history[2]);

    bus.publish("c2", EventKind::CallResumed);
    let live = bus.publish("c1", dtmf('#'));
    let ev = next_event(&mut ws).await;
    assert_eq!((ev.seq, ev.call_id.as_str(), ev.kind), (live, "c1", dtmf('#')));
    assert_quiet(&mut ws).await;
}

#[tokio::test]
async fn events_resume_after_seq_has_no_gap_and_no_duplicate() {
    let s = start(100).await;
    let bus = &s.state.events;
    for key in ['1', '2', '3', '4', '5'] {
        bus.publish("c1", dtmf(key));
    }
    let mut first = connect(s.addr, "?after=0").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_event(&mut first).await.seq);
    }
    drop(first);

    for key in ['6', '7', '8', '9', '0'] {
        bus.publish("c1", dtmf(key));
    }
    let mut again = connect(s.addr, &format!("?after={}", seen[2])).await;
    for _ in 0..7 {
        seen.push(next_event(&mut again).await.seq);
    }
    seen.push(bus.publish("c1", dtmf('*')));
    assert_eq!(next_event(&mut again).await.seq, seen[10]);
    assert_eq!(seen, (1..=11).collect::<Vec<_>>());
    assert_quiet(&mut again).await;
}

#[tokio::test]
async fn events_without_after_are_live_only() {
    let s = start(100).await;
    let bus = &s.state.events;
    bus.publish("c1", EventKind::CallHeld);
    let mut ws = connect(s.addr, "").await;
    // The subscription starts when the upgrade completes on the server: publish until one arrives.
    let first = tokio::time::timeout(WAIT, async {
        loop {
            let seq = bus.publish("c1", EventKind::CallResumed);
            if let Ok(Some(Ok(WsMessage::Text(text)))) =
                tokio::time::timeout(Duration::from_millis(50), ws.next()).await
            {
                let ev: Event = serde_json::from_str(text.as_str()).unwrap();
                assert!(ev.seq > 1 && ev.seq <= seq, "history is not replayed: {ev:?}");
                return ev.seq;
            }
        }
    })
    .await
    .unwrap();
    let next_seq = bus.publish("c1", EventKind::CallHeld);
    // Events published while waiting, then the last one: all in order, none skipped.
    for seq in first + 1..=next_seq {
        assert_eq!(next_event(&mut ws).await.seq, seq);
    }
}

#[tokio::test]
async fn events_resume_point_out_of_history_closes_with_reason() {
    let s = start(16).await;
    let bus = &s.state.events;
    for _ in 0..40 {
        bus.publish("c1", EventKind::CallHeld);
    }
    let mut trimmed = connect(s.addr, "?after=3").await;
    let (code, reason) = next(&mut trimmed).await.unwrap_err();
    assert_eq!(code, CLOSE_GAP);
    assert!(
        reason.contains("event 4 is gone") && reason.contains("next kept: 25"),
        "{reason}"
    );

    let mut ahead = connect(s.addr, "?after=1000").await;
    let (code, reason) = next(&mut ahead).await.unwrap_err();
    assert_eq!(code, CLOSE_AHEAD);
    assert!(reason.contains("newest event 40"), "{reason}");

    // The newest event itself is a valid resume point: nothing to replay, then live.
    let mut current = connect(s.addr, "?after=40").await;
    bus.publish("c1", EventKind::CallResumed);
    assert_eq!(next_event(&mut current).await.seq, 41);
}

/// A subscriber that falls further behind than the bus keeps gets a close frame, not a silent hole.
#[tokio::test]
async fn lagging_subscriber_is_closed_not_skipped() {
    let s = start(16).await;
    let bus = &s.state.events;
    bus.publish("c1", EventKind::CallHeld);
    let mut ws = connect(s.addr, "?after=0").await;
    assert_eq!(next_event(&mut ws).await.seq, 1);
    // This single-threaded test runtime does not run the server task during the loop, so its
    // receiver falls 100 events behind a 16-event buffer.
    for _ in 0..100 {
        bus.publish("c1", EventKind::CallResumed);
    }
    let (code, reason) = next(&mut ws).await.unwrap_err();
    assert_eq!(code, CLOSE_GAP);
    assert!(reason.contains("event 2 is gone"), "{reason}");
}

#[tokio::test]
async fn shutdown_closes_event_streams_and_stops_serving() {
    let s = start(16).await;
    let mut ws = connect(s.addr, "?after=0").await;
    s.state.events.publish("c1", EventKind::CallHeld);
    assert_eq!(next_event(&mut ws).await.seq, 1);

    s.shutdown.cancel();
    let (code, _) = next(&mut ws).await.unwrap_err();
    assert_eq!(code, CLOSE_GOING_AWAY);
    drop(ws);
    let served = tokio::time::timeout(WAIT, s.task).await.unwrap().unwrap();
    assert!(served.is_ok(), "{served:?}");
    assert!(TcpStream::connect(s.addr).await.is_err(), "listener closed");
}

const ADMIN_PASSWORD: &str = "a long admin password";

/// An admin account made the way `koe users add` makes it, signed in over HTTP; the bearer token.
async fn admin_token(s: &Server) -> String {
    crate::web::auth::create_user(&s.state.store, "admin", ADMIN_PASSWORD, crate::store::Role::Admin)
        .await
        .unwrap();
    let body = serde_json::json!({"user": "admin", "password": ADMIN_PASSWORD}).to_string();
    let r = request(s.addr, "POST", "/api/login", &[], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json::<serde_json::Value>()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn post_json(s: &Server, token: &str, path: &str, body: serde_json::Value) -> Reply {
    let auth = format!("Bearer {token}");
    request(
        s.addr,
        "POST",
        path,
        &[("Authorization", &auth)],
        body.to_string().as_bytes(),
    )
    .await
}

fn test_flow(welcome: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "support",
        "start": "welcome",
        "languages": ["en"],
        "agent_node": "agent",
        "nodes": {
            "welcome": {"type": "play", "prompt": {"en": welcome}, "next": "main"},
            "main": {
                "type": "menu",
                "prompt": {"en": "Press 1 for an agent."},
                "options": [{"key": "1", "next": "agent"}]
            },
            "agent": {"type": "queue", "queue": "support"}
        }
    })
}

fn welcome_text(published: &crate::ivr::registry::Published) -> String {
    match &published.flow.nodes["welcome"] {
        crate::ivr::Node::Play { prompt, .. } => match &prompt["en"] {
            crate::ivr::flow::PromptSource::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// The registry new calls read changes when the publish answers, with the prompts already rendered;
/// a refused flow leaves it alone; a rollback puts the old flow back as a new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_swaps_what_new_calls_get() {
    let s = start(16).await;
    let token = admin_token(&s).await;
    assert!(s.state.ivr.current().is_none());

    let r = post_json(
        &s,
        &token,
        "/api/ivr/flows/support/publish",
        serde_json::json!({"flow": test_flow("Hello."), "comment": "one"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v1 = s.state.ivr.current().expect("published at once");
    assert_eq!((v1.version, welcome_text(&v1)), (1, "Hello.".to_string()));
    let hello = crate::ivr::flow::PromptSource::Text("Hello.".into());
    let audio = v1.prompts.get(&hello, "en").expect("rendered at publish");
    assert!(audio.len() > 1_600, "at least 0.2 s of speech: {}", audio.len());

    let mut broken = test_flow("Broken.");
    broken["start"] = serde_json::json!("nowhere");
    let r = post_json(
        &s,
        &token,
        "/api/ivr/flows/support/publish",
        serde_json::json!({"flow": broken}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let body: serde_json::Value = r.json();
    assert!(!body["issues"].as_array().unwrap().is_empty(), "{body}");
    assert!(
        Arc::ptr_eq(&v1, &s.state.ivr.current().unwrap()),
        "a refused flow leaves the published one"
    );
    assert_eq!(
        s.state
            .store
            .active_flow("support")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    let r = post_json(
        &s,
        &token,
        "/api/ivr/flows/support/publish",
        serde_json::json!({"flow": test_flow("Welcome back.")}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v2 = s.state.ivr.current().unwrap();
    assert_eq!((v2.version, welcome_text(&v2)), (2, "Welcome back.".to_string()));

    let r = post_json(
        &s,
        &token,
        "/api/ivr/flows/support/rollback",
        serde_json::json!({"version": 1}),
    )
    .await;
    assert_eq!(
        (r.status, r.json::<serde_json::Value>()),
        (201, serde_json::json!({"version": 3}))
    );
    let v3 = s.state.ivr.current().unwrap();
    assert_eq!((v3.version, &*v3.flow), (3, &*v1.flow));
    let stored = s.state.store.flow_version("support", 3).await.unwrap().unwrap();
    assert_eq!(stored.comment, "rollback to version 1");
    assert_eq!(stored.author, "admin");

    // Another flow is stored and versioned, but calls keep entering the first one.
    let mut sales = test_flow("Sales.");
    sales["id"] = serde_json::json!("sales");
    let r = post_json(
        &s,
        &token,
        "/api/ivr/flows/sales/publish",
        serde_json::json!({"flow": sales}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(Arc::ptr_eq(&v3, &s.state.ivr.current().unwrap()));
}
