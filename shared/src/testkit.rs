//! An in-memory network of one relay, its store and many devices, driven to quiescence step by
//! step. It plays the driver's part exactly as the server does (writes before sends) and, when
//! asked, checks on every delivery that the relay announces only durable heads. Used by the
//! convergence tests and by the document-model benchmark; no sockets, clocks or disk.

use crate::ids::DocumentId;
use crate::peer::{Event, Peer};
use crate::projection::Fact;
use crate::relay::{Config, ConnId, Principal, Relay, StoredDoc, Write};
use crate::schema::{self, EntryKey, Header, Referral};
use crate::wire::Message;
use automerge::sync;
use automerge::{Automerge, ReadDoc};
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The day the tests' desks work on.
pub fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date")
}

/// A device's principal.
pub fn principal(device: &str, scheme: &str, site: &str) -> Principal {
    Principal { device: device.into(), scheme: scheme.into(), site: site.into() }
}

/// A valid referral with the given id.
pub fn referral(id: &str) -> Referral {
    use crate::vocab::{Category, HelpKind, Helped};
    Referral {
        id: id.into(),
        // 16:00 on the tests' day.
        recorded_at_ms: 1_795_536_000_000,
        volunteer: Some("vol-1".into()),
        helped: Helped::Defendant,
        age_band: None,
        categories: [Category::Housing].into(),
        agency: schema::AgencyRef::Other("Shelter".into()),
        help: HelpKind::Signposted,
        follow_up: false,
        follow_up_closed: None,
        notes: None,
        void: None,
    }
}

impl Device {
    pub fn new(peer: Peer) -> Device {
        Device {
            peer,
            inbox: VecDeque::new(),
            events: vec![],
            closed: None,
            frames_sent: 0,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

#[derive(Default, Clone)]
pub struct Store {
    pub docs: HashMap<DocumentId, StoredDoc>,
    /// Facts keyed exactly as the server's tables key them: (document, entry's root key).
    pub facts: BTreeMap<(DocumentId, String), Fact>,
    /// Each scheme's roster as last projected: volunteer id and whether active.
    pub rosters: BTreeMap<String, Vec<(String, bool)>>,
    pub writes: usize,
    pub bytes_written: usize,
    /// Each device's usage by day, as the server's `device_usage` table keeps it.
    pub usage: BTreeMap<(String, chrono::NaiveDate), crate::quota::Usage>,
    /// Days set aside, as the server's `set_aside` table keeps them.
    pub set_aside: BTreeMap<DocumentId, crate::relay::SetAside>,
}

impl Store {
    pub fn apply(&mut self, w: Write) {
        self.writes += 1;
        self.bytes_written += match &w {
            Write::Create { chunk, .. } | Write::Append { chunk, .. } => chunk.len(),
            Write::Compact { snapshot, .. } => snapshot.len(),
            _ => 0,
        };
        match w {
            Write::Create { doc, meta, chunk } => {
                assert!(self.docs.insert(doc, StoredDoc { meta, chunks: vec![chunk] }).is_none());
            }
            Write::SetMeta { doc, meta } => {
                if matches!(meta, crate::relay::Meta::Doc(_)) {
                    self.set_aside.remove(&doc);
                }
                self.docs.get_mut(&doc).unwrap().meta = meta
            }
            Write::Append { doc, chunk } => self.docs.get_mut(&doc).unwrap().chunks.push(chunk),
            Write::Compact { doc, snapshot } => self.docs.get_mut(&doc).unwrap().chunks = vec![snapshot],
            Write::Discard { doc } => {
                self.docs.remove(&doc);
                self.set_aside.remove(&doc);
                self.facts.retain(|(d, _), _| *d != doc);
            }
            Write::SetAside { doc, set_aside } => {
                self.set_aside.insert(doc, set_aside);
            }
            Write::Project { doc, projection } => {
                for f in projection.facts {
                    let key = match &f {
                        Fact::Referral(r) => EntryKey::Referral(r.id.clone()),
                        Fact::Shift(s) => EntryKey::Shift(s.id.clone()),
                        Fact::Invalid { key, .. } | Fact::Removed(key) => key.clone(),
                    };
                    // As the server does: the entry's row is replaced by what the document says
                    // now, and a removed entry leaves no row.
                    let key = (doc, key.root_key());
                    match f {
                        Fact::Removed(_) => self.facts.remove(&key),
                        f => self.facts.insert(key, f),
                    };
                }
            }
            Write::Roster { roster, .. } => {
                self.rosters.insert(roster.scheme, roster.volunteers);
            }
            Write::Usage { device, day, usage, .. } => {
                self.usage.insert((device, day), usage);
            }
        }
    }

    /// A stored document, loaded strictly as the relay loads it (a change whose dependency is
    /// not stored is an error).
    pub fn load(&self, id: &DocumentId) -> Automerge {
        crate::chunks::load_stored(&self.docs[id].chunks)
            .unwrap_or_else(|e| panic!("stored document {id} does not load: {e}"))
    }

    /// Panics unless every stored document loads strictly: storage holds only what loads.
    pub fn check_every_document_loads(&self) {
        for (id, d) in &self.docs {
            if !d.chunks.is_empty() {
                if let Err(e) = crate::chunks::load_stored(&d.chunks) {
                    panic!("stored document {id} ({:?}) does not load: {e}", d.meta);
                }
            }
        }
    }

    /// Panics if the frame carries bytes of a document to a connection whose principal may not
    /// read that document as the store has it: the egress rule, checked on every delivery.
    /// (A sync message with changes is content; so is one announcing heads of a stored document.)
    pub fn check_egress(&self, to: &Principal, frame: &[u8]) {
        let Ok(Message::Sync { document_id, data, .. } | Message::Request { document_id, data, .. }) =
            Message::decode(frame)
        else {
            return;
        };
        let m = sync::Message::decode(&data).expect("the relay sends valid sync messages");
        if m.changes.is_empty() && m.heads.is_empty() {
            return;
        }
        match self.docs.get(&document_id).map(|d| &d.meta) {
            Some(meta) => assert!(
                crate::relay::access(to, meta) >= crate::relay::Access::Read,
                "{to:?} was sent {} of document {document_id} ({meta:?}), which it may not read",
                if m.changes.is_empty() { "the heads" } else { "changes" }
            ),
            None => assert!(m.changes.is_empty(), "{to:?} was sent changes of {document_id}, which is not stored"),
        }
    }

    pub fn counted_referrals(&self) -> usize {
        self.facts.values().filter(|f| matches!(f, Fact::Referral(r) if !r.voided)).count()
    }

    /// Panics if the relay's frame announces heads this store does not hold: the relay's
    /// durability rule, checked on every delivery.
    pub fn check_announced(&self, frame: &[u8]) {
        if let Ok(Message::Sync { document_id, data, .. }) = Message::decode(frame) {
            let m = sync::Message::decode(&data).unwrap();
            if m.heads.is_empty() && m.changes.is_empty() {
                return;
            }
            let stored = self.load(&document_id);
            for h in &m.heads {
                assert!(stored.get_change_by_hash(h).is_some(), "relay announced head {h} before storing it");
            }
            // Nor does it send a change it has not stored (one held back for its dependencies,
            // another device's maybe).
            for raw in m.changes.iter() {
                for h in crate::chunks::carried_changes(raw).expect("the relay sends valid chunks") {
                    assert!(stored.get_change_by_hash(&h).is_some(), "relay sent change {h} of {document_id}, never stored");
                }
            }
        }
    }

    /// The fact stored for an entry of a document (`referral:<id>` or `shift:<id>`).
    pub fn fact(&self, doc: DocumentId, root_key: &str) -> Option<&Fact> {
        self.facts.get(&(doc, root_key.to_owned()))
    }
}

pub struct Device {
    pub peer: Peer,
    pub inbox: VecDeque<Vec<u8>>,
    pub events: Vec<Event>,
    pub closed: Option<String>,
    /// Frames and bytes this device sent and received.
    pub frames_sent: usize,
    pub bytes_sent: usize,
    pub bytes_received: usize,
}

pub struct Net {
    pub relay: Relay,
    pub store: Store,
    pub devices: HashMap<ConnId, Device>,
    pub to_relay: VecDeque<(ConnId, Vec<u8>)>,
    pub now: u64,
    /// Check on every delivery that announced heads are stored (costly; off for benchmarks).
    pub check_durability: bool,
    /// Times the devices received something from the relay: round trips.
    pub rounds: usize,
    /// With a clock (nanoseconds), the time spent inside the relay is added up in `relay_ns`.
    pub clock: Option<fn() -> u128>,
    pub relay_ns: u128,
    /// Who each connection is, for the egress check on every delivery.
    pub principals: HashMap<ConnId, Principal>,
}

impl Net {
    pub fn new(cfg: Config) -> Self {
        Net {
            relay: Relay::new("relay".into(), "storage-1".into(), cfg),
            store: Store::default(),
            devices: HashMap::new(),
            to_relay: VecDeque::new(),
            now: 1_000,
            check_durability: true,
            rounds: 0,
            clock: None,
            relay_ns: 0,
            principals: HashMap::new(),
        }
    }

    pub fn join(&mut self, conn: ConnId, p: Principal) {
        self.principals.insert(conn, p.clone());
        self.relay.connect(conn, p);
        let mut peer = Peer::new(format!("tablet-{conn}").as_str().into());
        let join = peer.on_open();
        self.devices.insert(conn, Device::new(peer));
        self.to_relay.push_back((conn, join));
        self.run();
    }

    pub fn device(&mut self, conn: ConnId) -> &mut Device {
        self.devices.get_mut(&conn).unwrap()
    }

    pub fn handle(&mut self, out: crate::relay::Output) {
        let mut pending = vec![out];
        while let Some(out) = pending.pop() {
            let wrote = !out.writes.is_empty();
            for w in out.writes {
                self.store.apply(w);
            }
            if wrote && self.check_durability {
                self.store.check_every_document_loads();
            }
            for (conn, frame) in out.sends {
                if self.check_durability {
                    self.check_announced_heads_are_durable(&frame);
                    if let Some(p) = self.principals.get(&conn) {
                        self.store.check_egress(p, &frame);
                    }
                }
                if let Some(d) = self.devices.get_mut(&conn) {
                    if d.closed.is_none() {
                        d.bytes_received += frame.len();
                        d.inbox.push_back(frame);
                    }
                }
            }
            for (conn, reason) in out.close {
                if let Some(d) = self.devices.get_mut(&conn) {
                    d.closed.get_or_insert(reason);
                }
            }
            for id in out.load {
                let stored = self.store.docs.get(&id).cloned();
                pending.push(self.relay.loaded(id, stored, self.now));
            }
        }
    }

    pub fn check_announced_heads_are_durable(&self, frame: &[u8]) {
        self.store.check_announced(frame);
    }

    /// Delivers messages until nothing moves.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            if let Some((conn, frame)) = self.to_relay.pop_front() {
                if self.devices[&conn].closed.is_some() {
                    continue;
                }
                self.now += 1;
                let t0 = self.clock.map(|c| c());
                let out = self.relay.receive(conn, self.now, &frame);
                self.handle(out);
                if let (Some(c), Some(t0)) = (self.clock, t0) {
                    self.relay_ns += c() - t0;
                }
                continue;
            }
            let mut moved = false;
            let conns: Vec<ConnId> = self.devices.keys().copied().collect();
            for conn in conns {
                let d = self.devices.get_mut(&conn).unwrap();
                while let Some(frame) = d.inbox.pop_front() {
                    moved = true;
                    let out = d.peer.receive(&frame).expect("relay frames decode");
                    d.events.extend(out.events);
                    for s in out.sends {
                        d.frames_sent += 1;
                        d.bytes_sent += s.len();
                        self.to_relay.push_back((conn, s));
                    }
                }
            }
            if !moved {
                return;
            }
            self.rounds += 1;
        }
        panic!("the network did not settle");
    }

    pub fn send(&mut self, conn: ConnId, out: crate::peer::Output) {
        let d = self.devices.get_mut(&conn).expect("known device");
        for s in out.sends {
            d.frames_sent += 1;
            d.bytes_sent += s.len();
            self.to_relay.push_back((conn, s));
        }
        self.run();
    }

    pub fn raw(&mut self, conn: ConnId, frame: Vec<u8>) {
        self.to_relay.push_back((conn, frame));
        self.run();
    }

    pub fn open_day(&mut self, conn: ConnId, scheme: &str, site: &str, date: NaiveDate) -> DocumentId {
        let h = Header::desk_day(scheme, site, date);
        let id = h.well_known_id();
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &h).unwrap();
        tx.commit();
        let out = self.device(conn).peer.insert(id, doc, None);
        self.send(conn, out);
        id
    }

    pub fn change(
        &mut self,
        conn: ConnId,
        doc: DocumentId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
    ) {
        let (_, out) = self.device(conn).peer.change(doc, f).unwrap();
        self.send(conn, out);
    }

    pub fn log(&mut self, conn: ConnId, doc: DocumentId, r: &Referral) {
        self.change(conn, doc, |tx| schema::write_referral(tx, r).unwrap());
    }

    pub fn find(&mut self, conn: ConnId, doc: DocumentId) {
        let out = self.device(conn).peer.find(doc);
        self.send(conn, out);
    }

    /// Stores a server-written document (a scheme's directory, say) directly, as the admin
    /// commands do, with the header and whatever `fill` writes.
    pub fn seed(
        &mut self,
        header: Header,
        fill: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
    ) -> DocumentId {
        let id = header.well_known_id();
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &header).expect("header");
        fill(&mut tx);
        tx.commit();
        self.store.docs.insert(id, StoredDoc { meta: crate::relay::Meta::Doc(header), chunks: vec![doc.save()] });
        id
    }

    /// Removes a document for good, as the server's purge and erasure do: the store keeps only
    /// that it was retired (no chunk, no fact), then the relay is told.
    pub fn retire(&mut self, id: DocumentId, replaced_by: Option<DocumentId>) {
        let meta = crate::relay::Meta::Retired { replaced_by };
        self.store.docs.insert(id, StoredDoc { meta, chunks: vec![] });
        self.store.facts.retain(|(d, _), _| *d != id);
        let out = self.relay.retire([(id, replaced_by)]);
        self.handle(out);
        self.run();
    }

    /// Whether the relay told this device that the document is unavailable.
    pub fn told_unavailable(&self, conn: ConnId, doc: DocumentId) -> bool {
        self.devices[&conn].events.contains(&Event::Unavailable(doc))
    }

    pub fn peer(&self, conn: ConnId) -> &Peer {
        &self.devices[&conn].peer
    }

    /// The device loses its network: its socket closes and the relay forgets the connection.
    pub fn go_offline(&mut self, conn: ConnId) {
        let d = self.devices.get_mut(&conn).expect("known device");
        d.peer.on_close();
        d.closed.get_or_insert_with(|| "offline".into());
        self.relay.disconnect(conn);
    }

    /// The device (with everything it holds) connects again as connection `new`, joins, and
    /// syncs until the network settles.
    pub fn reconnect(&mut self, old: ConnId, new: ConnId, principal: Principal) {
        let mut d = self.devices.remove(&old).expect("known device");
        // Its socket closed, whether it went offline or the relay closed it.
        d.peer.on_close();
        d.closed = None;
        d.inbox.clear();
        // What the relay said on the old connection is history.
        d.events.clear();
        self.principals.insert(new, principal.clone());
        self.relay.connect(new, principal);
        let join = d.peer.on_open();
        self.devices.insert(new, d);
        self.raw(new, join);
    }

    pub fn closed(&self, conn: ConnId) -> String {
        self.devices[&conn].closed.clone().unwrap_or_default()
    }

    /// What the relay refused this device, document by document ("code: message" each), and
    /// why its connection closed, if it did: what a test expects to read of a refusal.
    pub fn refusals(&self, conn: ConnId) -> String {
        let d = &self.devices[&conn];
        let mut all: Vec<String> = d
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Refused { doc, refusal } => Some(format!("{doc} {}: {}", refusal.code, refusal.message)),
                _ => None,
            })
            .collect();
        all.extend(d.closed.clone());
        all.join("; ")
    }

    /// The relay's refusal of one document to this device, if it refused it.
    pub fn refused(&self, conn: ConnId, doc: DocumentId) -> Option<crate::wire::Refusal> {
        self.devices[&conn].events.iter().rev().find_map(|e| match e {
            Event::Refused { doc: d, refusal } if *d == doc => Some(refusal.clone()),
            _ => None,
        })
    }
}

/// A compressed change chunk (type 2) whose body is `inflated`, deflated: what automerge would
/// inflate before reading it (the checksum is not filled in). For tests of what a hostile client
/// can send.
pub fn compressed_chunk(inflated: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(inflated).expect("in memory");
    let deflated = z.finish().expect("in memory");
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut n = deflated.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { b } else { b | 0x80 });
        if n == 0 {
            break;
        }
    }
    out.extend(deflated);
    out
}
