//! `GET /api/events`: the event stream over a WebSocket, one JSON event per text frame.
//!
//! A subscriber names the last sequence number it saw (`?after=SEQ`) and gets every later event exactly
//! once, in order, or a close frame saying why that is impossible; it never gets a stream with a hole in
//! it. The bookkeeping is the pure [`Cursor`]; the socket loop around it only moves frames.

use super::AppState;
use super::auth::SignedIn;
use super::error::ApiError;
use crate::events::{Event, EventBus};
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Close code (private range): events the subscriber needs are no longer in the server's history.
pub const CLOSE_GAP: u16 = 4001;
/// Close code (private range): `after` is beyond the newest event, e.g. the server restarted since.
pub const CLOSE_AHEAD: u16 = 4002;
/// Close code: the server is shutting down (RFC 6455 "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the server failed (RFC 6455 "internal error").
const CLOSE_INTERNAL: u16 = 1011;

#[derive(Debug, Deserialize)]
pub struct EventsParams {
    /// Resume after this sequence number; absent means live events only.
    after: Option<u64>,
    /// Only this call's events.
    call_id: Option<String>,
}

/// Why a subscription cannot continue without skipping events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The next event the subscriber needs (`expected`) is gone; the stream would resume at `found`.
    Gap { expected: u64, found: u64 },
    /// The subscriber has seen `after`, but the newest event is only `newest`.
    Ahead { after: u64, newest: u64 },
}

impl Break {
    fn close_frame(&self) -> CloseFrame {
        let (code, reason) = match self {
            Break::Gap { expected, found } => (
                CLOSE_GAP,
                format!("gap: event {expected} is gone from history (next kept: {found}); subscribe again"),
            ),
            Break::Ahead { after, newest } => (
                CLOSE_AHEAD,
                format!(
                    "after={after} is beyond the newest event {newest}; server restarted? subscribe again"
                ),
            ),
        };
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

/// Where a subscriber stands in the event sequence. Every event must be the successor of the last one
/// seen (whether or not the filter lets it through), so a hole is noticed wherever it comes from.
#[derive(Debug)]
pub struct Cursor {
    last_seq: u64,
    call_id: Option<String>,
}

impl Cursor {
    /// Starts a subscription against the bus's whole `history` (oldest first): returns the cursor and
    /// the backlog to send, i.e. the kept events after `after` that pass the filter.
    pub fn start(
        after: Option<u64>,
        call_id: Option<String>,
        history: Vec<Event>,
    ) -> Result<(Cursor, Vec<Event>), Break> {
        let newest = history.last().map_or(0, |e| e.seq);
        let Some(after) = after else {
            return Ok((
                Cursor {
                    last_seq: newest,
                    call_id,
                },
                Vec::new(),
            ));
        };
        if after > newest {
            return Err(Break::Ahead { after, newest });
        }
        let mut cursor = Cursor {
            last_seq: after,
            call_id,
        };
        let backlog = cursor.catch_up(history.into_iter().filter(|e| e.seq > after))?;
        Ok((cursor, backlog))
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Takes the next event of the sequence; returns it if the subscriber wants it.
    pub fn accept(&mut self, event: Event) -> Result<Option<Event>, Break> {
        let expected = self.last_seq + 1;
        if event.seq != expected {
            return Err(Break::Gap {
                expected,
                found: event.seq,
            });
        }
        self.last_seq = event.seq;
        let wanted = self.call_id.as_ref().is_none_or(|id| *id == event.call_id);
        Ok(wanted.then_some(event))
    }

    /// Takes a run of events (a backlog re-read from history) and returns those the subscriber wants.
    pub fn catch_up(&mut self, events: impl IntoIterator<Item = Event>) -> Result<Vec<Event>, Break> {
        let mut out = Vec::new();
        for event in events {
            out.extend(self.accept(event)?);
        }
        Ok(out)
    }
}

pub async fn handler(
    _who: SignedIn,
    State(state): State<AppState>,
    Extension(shutdown): Extension<CancellationToken>,
    params: Result<Query<EventsParams>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let ws = ws.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(ws.on_upgrade(move |socket| async move {
        let end = stream(socket, &state.events, params, shutdown).await;
        if let Err(e) = end {
            tracing::debug!(error = %e, "event subscriber gone");
        }
    }))
}

/// Why the socket loop stopped, when it was not a clean end.
type WsResult = Result<(), axum::Error>;

async fn stream(
    mut socket: WebSocket,
    bus: &EventBus,
    params: EventsParams,
    shutdown: CancellationToken,
) -> WsResult {
    // Subscribing and reading the history happen under one lock: nothing between them is lost.
    let (history, mut rx) = bus.subscribe_from(0);
    let (mut cursor, backlog) = match Cursor::start(params.after, params.call_id, history) {
        Ok(started) => started,
        Err(brk) => return close(socket, brk.close_frame()).await,
    };
    for event in backlog {
        send(&mut socket, &event).await?;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let frame = CloseFrame { code: CLOSE_GOING_AWAY, reason: "server shutting down".into() };
                return close(socket, frame).await;
            }
            incoming = socket.recv() => match incoming {
                // The client closed or the connection broke; pings are answered by axum itself.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
            received = rx.recv() => {
                let events = match received {
                    Ok(event) => cursor.accept(event).map(Vec::from_iter),
                    // Fell behind the live channel: re-read what was missed from history, if still there.
                    Err(RecvError::Lagged(_)) => {
                        let (missed, fresh) = bus.subscribe_from(cursor.last_seq());
                        rx = fresh;
                        cursor.catch_up(missed)
                    }
                    Err(RecvError::Closed) => return Ok(()),
                };
                match events {
                    Ok(events) => {
                        for event in events {
                            send(&mut socket, &event).await?;
                        }
                    }
                    Err(brk) => return close(socket, brk.close_frame()).await,
                }
            }
        }
    }
}

async fn send(socket: &mut WebSocket, event: &Event) -> WsResult {
    match serde_json::to_string(event) {
        Ok(json) => socket.send(Message::Text(json.into())).await,
        Err(e) => {
            tracing::error!(error = %e, seq = event.seq, "cannot serialise event");
            let frame = CloseFrame {
                code: CLOSE_INTERNAL,
                reason: "cannot serialise event".into(),
            };
            socket.send(Message::Close(Some(frame))).await?;
            Err(axum::Error::new(e))
        }
    }
}

async fn close(mut socket: WebSocket, frame: CloseFrame) -> WsResult {
    socket.send(Message::Close(Some(frame))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    fn ev(seq: u64, call_id: &str) -> Event {
        Event {
            seq,
            call_id: call_id.into(),
            ts_ms: seq * 10,
            kind: EventKind::CallHeld,
        }
    }

    fn seqs(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    /// History as a bus with room for four keeps it after publishing seq 1..=9.
    fn history() -> Vec<Event> {
        (6..=9)
            .map(|s| ev(s, if s % 2 == 0 { "a" } else { "b" }))
            .collect()
    }

    #[test]
    fn start_replays_after_the_resume_point() {
        let (cursor, backlog) = Cursor::start(Some(6), None, history()).unwrap();
        assert_eq!(seqs(&backlog), [7, 8, 9]);
        assert_eq!(cursor.last_seq(), 9);

        let (_, backlog) = Cursor::start(Some(5), None, history()).unwrap();
        assert_eq!(seqs(&backlog), [6, 7, 8, 9]);
        let (_, backlog) = Cursor::start(Some(9), None, history()).unwrap();
        assert!(backlog.is_empty());
    }

    #[test]
    fn start_refuses_holes_and_future_resume_points() {
        assert_eq!(
            Cursor::start(Some(4), None, history()).unwrap_err(),
            Break::Gap {
                expected: 5,
                found: 6
            }
        );
        assert_eq!(
            Cursor::start(Some(10), None, history()).unwrap_err(),
            Break::Ahead { after: 10, newest: 9 }
        );
        // A restarted server has no history yet: any remembered position is from its predecessor.
        assert_eq!(
            Cursor::start(Some(3), None, Vec::new()).unwrap_err(),
            Break::Ahead { after: 3, newest: 0 }
        );
        let (cursor, backlog) = Cursor::start(Some(0), None, Vec::new()).unwrap();
        assert_eq!((cursor.last_seq(), backlog.len()), (0, 0));
    }

    #[test]
    fn live_only_starts_at_the_newest_event() {
        let (mut cursor, backlog) = Cursor::start(None, None, history()).unwrap();
        assert!(backlog.is_empty());
        assert_eq!(cursor.accept(ev(10, "a")).unwrap().map(|e| e.seq), Some(10));
    }

    #[test]
    fn filter_skips_other_calls_but_still_advances() {
        let (mut cursor, backlog) = Cursor::start(Some(5), Some("a".into()), history()).unwrap();
        assert_eq!(seqs(&backlog), [6, 8]);
        assert_eq!(cursor.accept(ev(10, "a")).unwrap().map(|e| e.seq), Some(10));
        assert_eq!(cursor.accept(ev(11, "b")).unwrap(), None);
        // 11 was seen though filtered out: 12 follows without a gap.
        assert_eq!(cursor.accept(ev(12, "a")).unwrap().map(|e| e.seq), Some(12));
    }

    #[test]
    fn catch_up_after_lag_continues_or_reports_the_hole() {
        let (mut cursor, _) = Cursor::start(Some(9), None, history()).unwrap();
        // Missed 10..=12, still in history: delivered in order.
        let missed = cursor.catch_up((10..=12).map(|s| ev(s, "a"))).unwrap();
        assert_eq!(seqs(&missed), [10, 11, 12]);
        // Missed 13..=20, but history starts at 17 now.
        assert_eq!(
            cursor.catch_up((17..=20).map(|s| ev(s, "a"))).unwrap_err(),
            Break::Gap {
                expected: 13,
                found: 17
            }
        );
    }

    /// Every JSON example in docs/EVENTS.md is exactly what koe sends, and every event type is shown.
    #[test]
    fn events_doc_examples_match_the_wire_form() {
        let doc = include_str!("../../docs/EVENTS.md");
        let mut types = std::collections::BTreeSet::new();
        for block in doc.split("```json\n").skip(1) {
            let json = block.split("```").next().unwrap_or_default().trim();
            let event: Event = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert_eq!(serde_json::to_string(&event).unwrap(), json);
            let value = serde_json::to_value(&event).unwrap();
            types.insert(value["type"].as_str().unwrap_or_default().to_string());
        }
        // Update with src/events.rs: a new EventKind needs a section and an example in the doc.
        let all = [
            "AgentConnected",
            "AgentLeft",
            "AgentNoAnswer",
            "AgentOffered",
            "AgentPresence",
            "Alert",
            "CallAnswered",
            "CallEnded",
            "CallHeld",
            "CallOverflow",
            "CallQueued",
            "CallResumed",
            "CallStarted",
            "CallTransferred",
            "DtmfReceived",
            "IntentDetected",
            "IvrEntered",
            "IvrNoInput",
            "IvrNoMatch",
            "IvrPrompt",
            "IvrVariable",
            "LanguageChanged",
            "QueuePosition",
            "RecordingPaused",
            "RecordingRedacted",
            "RecordingResumed",
            "SentimentChanged",
            "Suggestion",
            "Summary",
            "Transcript",
            "VoicemailRecorded",
            "WrapUpSaved",
        ];
        assert_eq!(types.iter().map(String::as_str).collect::<Vec<_>>(), all);
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        for brk in [
            Break::Gap {
                expected: u64::MAX,
                found: u64::MAX,
            },
            Break::Ahead {
                after: u64::MAX,
                newest: u64::MAX,
            },
        ] {
            // RFC 6455 §5.5: control frame payload ≤ 125 bytes, 2 of them the code.
            assert!(brk.close_frame().reason.len() <= 123, "{brk:?}");
        }
    }
}
