//! The relay as a sans-IO state machine.
//!
//! The relay speaks the automerge-repo protocol with many connected devices. It owns the live
//! copies of the documents in use and each connection's sync state, decides what a device may
//! read and write, and says what must be stored and sent. It does no IO: the driver (the server)
//! feeds it inputs with the current time and carries out the [`Output`].
//!
//! **Durability invariant.** Every outgoing message in an [`Output`] may announce heads that only
//! the [`Write`]s of the same output make durable. The driver must commit an output's writes
//! before it sends any of its messages. Then a crash at any moment loses nothing announced.
//!
//! **Rollback.** Changes are applied to the live document first and checked after. A change that
//! breaks a rule was never written, so the relay drops the live copy and reloads the document
//! from storage: storage only ever holds checked content.

use crate::chunks;
use crate::ids::{DocumentId, PeerId};
use crate::projection;
use crate::quota;
use crate::schema::{self, DocKind};
use crate::wire::{Message, PeerMetadata, PROTOCOL_VERSION};
use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ReadDoc};
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashMap, HashSet};

mod access;
mod check;
mod config;
mod output;

pub use access::{access, Access, Meta, Principal};
pub use config::Config;
pub use output::{Output, StoredDoc, Write};

pub type ConnId = u64;

struct Conn {
    principal: Principal,
    remote: Option<PeerId>,
    docs: HashSet<DocumentId>,
    /// Documents this connection asked for before anyone stored them.
    wanted: HashSet<DocumentId>,
}

/// The device the server's own edits are made as: not held to a device's allowance.
const SERVER_DEVICE: &str = "server";

/// The largest ephemeral message (presence, cursors) passed on between a desk's tablets.
pub const MAX_EPHEMERAL_BYTES: usize = 64 << 10;

/// How many not-yet-existing documents one connection may wait for.
const MAX_WANTED_PER_CONN: usize = 1024;

struct Pending {
    conn: ConnId,
    request: bool,
    data: Vec<u8>,
}

/// A change made on the server's side of the relay (a coordinator editing the directory),
/// applied to the live document so that every connected device receives it.
pub type Edit = Box<dyn FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), String> + Send>;

enum Op {
    Sync(Pending),
    Edit(u64, Edit),
}

struct Live {
    doc: Automerge,
    meta: Option<Meta>,
    states: HashMap<ConnId, sync::State>,
    last_used: u64,
    appends: u32,
    /// What the stored document costs once loaded (see [`chunks::weigh`]).
    weight: chunks::Weight,
}

impl Live {
    /// A live slot with no content: a document not stored (`None`) or retired.
    fn empty(meta: Option<Meta>) -> Live {
        Live {
            doc: Automerge::new(),
            meta,
            states: HashMap::new(),
            last_used: 0,
            appends: 0,
            weight: Default::default(),
        }
    }
}

enum Slot {
    /// Waiting for the store. `resync`: once loaded, send every subscribed connection a fresh
    /// sync message (the live copy was forgotten, see [`Relay::forget`]).
    Loading {
        queue: Vec<Op>,
        states: HashMap<ConnId, sync::State>,
        resync: bool,
    },
    Ready(Box<Live>),
}

pub struct Relay {
    me: PeerId,
    storage_id: String,
    cfg: Config,
    conns: HashMap<ConnId, Conn>,
    docs: HashMap<DocumentId, Slot>,
    /// Connections that sync each document. Outlives eviction, so a reloaded document still
    /// reaches every device that has it open.
    /// Ordered, so that the same inputs give the same outputs in the same order (a failing
    /// randomized schedule replays exactly from its seed).
    subs: HashMap<DocumentId, BTreeSet<ConnId>>,
    /// Connections waiting for a document that does not exist yet. automerge-repo peers expect
    /// to be sent a document they were told is unavailable once it appears.
    wanted: HashMap<DocumentId, BTreeSet<ConnId>>,
    /// Today's date where the relay runs, for the window of desk days it takes new documents
    /// for and the ids a device may claim ([`Relay::set_today`]; unset, neither is checked).
    today: Option<NaiveDate>,
    /// What each connected device has stored today.
    ledger: quota::Ledger,
    /// Each scheme's retention period in months ([`Relay::set_retention`]): no desk's day older
    /// than that is taken. Unset, only the window of the configuration applies.
    retention: HashMap<String, u32>,
}

impl Relay {
    pub fn new(me: PeerId, storage_id: String, cfg: Config) -> Self {
        Relay {
            me,
            storage_id,
            cfg,
            conns: HashMap::new(),
            docs: HashMap::new(),
            subs: HashMap::new(),
            wanted: HashMap::new(),
            today: None,
            ledger: quota::Ledger::default(),
            retention: HashMap::new(),
        }
    }

    /// Tells the relay today's date (the driver does at start and every tick): time arrives as
    /// an argument, as everywhere in this core.
    pub fn set_today(&mut self, today: NaiveDate) {
        self.today = Some(today);
        self.ledger.set_today(today);
    }

    pub fn today(&self) -> Option<NaiveDate> {
        self.today
    }

    /// What storage says a device stored on `day`, read by the driver when the device connects.
    pub fn note_usage(&mut self, device: &str, day: NaiveDate, usage: quota::Usage) {
        self.ledger.note(device, day, usage);
    }

    /// A scheme's retention period (the driver reads it when a device of the scheme connects and
    /// when it changes). Its days before that are purged by the server, and the relay takes no
    /// new document for them: a tablet cannot bring a purged day back.
    pub fn set_retention(&mut self, scheme: &str, months: u32) {
        self.retention.insert(scheme.to_owned(), months);
    }

    /// Documents the server removed for good (purged, or replaced by a rewritten copy): the live
    /// copies go, and every connection that synced one is told it is unavailable. What any device
    /// sends for them from now on is answered the same way and never stored.
    pub fn retire(&mut self, docs: impl IntoIterator<Item = (DocumentId, Option<DocumentId>)>) -> Output {
        let mut out = Output::default();
        for (doc_id, replaced_by) in docs {
            self.wanted.remove(&doc_id);
            for conn in self.subs.remove(&doc_id).into_iter().flatten() {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.docs.remove(&doc_id);
                    out.sends.push((conn, self.unavailable(conn, doc_id)));
                }
            }
            if let Some(Slot::Ready(_)) = self.docs.get(&doc_id) {
                self.docs.insert(doc_id, Slot::Ready(Box::new(Live::empty(Some(Meta::Retired { replaced_by })))));
            }
            // A copy still loading reads the store, which already says the document is retired.
        }
        out
    }

    /// What a device has stored today, as far as this relay knows.
    pub fn usage(&self, device: &str) -> quota::Usage {
        self.ledger.usage(device)
    }

    /// Whether `id` is the well-known id of one of the device's own site's days in the window:
    /// an id no one else may hold.
    fn own_day_id(&self, p: &Principal, id: &DocumentId) -> bool {
        let Some(today) = self.today else { return false };
        (-self.cfg.days_back..=self.cfg.days_ahead)
            .any(|k| schema::desk_day_id(&p.site, today + chrono::Duration::days(k)) == *id)
    }

    pub fn peer_id(&self) -> &PeerId {
        &self.me
    }

    /// Documents currently held in memory.
    pub fn live_docs(&self) -> usize {
        self.docs.values().filter(|s| matches!(s, Slot::Ready(_))).count()
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// A connection whose credential was accepted.
    pub fn connect(&mut self, conn: ConnId, principal: Principal) {
        self.conns.insert(conn, Conn { principal, remote: None, docs: HashSet::new(), wanted: HashSet::new() });
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else { return };
        if !self.conns.values().any(|o| o.principal.device == c.principal.device) {
            self.ledger.forget(&c.principal.device);
        }
        for d in c.wanted {
            if let Some(w) = self.wanted.get_mut(&d) {
                w.remove(&conn);
                if w.is_empty() {
                    self.wanted.remove(&d);
                }
            }
        }
        for d in c.docs {
            if let Some(s) = self.subs.get_mut(&d) {
                s.remove(&conn);
                if s.is_empty() {
                    self.subs.remove(&d);
                }
            }
            match self.docs.get_mut(&d) {
                Some(Slot::Ready(live)) => {
                    live.states.remove(&conn);
                }
                Some(Slot::Loading { queue, states, .. }) => {
                    queue.retain(|op| !matches!(op, Op::Sync(p) if p.conn == conn));
                    states.remove(&conn);
                }
                None => {}
            }
        }
    }

    /// Closes every connection whose principal matches (a revoked device).
    pub fn drop_where(&mut self, pred: impl Fn(&Principal) -> bool, reason: &str) -> Output {
        let mut out = Output::default();
        let ids: Vec<ConnId> = self.conns.iter().filter(|(_, c)| pred(&c.principal)).map(|(id, _)| *id).collect();
        for id in ids {
            self.fail(id, reason, &mut out);
        }
        out
    }

    /// Refuses a connection for a reason found outside the protocol (the transport saw an
    /// oversized frame, say): an error message, then the socket closes.
    pub fn refuse(&mut self, conn: ConnId, reason: &str) -> Output {
        let mut out = Output::default();
        if self.conns.contains_key(&conn) {
            self.fail(conn, reason, &mut out);
        }
        out
    }

    /// One frame from a connection.
    pub fn receive(&mut self, conn: ConnId, now: u64, bytes: &[u8]) -> Output {
        let mut out = Output::default();
        if !self.conns.contains_key(&conn) {
            return out;
        }
        if bytes.len() > self.cfg.max_message_bytes {
            let msg =
                format!("message of {} bytes exceeds the limit of {} bytes", bytes.len(), self.cfg.max_message_bytes);
            self.fail(conn, &msg, &mut out);
            return out;
        }
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.fail(conn, &format!("malformed message: {e}"), &mut out);
                return out;
            }
        };
        let remote = self.conns[&conn].remote.clone();
        match (msg, remote) {
            (Message::Join { sender_id, supported_protocol_versions, .. }, None) => {
                if !supported_protocol_versions.iter().any(|v| v == PROTOCOL_VERSION) {
                    self.fail(conn, "no supported protocol version (this relay speaks version 1)", &mut out);
                    return out;
                }
                if sender_id.0.is_empty() || sender_id.0.len() > 256 {
                    self.fail(conn, "invalid senderId", &mut out);
                    return out;
                }
                let reply = Message::Peer {
                    sender_id: self.me.clone(),
                    selected_protocol_version: PROTOCOL_VERSION.into(),
                    target_id: sender_id.clone(),
                    metadata: Some(PeerMetadata { storage_id: Some(self.storage_id.clone()), is_ephemeral: false }),
                };
                self.conns.get_mut(&conn).expect("checked above").remote = Some(sender_id);
                out.sends.push((conn, reply.encode()));
            }
            (Message::Join { .. }, Some(_)) => self.fail(conn, "duplicate join", &mut out),
            (_, None) => self.fail(conn, "expected a join message first", &mut out),
            (Message::Leave { .. }, Some(_)) => out.close.push((conn, "peer left".into())),
            (m @ (Message::Request { .. } | Message::Sync { .. }), Some(r)) => {
                let request = matches!(m, Message::Request { .. });
                let (Message::Request { sender_id, target_id, document_id, data }
                | Message::Sync { sender_id, target_id, document_id, data }) = m
                else {
                    unreachable!("matched above")
                };
                if sender_id != r || target_id != self.me {
                    self.fail(conn, "senderId or targetId does not match the handshake", &mut out);
                    return out;
                }
                self.on_sync(document_id, Pending { conn, request, data }, now, &mut out);
            }
            (Message::Ephemeral { sender_id, document_id, count, session_id, data, .. }, Some(r)) => {
                if sender_id != r {
                    self.fail(conn, "senderId does not match the handshake", &mut out);
                    return out;
                }
                self.forward_ephemeral(conn, document_id, count, session_id, data, &mut out);
            }
            (Message::Error { .. }, Some(_)) => out.close.push((conn, "peer reported an error".into())),
            (Message::DocUnavailable { .. } | Message::RemoteHeadsGossip { .. }, Some(_)) => {}
            (Message::Peer { .. }, Some(_)) => self.fail(conn, "unexpected peer message", &mut out),
        }
        out
    }

    /// The store's answer to a [`Output::load`] request.
    pub fn loaded(&mut self, doc_id: DocumentId, stored: Option<StoredDoc>, now: u64) -> Output {
        let mut out = Output::default();
        let Some(Slot::Loading { queue, states, resync }) = self.docs.remove(&doc_id) else { return out };
        let mut live =
            Live { doc: Automerge::new(), meta: None, states, last_used: now, appends: 0, weight: Default::default() };
        if let Some(stored) = stored {
            for chunk in &stored.chunks {
                // Weighed first: a stored chunk far too large to load (written before the relay
                // weighed what it stores) is refused, not inflated. Twice the bound a write must
                // keep, so that whatever was accepted always loads (a snapshot and the changes it
                // replaced weigh nearly the same).
                let m = self.cfg.max_document;
                let bound = chunks::Limits { bytes: m.bytes.saturating_mul(2), ops: m.ops.saturating_mul(2) };
                let weighed = chunks::weigh(chunk, bound).map_err(|e| e.to_string()).and_then(|w| {
                    live.weight += w;
                    let over = live.weight.bytes > bound.bytes || live.weight.ops > bound.ops;
                    if over {
                        Err(format!("it is larger than {} bytes or {} operations", bound.bytes, bound.ops))
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = weighed {
                    self.refuse_queue(queue, &mut out);
                    out.problems.push(format!("document {doc_id} failed to load: {e}"));
                    return out;
                }
            }
            // All of it or nothing: a document missing a damaged chunk's entries is never served.
            let doc = match chunks::load_stored(&stored.chunks) {
                Ok(doc) => doc,
                Err(e) => {
                    self.refuse_queue(queue, &mut out);
                    out.problems.push(format!("document {doc_id} failed to load: {e}"));
                    return out;
                }
            };
            live.appends = stored.chunks.len() as u32;
            live.doc = doc;
            live.meta = Some(stored.meta);
        }
        self.docs.insert(doc_id, Slot::Ready(Box::new(live)));
        for op in queue {
            match op {
                Op::Sync(p) => self.on_sync(doc_id, p, now, &mut out),
                Op::Edit(ticket, edit) => self.apply_edit(doc_id, ticket, edit, now, &mut out),
            }
        }
        if resync {
            // Devices here that asked for it before it existed (it was created elsewhere).
            self.admit_waiting(doc_id);
            self.fan_out(doc_id, &mut out);
        }
        out
    }

    /// Changes to a document that another relay stored (several relays share one database),
    /// in the order they were stored: merged into the live copy, which this relay's devices are
    /// then sent. Nothing is written: the other relay stored and projected them. A document not
    /// live here needs nothing (it is read whole when next used), unless a device here waits
    /// for it to appear; then it is loaded. A chunk that does not merge drops the live copy,
    /// which is read again from storage.
    pub fn stored_elsewhere(&mut self, doc_id: DocumentId, stored: &[Vec<u8>]) -> Output {
        let mut out = Output::default();
        match self.docs.get_mut(&doc_id) {
            Some(Slot::Ready(live)) if live.meta.is_some() => {
                let merged = stored.iter().try_for_each(|chunk| {
                    live.weight += chunks::weigh(chunk, chunks::Limits { bytes: u64::MAX, ops: u64::MAX })
                        .map_err(|e| e.to_string())?;
                    live.appends += 1;
                    live.doc.load_incremental(chunk).map(|_| ()).map_err(|e| e.to_string())
                });
                match merged {
                    Ok(()) => self.fan_out(doc_id, &mut out),
                    Err(e) => {
                        out.problems.push(format!("document {doc_id}: a change stored by another relay: {e}"));
                        out.append(self.forget([doc_id]));
                    }
                }
            }
            // Not stored when it was last read here, or retired: read it again.
            Some(Slot::Ready(_)) => self.reload(doc_id, &mut out),
            Some(Slot::Loading { .. }) => {}
            None if self.wanted.contains_key(&doc_id) => {
                self.docs.insert(doc_id, Slot::Loading { queue: Vec::new(), states: HashMap::new(), resync: true });
                out.load.push(doc_id);
            }
            None => {}
        }
        out
    }

    /// Whether changes stored elsewhere to this document concern this relay (see
    /// [`Relay::stored_elsewhere`]).
    pub fn follows(&self, doc_id: &DocumentId) -> bool {
        self.docs.contains_key(doc_id) || self.wanted.contains_key(doc_id)
    }

    /// The store could not read a document it was asked for: what waited for it is refused, and
    /// the next use asks for it again.
    pub fn load_failed(&mut self, doc_id: DocumentId, reason: &str) -> Output {
        let mut out = Output::default();
        if let Some(Slot::Loading { queue, .. }) = self.docs.remove(&doc_id) {
            self.refuse_queue(queue, &mut out);
        }
        out.problems.push(format!("document {doc_id} could not be read: {reason}"));
        out
    }

    /// Refuses to serve (and so to overwrite) a document that cannot be read.
    fn refuse_queue(&mut self, queue: Vec<Op>, out: &mut Output) {
        for op in queue {
            match op {
                Op::Sync(p) => self.fail(p.conn, "this document cannot be served right now", out),
                Op::Edit(ticket, _) => out.edited.push((ticket, Err("the document cannot be read".into()))),
            }
        }
    }

    /// The driver could not store what the last input asked for: forgets the live copies of
    /// these documents (they may hold changes that never reached storage) and reloads them.
    /// Every other connection syncing them starts afresh with the stored copy (what they were
    /// sent since is not trusted), so nothing unstored is ever announced and nobody waits for a
    /// reply to a message that was dropped. The connection whose input failed is closed by the
    /// caller ([`Relay::refuse`]) so that its device sends its changes again.
    pub fn forget(&mut self, docs: impl IntoIterator<Item = DocumentId>) -> Output {
        let mut out = Output::default();
        for id in docs {
            let fresh: HashMap<ConnId, sync::State> = self
                .subs
                .get(&id)
                .map(|s| s.iter().filter(|c| self.conns.contains_key(c)).map(|c| (*c, sync::State::new())).collect())
                .unwrap_or_default();
            let (queue, stranded) = match self.docs.remove(&id) {
                Some(Slot::Loading { queue, .. }) => (queue, false),
                Some(Slot::Ready(live)) => (Vec::new(), holds_stranded_changes(&live)),
                None => (Vec::new(), false),
            };
            self.docs.insert(id, Slot::Loading { queue, states: fresh, resync: true });
            out.load.push(id);
            if stranded {
                self.restart_subscribers(id, &mut out);
            }
        }
        out
    }

    /// The live copy just dropped held changes still waiting for their dependencies, which the
    /// devices that sent them will never send again on this connection (automerge remembers
    /// what it sent). Their connections close (not a refusal); on reconnecting they sync afresh
    /// and send everything the relay lacks.
    fn restart_subscribers(&mut self, doc_id: DocumentId, out: &mut Output) {
        let conns: Vec<ConnId> = self
            .subs
            .get(&doc_id)
            .map(|s| s.iter().copied().filter(|c| self.conns.contains_key(c)).collect())
            .unwrap_or_default();
        for conn in conns {
            out.close.push((conn, "the relay restarted this document's sync; reconnect to continue".into()));
            self.disconnect(conn);
        }
    }

    /// Applies a server-side change to an existing document (loading it first if needed). The
    /// outcome arrives in [`Output::edited`] under `ticket`.
    pub fn edit(&mut self, doc_id: DocumentId, ticket: u64, edit: Edit, now: u64) -> Output {
        let mut out = Output::default();
        match self.docs.get_mut(&doc_id) {
            None => {
                self.docs.insert(
                    doc_id,
                    Slot::Loading { queue: vec![Op::Edit(ticket, edit)], states: HashMap::new(), resync: false },
                );
                out.load.push(doc_id);
            }
            Some(Slot::Loading { queue, .. }) => queue.push(Op::Edit(ticket, edit)),
            Some(Slot::Ready(_)) => self.apply_edit(doc_id, ticket, edit, now, &mut out),
        }
        out
    }

    fn apply_edit(&mut self, doc_id: DocumentId, ticket: u64, edit: Edit, now: u64, out: &mut Output) {
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return };
        let Some(Meta::Doc(header)) = live.meta.clone() else {
            out.edited.push((ticket, Err(format!("document {doc_id} does not exist"))));
            if live.states.is_empty() && live.meta.is_none() {
                self.docs.remove(&doc_id);
            }
            return;
        };
        live.last_used = now;
        let before = live.doc.get_heads();
        let mut tx = live.doc.transaction();
        if let Err(e) = edit(&mut tx) {
            tx.rollback();
            out.edited.push((ticket, Err(e)));
            return;
        }
        tx.commit();
        // The server writes as the document's owner; the same checks keep the header fixed.
        let owner = Principal {
            device: SERVER_DEVICE.into(),
            scheme: header.scheme.clone(),
            site: header.site.clone().unwrap_or_default(),
        };
        if let Err(reason) = self.check_and_persist(doc_id, &owner, &before, out) {
            out.edited.push((ticket, Err(reason)));
            self.reload(doc_id, out);
            return;
        }
        out.edited.push((ticket, Ok(())));
        self.fan_out(doc_id, out);
    }

    /// Drops documents idle for longer than the configured time.
    pub fn tick(&mut self, now: u64) -> Output {
        let mut out = Output::default();
        let idle = self.cfg.idle_ms;
        let compact_min = 4;
        let cold: Vec<DocumentId> = self
            .docs
            .iter()
            .filter_map(|(id, s)| match s {
                // A document holding stranded changes stays until their dependencies arrive.
                Slot::Ready(l) if now.saturating_sub(l.last_used) >= idle && !holds_stranded_changes(l) => Some(*id),
                _ => None,
            })
            .collect();
        for id in cold {
            if let Some(Slot::Ready(live)) = self.docs.remove(&id) {
                if live.meta.is_some() && live.appends > compact_min {
                    out.writes.push(Write::Compact { doc: id, snapshot: live.doc.save() });
                }
            }
        }
        out
    }

    fn on_sync(&mut self, doc_id: DocumentId, p: Pending, now: u64, out: &mut Output) {
        if !self.conns.contains_key(&p.conn) {
            return;
        }
        match self.docs.get_mut(&doc_id) {
            None => {
                self.docs
                    .insert(doc_id, Slot::Loading { queue: vec![Op::Sync(p)], states: HashMap::new(), resync: false });
                out.load.push(doc_id);
            }
            Some(Slot::Loading { queue, .. }) => queue.push(Op::Sync(p)),
            Some(Slot::Ready(_)) => self.apply(doc_id, p, now, out),
        }
    }

    /// Sends each subscribed connection what it is missing of the document.
    fn fan_out(&mut self, doc_id: DocumentId, out: &mut Output) {
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return };
        let Some(subs) = self.subs.get(&doc_id) else { return };
        for conn in subs {
            let Some(remote) = self.conns.get(conn).and_then(|c| c.remote.clone()) else { continue };
            let state = live.states.entry(*conn).or_default();
            if let Some(m) = live.doc.generate_sync_message(state) {
                let msg = Message::Sync {
                    sender_id: self.me.clone(),
                    target_id: remote,
                    document_id: doc_id,
                    data: m.encode(),
                };
                out.sends.push((*conn, msg.encode()));
            }
        }
    }

    /// Removes a document that squatted on another site's id: stored content and facts go,
    /// every connection that synced it stops (their copies are theirs), and the id is free.
    fn discard(&mut self, doc_id: DocumentId, out: &mut Output) {
        out.writes.push(Write::Discard { doc: doc_id });
        self.docs.remove(&doc_id);
        for conn in self.subs.remove(&doc_id).into_iter().flatten() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.docs.remove(&doc_id);
            }
        }
        self.docs.insert(doc_id, Slot::Ready(Box::new(Live::empty(None))));
    }

    /// Forgets the live copy (which holds content that was refused) and reloads the stored one.
    /// Other connections keep their sync states: nothing refused was ever sent to them.
    fn reload(&mut self, doc_id: DocumentId, out: &mut Output) {
        if let Some(Slot::Ready(live)) = self.docs.remove(&doc_id) {
            let stranded = holds_stranded_changes(&live);
            let states = live.states.into_iter().filter(|(c, _)| self.conns.contains_key(c)).collect();
            self.docs.insert(doc_id, Slot::Loading { queue: Vec::new(), states, resync: false });
            out.load.push(doc_id);
            if stranded {
                self.restart_subscribers(doc_id, out);
            }
        }
    }

    fn forward_ephemeral(
        &mut self,
        from: ConnId,
        doc_id: DocumentId,
        count: u64,
        session_id: String,
        data: Vec<u8>,
        out: &mut Output,
    ) {
        // Only a connection that syncs the document (so passed its access check) may broadcast,
        // small messages only, and only to its own desk's tablets (a scheme's directory is
        // synced by every site of the scheme: its ephemerals are not theirs to hear).
        let Some(subs) = self.subs.get(&doc_id) else { return };
        if !subs.contains(&from) {
            return;
        }
        if data.len() > MAX_EPHEMERAL_BYTES {
            let reason = format!("an ephemeral message may carry at most {MAX_EPHEMERAL_BYTES} bytes");
            self.fail(from, &reason, out);
            return;
        }
        let Some(subs) = self.subs.get(&doc_id) else { return };
        let site = self.conns[&from].principal.site.clone();
        let sender = self.conns[&from].remote.clone().expect("subscribed connections have joined");
        for c in subs.iter().filter(|c| **c != from) {
            let Some(conn) = self.conns.get(c) else { continue };
            if conn.principal.site != site {
                continue;
            }
            if let Some(remote) = conn.remote.clone() {
                let m = Message::Ephemeral {
                    sender_id: sender.clone(),
                    target_id: remote,
                    document_id: doc_id,
                    count,
                    session_id: session_id.clone(),
                    data: data.clone(),
                };
                out.sends.push((*c, m.encode()));
            }
        }
    }

    fn unavailable(&self, conn: ConnId, doc_id: DocumentId) -> Vec<u8> {
        let target = self.conns.get(&conn).and_then(|c| c.remote.clone()).unwrap_or_else(|| PeerId::from(""));
        Message::DocUnavailable { sender_id: self.me.clone(), target_id: target, document_id: doc_id }.encode()
    }

    /// A protocol error: tell the peer why, close its socket, forget it.
    fn fail(&mut self, conn: ConnId, reason: &str, out: &mut Output) {
        out.sends.push((conn, Message::Error { message: reason.to_owned() }.encode()));
        out.close.push((conn, reason.to_owned()));
        out.refused.push(conn);
        self.disconnect(conn);
    }
}

/// Whether a live copy holds changes that automerge has queued because their dependencies have
/// not arrived. Dropping such a copy would lose them for good on the sending device's current
/// connection: automerge never sends a change twice on one sync state, even when asked for it.
fn holds_stranded_changes(live: &Live) -> bool {
    !live.doc.get_missing_deps(&[]).is_empty()
}
