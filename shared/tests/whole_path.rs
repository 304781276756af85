//! Randomized whole-path schedules, in process: several simulated tablets at several desks, each
//! driven by `shared::peer` and persisting its documents in the tablet format (`shared::local`),
//! run schedules no person would script — log, correct, void, start and end shifts with random
//! values in every field, go offline for random lengths with frames lost in flight, crash and
//! restart from their stored bytes, reconnect, cross midnight — while the relay is killed and
//! restarted and a coordinator edits the directory (server-side edits) at the same time.
//!
//! After each schedule every tablet comes back online and the network settles; then:
//! - every entry any tablet saved is stored on the relay, and an entry only one tablet wrote
//!   holds exactly what it wrote last;
//! - every tablet holds exactly the relay's copy of each document it has;
//! - the statistics facts equal an independent projection of the final stored documents
//!   (nothing missing, nothing counted twice), and the counted referrals equal a recount;
//! - the relay refused nobody.
//!
//! `SIGNPOST_SCHEDULES=N` runs N schedules (default 1,000); `SIGNPOST_SEED=S` runs one. A failure
//! prints its seed.

use automerge::{Automerge, ReadDoc};
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signpost_shared::ids::DocumentId;
use signpost_shared::local::{self, Save, Stored};
use signpost_shared::peer::{Event, Peer};
use signpost_shared::projection::{self, Fact};
use signpost_shared::relay::{Config, ConnId, Output, Principal, Relay};
use signpost_shared::schema::{self, AgencyRef, EntryKey, Header, Referral, Shift, Volunteer};
use signpost_shared::testkit::Store;
use signpost_shared::vocab::{AgeBand, Category, HelpKind, Helped};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

const SCHEME: &str = "scheme-1";

/// What a tablet keeps on the device for one document.
#[derive(Default, Clone)]
struct Disk {
    records: Vec<Vec<u8>>,
    stored: Option<Stored>,
    sync: Option<Vec<u8>>,
}

struct Tablet {
    site: String,
    device: String,
    peer: Peer,
    /// The connection while online.
    conn: Option<ConnId>,
    inbox: VecDeque<Vec<u8>>,
    disk: BTreeMap<DocumentId, Disk>,
    /// A shift running on this tablet: its document and entry.
    shift: Option<(DocumentId, Shift)>,
    /// What the relay said when it refused something (never expected).
    refused: Vec<String>,
    restarts: u32,
}

/// The last value each tablet wrote to an entry, to compare with what the relay stored.
#[derive(Default)]
struct Ledger {
    /// (document, root key) → the tablets that wrote it, and the last referral written.
    entries: BTreeMap<(DocumentId, String), (BTreeSet<usize>, Option<Referral>)>,
}

struct World {
    rng: StdRng,
    relay: Relay,
    store: Store,
    to_relay: VecDeque<(ConnId, Vec<u8>)>,
    tablets: Vec<Tablet>,
    next_conn: ConnId,
    now: u64,
    date: NaiveDate,
    ledger: Ledger,
    directory: DocumentId,
    tickets: u64,
    edits_ok: u32,
    relay_restarts: u32,
    next_id: u64,
}

fn new_relay(n: u32) -> Relay {
    // Small compaction and idle limits so that compaction and eviction happen within a schedule.
    let cfg = Config { compact_after: 6, idle_ms: 40, ..Config::default() };
    Relay::new(format!("relay-{n}").as_str().into(), "storage-1".into(), cfg)
}

impl Tablet {
    fn principal(&self) -> Principal {
        Principal { device: self.device.clone(), scheme: SCHEME.into(), site: self.site.clone() }
    }

    /// Saves what is new in a document on the device, as the app does before it sends.
    fn persist(&mut self, id: DocumentId) {
        let Some(doc) = self.peer.doc(&id) else { return };
        let disk = self.disk.entry(id).or_default();
        let save = local::plan(doc, disk.stored.as_ref());
        match &save {
            Save::Whole(b) => disk.records = vec![b.clone()],
            Save::Append(n, b) => {
                assert_eq!(*n as usize, disk.records.len(), "append numbering");
                disk.records.push(b.clone());
            }
            Save::Nothing => {}
        }
        disk.stored = local::after(doc, disk.stored.as_ref(), &save);
        disk.sync = self.peer.saved_state(&id);
    }
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = Store::default();
        // The scheme's directory, written by an admin command before any tablet exists.
        let dir_header = Header::directory(SCHEME);
        let directory = dir_header.well_known_id();
        let mut doc = Automerge::new();
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
                });
            }
        }
        World {
            rng,
            relay: new_relay(0),
            store,
            to_relay: VecDeque::new(),
            tablets,
            next_conn: 1,
            now: 1_000,
            date: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            ledger: Ledger::default(),
            directory,
            tickets: 0,
            edits_ok: 0,
            relay_restarts: 0,
            next_id: 0,
        }
    }

    /// Carries out the relay's output as the server does: writes first, then sends.
    fn handle(&mut self, out: Output) {
        let mut pending = vec![out];
        while let Some(out) = pending.pop() {
            for w in out.writes {
                self.store.apply(w);
            }
            for (conn, frame) in out.sends {
                self.store.check_announced(&frame);
                if let Some(t) = self.tablets.iter_mut().find(|t| t.conn == Some(conn)) {
                    t.inbox.push_back(frame);
                }
            }
            for (conn, reason) in out.close {
                if let Some(i) = self.tablets.iter().position(|t| t.conn == Some(conn)) {
                    self.tablets[i].refused.push(reason);
                    self.offline(i);
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

    fn send(&mut self, i: usize, frames: Vec<Vec<u8>>) {
        if let Some(c) = self.tablets[i].conn {
            self.to_relay.extend(frames.into_iter().map(|f| (c, f)));
        }
    }

    fn offline(&mut self, i: usize) {
        let t = &mut self.tablets[i];
        if let Some(c) = t.conn.take() {
            t.peer.on_close();
            t.inbox.clear();
            // Frames still in flight are lost with the connection.
            self.to_relay.retain(|(conn, _)| *conn != c);
            self.relay.disconnect(c);
        }
    }

    fn online(&mut self, i: usize) {
        if self.tablets[i].conn.is_some() {
            return;
        }
        let c = self.next_conn;
        self.next_conn += 1;
        let p = self.tablets[i].principal();
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
    fn restart(&mut self, i: usize) {
        self.offline(i);
        let t = &mut self.tablets[i];
        t.restarts += 1;
        let mut peer = Peer::new(format!("{}-{}", t.device, t.restarts).as_str().into());
        for (id, disk) in &mut t.disk {
            let loaded = local::load(&disk.records);
            assert!(loaded.damaged_records.is_empty(), "tablet storage damaged: {:?}", loaded.damaged_records);
            assert_eq!(Some(&loaded.stored), disk.stored.as_ref(), "stored state survives a restart");
            let _ = peer.insert(*id, loaded.doc, disk.sync.as_deref());
        }
        t.peer = peer;
    }

    fn kill_relay(&mut self) {
        for i in 0..self.tablets.len() {
            self.offline(i);
        }
        self.to_relay.clear();
        self.relay_restarts += 1;
        self.relay = new_relay(self.relay_restarts);
    }

    /// Delivers up to `n` frames, picking at random which side moves.
    fn deliver(&mut self, n: usize) {
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
                for e in &out.events {
                    match e {
                        Event::Changed(d) | Event::Synced(d) => {
                            touched.insert(*d);
                        }
                        Event::RelayError(m) => self.tablets[i].refused.push(m.clone()),
                        _ => {}
                    }
                }
                for d in touched {
                    self.tablets[i].persist(d);
                }
                self.send(i, out.sends);
            } else {
                return;
            }
        }
    }

    fn settle(&mut self) {
        for _ in 0..200 {
            if self.to_relay.is_empty() && self.tablets.iter().all(|t| t.inbox.is_empty()) {
                return;
            }
            self.deliver(10_000);
        }
        panic!("the network did not settle");
    }

    fn id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{what}-{}-{}", self.next_id, self.rng.random_range(0..1_000_000u32))
    }

    /// Today's document on the tablet, created as the app creates it.
    fn today(&mut self, i: usize) -> DocumentId {
        let header = Header::desk_day(SCHEME, &self.tablets[i].site, self.date);
        let id = header.well_known_id();
        if self.tablets[i].peer.doc(&id).is_none_or(|d| schema::read_header(d).is_err()) {
            let mut doc = Automerge::new();
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
    fn commit(&mut self, i: usize, doc: DocumentId, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
        let (_, out) = self.tablets[i].peer.change(doc, f).unwrap();
        self.tablets[i].persist(doc);
        self.send(i, out.sends);
    }

    fn text(&mut self, max: usize) -> String {
        const PIECES: &[&str] =
            &["Citizens Advice", "Llŷr's café", "naïve – ünïcode", "😀 food bank", "  padded  ", "Ysbyty Gwynedd", "x"];
        let n = self.rng.random_range(1..=3);
        let s: Vec<&str> = (0..n).map(|_| PIECES[self.rng.random_range(0..PIECES.len())]).collect();
        s.join(" ").chars().take(max).collect::<String>().trim().to_owned()
    }

    fn random_referral(&mut self, id: String) -> Referral {
        let r = &mut self.rng;
        let mut categories = BTreeSet::new();
        while categories.is_empty() || r.random_bool(0.3) {
            categories.insert(Category::ALL[r.random_range(0..Category::ALL.len())]);
        }
        let helped = Helped::ALL[r.random_range(0..Helped::ALL.len())];
        let age_band = r.random_bool(0.5).then(|| AgeBand::ALL[r.random_range(0..AgeBand::ALL.len())]);
        let help = HelpKind::ALL[r.random_range(0..HelpKind::ALL.len())];
        let follow_up = r.random_bool(0.5);
        let volunteer = r.random_bool(0.7).then(|| format!("vol-{}", r.random_range(0..3)));
        let directory_agency = r.random_bool(0.5);
        let with_notes = r.random_bool(0.4);
        let recorded_at_ms = 1_767_139_200_000 + r.random_range(0..86_400_000);
        let agency = if directory_agency {
            AgencyRef::Directory(format!("agency-{}", self.rng.random_range(0..4)))
        } else {
            AgencyRef::Other(self.text(schema::MAX_TEXT_CHARS))
        };
        let notes = with_notes.then(|| self.text(schema::MAX_NOTES_CHARS));
        Referral {
            id,
            recorded_at_ms,
            volunteer,
            helped,
            age_band,
            categories,
            agency,
            help,
            follow_up,
            notes,
            void: None,
        }
    }

    /// One random thing happens.
    fn step(&mut self) {
        let i = self.rng.random_range(0..self.tablets.len());
        match self.rng.random_range(0..100) {
            0..=29 => {
                let doc = self.today(i);
                let id = self.id("r");
                let r = self.random_referral(id);
                self.commit(i, doc, |tx| schema::write_referral(tx, &r).unwrap());
                self.note(i, doc, &r);
            }
            30..=39 => {
                // Correct a referral this tablet holds (any day it has).
                let Some((doc, old)) = self.pick_referral(i) else { return };
                let mut r = self.random_referral(old.id.clone());
                r.recorded_at_ms = old.recorded_at_ms;
                r.volunteer = old.volunteer.clone();
                self.commit(i, doc, |tx| schema::correct_referral(tx, &r).unwrap());
                let r = schema::read_referral(self.tablets[i].peer.doc(&doc).unwrap(), &r.id).unwrap().unwrap();
                self.note(i, doc, &r);
            }
            40..=43 => {
                let Some((doc, old)) = self.pick_referral(i) else { return };
                let reason = self.text(schema::MAX_TEXT_CHARS);
                let at = self.now as i64;
                self.commit(i, doc, |tx| schema::void_referral(tx, &old.id, &reason, at).unwrap());
                let r = schema::read_referral(self.tablets[i].peer.doc(&doc).unwrap(), &old.id).unwrap().unwrap();
                self.note(i, doc, &r);
            }
            44..=49 => match self.tablets[i].shift.take() {
                None => {
                    let doc = self.today(i);
                    let s = Shift {
                        id: self.id("s"),
                        volunteer: format!("vol-{}", self.rng.random_range(0..3)),
                        start_ms: 1_767_139_200_000 + self.now as i64,
                        end_ms: None,
                    };
                    self.commit(i, doc, |tx| schema::write_shift(tx, &s).unwrap());
                    self.note_key(i, doc, EntryKey::Shift(s.id.clone()));
                    self.tablets[i].shift = Some((doc, s));
                }
                Some((doc, mut s)) => {
                    // Ends in the document where it started, even past midnight.
                    s.end_ms = Some(s.start_ms + self.rng.random_range(-60_000..20 * 3_600_000));
                    self.commit(i, doc, |tx| schema::write_shift(tx, &s).unwrap());
                }
            },
            50..=61 => self.offline(i),
            62..=75 => self.online(i),
            76..=79 => self.restart(i),
            80 => self.kill_relay(),
            81 => self.date = self.date.succ_opt().unwrap(),
            82..=84 => {
                // A coordinator edits the roster (a server-side edit through the relay).
                self.tickets += 1;
                let vol = Volunteer {
                    id: format!("vol-{}", self.tickets + 10),
                    name: self.text(60),
                    active: true,
                    pin: None,
                };
                let out = self.relay.edit(
                    self.directory,
                    self.tickets,
                    Box::new(move |tx| schema::write_volunteer(tx, &vol).map_err(|e| e.to_string())),
                    self.now,
                );
                self.handle(out);
            }
            85..=87 => {
                self.now += 50;
                let out = self.relay.tick(self.now);
                self.handle(out);
            }
            _ => {
                let n = self.rng.random_range(1..40);
                self.deliver(n);
            }
        }
    }

    fn pick_referral(&mut self, i: usize) -> Option<(DocumentId, Referral)> {
        let peer = &self.tablets[i].peer;
        let mut all = Vec::new();
        for doc in self.tablets[i].disk.keys() {
            let Some(d) = peer.doc(doc) else { continue };
            for k in schema::entry_keys(d) {
                if let EntryKey::Referral(id) = k {
                    if let Ok(Some(r)) = schema::read_referral(d, &id) {
                        if r.void.is_none() {
                            all.push((*doc, r));
                        }
                    }
                }
            }
        }
        if all.is_empty() {
            return None;
        }
        let k = self.rng.random_range(0..all.len());
        Some(all.swap_remove(k))
    }

    fn note(&mut self, i: usize, doc: DocumentId, r: &Referral) {
        let e = self.ledger.entries.entry((doc, EntryKey::Referral(r.id.clone()).root_key())).or_default();
        e.0.insert(i);
        e.1 = Some(r.clone());
    }

    fn note_key(&mut self, i: usize, doc: DocumentId, key: EntryKey) {
        self.ledger.entries.entry((doc, key.root_key())).or_default().0.insert(i);
    }

    /// Everyone back online until nothing moves; then the invariants.
    fn heal_and_check(&mut self) -> Result<(), String> {
        for _ in 0..3 {
            for i in 0..self.tablets.len() {
                self.online(i);
            }
            self.settle();
        }
        for (i, t) in self.tablets.iter().enumerate() {
            if !t.refused.is_empty() {
                return Err(format!("tablet {i} was refused: {:?}", t.refused));
            }
        }
        // Every entry any tablet saved is stored, and a single writer's last value is what is
        // stored.
        let stored: BTreeMap<DocumentId, Automerge> =
            self.store.docs.keys().map(|id| (*id, self.store.load(id))).collect();
        for ((doc, key), (writers, last)) in &self.ledger.entries {
            let Some(d) = stored.get(doc) else { return Err(format!("document {doc} never stored")) };
            if d.get(automerge::ROOT, key.as_str()).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("{key} in {doc} (written by tablets {writers:?}) is not on the relay"));
            }
            if let (1, Some(r)) = (writers.len(), last) {
                let got = schema::read_referral(d, &r.id).map_err(|e| e.to_string())?;
                if got.as_ref() != Some(r) {
                    return Err(format!("{key}: stored {got:?}, the only writer wrote {r:?}"));
                }
            }
        }
        // Every tablet holds the relay's copy of every document it has, and knows it is synced.
        for (i, t) in self.tablets.iter().enumerate() {
            for doc in t.disk.keys() {
                let mine = t.peer.doc(doc).map(|d| d.get_heads()).unwrap_or_default();
                let relay = stored.get(doc).map(|d| d.get_heads()).unwrap_or_default();
                if mine != relay {
                    return Err(format!("tablet {i} and the relay differ on {doc}"));
                }
                if !t.peer.is_synced(doc) {
                    return Err(format!("tablet {i} does not know {doc} is synced"));
                }
            }
        }
        // The statistics equal an independent projection of the final documents.
        let mut expect: BTreeMap<(DocumentId, String), Fact> = BTreeMap::new();
        let mut recount = 0;
        for (id, doc) in &self.store.docs {
            let signpost_shared::relay::Meta::Doc(h) = &doc.meta else { continue };
            let d = &stored[id];
            if let Some(p) = projection::project_all(d, h) {
                for f in p.facts {
                    let key = match &f {
                        Fact::Referral(r) => EntryKey::Referral(r.id.clone()),
                        Fact::Shift(s) => EntryKey::Shift(s.id.clone()),
                        Fact::Invalid { key, .. } | Fact::Removed(key) => key.clone(),
                    };
                    if !matches!(f, Fact::Removed(_)) {
                        expect.insert((*id, key.root_key()), f);
                    }
                }
            }
            recount += schema::entry_keys(d)
                .into_iter()
                .filter(|k| match k {
                    EntryKey::Referral(r) => {
                        schema::read_referral(d, r).ok().flatten().is_some_and(|r| r.void.is_none())
                    }
                    EntryKey::Shift(_) => false,
                })
                .count();
        }
        if expect != self.store.facts {
            let missing: Vec<_> = expect.keys().filter(|k| !self.store.facts.contains_key(k)).collect();
            let extra: Vec<_> = self.store.facts.keys().filter(|k| !expect.contains_key(k)).collect();
            let differ: Vec<_> = expect
                .iter()
                .filter(|(k, v)| self.store.facts.get(k).is_some_and(|f| f != *v))
                .map(|(k, _)| k)
                .collect();
            return Err(format!("facts differ: missing {missing:?}, extra {extra:?}, different {differ:?}"));
        }
        if self.store.counted_referrals() != recount {
            return Err(format!("counted {} referrals, the documents hold {recount}", self.store.counted_referrals()));
        }
        if self.store.facts.values().any(|f| matches!(f, Fact::Invalid { .. })) {
            return Err("an entry a tablet wrote was projected as invalid".into());
        }
        Ok(())
    }
}

/// Runs one schedule; `Err` says what broke.
fn run(seed: u64) -> Result<String, String> {
    let mut w = World::new(seed);
    let steps = w.rng.random_range(20..120);
    for _ in 0..steps {
        w.step();
    }
    w.heal_and_check()?;
    Ok(format!(
        "{} tablets, {} entries, {} relay restarts, {} tablet restarts, {} edits",
        w.tablets.len(),
        w.ledger.entries.len(),
        w.relay_restarts,
        w.tablets.iter().map(|t| t.restarts).sum::<u32>(),
        w.edits_ok
    ))
}

#[test]
fn random_schedules_lose_nothing_count_once_and_converge() {
    let seeds: Vec<u64> = match std::env::var("SIGNPOST_SEED") {
        Ok(s) => vec![s.parse().expect("SIGNPOST_SEED is a number")],
        Err(_) => {
            let n = std::env::var("SIGNPOST_SCHEDULES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000);
            (0..n).collect()
        }
    };
    let (mut entries, mut relay_restarts) = (0, 0);
    for seed in &seeds {
        let outcome = std::panic::catch_unwind(|| run(*seed));
        match outcome {
            Ok(Ok(summary)) => {
                if seeds.len() == 1 {
                    println!("seed {seed}: {summary}");
                }
                let n: Vec<usize> = summary.split(' ').filter_map(|w| w.parse().ok()).collect();
                entries += n[1];
                relay_restarts += n[2];
            }
            Ok(Err(e)) => panic!("schedule failed: {e}\n  re-run alone: SIGNPOST_SEED={seed} cargo test -p signpost-shared --test whole_path"),
            Err(_) => panic!("schedule panicked\n  re-run alone: SIGNPOST_SEED={seed} cargo test -p signpost-shared --test whole_path"),
        }
    }
    println!("{} schedules passed: {entries} entries, {relay_restarts} relay restarts", seeds.len());
}
