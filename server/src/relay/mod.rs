//! The relay driver: one thread owns the [`Relay`] state machine and the writing SQLite
//! connection, and carries out what the relay asks for.
//!
//! Commands from all connections are taken in batches. A batch runs inside one SQLite
//! transaction (loads read through it, so they see the batch's own writes); after the commit,
//! and only then, the batch's messages go out. That is group commit: one disk sync for many
//! changes, and no peer ever hears of heads that are not yet durable.

mod driver;
mod follow;

use driver::Driver;
use signpost_domain::db::Store;
use signpost_shared::relay::{Config, ConnId, Principal, Relay};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a connection task receives from the hub.
#[derive(Debug)]
pub enum Outbound {
    Frame(Vec<u8>),
    Close(String),
    /// The relay is stopping: close with 1012 ("service restart"), which the tablet takes as
    /// "reconnect in a moment".
    Restarting,
    /// A keep-alive ping (the socket's own, not the relay's).
    Ping,
}

/// Where the relay's frames for one socket go: a bounded queue, bounded in frames
/// ([`OUTBOUND_QUEUE`]) and in bytes ([`OUTBOUND_BYTES`]). A socket whose peer reads too slowly
/// to keep within both is closed rather than let the relay's memory grow.
#[derive(Clone)]
pub struct Outlet {
    tx: mpsc::Sender<Outbound>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

/// Bytes queued to one socket at most: room for a full-sized sync message and then some.
pub const OUTBOUND_BYTES: usize = 16 << 20;

impl Outlet {
    pub fn new(tx: mpsc::Sender<Outbound>) -> Outlet {
        Outlet { tx, queued: Default::default() }
    }

    /// Queues a frame; `false` when the socket's queue is full (in frames or bytes).
    pub fn frame(&self, frame: Vec<u8>) -> bool {
        let len = frame.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > OUTBOUND_BYTES {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        if self.tx.try_send(Outbound::Frame(frame)).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Queues the closing of the socket, with its reason.
    pub fn close(&self, reason: String) {
        let _ = self.tx.try_send(Outbound::Close(reason));
    }

    /// The count the socket's writer takes sent bytes off (it must not hold the queue itself,
    /// or the queue would never end).
    pub fn queued(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.queued.clone()
    }
}

pub enum Cmd {
    Connect {
        conn: ConnId,
        principal: Principal,
        tx: Outlet,
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
    /// Another relay on the same database stored changes (a hint: see `driver::catch_up`).
    Stored,
    Stats {
        reply: tokio::sync::oneshot::Sender<HubStats>,
    },
    /// A tablet's credential was revoked: close its connections now and refuse new ones.
    Revoke {
        device: String,
    },
    /// Documents retired a moment ago on this relay's database (a day filed or discarded): the
    /// relay drops their live copies now rather than at its next tick.
    Retired {
        docs: Vec<(signpost_shared::ids::DocumentId, Option<signpost_shared::ids::DocumentId>)>,
    },
    /// A server-side change to a stored document; answered once it is durable.
    Edit {
        doc: signpost_shared::ids::DocumentId,
        edit: signpost_shared::relay::Edit,
        record: Option<Record>,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
}

#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct HubStats {
    pub connections: usize,
    pub live_documents: usize,
}

/// A write stored in the same transaction as an edit, and only if the edit is applied: the
/// audit row of a coordinator's roster change, say.
pub type Record = Box<dyn FnOnce(&signpost_domain::sql::Connection) -> anyhow::Result<()> + Send>;

/// What a revoked tablet is told as its connection closes (the app looks for "revoked").
pub const REVOKED: &str = "this tablet's access was revoked by its coordinator";

/// Per-connection outbound queue length; a peer that lets this fill up is not reading and is
/// disconnected rather than allowed to grow the relay's memory.
pub const OUTBOUND_QUEUE: usize = 4096;

#[derive(Clone)]
pub struct Hub {
    tx: mpsc::Sender<Cmd>,
    next_conn: Arc<AtomicU64>,
}

impl Hub {
    pub fn start(store: &Store, cfg: Config) -> anyhow::Result<Hub> {
        let conn = store.connect()?;
        let storage_id = store.storage_id()?;
        let make_relay: driver::MakeRelay = Box::new(move || {
            let mut relay = Relay::new(storage_id.as_str().into(), storage_id.clone(), cfg.clone());
            relay.set_today(chrono::Utc::now().date_naive());
            relay
        });
        let revoked = signpost_domain::tablets::revoked_devices(&conn)?.into_iter().collect();
        let (tx, rx) = mpsc::channel(65_536);
        // On PostgreSQL other relays may share the database: this one follows what they store.
        let read_to = match store.location() {
            signpost_domain::db::Location::Postgres(url) => {
                let listening = tx.clone();
                signpost_domain::db::listen::spawn(url.clone(), move |_| listening.blocking_send(Cmd::Stored).is_ok())?;
                Some(signpost_domain::db::documents::last_chunk_seq(&conn)?)
            }
            signpost_domain::db::Location::Folder(_) => None,
        };
        std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || Driver::new(conn, make_relay, revoked, read_to).run(rx))?;
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

    /// Tells the relay of documents retired just now (see [`Cmd::Retired`]).
    pub async fn retired(
        &self,
        docs: Vec<(signpost_shared::ids::DocumentId, Option<signpost_shared::ids::DocumentId>)>,
    ) {
        self.send(Cmd::Retired { docs }).await;
    }

    /// Applies a server-side change to a document and waits until it is stored.
    pub async fn edit(
        &self,
        doc: signpost_shared::ids::DocumentId,
        edit: signpost_shared::relay::Edit,
    ) -> Result<(), String> {
        self.edit_recorded(doc, edit, None).await
    }

    /// As [`Hub::edit`], with `record` written in the same transaction once the edit applies:
    /// both are stored or neither.
    pub async fn edit_recorded(
        &self,
        doc: signpost_shared::ids::DocumentId,
        edit: signpost_shared::relay::Edit,
        record: Option<Record>,
    ) -> Result<(), String> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Cmd::Edit { doc, edit, record, reply }).await;
        rx.await.unwrap_or_else(|_| Err("the relay stopped".into()))
    }

    /// Waits until the relay thread has taken every command sent before this one, so every
    /// batch before it is committed (each batch commits before the next command is taken).
    pub async fn drain(&self) -> bool {
        self.stats().await.is_some()
    }

    pub async fn stats(&self) -> Option<HubStats> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Cmd::Stats { reply }).await;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signpost_domain::db::Sync;
    use signpost_shared::schema;

    /// A bug that panics inside the relay core (here, in a server-side edit) must not end sync
    /// for everyone: the relay starts afresh, the failed edit gets an error, nothing it did is
    /// stored, and the next edit is applied.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_panic_in_the_relay_core_restarts_it_and_it_goes_on_serving() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), Sync::Normal).unwrap();
        let scheme = signpost_domain::schemes::create_scheme(&store.connect().unwrap(), "S", None, None).unwrap();
        let hub = Hub::start(&store, Config::default()).unwrap();
        let dir = schema::directory_id(&scheme);
        let boom: signpost_shared::relay::Edit = Box::new(|tx| {
            schema::write_pin_required(tx, true).map_err(|e| e.to_string())?;
            panic!("a bug in an edit")
        });
        assert!(hub.edit(dir, boom).await.is_err(), "the failed edit is answered");
        let stats = hub.stats().await.expect("the relay still answers");
        assert_eq!(stats.connections, 0);
        let directory = signpost_domain::schemes::directory(&store.connect().unwrap(), &scheme).unwrap();
        assert!(!schema::read_pin_required(&directory), "nothing of the failed edit was stored");
        let fine: signpost_shared::relay::Edit =
            Box::new(|tx| schema::write_pin_required(tx, true).map_err(|e| e.to_string()));
        assert_eq!(hub.edit(dir, fine).await, Ok(()));
        let directory = signpost_domain::schemes::directory(&store.connect().unwrap(), &scheme).unwrap();
        assert!(schema::read_pin_required(&directory));
    }
}
