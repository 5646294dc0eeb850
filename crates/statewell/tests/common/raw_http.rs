//! HTTP/1.1 written by hand over a TCP socket, for tests that send part of a
//! request (or nothing) and watch what the engine does with the connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bound on waiting for something that must happen, not a timing claim.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct RawHttp {
    stream: TcpStream,
    /// Bytes read past the last response.
    buffered: Vec<u8>,
}

/// One response: the status, the headers (names in lower case) and the body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

impl RawHttp {
    pub async fn connect(addr: &str) -> RawHttp {
        let stream = TcpStream::connect(addr).await.expect("connect");
        RawHttp {
            stream,
            buffered: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// `GET path` on this connection, keeping it open; its response.
    pub async fn get(&mut self, path: &str) -> Response {
        let request = format!("GET {path} HTTP/1.1\r\nHost: engine\r\n\r\n");
        self.send(request.as_bytes()).await;
        self.response().await
    }

    /// Reads one response (the body by its `Content-Length`).
    pub async fn response(&mut self) -> Response {
        tokio::time::timeout(PATIENCE, self.read_response())
            .await
            .expect("no response from the engine")
    }

    async fn read_response(&mut self) -> Response {
        let head_end = loop {
            if let Some(at) = find(&self.buffered, b"\r\n\r\n") {
                break at;
            }
            assert!(self.fill().await > 0, "connection closed before a response");
        };
        let head = String::from_utf8_lossy(&self.buffered[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let start = head_end + 4;
        while self.buffered.len() < start + length {
            assert!(self.fill().await > 0, "connection closed inside a body");
        }
        let body = self.buffered[start..start + length].to_vec();
        self.buffered.drain(..start + length);
        Response {
            status,
            headers,
            body,
        }
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.expect("read");
        self.buffered.extend_from_slice(&chunk[..n]);
        n
    }

    /// Waits for the engine to close the connection (an end of stream or a
    /// reset), skipping whatever it still sends; panics if it never does.
    pub async fn closed_by_engine(&mut self) {
        let wait = async {
            let mut chunk = [0u8; 16 * 1024];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("the engine kept the connection open");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
