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
//! **Egress.** Bytes of a document go to a connection only if the connection's credential may
//! read the document as it is *now* ([`Relay::sync_conn`], the one place a sync message is
//! made): access is checked where a message enters and again at every send, because a document
//! can change owner between the two (created by its site after another device asked for it, a
//! squatter's draft given up).
//!
//! **One document, one fault.** A document the relay will not take from a device is refused to
//! that connection alone, with a reason ([`Refusal`], carried on `doc-unavailable`); the
//! connection goes on syncing its other documents. Only a broken protocol (a malformed envelope,
//! a wrong sender) closes a connection.
//!
//! **Rollback.** Changes are applied to the live document first and checked after. A change that
//! breaks a rule was never written, so the relay drops the live copy and reloads the document
//! from storage: storage only ever holds checked content, and only content that loads (changes
//! still waiting for their dependencies are never saved; they are held in memory within bounds
//! of bytes and time, see [`Config::stranded_ms`]).

use crate::chunks;
use crate::ids::{DocumentId, PeerId};
use crate::projection;
use crate::quota;
use crate::schema::{self, DocKind};
use crate::wire::{Message, Notice, PeerMetadata, NOTICE_SESSION, PROTOCOL_VERSION};
use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ReadDoc};
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod access;
mod check;
mod config;
mod output;

pub use crate::wire::Refusal;
pub use access::{access, Access, Meta, Principal};
pub use config::Config;
pub use output::{Output, SetAside, StoredDoc, Write};

pub type ConnId = u64;

/// Why the relay refuses a document: the stable codes a tablet words for its volunteers.
pub mod why {
    /// Not valid automerge data, or not a valid Signpost document.
    pub const INVALID: &str = "invalid";
    /// Over a size bound.
    pub const TOO_LARGE: &str = "too-large";
    /// Another site's or scheme's document, or one this device may only read.
    pub const NOT_YOURS: &str = "not-yours";
    /// A document's type, scheme, site or date may never change.
    pub const HEADER_CHANGED: &str = "header-changed";
    /// A day dated after its desk was closed.
    pub const DESK_CLOSED: &str = "desk-closed";
    /// A day past its scheme's retention period.
    pub const PAST_RETENTION: &str = "past-retention";
    /// The device has stored its daily allowance.
    pub const ALLOWANCE: &str = "allowance";
    /// More entries in a day (or shifts of one volunteer) than a desk ever makes.
    pub const TOO_MANY_ENTRIES: &str = "too-many-entries";
    /// The stored document cannot be read right now (an operator has been told).
    pub const UNREADABLE: &str = "unreadable";
}

/// The notice a device is sent about a day the relay set aside.
pub const SET_ASIDE: &str = "set-aside";

struct Conn {
    principal: Principal,
    remote: Option<PeerId>,
    docs: HashSet<DocumentId>,
    /// Documents this connection asked for before anyone stored them.
    wanted: HashSet<DocumentId>,
    /// Documents refused to this connection, and why: what it sends for them is answered with
    /// the same refusal, unread, until it reconnects.
    refused: HashMap<DocumentId, Refusal>,
    /// Documents where changes this connection sent wait for their dependencies.
    stranded: HashSet<DocumentId>,
    /// Set-aside days this connection was told about.
    noticed: HashSet<DocumentId>,
}

/// The device the server's own edits are made as: not held to a device's allowance.
const SERVER_DEVICE: &str = "server";

/// The largest ephemeral message (presence, cursors) passed on between a desk's tablets.
pub const MAX_EPHEMERAL_BYTES: usize = 64 << 10;

/// How many not-yet-existing documents one connection may wait for.
const MAX_WANTED_PER_CONN: usize = 1024;

/// How many documents may be refused to one connection before the connection itself is.
const MAX_REFUSED_PER_CONN: usize = 1024;

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

/// Changes one connection sent that wait for their dependencies.
#[derive(Clone, Copy, Debug)]
struct Stranded {
    bytes: u64,
    since: u64,
}

struct Live {
    doc: Automerge,
    meta: Option<Meta>,
    states: HashMap<ConnId, sync::State>,
    last_used: u64,
    appends: u32,
    /// What the stored document costs once loaded (see [`chunks::weigh`]).
    weight: chunks::Weight,
    /// Who sent the changes automerge holds back until their dependencies arrive, how many
    /// bytes and since when. Never stored; dropped past the bounds ([`Relay::drop_stranded`]).
    stranded: BTreeMap<ConnId, Stranded>,
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
            stranded: BTreeMap::new(),
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
    /// Sites closed, and the date each closed ([`Relay::set_site_closed`]): no day dated after
    /// it is taken.
    closed: HashMap<String, NaiveDate>,
    /// Whether an id is one of a site's well-known days outside the window, as worked out (see
    /// [`Relay::own_day_id`]).
    own_days: std::cell::RefCell<HashMap<(String, DocumentId), bool>>,
    /// What documents no longer live here are, where that can never change (a day whose header
    /// derives its id, a directory, a retired id): a device that may not read one is told so
    /// without the relay reading it again. Cleared when it grows past a bound.
    known: HashMap<DocumentId, Meta>,
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
            closed: HashMap::new(),
            own_days: Default::default(),
            known: HashMap::new(),
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

    pub fn config(&self) -> &Config {
        &self.cfg
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

    /// Whether a site is closed, and since which date (the driver reads it when a device of the
    /// site connects and when sites change). A closed desk's tablets are refused days dated
    /// after it closed; its earlier days still sync.
    pub fn set_site_closed(&mut self, site: &str, closed_on: Option<NaiveDate>) {
        match closed_on {
            Some(d) => self.closed.insert(site.to_owned(), d),
            None => self.closed.remove(site),
        };
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
                    out.sends.push((conn, self.unavailable(conn, doc_id, None)));
                }
            }
            if let Some(Slot::Ready(live)) = self.docs.remove(&doc_id) {
                self.release_stranded(doc_id, &live);
                self.docs.insert(doc_id, Slot::Ready(Box::new(Live::empty(Some(Meta::Retired { replaced_by })))));
            } else {
                self.known.insert(doc_id, Meta::Retired { replaced_by });
            }
            // A copy still loading reads the store, which already says the document is retired.
        }
        out
    }

    /// Documents another relay (or the server) discarded or changed under this relay's live
    /// copy: the copies are dropped and read again, and every connection syncing them starts
    /// afresh with what is stored, so nobody is sent what the document no longer holds, and
    /// nobody who may no longer read it is sent anything.
    pub fn changed_elsewhere(&mut self, docs: impl IntoIterator<Item = DocumentId>) -> Output {
        let live: Vec<DocumentId> = docs.into_iter().filter(|d| self.docs.contains_key(d)).collect();
        self.forget(live)
    }

    /// What a device has stored today, as far as this relay knows.
    pub fn usage(&self, device: &str) -> quota::Usage {
        self.ledger.usage(device)
    }

    /// Whether `id` is the well-known id of one of the device's own site's days: an id no one
    /// else may hold. The window first (cheap); then any day from `Config::own_days_from` to
    /// `own_days_ahead` days ahead (a tablet whose clock was reset to 1970 or 2000 still owns its
    /// day), worked out only when another site's content sits at the id, and remembered.
    fn own_day_id(&self, p: &Principal, id: &DocumentId) -> bool {
        let Some(today) = self.today else { return false };
        if (-self.cfg.days_back..=self.cfg.days_ahead)
            .any(|k| schema::desk_day_id(&p.site, today + chrono::Duration::days(k)) == *id)
        {
            return true;
        }
        let key = (p.site.clone(), *id);
        if let Some(known) = self.own_days.borrow().get(&key) {
            return *known;
        }
        let last = today + chrono::Duration::days(self.cfg.own_days_ahead);
        let found = self
            .cfg
            .own_days_from
            .iter_days()
            .take_while(|d| *d <= last)
            .any(|d| schema::desk_day_id(&p.site, d) == *id);
        let mut known = self.own_days.borrow_mut();
        if known.len() >= 4096 {
            known.clear();
        }
        known.insert(key, found);
        found
    }

    pub fn peer_id(&self) -> &PeerId {
        &self.me
    }

    /// Documents currently held in memory.
    pub fn live_docs(&self) -> usize {
        self.docs.values().filter(|s| matches!(s, Slot::Ready(_))).count()
    }

    /// Bytes held in memory, once loaded: live copies and the changes waiting for their
    /// dependencies.
    pub fn live_bytes(&self) -> u64 {
        self.docs
            .values()
            .map(|s| match s {
                Slot::Ready(l) => l.weight.bytes + l.stranded.values().map(|s| s.bytes).sum::<u64>(),
                Slot::Loading { .. } => 0,
            })
            .sum()
    }

    /// Bytes of changes held back for their dependencies, in all.
    pub fn stranded_bytes(&self) -> u64 {
        self.docs
            .values()
            .map(|s| match s {
                Slot::Ready(l) => l.stranded.values().map(|s| s.bytes).sum::<u64>(),
                Slot::Loading { .. } => 0,
            })
            .sum()
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The principal of a connection.
    pub fn principal(&self, conn: ConnId) -> Option<&Principal> {
        self.conns.get(&conn).map(|c| &c.principal)
    }

    /// What a document is, as far as the live copy knows (`None` if it is not live or not
    /// stored).
    pub fn live_meta(&self, doc: &DocumentId) -> Option<&Meta> {
        match self.docs.get(doc) {
            Some(Slot::Ready(l)) => l.meta.as_ref(),
            _ => None,
        }
    }

    /// A connection whose credential was accepted.
    pub fn connect(&mut self, conn: ConnId, principal: Principal) {
        self.conns.insert(
            conn,
            Conn {
                principal,
                remote: None,
                docs: HashSet::new(),
                wanted: HashSet::new(),
                refused: HashMap::new(),
                stranded: HashSet::new(),
                noticed: HashSet::new(),
            },
        );
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
        for d in c.docs.iter().chain(c.stranded.iter()) {
            if let Some(s) = self.subs.get_mut(d) {
                s.remove(&conn);
                if s.is_empty() {
                    self.subs.remove(d);
                }
            }
            match self.docs.get_mut(d) {
                Some(Slot::Ready(live)) => {
                    live.states.remove(&conn);
                    // What it sent that waits for dependencies is dropped at the next tick
                    // ([`Relay::tick`]): nobody is left to send them.
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
        let mut live = Live { states, last_used: now, ..Live::empty(None) };
        if let Some(stored) = stored {
            match self.read_stored(&stored) {
                Ok((doc, weight)) => {
                    live.appends = stored.chunks.len() as u32;
                    live.doc = doc;
                    live.weight = weight;
                    live.meta = Some(stored.meta);
                }
                Err(e) => {
                    out.problems.push(format!("document {doc_id} failed to load: {e}"));
                    if !self.give_up_broken(doc_id, &stored.meta, &queue) {
                        self.refuse_queue(doc_id, queue, &mut out);
                        return out;
                    }
                    // A draft, or a squatter at a site's own day, that does not load: given up, so
                    // that it blocks nobody (it was never anybody's counted record).
                    out.problems.push(format!("document {doc_id} did not load and held no record: discarded"));
                    out.writes.push(Write::Discard { doc: doc_id });
                    live.states.clear();
                    self.unsubscribe_all(doc_id);
                }
            }
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

    /// A stored document, weighed chunk by chunk before anything is inflated and then loaded
    /// strictly (all of it or an error).
    fn read_stored(&self, stored: &StoredDoc) -> Result<(Automerge, chunks::Weight), String> {
        // Twice the bound a write must keep, so that whatever was accepted always loads (a
        // snapshot and the changes it replaced weigh nearly the same).
        let m = self.cfg.max_document;
        let bound = chunks::Limits { bytes: m.bytes.saturating_mul(2), ops: m.ops.saturating_mul(2) };
        let mut weight = chunks::Weight::default();
        for chunk in &stored.chunks {
            weight += chunks::weigh(chunk, bound).map_err(|e| e.to_string())?;
            if weight.bytes > bound.bytes || weight.ops > bound.ops {
                return Err(format!("it is larger than {} bytes or {} operations", bound.bytes, bound.ops));
            }
        }
        // All of it or nothing: a document missing a damaged chunk's entries is never served.
        Ok((chunks::load_stored(&stored.chunks)?, weight))
    }

    /// Whether a stored document that does not load may be given up: a draft (header-less
    /// content, counted nowhere), or content at a site's own well-known day that is not that
    /// site's (a squatter) when the site's device asks for it. A site's own records never are.
    fn give_up_broken(&self, doc_id: DocumentId, meta: &Meta, queue: &[Op]) -> bool {
        match meta {
            Meta::Draft { .. } => true,
            Meta::Doc(h) | Meta::SetAside(h) if h.well_known_id() != doc_id => queue.iter().any(|op| {
                matches!(op, Op::Sync(p) if self.conns.get(&p.conn).is_some_and(|c| self.own_day_id(&c.principal, &doc_id)))
            }),
            _ => false,
        }
    }

    /// Changes to a document that another relay stored (several relays share one database),
    /// in the order they were stored: merged into the live copy, which this relay's devices are
    /// then sent. Nothing is written: the other relay stored and projected them. A document not
    /// live here needs nothing (it is read whole when next used), unless a device here waits
    /// for it to appear; then it is loaded. `meta` is what the store says the document is now:
    /// if the live copy says otherwise (a draft given up and the id taken by its site, say), the
    /// live copy is read again whole. A chunk that does not merge drops the live copy too.
    pub fn stored_elsewhere(&mut self, doc_id: DocumentId, meta: Option<&Meta>, stored: &[Vec<u8>]) -> Output {
        let mut out = Output::default();
        match self.docs.get_mut(&doc_id) {
            // A live copy holding changes that wait for their dependencies is read again instead:
            // merging what another relay stored could complete them here, never stored.
            Some(Slot::Ready(live))
                if live.meta.is_some()
                    && live.meta.as_ref() == meta
                    && live.stranded.is_empty()
                    && !holds_stranded_changes(live) =>
            {
                let merged = stored.iter().try_for_each(|chunk| {
                    live.weight += chunks::weigh(chunk, chunks::Limits { bytes: u64::MAX, ops: u64::MAX })
                        .map_err(|e| e.to_string())?;
                    live.appends += 1;
                    live.doc.load_incremental(chunk).map(|_| ()).map_err(|e| e.to_string())
                });
                match merged {
                    Ok(()) if !holds_stranded_changes(live) => self.fan_out(doc_id, &mut out),
                    Ok(()) => {
                        out.problems.push(format!("document {doc_id}: changes stored by another relay lack dependencies"));
                        out.append(self.forget([doc_id]));
                    }
                    Err(e) => {
                        out.problems.push(format!("document {doc_id}: a change stored by another relay: {e}"));
                        out.append(self.forget([doc_id]));
                    }
                }
            }
            // Not stored when it was last read here, retired, or something else now: read it
            // again, everyone starting afresh.
            Some(Slot::Ready(_)) => out.append(self.forget([doc_id])),
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
            self.refuse_queue(doc_id, queue, &mut out);
        }
        out.problems.push(format!("document {doc_id} could not be read: {reason}"));
        out
    }

    /// Refuses to serve (and so to overwrite) a document that cannot be read: each connection
    /// that waited for it is refused that document only.
    fn refuse_queue(&mut self, doc_id: DocumentId, queue: Vec<Op>, out: &mut Output) {
        for op in queue {
            match op {
                Op::Sync(p) => {
                    let r = refusal(why::UNREADABLE, "the relay cannot read this document right now; try again later");
                    self.refuse_doc(p.conn, doc_id, r, out);
                    // Not remembered: the next try reads the store again.
                    if let Some(c) = self.conns.get_mut(&p.conn) {
                        c.refused.remove(&doc_id);
                    }
                }
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
            let (queue, senders) = match self.docs.remove(&id) {
                Some(Slot::Loading { queue, .. }) => (queue, Vec::new()),
                Some(Slot::Ready(live)) => {
                    self.release_stranded(id, &live);
                    (Vec::new(), live.stranded.keys().copied().collect())
                }
                None => (Vec::new(), Vec::new()),
            };
            self.docs.insert(id, Slot::Loading { queue, states: fresh, resync: true });
            out.load.push(id);
            self.restart(senders, &mut out);
        }
        out
    }

    /// Connections that sent changes the relay dropped while they waited for their dependencies:
    /// closed (not refused) so that they reconnect and sync afresh. automerge never sends a
    /// change twice on one sync state, even when asked for it, so on this connection they would
    /// never send them again.
    fn restart(&mut self, conns: Vec<ConnId>, out: &mut Output) {
        for conn in conns {
            if self.conns.contains_key(&conn) {
                out.close.push((conn, "the relay dropped changes whose dependencies did not arrive; reconnect to sync again".into()));
                self.disconnect(conn);
            }
        }
    }

    /// Forgets, on each connection, that it has changes waiting in this live copy (which is
    /// going).
    fn release_stranded(&mut self, doc_id: DocumentId, live: &Live) {
        for conn in live.stranded.keys() {
            if let Some(c) = self.conns.get_mut(conn) {
                c.stranded.remove(&doc_id);
            }
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
        let Some(header) = live.meta.as_ref().and_then(Meta::header).cloned() else {
            out.edited.push((ticket, Err(format!("document {doc_id} does not exist"))));
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
        if let Err(r) = self.check_and_persist(doc_id, &owner, &before, out) {
            out.edited.push((ticket, Err(r.message)));
            self.reload(doc_id, out);
            return;
        }
        out.edited.push((ticket, Ok(())));
        self.fan_out(doc_id, out);
    }

    /// Drops what has waited too long or holds too much: changes waiting for dependencies past
    /// their time (or with nobody left to send them), documents idle for longer than the
    /// configured time or that no connection syncs any more, and then the least recently used
    /// until live copies fit their bound in bytes.
    pub fn tick(&mut self, now: u64) -> Output {
        let mut out = Output::default();
        // Changes waiting for their dependencies: past their time, or sent by a connection that
        // is gone.
        let overdue: Vec<DocumentId> = self
            .docs
            .iter()
            .filter_map(|(id, s)| match s {
                Slot::Ready(l)
                    if l.stranded.iter().any(|(c, s)| {
                        now.saturating_sub(s.since) >= self.cfg.stranded_ms || !self.conns.contains_key(c)
                    }) =>
                {
                    Some(*id)
                }
                _ => None,
            })
            .collect();
        for id in overdue {
            self.drop_stranded(id, &mut out);
        }
        let idle = self.cfg.idle_ms;
        let cold: Vec<DocumentId> = self
            .docs
            .iter()
            .filter_map(|(id, s)| match s {
                Slot::Ready(l) if l.stranded.is_empty() => {
                    let unused = now.saturating_sub(l.last_used) >= idle;
                    let nobody = !self.subs.get(id).is_some_and(|s| s.iter().any(|c| self.conns.contains_key(c)))
                        && !l.states.keys().any(|c| self.conns.contains_key(c));
                    (unused || nobody).then_some(*id)
                }
                _ => None,
            })
            .collect();
        for id in cold {
            self.evict(id, &mut out);
        }
        // Then by bytes: the least recently used first.
        let mut held = self.live_bytes();
        if held > self.cfg.max_live_bytes {
            let mut by_use: Vec<(u64, DocumentId)> = self
                .docs
                .iter()
                .filter_map(|(id, s)| match s {
                    Slot::Ready(l) => Some((l.last_used, *id)),
                    Slot::Loading { .. } => None,
                })
                .collect();
            by_use.sort();
            for (_, id) in by_use {
                if held <= self.cfg.max_live_bytes {
                    break;
                }
                let Some(Slot::Ready(l)) = self.docs.get(&id) else { continue };
                held = held.saturating_sub(l.weight.bytes + l.stranded.values().map(|s| s.bytes).sum::<u64>());
                if l.stranded.is_empty() {
                    self.evict(id, &mut out);
                } else {
                    self.drop_stranded(id, &mut out);
                    self.evict(id, &mut out);
                }
            }
        }
        out
    }

    /// Drops a live copy (compacting its stored chunks on the way out). Subscriptions stay: the
    /// next message reads it again.
    fn evict(&mut self, id: DocumentId, out: &mut Output) {
        if let Some(Slot::Ready(live)) = self.docs.remove(&id) {
            self.release_stranded(id, &live);
            self.remember(id, live.meta.as_ref());
            if live.meta.as_ref().is_some_and(|m| m.header().is_some() || matches!(m, Meta::Draft { .. }))
                && live.appends > 4
                && live.stranded.is_empty()
            {
                if let Some(snapshot) = snapshot(&live.doc) {
                    out.writes.push(Write::Compact { doc: id, snapshot });
                }
            }
        }
    }

    /// Remembers what a document going out of memory is, if that can never change (see
    /// [`Relay::known`](Relay)).
    fn remember(&mut self, id: DocumentId, meta: Option<&Meta>) {
        let lasting = match meta {
            Some(Meta::Retired { .. }) => true,
            Some(m @ (Meta::Doc(h) | Meta::SetAside(h))) => h.well_known_id() == id && m.header().is_some(),
            _ => false,
        };
        if lasting {
            if self.known.len() >= 65_536 {
                self.known.clear();
            }
            self.known.insert(id, meta.expect("checked").clone());
        }
    }

    /// Drops the changes a live copy holds back for their dependencies (never stored): the copy
    /// is read again from storage, the connections that sent them reconnect ([`Relay::restart`]),
    /// and every other connection keeps its sync state (nothing of them was ever sent on).
    fn drop_stranded(&mut self, id: DocumentId, out: &mut Output) {
        let Some(Slot::Ready(live)) = self.docs.remove(&id) else { return };
        self.release_stranded(id, &live);
        let senders: Vec<ConnId> = live.stranded.keys().copied().collect();
        let states: HashMap<ConnId, sync::State> = live
            .states
            .into_iter()
            .filter(|(c, _)| self.conns.contains_key(c) && !senders.contains(c))
            .collect();
        if live.meta.is_none() && states.is_empty() {
            // Nothing stored and nobody else syncing it: nothing to read again.
            self.restart(senders, out);
            return;
        }
        self.docs.insert(id, Slot::Loading { queue: Vec::new(), states, resync: false });
        out.load.push(id);
        self.restart(senders, out);
    }

    fn on_sync(&mut self, doc_id: DocumentId, p: Pending, now: u64, out: &mut Output) {
        let Some(c) = self.conns.get(&p.conn) else { return };
        if let Some(r) = c.refused.get(&doc_id) {
            // Refused already on this connection: the same answer, without reading it again.
            let msg = self.unavailable(p.conn, doc_id, Some(r.clone()));
            out.sends.push((p.conn, msg));
            return;
        }
        match self.docs.get_mut(&doc_id) {
            None => {
                // A document this device may never read is not read again to tell it so.
                if self.known.get(&doc_id).is_some_and(|m| access(&c.principal, m) == Access::None) {
                    out.sends.push((p.conn, self.unavailable(p.conn, doc_id, None)));
                    return;
                }
                self.docs
                    .insert(doc_id, Slot::Loading { queue: vec![Op::Sync(p)], states: HashMap::new(), resync: false });
                out.load.push(doc_id);
            }
            Some(Slot::Loading { queue, .. }) => queue.push(Op::Sync(p)),
            Some(Slot::Ready(_)) => self.apply(doc_id, p, now, out),
        }
    }

    /// Sends each subscribed connection what it is missing of the document, if it may read it.
    fn fan_out(&mut self, doc_id: DocumentId, out: &mut Output) {
        let subs: Vec<ConnId> = self.subs.get(&doc_id).map(|s| s.iter().copied().collect()).unwrap_or_default();
        for conn in subs {
            self.sync_conn(doc_id, conn, out);
        }
    }

    /// The one place a sync message is made for a connection: sends it what it lacks of the
    /// document if its credential may read the document as it is now. One that may not is
    /// unsubscribed and told the document is unavailable, and is sent nothing of it.
    fn sync_conn(&mut self, doc_id: DocumentId, conn: ConnId, out: &mut Output) {
        let Some(c) = self.conns.get(&conn) else { return };
        let Some(remote) = c.remote.clone() else { return };
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return };
        let may = match &live.meta {
            Some(meta) => access(&c.principal, meta) >= Access::Read,
            // Not stored: the live copy holds nothing but what this exchange may still bring.
            None => live.doc.get_heads().is_empty(),
        };
        if !may {
            live.states.remove(&conn);
            self.unsubscribe(doc_id, conn);
            out.sends.push((conn, self.unavailable(conn, doc_id, None)));
            return;
        }
        let set_aside = matches!(live.meta, Some(Meta::SetAside(_)));
        let stranded = holds_stranded_changes(live);
        let state = live.states.entry(conn).or_default();
        if let Some(mut m) = live.doc.generate_sync_message(state) {
            if stranded {
                // Changes held back for their dependencies (another device's, maybe) ride along
                // in a whole document automerge sends: they are taken out.
                let doc = &live.doc;
                let kept: Vec<Vec<u8>> = m
                    .changes
                    .iter()
                    .map(|raw| chunks::without_changes(raw, |h| doc.get_change_by_hash(h).is_none()))
                    .filter(|raw| !raw.is_empty())
                    .collect();
                m.changes = kept.into();
            }
            let msg = Message::Sync { sender_id: self.me.clone(), target_id: remote.clone(), document_id: doc_id, data: m.encode() };
            out.sends.push((conn, msg.encode()));
        }
        if set_aside {
            self.notice_set_aside(doc_id, conn, out);
        }
    }

    /// Tells a connection, once, that a day it syncs was set aside.
    fn notice_set_aside(&mut self, doc_id: DocumentId, conn: ConnId, out: &mut Output) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Some(remote) = c.remote.clone() else { return };
        if !c.noticed.insert(doc_id) {
            return;
        }
        let date = match self.docs.get(&doc_id) {
            Some(Slot::Ready(l)) => l.meta.as_ref().and_then(Meta::header).and_then(|h| h.date),
            _ => None,
        };
        let notice = Notice {
            code: SET_ASIDE.into(),
            message: match date {
                Some(d) => format!(
                    "this day is dated {d}, outside the dates the relay takes: it is stored but not counted until \
                     the coordinator files it under the right date or discards it"
                ),
                None => "this day is set aside until the coordinator files it".into(),
            },
        };
        let m = Message::Ephemeral {
            sender_id: self.me.clone(),
            target_id: remote,
            document_id: doc_id,
            count: 0,
            session_id: NOTICE_SESSION.into(),
            data: notice.encode(),
        };
        out.sends.push((conn, m.encode()));
    }

    fn subscribe(&mut self, doc_id: DocumentId, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.docs.insert(doc_id);
            self.subs.entry(doc_id).or_default().insert(conn);
        }
    }

    fn unsubscribe(&mut self, doc_id: DocumentId, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.docs.remove(&doc_id);
        }
        if let Some(s) = self.subs.get_mut(&doc_id) {
            s.remove(&conn);
            if s.is_empty() {
                self.subs.remove(&doc_id);
            }
        }
    }

    fn unsubscribe_all(&mut self, doc_id: DocumentId) {
        for conn in self.subs.remove(&doc_id).into_iter().flatten() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.docs.remove(&doc_id);
            }
        }
    }

    /// Removes a document that squatted on another site's id: stored content and facts go,
    /// every connection that synced it stops (their copies are theirs), and the id is free.
    fn discard(&mut self, doc_id: DocumentId, out: &mut Output) {
        out.writes.push(Write::Discard { doc: doc_id });
        if let Some(Slot::Ready(live)) = self.docs.remove(&doc_id) {
            self.release_stranded(doc_id, &live);
        }
        for conn in self.subs.remove(&doc_id).into_iter().flatten() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.docs.remove(&doc_id);
                out.sends.push((conn, self.unavailable(conn, doc_id, None)));
            }
        }
        self.docs.insert(doc_id, Slot::Ready(Box::new(Live::empty(None))));
    }

    /// Forgets the live copy (which holds content that was refused) and reloads the stored one.
    /// Other connections keep their sync states: nothing refused was ever sent to them. Those
    /// that had changes waiting for dependencies in it reconnect.
    fn reload(&mut self, doc_id: DocumentId, out: &mut Output) {
        if let Some(Slot::Ready(live)) = self.docs.remove(&doc_id) {
            self.release_stranded(doc_id, &live);
            let senders: Vec<ConnId> = live.stranded.keys().copied().collect();
            let states = live
                .states
                .into_iter()
                .filter(|(c, _)| self.conns.contains_key(c) && !senders.contains(c))
                .collect();
            self.docs.insert(doc_id, Slot::Loading { queue: Vec::new(), states, resync: false });
            out.load.push(doc_id);
            self.restart(senders, out);
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
        // Only a connection that syncs the document and may read it now may broadcast, small
        // messages only, and only to its own desk's tablets that may read it too (a scheme's
        // directory is synced by every site of the scheme: its ephemerals are not theirs to
        // hear). The relay's own session is the relay's.
        let Some(subs) = self.subs.get(&doc_id) else { return };
        if !subs.contains(&from) || session_id == NOTICE_SESSION {
            return;
        }
        let Some(Slot::Ready(live)) = self.docs.get(&doc_id) else { return };
        let Some(meta) = live.meta.clone() else { return };
        if data.len() > MAX_EPHEMERAL_BYTES {
            let reason = format!("an ephemeral message may carry at most {MAX_EPHEMERAL_BYTES} bytes");
            self.fail(from, &reason, out);
            return;
        }
        let Some(subs) = self.subs.get(&doc_id) else { return };
        let site = self.conns[&from].principal.site.clone();
        if access(&self.conns[&from].principal, &meta) < Access::Read {
            return;
        }
        let sender = self.conns[&from].remote.clone().expect("subscribed connections have joined");
        for c in subs.iter().filter(|c| **c != from) {
            let Some(conn) = self.conns.get(c) else { continue };
            if conn.principal.site != site || access(&conn.principal, &meta) < Access::Read {
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

    fn unavailable(&self, conn: ConnId, doc_id: DocumentId, refusal: Option<Refusal>) -> Vec<u8> {
        let target = self.conns.get(&conn).and_then(|c| c.remote.clone()).unwrap_or_else(|| PeerId::from(""));
        Message::DocUnavailable { sender_id: self.me.clone(), target_id: target, document_id: doc_id, refusal }.encode()
    }

    /// Refuses one document to one connection, with why: the connection stops syncing it (and
    /// is told so on `doc-unavailable`, with the reason), and what it sends for it is answered
    /// the same way until it reconnects. Its other documents go on. The caller reloads the live
    /// copy if the refused message changed it.
    fn refuse_doc(&mut self, conn: ConnId, doc_id: DocumentId, r: Refusal, out: &mut Output) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.refused.len() >= MAX_REFUSED_PER_CONN && !c.refused.contains_key(&doc_id) {
            self.fail(conn, &format!("too many documents refused on one connection; last: {}", r.message), out);
            return;
        }
        c.refused.insert(doc_id, r.clone());
        c.wanted.remove(&doc_id);
        if let Some(w) = self.wanted.get_mut(&doc_id) {
            w.remove(&conn);
        }
        self.unsubscribe(doc_id, conn);
        if let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) {
            live.states.remove(&conn);
        }
        out.sends.push((conn, self.unavailable(conn, doc_id, Some(r.clone()))));
        out.refused_docs.push((conn, doc_id, r));
    }

    /// A protocol error: tell the peer why, close its socket, forget it.
    fn fail(&mut self, conn: ConnId, reason: &str, out: &mut Output) {
        out.sends.push((conn, Message::Error { message: reason.to_owned() }.encode()));
        out.close.push((conn, reason.to_owned()));
        out.refused.push(conn);
        self.disconnect(conn);
    }
}

/// A refusal with its code and message.
pub fn refusal(code: &str, message: impl Into<String>) -> Refusal {
    Refusal { code: code.into(), message: message.into() }
}

/// Whether a live copy holds changes that automerge has queued because their dependencies have
/// not arrived.
fn holds_stranded_changes(live: &Live) -> bool {
    !live.doc.get_missing_deps(&[]).is_empty()
}

/// The whole document as one chunk, without the changes that wait for their dependencies
/// (automerge's `save` keeps them, and a document saved with them does not load), and only if it
/// loads: nothing is stored that has not been proven to load.
fn snapshot(doc: &Automerge) -> Option<Vec<u8>> {
    let bytes = doc.save_with_options(automerge::SaveOptions { deflate: true, retain_orphans: false });
    chunks::load_stored(std::slice::from_ref(&bytes)).ok().map(|_| bytes)
}
