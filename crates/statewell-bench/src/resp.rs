//! A lean pipelined Redis client (RESP2): the Redis side of the comparison.
//! Redis answers in order, so a FIFO of request ids maps replies back. It
//! uses the same buffering as the statewell driver (queue, flush, read all
//! that arrived), so neither side gets a cheaper generator.

use std::collections::VecDeque;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::workload::{OpKind, Request, Shape};
use crate::{Outcome, Reply};

pub struct RespConn {
    stream: TcpStream,
    shape: Shape,
    hashes: Vec<String>,
    out: Vec<u8>,
    scratch: String,
    input: Vec<u8>,
    waiting: VecDeque<u64>,
}

/// One parsed reply: how many bytes it took and what it says.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Incomplete,
    Reply { len: usize, outcome: Outcome },
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn parse_int(text: &[u8]) -> Result<i64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .with_context(|| {
            format!(
                "bad integer in a Redis reply: {:?}",
                String::from_utf8_lossy(text)
            )
        })
}

/// The id of a reply that belongs to no request (MULTI's `+OK`, each
/// queued command's `+QUEUED`): checked and dropped.
const QUEUED: u64 = u64::MAX - 1;

/// Parses one reply of the kinds HSET/HGET/HINCRBY/PING/EXEC produce.
/// An array (EXEC's) is one reply; a null array (an aborted EXEC) an error.
fn parse(buf: &[u8]) -> Result<Parsed> {
    let Some((&tag, _)) = buf.split_first() else {
        return Ok(Parsed::Incomplete);
    };
    let Some((head, head_len)) = line(&buf[1..]) else {
        return Ok(Parsed::Incomplete);
    };
    let head_len = head_len + 1;
    match tag {
        b'+' | b':' => Ok(Parsed::Reply {
            len: head_len,
            outcome: Outcome::Ok,
        }),
        b'-' => Ok(Parsed::Reply {
            len: head_len,
            outcome: Outcome::Error,
        }),
        b'$' => {
            let n = parse_int(head)?;
            if n < 0 {
                return Ok(Parsed::Reply {
                    len: head_len,
                    outcome: Outcome::Missing,
                });
            }
            let total = head_len + n as usize + 2;
            if buf.len() < total {
                return Ok(Parsed::Incomplete);
            }
            Ok(Parsed::Reply {
                len: total,
                outcome: Outcome::Ok,
            })
        }
        b'*' => {
            let n = parse_int(head)?;
            if n < 0 {
                return Ok(Parsed::Reply {
                    len: head_len,
                    outcome: Outcome::Error,
                });
            }
            let mut len = head_len;
            let mut outcome = Outcome::Ok;
            for _ in 0..n {
                match parse(&buf[len..])? {
                    Parsed::Incomplete => return Ok(Parsed::Incomplete),
                    Parsed::Reply {
                        len: one,
                        outcome: inner,
                    } => {
                        len += one;
                        if inner == Outcome::Error {
                            outcome = Outcome::Error;
                        }
                    }
                }
            }
            Ok(Parsed::Reply { len, outcome })
        }
        other => bail!("unexpected Redis reply type {:?}", other as char),
    }
}

fn push_bulk(out: &mut Vec<u8>, item: &[u8]) {
    let _ = write!(Fmt(out), "${}\r\n", item.len());
    out.extend_from_slice(item);
    out.extend_from_slice(b"\r\n");
}

/// `write!` into a byte buffer.
struct Fmt<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl RespConn {
    pub async fn connect(addr: &str, shape: Shape) -> Result<RespConn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to redis at {addr}"))?;
        stream.set_nodelay(true)?;
        let hashes = (0..shape.groups).map(Shape::group_name).collect();
        Ok(RespConn {
            stream,
            shape,
            hashes,
            out: Vec::with_capacity(64 * 1024),
            scratch: String::with_capacity(512),
            input: Vec::with_capacity(64 * 1024),
            waiting: VecDeque::new(),
        })
    }

    /// Queues one request: HSET / HGET on the group's hash (field = key),
    /// HINCRBY on the field `<key>:count` (Redis has no JSON field to
    /// increment; an integer field is its nearest equivalent).
    pub fn push(&mut self, id: u64, req: &Request) {
        let hash = self.hashes[req.group as usize].as_bytes();
        let out = &mut self.out;
        let s = &mut self.scratch;
        s.clear();
        Shape::write_key(s, req.key);
        match req.kind {
            OpKind::Set => {
                out.extend_from_slice(b"*4\r\n$4\r\nHSET\r\n");
                push_bulk(out, hash);
                push_bulk(out, s.as_bytes());
                s.clear();
                self.shape.write_value(s, req.key, req.seq);
                push_bulk(out, s.as_bytes());
            }
            OpKind::Get => {
                out.extend_from_slice(b"*3\r\n$4\r\nHGET\r\n");
                push_bulk(out, hash);
                push_bulk(out, s.as_bytes());
            }
            OpKind::Transaction => {
                // MULTI, two HSETs, EXEC: only EXEC's reply is the request's.
                out.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
                self.waiting.push_back(QUEUED);
                for key in [req.key, self.shape.partner(req.key)] {
                    s.clear();
                    Shape::write_key(s, key);
                    out.extend_from_slice(b"*4\r\n$4\r\nHSET\r\n");
                    push_bulk(out, hash);
                    push_bulk(out, s.as_bytes());
                    s.clear();
                    self.shape.write_value(s, key, req.seq);
                    push_bulk(out, s.as_bytes());
                    self.waiting.push_back(QUEUED);
                }
                out.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
            }
            OpKind::Update => {
                s.push_str(":count");
                out.extend_from_slice(b"*4\r\n$7\r\nHINCRBY\r\n");
                push_bulk(out, hash);
                push_bulk(out, s.as_bytes());
                push_bulk(out, b"1");
            }
        }
        self.waiting.push_back(id);
    }

    pub async fn flush(&mut self) -> Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Waits for at least one reply, then takes every complete one.
    pub async fn recv(&mut self, out: &mut Vec<Reply>) -> Result<()> {
        let before = out.len();
        while out.len() == before {
            self.input.reserve(64 * 1024);
            if self.stream.read_buf(&mut self.input).await? == 0 {
                bail!("redis closed the connection");
            }
            let mut at = 0;
            while let Parsed::Reply { len, outcome } = parse(&self.input[at..])? {
                at += len;
                let Some(id) = self.waiting.pop_front() else {
                    bail!("redis sent a reply nobody asked for");
                };
                if id == QUEUED {
                    if outcome == Outcome::Error {
                        bail!("redis refused a command of a MULTI");
                    }
                    continue;
                }
                out.push(Reply { id, outcome });
            }
            self.input.drain(..at);
        }
        Ok(())
    }

    /// Sends one command and waits for its reply (setup, not measured).
    pub async fn command(&mut self, args: &[&str]) -> Result<()> {
        let _ = write!(Fmt(&mut self.out), "*{}\r\n", args.len());
        for a in args {
            push_bulk(&mut self.out, a.as_bytes());
        }
        self.waiting.push_back(u64::MAX);
        self.flush().await?;
        let mut replies = Vec::new();
        self.recv(&mut replies).await?;
        match replies.first() {
            Some(Reply {
                outcome: Outcome::Error,
                ..
            }) => bail!("redis refused {args:?}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_replies_the_benchmark_meets() {
        let ok = |len| Parsed::Reply {
            len,
            outcome: Outcome::Ok,
        };
        assert_eq!(parse(b":1\r\n").expect("int"), ok(4));
        assert_eq!(parse(b"+PONG\r\n").expect("simple"), ok(7));
        assert_eq!(parse(b"$3\r\nabc\r\n:5\r\n").expect("bulk"), ok(9));
        assert_eq!(
            parse(b"$-1\r\n").expect("nil"),
            Parsed::Reply {
                len: 5,
                outcome: Outcome::Missing
            }
        );
        assert_eq!(
            parse(b"-ERR wrong\r\n").expect("error"),
            Parsed::Reply {
                len: 12,
                outcome: Outcome::Error
            }
        );
        // EXEC's answer: one reply holding each queued command's.
        assert_eq!(parse(b"*2\r\n:0\r\n:1\r\n").expect("array"), ok(12));
        assert_eq!(parse(b"*2\r\n:0\r\n").expect("cut"), Parsed::Incomplete);
        let aborted = parse(b"*-1\r\n").expect("aborted");
        assert!(matches!(
            aborted,
            Parsed::Reply {
                outcome: Outcome::Error,
                ..
            }
        ));
    }

    #[test]
    fn waits_for_whole_replies() {
        assert_eq!(parse(b"").expect("empty"), Parsed::Incomplete);
        assert_eq!(parse(b":1\r").expect("half line"), Parsed::Incomplete);
        assert_eq!(parse(b"$3\r\nab").expect("half bulk"), Parsed::Incomplete);
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse(b"?what\r\n").is_err());
        assert!(parse(b"$x\r\n").is_err());
    }
}
