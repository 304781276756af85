//! Simulated tablets: a native automerge-repo client that drives the shared [`Peer`] core over a
//! tokio WebSocket. Tests and the benchmark use it to act as many tablets at once; it holds no
//! protocol logic of its own.

use anyhow::bail;
use futures_util::{SinkExt, StreamExt};
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::{self, Event, Peer};
use signpost_shared::schema::{self, Header};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub mod hostile;
pub mod random;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The `/sync` URL for a relay base URL (`http://host:port`) and a token.
pub fn sync_url(base: &str, token: Option<&str>) -> String {
    let ws = base.replacen("http://", "ws://", 1).replacen("https://", "wss://", 1);
    match token {
        Some(t) => format!("{}/sync?token={t}", ws.trim_end_matches('/')),
        None => format!("{}/sync", ws.trim_end_matches('/')),
    }
}

/// The relay sent nothing matching in time.
#[derive(Debug)]
pub struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out waiting for the relay")
    }
}

impl std::error::Error for TimedOut {}

pub struct Tablet {
    pub peer: Peer,
    ws: Ws,
    /// Every event seen, in order.
    pub events: Vec<Event>,
    /// Set when the relay closed the connection, with its reason.
    pub closed: Option<String>,
    pub bytes_sent: usize,
    pub bytes_received: usize,
    pub frames_sent: usize,
}

impl Tablet {
    /// Connects (with Nagle's algorithm off: frames are small and latency-bound), joins, and
    /// waits for the relay's answer.
    pub async fn connect(base: &str, token: &str, name: &str) -> anyhow::Result<Tablet> {
        Self::connect_with(base, token, Peer::new(name.into())).await
    }

    /// Reconnects an existing peer (with its documents) on a new socket.
    pub async fn connect_with(base: &str, token: &str, peer: Peer) -> anyhow::Result<Tablet> {
        Self::try_connect(base, token, peer).await.map_err(|(_, e)| e)
    }

    /// As [`Tablet::connect_with`], but a failed attempt hands the peer back, as a tablet whose
    /// relay is unreachable keeps its documents and tries again later.
    pub async fn try_connect(base: &str, token: &str, mut peer: Peer) -> Result<Tablet, (Peer, anyhow::Error)> {
        let ws = match tokio_tungstenite::connect_async_with_config(sync_url(base, Some(token)), None, true).await {
            Ok((ws, _)) => ws,
            Err(e) => return Err((peer, anyhow::Error::new(e).context("WebSocket connect to /sync"))),
        };
        let join = peer.on_open();
        let mut t = Tablet { peer, ws, events: vec![], closed: None, bytes_sent: 0, bytes_received: 0, frames_sent: 0 };
        let ready = async {
            t.send_frame(join).await?;
            t.until(Duration::from_secs(10), |e| matches!(e, Event::Ready { .. })).await
        };
        match ready.await {
            Ok(_) => Ok(t),
            Err(e) => {
                let closed = t.closed.take();
                let e = match closed {
                    Some(reason) => e.context(reason),
                    None => e,
                };
                Err((t.disconnect().await, e))
            }
        }
    }

    /// Connects to the first relay of `relays` that answers, starting at `first` and going round
    /// the list, as a tablet given several addresses (or one behind a load balancer) does when
    /// its relay is gone. The relay's index with the tablet; the peer back if none answered.
    pub async fn connect_any(
        relays: &[String],
        first: usize,
        token: &str,
        mut peer: Peer,
    ) -> Result<(Tablet, usize), (Peer, anyhow::Error)> {
        let mut last = anyhow::anyhow!("no relay address given");
        for i in (0..relays.len()).map(|k| (first + k) % relays.len()) {
            match Tablet::try_connect(&relays[i], token, peer).await {
                Ok(t) => return Ok((t, i)),
                Err((p, e)) => {
                    peer = p;
                    last = e;
                }
            }
        }
        Err((peer, last))
    }

    /// Handles whatever the relay sends for `d`, and returns the events seen (taking them out
    /// of [`Tablet::events`]). `Err` when the connection ended; the peer is still usable through
    /// [`Tablet::disconnect`].
    pub async fn run_for(&mut self, d: Duration) -> anyhow::Result<Vec<Event>> {
        match self.pump(d, |_| false, |_| false).await {
            Err(e) if e.is::<TimedOut>() => Ok(std::mem::take(&mut self.events)),
            Err(e) => Err(e),
            Ok(_) => Ok(std::mem::take(&mut self.events)),
        }
    }

    /// Gives the peer back (closing the socket), to reconnect later.
    pub async fn disconnect(mut self) -> Peer {
        let _ = self.ws.close(None).await;
        self.peer.on_close();
        self.peer
    }

    pub async fn send_frame(&mut self, frame: Vec<u8>) -> anyhow::Result<()> {
        self.bytes_sent += frame.len();
        self.frames_sent += 1;
        self.ws.send(WsMessage::Binary(frame.into())).await?;
        Ok(())
    }

    pub async fn send(&mut self, out: peer::Output) -> anyhow::Result<()> {
        self.events.extend(out.events);
        for f in out.sends {
            self.send_frame(f).await?;
        }
        Ok(())
    }

    /// Reads frames until a *new* event matches, the relay closes, or time runs out.
    pub async fn until(&mut self, timeout: Duration, pred: impl FnMut(&Event) -> bool) -> anyhow::Result<Event> {
        let hit = self.pump(timeout, pred, |_| false).await?;
        Ok(hit.expect("pump returns an event when `done` never holds"))
    }

    /// Reads frames until a new event matches `pred` (returned) or the peer's state satisfies
    /// `done` (`None`).
    async fn pump(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
        done: impl Fn(&Peer) -> bool,
    ) -> anyhow::Result<Option<Event>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next =
                tokio::time::timeout_at(deadline, self.ws.next()).await.map_err(|_| anyhow::Error::new(TimedOut))?;
            match next {
                Some(Ok(WsMessage::Binary(b))) => {
                    self.bytes_received += b.len();
                    let out = self.peer.receive(&b)?;
                    let mut hit = None;
                    for e in &out.events {
                        if hit.is_none() && pred(e) {
                            hit = Some(e.clone());
                        }
                    }
                    self.events.extend(out.events.iter().cloned());
                    for f in out.sends {
                        self.send_frame(f).await?;
                    }
                    if hit.is_some() {
                        return Ok(hit);
                    }
                    if done(&self.peer) {
                        return Ok(None);
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    self.closed = Some(reason.clone());
                    bail!("relay closed the connection: {reason}");
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    self.closed = Some(e.to_string());
                    bail!("connection failed: {e}");
                }
                None => {
                    self.closed = Some("eof".into());
                    bail!("connection ended");
                }
            }
        }
    }

    /// Opens (creating locally if needed) a site's day document and syncs it.
    pub async fn open_day(&mut self, header: &Header) -> anyhow::Result<DocumentId> {
        let id = header.well_known_id();
        if self.peer.doc(&id).is_none() {
            let mut doc = automerge::Automerge::new();
            let mut tx = doc.transaction();
            schema::write_header(&mut tx, header)?;
            tx.commit();
            let out = self.peer.insert(id, doc, None);
            self.send(out).await?;
        }
        Ok(id)
    }

    /// Applies a local change and sends it; does not wait.
    pub async fn change(
        &mut self,
        id: DocumentId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
    ) -> anyhow::Result<()> {
        let (_, out) = self.peer.change(id, f)?;
        self.send(out).await
    }

    /// Waits until the relay has acknowledged every local change of the document.
    pub async fn synced(&mut self, id: DocumentId, timeout: Duration) -> anyhow::Result<()> {
        self.wait_until(timeout, |p| p.is_synced(&id)).await
    }

    /// Handles the relay's frames until the peer's state satisfies `cond` (checked first);
    /// tests wait on a condition rather than for a fixed time.
    pub async fn wait_until(&mut self, timeout: Duration, cond: impl Fn(&Peer) -> bool) -> anyhow::Result<()> {
        if cond(&self.peer) {
            return Ok(());
        }
        self.pump(timeout, |_| false, cond).await.map(|_| ())
    }

    /// Waits until the relay has either acknowledged every local change of the document (`Ok(None)`)
    /// or refused it on this connection (`Ok(Some(refusal))`, the connection staying open).
    pub async fn synced_or_refused(
        &mut self,
        id: DocumentId,
        timeout: Duration,
    ) -> anyhow::Result<Option<signpost_shared::wire::Refusal>> {
        self.wait_until(timeout, |p| p.is_synced(&id) || p.is_refused(&id)).await?;
        Ok(self.refusal(id))
    }

    /// The relay's latest refusal of the document on this connection, if it refused it.
    pub fn refusal(&self, id: DocumentId) -> Option<signpost_shared::wire::Refusal> {
        if !self.peer.is_refused(&id) {
            return None;
        }
        self.events.iter().rev().find_map(|e| match e {
            Event::Refused { doc, refusal } if *doc == id => Some(refusal.clone()),
            _ => None,
        })
    }

    /// Asks the relay for a document; `Ok(true)` once content arrived, `Ok(false)` if unavailable.
    pub async fn find(&mut self, id: DocumentId, timeout: Duration) -> anyhow::Result<bool> {
        let out = self.peer.find(id);
        self.send(out).await?;
        let e = self.until(timeout, |e| matches!(e, Event::Changed(d) | Event::Unavailable(d) if *d == id)).await?;
        Ok(matches!(e, Event::Changed(_)))
    }
}

impl Tablet {
    /// Follows the replacement of a day it holds (what the tablet app does once the relay says
    /// the old day is unavailable and the server names its replacement): fetches the new day,
    /// carries over what the relay never acknowledged, drops the old copy. How many entries it
    /// carried.
    pub async fn follow_replacement(
        &mut self,
        old: DocumentId,
        new: DocumentId,
        timeout: Duration,
    ) -> anyhow::Result<usize> {
        if !self.find(new, timeout).await? {
            bail!("the replacement {new} is unavailable");
        }
        let Some((carried, out)) = signpost_shared::replace::follow(&mut self.peer, old, new)? else {
            bail!("the replacement {new} arrived empty");
        };
        self.send(out).await?;
        Ok(carried)
    }
}
