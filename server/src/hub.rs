//! The relay driver: one thread owns the [`Relay`] state machine and the writing SQLite
//! connection, and carries out what the relay asks for.
//!
//! Commands from all connections are taken in batches. A batch runs inside one SQLite
//! transaction (loads read through it, so they see the batch's own writes); after the commit,
//! and only then, the batch's messages go out. That is group commit: one disk sync for many
//! changes, and no peer ever hears of heads that are not yet durable.

use crate::store::{self, Store};
use rusqlite::{Connection, DropBehavior, TransactionBehavior};
use signpost_shared::ids::DocumentId;
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
        let relay = Relay::new(storage_id.as_str().into(), storage_id, cfg);
        let revoked = crate::accounts::revoked_devices(&conn)?.into_iter().collect();
        let (tx, rx) = mpsc::channel(65_536);
        std::thread::Builder::new().name("relay".into()).spawn(move || {
            Driver {
                db: conn,
                core: Core {
                    relay,
                    conns: HashMap::new(),
                    epoch: Instant::now(),
                    tickets: 0,
                    waiting: HashMap::new(),
                    revoked,
                    revocations_read_at: crate::store::now_ms(),
                    devices: HashMap::new(),
                },
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

/// The relay thread: the writing connection and everything else, apart so that a transaction on
/// the one can be open while the other changes.
struct Driver {
    db: Connection,
    core: Core,
}

struct Core {
    relay: Relay,
    conns: HashMap<ConnId, mpsc::Sender<Outbound>>,
    epoch: Instant,
    tickets: u64,
    /// Server-side edits waiting for their batch to commit.
    waiting: HashMap<u64, Reply>,
    /// Revoked tablets.
    revoked: std::collections::HashSet<String>,
    /// When revocations were last read from the store (ms since the epoch).
    revocations_read_at: i64,
    /// Each connection's tablet, and when its last sync was recorded (at most once a minute).
    devices: HashMap<ConnId, (String, i64)>,
}

/// How often a tablet's "last synced" time is written while it syncs.
const ACTIVITY_EVERY_MS: i64 = 60_000;

type Reply = tokio::sync::oneshot::Sender<Result<(), String>>;

/// How far back each tick reads revocations before the previous read.
const REVOCATION_LOOK_BACK_MS: i64 = 10_000;

/// What a revoked tablet is told as its connection closes (the app looks for "revoked").
pub const REVOKED: &str = "this tablet's access was revoked by its coordinator";

/// What a device or an edit is told when its change could not be stored.
const NOT_STORED: &str = "the relay could not store this change";

/// Who asked for a command's writes: whom to refuse if they cannot be stored.
enum Cause {
    Conn(ConnId),
    Edit(u64),
    None,
}

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
            self.run_batch(batch);
        }
    }

    /// Runs a batch of commands in one transaction, each command under its own savepoint: a
    /// command whose writes fail is rolled back alone and affects only its own connection (or
    /// edit); the rest of the batch goes on. The transaction is begun IMMEDIATE, so it holds the
    /// write lock from the start: a writer elsewhere (the web pages, an admin command) makes it
    /// wait its turn (busy timeout) instead of failing a read-then-write upgrade at once.
    fn run_batch(&mut self, batch: Vec<Cmd>) {
        let core = &mut self.core;
        let mut tx = match self.db.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %e, "storage is busy or failing; refusing this batch's changes");
                let mut out = Output::default();
                for cmd in batch {
                    core.without_storage(cmd, &mut out);
                }
                core.dispatch(out);
                return;
            }
        };
        tx.set_drop_behavior(DropBehavior::Rollback);
        let mut sends = Output::default();
        // Every command that wrote, with what it touched, in case the commit fails.
        let mut written: Vec<(Cause, Vec<DocumentId>)> = Vec::new();
        for cmd in batch {
            let now = core.now();
            let Some((cause, out)) = core.start(cmd, &tx, now) else { continue };
            if let Cause::Conn(conn) = cause {
                core.note_activity(&tx, conn);
            }
            let mut done = Output::default();
            let mut touched = Vec::new();
            let result = tx.savepoint().map_err(anyhow::Error::from).and_then(|mut sp| {
                sp.set_drop_behavior(DropBehavior::Rollback);
                carry_out(&mut core.relay, &sp, out, now, &mut done, &mut touched)?;
                sp.commit()?;
                Ok(())
            });
            match result {
                Ok(()) => {
                    if !touched.is_empty() {
                        written.push((cause, touched));
                    }
                    sends.append(done);
                }
                Err(e) => {
                    tracing::error!(error = %e, "storage failed; refusing the change that needed it");
                    let recovered = core.recover(&cause, touched);
                    // Reloading reads through the same transaction; if that fails too, the
                    // documents load again on their next use.
                    let mut done = Output::default();
                    let _ = carry_out(&mut core.relay, &tx, recovered, now, &mut done, &mut Vec::new());
                    done.writes.clear();
                    sends.append(done);
                }
            }
        }
        core.note_refusals(&tx, &sends.close);
        if let Err(e) = tx.commit() {
            // Nothing of this batch is stored: refuse every command that wrote and forget what
            // they changed; their devices reconnect and send the changes again. Messages that
            // announced any of it are never sent.
            tracing::error!(error = %e, "storage failed at commit; refusing this batch's changes");
            let mut out = Output { close: std::mem::take(&mut sends.close), ..Output::default() };
            for (cause, touched) in written {
                out.append(core.recover(&cause, touched));
            }
            for (ticket, _) in std::mem::take(&mut sends.edited) {
                if let Some(reply) = core.waiting.remove(&ticket) {
                    let _ = reply.send(Err(format!("{NOT_STORED}; try again")));
                }
            }
            let loads = std::mem::take(&mut out.load);
            if let Ok(tx) = self.db.transaction() {
                let now = core.now();
                let mut done = Output::default();
                if carry_out(
                    &mut core.relay,
                    &tx,
                    Output { load: loads, ..Output::default() },
                    now,
                    &mut done,
                    &mut Vec::new(),
                )
                .is_ok()
                {
                    done.writes.clear();
                    out.append(done);
                }
            }
            core.dispatch(out);
            return;
        }
        for (ticket, result) in std::mem::take(&mut sends.edited) {
            if let Some(reply) = core.waiting.remove(&ticket) {
                let _ = reply.send(result);
            }
        }
        core.dispatch(sends);
    }
}

impl Core {
    /// Records, at most once a minute per tablet, that the relay is syncing with it.
    fn note_activity(&mut self, db: &Connection, conn: ConnId) {
        let now = crate::store::now_ms();
        let Some((device, at)) = self.devices.get_mut(&conn) else { return };
        if now - *at < ACTIVITY_EVERY_MS {
            return;
        }
        if let Err(e) = store::note_synced(db, device, now) {
            tracing::warn!(error = %e, "recording a tablet's last sync failed");
        }
        *at = now;
    }

    /// Records what the relay refused of which tablet, for its coordinator to see. A peer that
    /// left, or reported an error of its own, was not refused.
    fn note_refusals(&self, db: &Connection, closes: &[(ConnId, String)]) {
        let now = crate::store::now_ms();
        for (conn, reason) in closes {
            if reason == "peer left" || reason == "peer reported an error" {
                continue;
            }
            if let Some((device, _)) = self.devices.get(conn) {
                if let Err(e) = store::note_refused(db, device, now, reason) {
                    tracing::warn!(error = %e, "recording a refusal failed");
                }
            }
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Hands a command to the relay. `None`: the command is done (it needed no storage).
    fn start(&mut self, cmd: Cmd, db: &Connection, now: u64) -> Option<(Cause, Output)> {
        Some(match cmd {
            Cmd::Connect { conn, principal, tx } => {
                if self.revoked.contains(&principal.device) {
                    let _ = tx.try_send(Outbound::Close(REVOKED.into()));
                } else {
                    self.devices.insert(conn, (principal.device.clone(), 0));
                    self.relay.connect(conn, principal);
                    self.conns.insert(conn, tx);
                }
                return None;
            }
            Cmd::Revoke { device } => {
                let out = self.relay.drop_where(|p| p.device == device, REVOKED);
                self.revoked.insert(device);
                (Cause::None, out)
            }
            Cmd::Frame { conn, bytes } => (Cause::Conn(conn), self.relay.receive(conn, now, &bytes)),
            Cmd::Refuse { conn, reason } => (Cause::None, self.relay.refuse(conn, &reason)),
            Cmd::Disconnect { conn } => {
                self.relay.disconnect(conn);
                self.conns.remove(&conn);
                self.devices.remove(&conn);
                return None;
            }
            Cmd::Tick => match self.tick(db, now) {
                Ok(out) => (Cause::None, out),
                Err(e) => {
                    tracing::error!(error = %e, "reading revocations failed");
                    return None;
                }
            },
            Cmd::Edit { doc, edit, reply } => {
                self.tickets += 1;
                self.waiting.insert(self.tickets, reply);
                (Cause::Edit(self.tickets), self.relay.edit(doc, self.tickets, edit, now))
            }
            Cmd::Stats { reply } => {
                let _ = reply.send(self.stats());
                return None;
            }
        })
    }

    fn stats(&self) -> HubStats {
        HubStats { connections: self.relay.connections(), live_documents: self.relay.live_docs() }
    }

    /// Revocations made elsewhere (the command line, another process) reach live connections
    /// within a couple of ticks. Only recent ones are read; the look-back covers a revocation
    /// committed a little after its timestamp.
    fn tick(&mut self, db: &Connection, now: u64) -> anyhow::Result<Output> {
        let since = self.revocations_read_at - REVOCATION_LOOK_BACK_MS;
        let revoked = crate::accounts::revoked_since(db, since)?;
        self.revocations_read_at = crate::store::now_ms();
        let mut out = self.relay.tick(now);
        for device in revoked {
            if self.revoked.insert(device.clone()) {
                out.append(self.relay.drop_where(|p| p.device == device, REVOKED));
            }
        }
        Ok(out)
    }

    /// After a command's writes failed: its connection is refused (the device reconnects and
    /// sends again), its edit is answered with an error, and the documents it touched are
    /// reloaded from storage. Returns what the relay needs carried out for that.
    fn recover(&mut self, cause: &Cause, touched: Vec<DocumentId>) -> Output {
        let mut out = match cause {
            Cause::Conn(conn) => self.relay.refuse(*conn, &format!("{NOT_STORED}; reconnecting sends it again")),
            Cause::Edit(ticket) => {
                if let Some(reply) = self.waiting.remove(ticket) {
                    let _ = reply.send(Err(format!("{NOT_STORED}; try again")));
                }
                Output::default()
            }
            Cause::None => Output::default(),
        };
        out.append(self.relay.forget(touched));
        out
    }

    /// A command when storage cannot be used at all: what needs storage is refused (the device
    /// reconnects and sends again; an edit is answered with an error), the rest goes on.
    fn without_storage(&mut self, cmd: Cmd, out: &mut Output) {
        const BUSY: &str = "the relay cannot store data right now";
        match cmd {
            Cmd::Connect { conn, principal, tx } => {
                if self.revoked.contains(&principal.device) {
                    let _ = tx.try_send(Outbound::Close(REVOKED.into()));
                } else {
                    self.relay.connect(conn, principal);
                    self.conns.insert(conn, tx);
                }
            }
            Cmd::Frame { conn, .. } => {
                out.append(self.relay.refuse(conn, &format!("{BUSY}; reconnecting sends it again")))
            }
            Cmd::Refuse { conn, reason } => out.append(self.relay.refuse(conn, &reason)),
            Cmd::Disconnect { conn } => {
                self.relay.disconnect(conn);
                self.conns.remove(&conn);
            }
            Cmd::Revoke { device } => {
                out.append(self.relay.drop_where(|p| p.device == device, REVOKED));
                self.revoked.insert(device);
            }
            Cmd::Edit { reply, .. } => {
                let _ = reply.send(Err(format!("{BUSY}; try again")));
            }
            Cmd::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
            Cmd::Tick => {}
        }
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
}

/// Applies writes and answers loads (through the open transaction or savepoint), keeping the
/// messages. `touched` collects every document written or loaded, also when this fails.
fn carry_out(
    relay: &mut Relay,
    db: &Connection,
    out: Output,
    now: u64,
    sends: &mut Output,
    touched: &mut Vec<DocumentId>,
) -> anyhow::Result<()> {
    let mut queue = vec![out];
    while let Some(mut out) = queue.pop() {
        for w in &out.writes {
            touched.push(*w.doc());
            store::apply_write(db, w)?;
        }
        for p in &out.problems {
            tracing::error!(problem = %p, "relay");
        }
        for id in std::mem::take(&mut out.load) {
            touched.push(id);
            let stored = store::load_doc(db, &id)?;
            queue.push(relay.loaded(id, stored, now));
        }
        out.writes.clear();
        sends.append(out);
    }
    touched.sort();
    touched.dedup();
    Ok(())
}
