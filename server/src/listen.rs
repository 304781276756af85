//! The accept loop. `axum::serve` runs hyper without a timer, so a client that sends its request
//! headers a byte at a time holds its connection (and a file descriptor) for ever; three hundred
//! of them starved everyone else. Here hyper gets a timer: headers must arrive within a bound, or
//! the connection is closed. And the connections open at once are capped: past the cap a new one
//! is closed at once, before anything of it is read. A request's body, too, must arrive whole
//! within a bound ([`Deadline`]), and a client that takes nothing of what is sent to it for a
//! while is let go ([`SendDeadline`]).

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub struct Limits {
    /// How long a request's headers may take to arrive.
    pub header_timeout: Duration,
    /// Connections open at once (WebSockets included).
    pub max_connections: usize,
    /// How long a request's body may take to arrive, all of it.
    pub body_timeout: Duration,
    /// How long a client may take nothing of what is sent to it before its connection closes.
    pub send_timeout: Duration,
}

/// Serves `app` on `listener` until `stopping` turns true; then stops accepting, lets each
/// connection finish the request it is on (an idle one closes at once), and returns when they
/// have, or after `drain` at most.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    drain: Duration,
) -> anyhow::Result<()> {
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let all = limits.max_connections;
    let watcher = stopping.clone();
    let shutdown = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => {
                // Every connection gives its place back when it ends.
                let _ = tokio::time::timeout(drain, open.acquire_many(all as u32)).await;
                return Ok(());
            }
        };
        let Ok(place) = open.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "too many connections open; closing a new one");
            continue;
        };
        // Sync frames are small and latency-bound: send them at once rather than let Nagle's
        // algorithm hold them for a delayed acknowledgement.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let (body_timeout, send_timeout) = (limits.body_timeout, limits.send_timeout);
        let service = tower::ServiceExt::map_request(app.clone(), move |mut req: axum::http::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            req.map(|body| axum::body::Body::new(Deadline::new(axum::body::Body::new(body), body_timeout)))
        });
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
        let mut stop = watcher.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(SendDeadline::new(tcp, send_timeout));
            let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    // Finish the request in hand, then close (a WebSocket has left hyper by now).
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%addr, error = %e, "connection ended");
            }
            drop(place);
        });
    }
}

/// A request body that must arrive whole before a deadline, however it trickles. (tower-http's
/// `RequestBodyTimeout` restarts its clock at every frame, so a client sending a byte every few
/// seconds would hold its connection for ever.) Past the deadline reading the body fails, and
/// the handler refuses the request as it would any body it cannot read.
pub struct Deadline {
    body: axum::body::Body,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    pub fn new(body: axum::body::Body, within: Duration) -> Deadline {
        Deadline { body, deadline: Box::pin(tokio::time::sleep(within)) }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct TooSlow;

/// Whether reading a request body failed because it missed its [`Deadline`] (somewhere in the
/// error's chain of sources), as opposed to being too large or malformed.
pub fn body_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<TooSlow>() {
            return true;
        }
        cur = err.source();
    }
    false
}

impl http_body::Body for Deadline {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.body.is_end_stream() {
            return std::task::Poll::Ready(None);
        }
        if std::future::Future::poll(self.deadline.as_mut(), cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(axum::Error::new(TooSlow))));
        }
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection whose client takes none of what is sent to it for `within` is closed: a write
/// that can make no progress for that long fails, and hyper ends the connection, dropping the
/// response it was sending (a streamed export then stops, and lets go of its database
/// connection). The clock runs only while something waits to be sent and restarts at every
/// byte taken, as nginx's `send_timeout` does: an idle connection, or a slow reader that keeps
/// reading, is not cut off. Without it a download opened and never read was held for ever.
pub struct SendDeadline<T> {
    io: T,
    within: Duration,
    /// Running while a write waits.
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<T> SendDeadline<T> {
    pub fn new(io: T, within: Duration) -> SendDeadline<T> {
        SendDeadline { io, within, stalled: None }
    }

    /// A write's outcome: progress stops the clock; waiting starts it, and fails the write once
    /// it has run out.
    fn watch<R>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        polled: std::task::Poll<std::io::Result<R>>,
    ) -> std::task::Poll<std::io::Result<R>> {
        use std::task::Poll;
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let within = self.within;
        let clock = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(within)));
        if std::future::Future::poll(clock.as_mut(), cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing of what was sent to it in time",
            )));
        }
        Poll::Pending
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for SendDeadline<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for SendDeadline<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.io).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A writer whose reader stops reading fails once nothing has been taken for the bound; one
    /// whose reader goes on reading, however slowly, does not.
    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_takes_fails_after_the_bound() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut w = SendDeadline::new(near, Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        let wrote = w.write_all(&[7u8; 4096]).await;
        assert_eq!(wrote.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));

        let (near, mut slow) = tokio::io::duplex(1024);
        let mut w = SendDeadline::new(near, Duration::from_secs(30));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut got = 0;
            while got < 8192 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                got += slow.read(&mut buf).await.unwrap();
            }
        });
        w.write_all(&[7u8; 8192]).await.expect("a slow reader that keeps reading is served");
        reader.await.unwrap();
        far.read_exact(&mut [0u8; 1024]).await.unwrap();
    }
}
