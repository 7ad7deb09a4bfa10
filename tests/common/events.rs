//! A WebSocket client on koe's `/api/events`, collecting every event as JSON on a thread of its own.

use futures_util::StreamExt;
use std::net::SocketAddr;
use std::time::Duration;

/// Collects every event of `/api/events` for at most `until`; returns once the socket is connected.
pub fn follow_events(http: SocketAddr, until: Duration) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let url = format!("ws://{http}/api/events");
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect /api/events");
            let _ = ready_tx.send(());
            let deadline = tokio::time::Instant::now() + until;
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
                if let Ok(text) = msg.into_text()
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("WebSocket connected");
    rx
}
