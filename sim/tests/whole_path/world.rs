//! The simulated world of a schedule: tablets that keep their documents as the app does, the
//! relay core with its in-memory store, and the network between them.

use automerge::{ActorId, Automerge};
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signpost_shared::ids::DocumentId;
use signpost_shared::local::{self, Records};
use signpost_shared::peer::{Event, Peer};
use signpost_shared::relay::{Config, ConnId, Output, Principal, Relay};
use signpost_shared::schema::{self, Header, Referral, Shift, Volunteer};
use signpost_shared::testkit::Store;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub(crate) const SCHEME: &str = "scheme-1";

/// What a tablet keeps on the device for one document.
#[derive(Default, Clone)]
pub(crate) struct Disk {
    pub(crate) records: Records,
    pub(crate) sync: Option<Vec<u8>>,
}

pub(crate) struct Tablet {
    pub(crate) site: String,
    pub(crate) device: String,
    pub(crate) peer: Peer,
    /// The connection while online.
    pub(crate) conn: Option<ConnId>,
    pub(crate) inbox: VecDeque<Vec<u8>>,
    pub(crate) disk: BTreeMap<DocumentId, Disk>,
    /// A shift running on this tablet: its document and entry.
    pub(crate) shift: Option<(DocumentId, Shift)>,
    /// What the relay said when it refused something (never expected).
    pub(crate) refused: Vec<String>,
    pub(crate) restarts: u32,
    /// Days this tablet learned were replaced (old → new), kept on the device as the app keeps
    /// them; and those it is following, until the replacement arrives.
    pub(crate) replaced: BTreeMap<DocumentId, DocumentId>,
    pub(crate) following: BTreeMap<DocumentId, DocumentId>,
    /// How far the tablet's clock is wrong, in days (0: right). A wrong clock files its entries
    /// under the wrong day; far enough, the relay sets that day aside.
    pub(crate) clock_days: i64,
    /// Days the relay refused to this tablet, and why (only a closed desk's later days may be).
    pub(crate) refused_days: BTreeMap<DocumentId, String>,
}

/// The last value each tablet wrote to an entry, to compare with what the relay stored.
#[derive(Default)]
pub(crate) struct Ledger {
    /// (document, root key) → the tablets that wrote it, and the last referral written.
    pub(crate) entries: BTreeMap<(DocumentId, String), (BTreeSet<usize>, Option<Referral>)>,
}

pub(crate) struct World {
    pub(crate) rng: StdRng,
    pub(crate) relay: Relay,
    pub(crate) store: Store,
    pub(crate) to_relay: VecDeque<(ConnId, Vec<u8>)>,
    pub(crate) tablets: Vec<Tablet>,
    pub(crate) next_conn: ConnId,
    pub(crate) now: u64,
    pub(crate) date: NaiveDate,
    pub(crate) ledger: Ledger,
    pub(crate) directory: DocumentId,
    pub(crate) tickets: u64,
    pub(crate) edits_ok: u32,
    pub(crate) relay_restarts: u32,
    pub(crate) next_id: u64,
    /// Days the server rewrote (a coordinator erased a referral or redacted its notes): old →
    /// (new, the referral).
    pub(crate) rewritten: BTreeMap<DocumentId, (DocumentId, String)>,
    /// Referrals erased: never to be seen again.
    pub(crate) erased: BTreeSet<String>,
    /// Hostile and faulty devices of another site and another scheme.
    pub(crate) hostiles: Vec<crate::hostile::Hostile>,
    /// A backup of the store, to restore the relay from while tablets hold newer changes.
    pub(crate) backup: Option<(Store, usize)>,
    pub(crate) restores: u32,
    /// Frames delivered, and how many were checked for who may receive them.
    pub(crate) deliveries: u64,
}

pub(crate) fn new_relay(n: u32) -> Relay {
    // Small compaction and idle limits so that compaction and eviction happen within a schedule.
    let cfg = Config { compact_after: 6, idle_ms: 40, ..Config::default() };
    Relay::new(format!("relay-{n}").as_str().into(), "storage-1".into(), cfg)
}

impl Tablet {
    pub(crate) fn principal(&self) -> Principal {
        Principal { device: self.device.clone(), scheme: SCHEME.into(), site: self.site.clone() }
    }

    /// The actor the tablet writes as in this run of the app: new at every start, as in the
    /// browser, but derived from the schedule rather than drawn at random, so that a seed
    /// replays the same changes.
    pub(crate) fn actor(&self) -> ActorId {
        ActorId::from(format!("{}-{}", self.device, self.restarts).as_bytes())
    }

    /// Saves what is new in a document on the device, as the app does before it sends.
    pub(crate) fn persist(&mut self, id: DocumentId) {
        let Some(doc) = self.peer.doc(&id) else { return };
        let disk = self.disk.entry(id).or_default();
        disk.records.save(doc);
        disk.sync = self.peer.saved_state(&id);
    }
}

impl World {
    pub(crate) fn new(seed: u64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = Store::default();
        // The scheme's directory, written by an admin command before any tablet exists.
        let dir_header = Header::directory(SCHEME);
        let directory = dir_header.well_known_id();
        let mut doc = Automerge::new().with_actor(ActorId::from(b"admin-command".as_slice()));
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &dir_header).unwrap();
        for v in 0..3 {
            let vol = Volunteer { id: format!("vol-{v}"), name: format!("Volunteer {v}"), active: true, pin: None };
            schema::write_volunteer(&mut tx, &vol).unwrap();
        }
        tx.commit();
        store.apply(signpost_shared::relay::Write::Create {
            doc: directory,
            meta: signpost_shared::relay::Meta::Doc(dir_header),
            chunk: doc.save(),
        });
        let desks = rng.random_range(1..=3);
        let mut tablets = Vec::new();
        for d in 0..desks {
            for t in 0..rng.random_range(1..=3) {
                tablets.push(Tablet {
                    site: format!("site-{d}"),
                    device: format!("tablet-{d}-{t}"),
                    peer: Peer::new(format!("tablet-{d}-{t}-0").as_str().into()),
                    conn: None,
                    inbox: VecDeque::new(),
                    disk: BTreeMap::new(),
                    shift: None,
                    refused: Vec::new(),
                    restarts: 0,
                    replaced: BTreeMap::new(),
                    following: BTreeMap::new(),
                    clock_days: 0,
                    refused_days: BTreeMap::new(),
                });
            }
        }
        let date = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let mut relay = new_relay(0);
        relay.set_today(date);
        World {
            rng,
            relay,
            store,
            to_relay: VecDeque::new(),
            tablets,
            next_conn: 1,
            now: 1_000,
            date,
            ledger: Ledger::default(),
            directory,
            tickets: 0,
            edits_ok: 0,
            relay_restarts: 0,
            next_id: 0,
            rewritten: BTreeMap::new(),
            erased: BTreeSet::new(),
            hostiles: Vec::new(),
            backup: None,
            restores: 0,
            deliveries: 0,
        }
    }

    /// The document that holds `doc`'s day now, on the server.
    pub(crate) fn resolve(&self, doc: DocumentId) -> DocumentId {
        let mut current = doc;
        while let Some((next, _)) = self.rewritten.get(&current) {
            current = *next;
        }
        current
    }

    /// Carries out the relay's output as the server does: writes first, then sends.
    pub(crate) fn handle(&mut self, out: Output) {
        let mut pending = vec![out];
        while let Some(out) = pending.pop() {
            // Every write is proven to load before anything is sent: what it touched loads
            // strictly from the store.
            let touched: BTreeSet<DocumentId> = out.writes.iter().map(|w| *w.doc()).collect();
            for w in out.writes {
                self.store.apply(w);
            }
            for doc in touched {
                if let Some(d) = self.store.docs.get(&doc) {
                    if let Err(e) = signpost_shared::chunks::load_stored(&d.chunks) {
                        panic!("stored document {doc} ({:?}) does not load: {e}", d.meta);
                    }
                }
            }
            for (conn, frame) in out.sends {
                self.deliveries += 1;
                self.store.check_announced(&frame);
                // Who may receive it: checked on every delivery.
                if let Some(p) = self.principal_of(conn) {
                    self.store.check_egress(&p, &frame);
                }
                if let Some(t) = self.tablets.iter_mut().find(|t| t.conn == Some(conn)) {
                    t.inbox.push_back(frame);
                } else if let Some(h) = self.hostiles.iter_mut().find(|h| h.conn == Some(conn)) {
                    h.received(&frame);
                }
            }
            for (conn, reason) in out.close {
                if let Some(i) = self.tablets.iter().position(|t| t.conn == Some(conn)) {
                    // Asked to reconnect (its changes waited too long for their dependencies)
                    // is not a refusal.
                    if out.refused.contains(&conn) {
                        self.tablets[i].refused.push(reason);
                    }
                    self.offline(i);
                } else if let Some(h) = self.hostiles.iter_mut().find(|h| h.conn == Some(conn)) {
                    h.conn = None;
                }
            }
            for (conn, doc, refusal) in &out.refused_docs {
                if let Some(t) = self.tablets.iter_mut().find(|t| t.conn == Some(*conn)) {
                    t.refused_days.insert(*doc, format!("{}: {}", refusal.code, refusal.message));
                }
            }
            if let Some(p) = out.problems.first() {
                panic!("relay problem: {p}");
            }
            for (_, result) in out.edited {
                match result {
                    Ok(()) => self.edits_ok += 1,
                    Err(e) => panic!("a server-side edit failed: {e}"),
                }
            }
            for id in out.load {
                let stored = self.store.docs.get(&id).cloned();
                pending.push(self.relay.loaded(id, stored, self.now));
            }
        }
    }

    /// Who is on the other end of a connection, as the relay knows it.
    pub(crate) fn principal_of(&self, conn: ConnId) -> Option<Principal> {
        if let Some(t) = self.tablets.iter().find(|t| t.conn == Some(conn)) {
            return Some(t.principal());
        }
        self.hostiles.iter().find(|h| h.conn == Some(conn)).map(|h| h.principal.clone())
    }

    /// The date a tablet's clock says it is.
    pub(crate) fn tablet_date(&self, i: usize) -> NaiveDate {
        let d = self.date + chrono::Duration::days(self.tablets[i].clock_days);
        // A clock reset to the start of the century by a flat battery.
        if self.tablets[i].clock_days < -10_000 {
            return NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        }
        d
    }

    pub(crate) fn send(&mut self, i: usize, frames: Vec<Vec<u8>>) {
        if let Some(c) = self.tablets[i].conn {
            self.to_relay.extend(frames.into_iter().map(|f| (c, f)));
        }
    }

    pub(crate) fn offline(&mut self, i: usize) {
        let t = &mut self.tablets[i];
        if let Some(c) = t.conn.take() {
            t.peer.on_close();
            t.inbox.clear();
            // Frames still in flight are lost with the connection.
            self.to_relay.retain(|(conn, _)| *conn != c);
            self.relay.disconnect(c);
        }
    }

    pub(crate) fn online(&mut self, i: usize) {
        if self.tablets[i].conn.is_some() {
            return;
        }
        let c = self.next_conn;
        self.next_conn += 1;
        let p = self.tablets[i].principal();
        // As the server's driver does: what the tablet stored today, read from storage.
        let used = self.store.usage.get(&(p.device.clone(), self.date)).copied().unwrap_or_default();
        self.relay.note_usage(&p.device, self.date, used);
        self.relay.connect(c, p);
        let t = &mut self.tablets[i];
        t.conn = Some(c);
        let join = t.peer.on_open();
        self.to_relay.push_back((c, join));
        // The app asks for the scheme's directory once it is connected, if it lacks it.
        if self.tablets[i].peer.doc(&self.directory).is_none_or(|d| d.get_heads().is_empty()) {
            let out = self.tablets[i].peer.find(self.directory);
            self.send(i, out.sends);
        }
    }

    /// The tablet's app is closed (or the battery dies) and opened again: everything in memory
    /// is gone; it comes back from what the device stored.
    pub(crate) fn restart(&mut self, i: usize) {
        self.offline(i);
        let t = &mut self.tablets[i];
        t.restarts += 1;
        // What it was following is relearned when the relay says the old day is gone again.
        t.following.clear();
        let mut peer = Peer::new(format!("{}-{}", t.device, t.restarts).as_str().into());
        let actor = t.actor();
        for (id, disk) in &t.disk {
            let loaded = local::load(&disk.records.records);
            assert!(loaded.damaged_records.is_empty(), "tablet storage damaged: {:?}", loaded.damaged_records);
            assert_eq!(Some(&loaded.stored), disk.records.stored.as_ref(), "stored state survives a restart");
            let _ = peer.insert(*id, loaded.doc.with_actor(actor.clone()), disk.sync.as_deref());
        }
        t.peer = peer;
    }

    pub(crate) fn kill_relay(&mut self) {
        for i in 0..self.tablets.len() {
            self.offline(i);
        }
        for h in &mut self.hostiles {
            h.conn = None;
        }
        self.to_relay.clear();
        self.relay_restarts += 1;
        self.relay = new_relay(self.relay_restarts);
        self.relay.set_today(self.date);
        self.relay_knows_closed_sites();
    }

    /// Midnight at the relay: the date moves on, and with it the window of days the relay takes
    /// and each tablet's daily allowance.
    pub(crate) fn midnight(&mut self) {
        self.date = self.date.succ_opt().unwrap();
        self.relay.set_today(self.date);
    }

    /// As the server's driver does: the relay is told which sites are closed.
    pub(crate) fn relay_knows_closed_sites(&mut self) {
        for h in &self.hostiles {
            if let Some(on) = h.closed_on {
                self.relay.set_site_closed(&h.principal.site, Some(on));
            }
        }
    }

    /// Delivers up to `n` frames, picking at random which side moves.
    pub(crate) fn deliver(&mut self, n: usize) {
        for _ in 0..n {
            let busy: Vec<usize> = (0..self.tablets.len()).filter(|i| !self.tablets[*i].inbox.is_empty()).collect();
            let to_relay = !self.to_relay.is_empty() && (busy.is_empty() || self.rng.random_bool(0.5));
            if to_relay {
                let (c, f) = self.to_relay.pop_front().unwrap();
                self.now += 1;
                let out = self.relay.receive(c, self.now, &f);
                self.handle(out);
            } else if let Some(&i) = busy.get(self.rng.random_range(0..busy.len().max(1))) {
                let f = self.tablets[i].inbox.pop_front().unwrap();
                let out = self.tablets[i].peer.receive(&f).expect("relay frames decode");
                let mut touched = BTreeSet::new();
                let mut gone = Vec::new();
                for e in &out.events {
                    match e {
                        Event::Changed(d) | Event::Synced(d) => {
                            touched.insert(*d);
                        }
                        Event::RelayError(m) => self.tablets[i].refused.push(m.clone()),
                        Event::Unavailable(d) => gone.push(*d),
                        _ => {}
                    }
                }
                for d in touched {
                    self.tablets[i].persist(d);
                }
                self.send(i, out.sends);
                for d in gone {
                    self.unavailable(i, d);
                }
                self.follow(i);
            } else {
                return;
            }
        }
    }

    pub(crate) fn settle(&mut self) {
        for _ in 0..20 {
            if self.to_relay.is_empty() && self.tablets.iter().all(|t| t.inbox.is_empty()) {
                return;
            }
            self.deliver(10_000);
        }
        panic!("the network did not settle: 200,000 frames and the relay and tablets still exchange messages");
    }

    pub(crate) fn id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{what}-{}-{}", self.next_id, self.rng.random_range(0..1_000_000u32))
    }

    /// Today's document on the tablet, created as the app creates it.
    pub(crate) fn today(&mut self, i: usize) -> DocumentId {
        let header = Header::desk_day(SCHEME, &self.tablets[i].site, self.tablet_date(i));
        let mut id = signpost_shared::replace::resolve(&self.tablets[i].replaced, header.well_known_id());
        if id != header.well_known_id() {
            // A replaced day: written to once the replacement is here; until then to the
            // well-known id, whose entries are carried over when the tablet follows again.
            if self.tablets[i].peer.doc(&id).is_some_and(|d| schema::read_header(d).is_ok()) {
                return id;
            }
            id = header.well_known_id();
        }
        if self.tablets[i].peer.doc(&id).is_none_or(|d| schema::read_header(d).is_err()) {
            let mut doc = Automerge::new().with_actor(self.tablets[i].actor());
            let mut tx = doc.transaction();
            schema::write_header(&mut tx, &header).unwrap();
            tx.commit();
            let out = if self.tablets[i].peer.doc(&id).is_some() {
                self.tablets[i].peer.change(id, |tx| schema::write_header(tx, &header).unwrap()).unwrap().1
            } else {
                self.tablets[i].peer.insert(id, doc, None)
            };
            self.tablets[i].persist(id);
            self.send(i, out.sends);
        }
        id
    }

    /// Records a local change durably, then sends it (the app's order).
    pub(crate) fn commit(
        &mut self,
        i: usize,
        doc: DocumentId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
    ) {
        let (_, out) = self.tablets[i].peer.change(doc, f).unwrap();
        self.tablets[i].persist(doc);
        self.send(i, out.sends);
    }
}
