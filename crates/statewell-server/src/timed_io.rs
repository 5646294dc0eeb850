//! A socket whose writes fail once they have been blocked for too long.
//!
//! A peer that stops reading fills its socket's buffers, and every write to
//! it then waits forever: an HTTP response is never finished, a WebSocket's
//! writer never drains its queue and its frames hold the engine's reply
//! budget (`reply_budget.rs`). [`TimedWrites`] arms a timer when a write
//! cannot proceed and disarms it on any progress; when the timer fires, the
//! write fails with `TimedOut`, which ends the connection. A peer that reads,
//! however slowly, makes progress and is never cut off.
//!
//! Reads are not timed here: an idle worker socket is legitimate (its idle
//! limit is the heartbeat's business), and HTTP times its header and body
//! reads itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct TimedWrites<T> {
    inner: T,
    limit: Duration,
    /// Runs while a write is blocked; made on the first block, reset after.
    stalled: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<T> TimedWrites<T> {
    pub fn new(inner: T, limit: Duration) -> Self {
        TimedWrites {
            inner,
            limit,
            stalled: None,
            armed: false,
        }
    }

    /// Passes a write's outcome through: progress disarms the timer, a block
    /// arms it (once), and a block past the limit becomes an error.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.armed = false;
            return poll;
        }
        if !self.armed {
            self.armed = true;
            let deadline = Instant::now() + self.limit;
            match &mut self.stalled {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.stalled = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        if let Some(sleep) = &mut self.stalled {
            ready!(sleep.as_mut().poll(cx));
        }
        self.armed = false;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the peer read nothing for {:?}", self.limit),
        )))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_write_blocked_past_the_limit_fails_and_progress_disarms_it() {
        // A pipe of 64 bytes whose reader reads nothing until told.
        let (near, mut far) = tokio::io::duplex(64);
        let mut timed = TimedWrites::new(near, Duration::from_secs(5));
        timed.write_all(&[1; 64]).await.expect("fits the pipe");

        // Blocked, then the reader takes some: the write goes on.
        let write = async { timed.write_all(&[2; 32]).await };
        let read = async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            let mut taken = [0; 64];
            tokio::io::AsyncReadExt::read_exact(&mut far, &mut taken).await
        };
        let (written, read) = tokio::join!(write, read);
        written.expect("progress within the limit");
        read.expect("read");

        // Blocked for good: the write fails once the limit has passed.
        timed.write_all(&[3; 32]).await.expect("fits the pipe");
        let error = timed
            .write_all(&[4; 64])
            .await
            .expect_err("a write blocked past the limit must fail");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(far);
    }
}
