//! A lean pipelined client for statewell's worker protocol: it writes
//! `invokefunction` frames straight into a buffer and reads only the fields of
//! `invocationresult` it needs, so the generator spends little CPU per request
//! (it shares the machine with the engine it measures).

use std::fmt::Write as _;

use anyhow::{Context, Result, anyhow, bail};
use futures::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::workload::{OpKind, Request, Shape};
use crate::{Outcome, Reply};

pub struct WsConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    shape: Shape,
    groups: Vec<String>,
    frame: String,
}

/// The fields of an engine frame the generator looks at.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow, default)]
    invocation_id: Option<&'a str>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// A UUID-shaped invocation id carrying the request number, so a reply maps
/// back to its request without a lookup table of strings.
fn write_invocation_id(out: &mut String, id: u64) {
    let _ = write!(
        out,
        "00000000-0000-4000-8000-{:012x}",
        id & 0xffff_ffff_ffff
    );
}

fn parse_invocation_id(text: &str) -> Option<u64> {
    let tail = text.strip_prefix("00000000-0000-4000-8000-")?;
    u64::from_str_radix(tail, 16).ok()
}

impl WsConn {
    pub async fn connect(url: &str, token: Option<&str>, shape: Shape) -> Result<WsConn> {
        let mut request = url
            .into_client_request()
            .with_context(|| format!("invalid engine URL {url}"))?;
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .context("the token is not a valid header value")?;
            request.headers_mut().insert("authorization", value);
        }
        // Nagle's algorithm would hold small frames back for up to 40 ms.
        let config = statewell_client::socket_config();
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let groups = (0..shape.groups).map(Shape::group_name).collect();
        let mut conn = WsConn {
            ws,
            shape,
            groups,
            frame: String::with_capacity(1024),
        };
        conn.register().await?;
        Ok(conn)
    }

    /// Says hello the way the published clients do, so the engine treats the
    /// generator like any worker.
    async fn register(&mut self) -> Result<()> {
        let hello = serde_json::json!({
            "type": "invokefunction",
            "function_id": "engine::workers::register",
            "data": {"runtime": "rust", "version": env!("CARGO_PKG_VERSION"),
                     "name": "statewell-bench", "os": std::env::consts::OS,
                     "pid": std::process::id()},
            "action": {"type": "void"},
        });
        self.ws.send(Message::text(hello.to_string())).await?;
        Ok(())
    }

    /// Queues one request; nothing is written until `flush`.
    pub async fn push(&mut self, id: u64, req: &Request) -> Result<()> {
        let f = &mut self.frame;
        f.clear();
        f.push_str("{\"type\":\"invokefunction\",\"invocation_id\":\"");
        write_invocation_id(f, id);
        let function = match req.kind {
            OpKind::Set => "state::set",
            OpKind::Get => "state::get",
            OpKind::Update => "state::update",
            OpKind::Transaction => "state::transaction",
        };
        let _ = write!(f, "\",\"function_id\":\"{function}\",\"data\":{{");
        if req.kind == OpKind::Transaction {
            // Two sets of the same group, all or nothing.
            f.push_str("\"ops\":[");
            for (i, key) in [req.key, self.shape.partner(req.key)]
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    f.push(',');
                }
                f.push_str("{\"type\":\"set\",\"scope\":\"");
                f.push_str(&self.groups[req.group as usize]);
                f.push_str("\",\"key\":\"");
                Shape::write_key(f, key);
                f.push_str("\",\"value\":");
                self.shape.write_value(f, key, req.seq);
                f.push('}');
            }
            f.push_str("]}}");
            self.ws.feed(Message::text(f.as_str())).await?;
            return Ok(());
        }
        f.push_str("\"scope\":\"");
        f.push_str(&self.groups[req.group as usize]);
        f.push_str("\",\"key\":\"");
        Shape::write_key(f, req.key);
        f.push('"');
        match req.kind {
            OpKind::Set => {
                f.push_str(",\"value\":");
                self.shape.write_value(f, req.key, req.seq);
            }
            OpKind::Get | OpKind::Transaction => {}
            OpKind::Update => {
                f.push_str(",\"ops\":[{\"type\":\"increment\",\"path\":\"count\",\"by\":1}]");
            }
        }
        f.push_str("}}");
        self.ws.feed(Message::text(f.as_str())).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.ws.flush().await?;
        Ok(())
    }

    /// Waits for at least one reply, then takes every reply already buffered.
    pub async fn recv(&mut self, out: &mut Vec<Reply>) -> Result<()> {
        let first = self
            .ws
            .next()
            .await
            .ok_or_else(|| anyhow!("the engine closed the connection"))??;
        self.take(first, out)?;
        while let Some(next) = self.ws.next().now_or_never() {
            let message = next.ok_or_else(|| anyhow!("the engine closed the connection"))??;
            self.take(message, out)?;
        }
        Ok(())
    }

    fn take(&mut self, message: Message, out: &mut Vec<Reply>) -> Result<()> {
        let text = match &message {
            Message::Text(text) => text.as_str(),
            Message::Close(frame) => bail!("the engine closed the connection: {frame:?}"),
            // Pings are answered by tungstenite itself; nothing else matters.
            _ => return Ok(()),
        };
        let frame: Frame = serde_json::from_str(text)
            .with_context(|| format!("unreadable frame from the engine: {text}"))?;
        if frame.kind != "invocationresult" {
            // e.g. `workerregistered` on connect.
            return Ok(());
        }
        let id = frame
            .invocation_id
            .and_then(parse_invocation_id)
            .ok_or_else(|| anyhow!("reply to an unknown invocation: {text}"))?;
        let outcome = if frame.error.is_some() {
            Outcome::Error
        } else if frame.result.is_some() {
            Outcome::Ok
        } else {
            Outcome::Missing
        };
        out.push(Reply { id, outcome });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_ids_are_uuids_that_round_trip() {
        for id in [0u64, 1, 42, 0xffff_ffff_ffff] {
            let mut s = String::new();
            write_invocation_id(&mut s, id);
            assert_eq!(s.len(), 36);
            assert_eq!(parse_invocation_id(&s), Some(id));
        }
        assert_eq!(parse_invocation_id("not-a-uuid"), None);
    }
}
