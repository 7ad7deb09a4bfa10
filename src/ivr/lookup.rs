//! The I/O of a `lookup` node: one HTTP/1.1 request to the company's system, its JSON answer or why
//! there is none. Used by calls and by the admin's simulator.

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Answers larger than this are refused: a lookup returns a few variables, not a document store.
const MAX_BODY: usize = 256 * 1024;

/// `method url` with `timeout` for the whole exchange; the body must be JSON.
pub async fn fetch(url: &str, method: &str, timeout: Duration) -> Result<serde_json::Value, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("only http:// lookups are supported, not {url:?}"));
    }
    let method: hyper::Method = method
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("bad method {method:?}"))?;
    let request = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header("accept", "application/json")
        .header("user-agent", "koe-ivr")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON: {e}"))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP server on loopback answering `response` (raw bytes) after `delay`.
    async fn serve_once(response: &'static str, delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            tokio::time::sleep(delay).await;
            let _ = s.write_all(response.as_bytes()).await;
        });
        format!("http://{addr}/orders/123")
    }

    #[tokio::test]
    async fn json_answer() {
        let body = r#"{"status":"shipped"}"#;
        let resp: &'static str = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let url = serve_once(resp, Duration::ZERO).await;
        let v = fetch(&url, "get", Duration::from_secs(2)).await.unwrap();
        assert_eq!(v["status"], "shipped");
    }

    #[tokio::test]
    async fn failures_say_why() {
        let url = serve_once(
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            Duration::ZERO,
        )
        .await;
        let e = fetch(&url, "GET", Duration::from_secs(2)).await.unwrap_err();
        assert!(e.contains("404"), "{e}");

        let url = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            Duration::ZERO,
        )
        .await;
        let e = fetch(&url, "GET", Duration::from_secs(2)).await.unwrap_err();
        assert!(e.contains("not JSON"), "{e}");

        let url = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
            Duration::from_secs(3),
        )
        .await;
        let e = fetch(&url, "GET", Duration::from_millis(300)).await.unwrap_err();
        assert!(e.contains("no answer within 300 ms"), "{e}");

        let e = fetch("https://example.com/x", "GET", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(e.contains("only http://"), "{e}");
        // A closed port on loopback: refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = fetch(
            &format!("http://127.0.0.1:{port}/"),
            "GET",
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(e.contains("request failed"), "{e}");
    }
}
