//! The accept loop. `axum::serve` runs hyper without a timer, so a client that sends its request
//! headers a byte at a time holds its connection (and a file descriptor) for ever; three hundred
//! of them starved everyone else. Here hyper gets a timer: headers must arrive within a bound, or
//! the connection is closed. And the connections open at once are capped: past the cap a new one
//! is closed at once, before anything of it is read. A request's body, too, must arrive whole
//! within a bound ([`Deadline`]).

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
        let body_timeout = limits.body_timeout;
        let service = tower::ServiceExt::map_request(app.clone(), move |mut req: axum::http::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            req.map(|body| axum::body::Body::new(Deadline::new(axum::body::Body::new(body), body_timeout)))
        });
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
        let mut stop = watcher.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service));
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
