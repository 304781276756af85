//! The relay driver: one thread owns the [`Relay`] state machine and the writing SQLite
//! connection, and carries out what the relay asks for.
//!
//! Commands from all connections are taken in batches. A batch runs inside one SQLite
//! transaction (loads read through it, so they see the batch's own writes); after the commit,
//! and only then, the batch's messages go out. That is group commit: one disk sync for many
//! changes, and no peer ever hears of heads that are not yet durable.

use crate::store::{self, Store};
use rusqlite::Connection;
use signpost_shared::relay::{Config, ConnId, Output, Principal, Relay};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// What a connection task receives from the hub.
#[derive(Debug)]
pub enum Outbound {
    Frame(Vec<u8>),
    Close(String),
}

pub enum Cmd {
    Connect {
        conn: ConnId,
        principal: Principal,
        tx: mpsc::Sender<Outbound>,
    },
    Frame {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// The transport failed for this connection (for example an oversized frame).
    Refuse {
        conn: ConnId,
        reason: String,
    },
    Disconnect {
        conn: ConnId,
    },
    Tick,
    Stats {
        reply: tokio::sync::oneshot::Sender<HubStats>,
    },
    /// A tablet's credential was revoked: close its connections now and refuse new ones.
    Revoke {
        device: String,
    },
    /// A server-side change to a stored document; answered once it is durable.
    Edit {
        doc: signpost_shared::ids::DocumentId,
        edit: signpost_shared::relay::Edit,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
}

#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct HubStats {
    pub connections: usize,
    pub live_documents: usize,
}

/// Per-connection outbound queue length; a peer that lets this fill up is not reading and is
/// disconnected rather than allowed to grow the relay's memory.
pub const OUTBOUND_QUEUE: usize = 4096;
const MAX_BATCH: usize = 2048;

#[derive(Clone)]
pub struct Hub {
    tx: mpsc::Sender<Cmd>,
    next_conn: Arc<AtomicU64>,
}

impl Hub {
    pub fn start(store: &Store, cfg: Config) -> anyhow::Result<Hub> {
        let conn = store.connect()?;
        let storage_id = store.storage_id()?;
        let relay = Relay::new(storage_id.as_str().into(), storage_id.clone(), cfg.clone());
        let revoked = crate::accounts::revoked_devices(&conn)?.into_iter().collect();
        let (tx, rx) = mpsc::channel(65_536);
        std::thread::Builder::new().name("relay".into()).spawn(move || {
            Driver {
                relay,
                cfg,
                storage_id,
                db: conn,
                conns: HashMap::new(),
                epoch: Instant::now(),
                tickets: 0,
                waiting: HashMap::new(),
                revoked,
                revocations_read_at: crate::store::now_ms(),
            }
            .run(rx)
        })?;
        Ok(Hub { tx, next_conn: Arc::new(AtomicU64::new(1)) })
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub async fn send(&self, cmd: Cmd) {
        // The hub only stops with the process.
        let _ = self.tx.send(cmd).await;
    }

    /// Closes a revoked tablet's connections (the next batch, well within a second) and refuses
    /// any it opens later, even one whose credential was checked just before the revocation.
    pub async fn revoke(&self, device: String) {
        self.send(Cmd::Revoke { device }).await;
    }

    /// Applies a server-side change to a document and waits until it is stored.
    pub async fn edit(
        &self,
        doc: signpost_shared::ids::DocumentId,
        edit: signpost_shared::relay::Edit,
    ) -> Result<(), String> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Cmd::Edit { doc, edit, reply }).await;
        rx.await.unwrap_or_else(|_| Err("the relay stopped".into()))
    }

    pub async fn stats(&self) -> Option<HubStats> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Cmd::Stats { reply }).await;
        rx.await.ok()
    }
}

struct Driver {
    relay: Relay,
    cfg: Config,
    storage_id: String,
    db: Connection,
    conns: HashMap<ConnId, mpsc::Sender<Outbound>>,
    epoch: Instant,
    tickets: u64,
    /// Server-side edits waiting for their batch to commit.
    waiting: HashMap<u64, tokio::sync::oneshot::Sender<Result<(), String>>>,
    /// Revoked tablets.
    revoked: std::collections::HashSet<String>,
    /// When revocations were last read from the store (ms since the epoch).
    revocations_read_at: i64,
}

/// How far back each tick reads revocations before the previous read.
const REVOCATION_LOOK_BACK_MS: i64 = 10_000;

/// What a revoked tablet is told as its connection closes (the app looks for "revoked").
pub const REVOKED: &str = "this tablet's access was revoked by its coordinator";

impl Driver {
    fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.run_batch(batch) {
                tracing::error!(error = %e, "storage failed; dropping every connection and every live document");
                self.reset();
            }
        }
    }

    fn run_batch(&mut self, batch: Vec<Cmd>) -> anyhow::Result<()> {
        let tx = self.db.transaction()?;
        let mut sends = Output::default();
        for cmd in batch {
            let now = self.epoch.elapsed().as_millis() as u64;
            let out = match cmd {
                Cmd::Connect { conn, principal, tx } => {
                    if self.revoked.contains(&principal.device) {
                        let _ = tx.try_send(Outbound::Close(REVOKED.into()));
                        continue;
                    }
                    self.relay.connect(conn, principal);
                    self.conns.insert(conn, tx);
                    continue;
                }
                Cmd::Revoke { device } => {
                    let out = self.relay.drop_where(|p| p.device == device, REVOKED);
                    self.revoked.insert(device);
                    out
                }
                Cmd::Frame { conn, bytes } => self.relay.receive(conn, now, &bytes),
                Cmd::Refuse { conn, reason } => self.relay.refuse(conn, &reason),
                Cmd::Disconnect { conn } => {
                    self.relay.disconnect(conn);
                    self.conns.remove(&conn);
                    continue;
                }
                Cmd::Tick => {
                    let mut out = self.relay.tick(now);
                    // Revocations made elsewhere (the command line, another process) reach
                    // live connections within a couple of ticks. Only recent ones are read; the
                    // look-back covers a revocation committed a little after its timestamp.
                    let since = self.revocations_read_at - REVOCATION_LOOK_BACK_MS;
                    self.revocations_read_at = crate::store::now_ms();
                    for device in crate::accounts::revoked_since(&tx, since)? {
                        if self.revoked.insert(device.clone()) {
                            out.append(self.relay.drop_where(|p| p.device == device, REVOKED));
                        }
                    }
                    out
                }
                Cmd::Edit { doc, edit, reply } => {
                    self.tickets += 1;
                    self.waiting.insert(self.tickets, reply);
                    self.relay.edit(doc, self.tickets, edit, now)
                }
                Cmd::Stats { reply } => {
                    let _ = reply.send(HubStats {
                        connections: self.relay.connections(),
                        live_documents: self.relay.live_docs(),
                    });
                    continue;
                }
            };
            Self::carry_out(&mut self.relay, &tx, out, now, &mut sends)?;
        }
        tx.commit()?;
        for (ticket, result) in std::mem::take(&mut sends.edited) {
            if let Some(reply) = self.waiting.remove(&ticket) {
                let _ = reply.send(result);
            }
        }
        self.dispatch(sends);
        Ok(())
    }

    /// Applies writes and answers loads (through the open transaction), keeping the messages.
    fn carry_out(
        relay: &mut Relay,
        tx: &rusqlite::Transaction<'_>,
        out: Output,
        now: u64,
        sends: &mut Output,
    ) -> anyhow::Result<()> {
        let mut queue = vec![out];
        while let Some(mut out) = queue.pop() {
            for w in &out.writes {
                store::apply_write(tx, w)?;
            }
            for p in &out.problems {
                tracing::error!(problem = %p, "relay");
            }
            for id in std::mem::take(&mut out.load) {
                let stored = store::load_doc(tx, &id)?;
                queue.push(relay.loaded(id, stored, now));
            }
            out.writes.clear();
            sends.append(out);
        }
        Ok(())
    }

    fn dispatch(&mut self, out: Output) {
        let mut slow = Vec::new();
        for (conn, frame) in out.sends {
            if let Some(tx) = self.conns.get(&conn) {
                if tx.try_send(Outbound::Frame(frame)).is_err() {
                    slow.push(conn);
                }
            }
        }
        for (conn, reason) in out.close {
            if let Some(tx) = self.conns.remove(&conn) {
                tracing::info!(conn, reason = %reason, "closing connection");
                let _ = tx.try_send(Outbound::Close(reason));
            }
        }
        for conn in slow {
            self.relay.disconnect(conn);
            if let Some(tx) = self.conns.remove(&conn) {
                tracing::warn!(conn, "peer is not reading its messages; disconnecting");
                let _ = tx.try_send(Outbound::Close("too many unread messages".into()));
            }
        }
    }

    /// After a storage failure the live documents may be ahead of the disk. Forget them all and
    /// close every connection; peers reconnect and sync again from what is stored.
    fn reset(&mut self) {
        for (_, tx) in self.conns.drain() {
            let _ = tx.try_send(Outbound::Close("the relay could not store data; reconnect shortly".into()));
        }
        for (_, reply) in self.waiting.drain() {
            let _ = reply.send(Err("the relay could not store the change; try again".into()));
        }
        self.relay = Relay::new(self.storage_id.as_str().into(), self.storage_id.clone(), self.cfg.clone());
    }
}
