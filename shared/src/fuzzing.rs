//! Fuzz targets: what hostile bytes can reach, driven from arbitrary input.
//!
//! Each target is a plain function of a byte slice that panics when an invariant breaks. The
//! coverage-guided runs (`fuzz/`, cargo-fuzz on nightly) call them, and so does a short run in
//! the normal test suite on stable (`shared/tests/fuzz_short.rs`), over the saved corpus and
//! seeded mutations of it. They live here, beside the code they attack, so both see the same
//! targets.
//!
//! - [`wire`]: the automerge-repo message decoder and the chunk weigher, which read every byte
//!   a device sends before anything else does.
//! - [`relay`]: the relay's state machine fed a sequence of connections of four principals (two
//!   tablets of one site, one of another site, one of another scheme), frames (raw, real sync
//!   messages with bytes flipped, changes whose parent never comes), ticks, day changes and
//!   disconnects. On every delivery no connection may be sent what its credential may not read,
//!   and every document a write touched must load; afterwards storage must hold only checked
//!   content within every bound.

use crate::chunks::{self, Limits};
use crate::ids::{DocumentId, PeerId};
use crate::relay::{Config, ConnId, Meta, Output, Principal, Relay};
use crate::schema::{self, Header};
use crate::testkit::Store;
use crate::wire::Message;
use automerge::sync::{self, SyncDoc};
use automerge::Automerge;
use chrono::NaiveDate;
use std::sync::OnceLock;

/// The decoder never panics; whatever it accepts encodes and decodes back to itself; the chunk
/// weigher never panics and keeps to its limits.
pub fn wire(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("an encoded message decodes");
        assert_eq!(again, m, "decode(encode(m)) == m");
    }
    let limits = Limits { bytes: 1 << 20, ops: 10_000 };
    if let Ok(w) = chunks::weigh(data, limits) {
        assert!(w.bytes <= limits.bytes && w.ops <= limits.ops, "weighed within its limits: {w:?}");
    }
    let _ = chunks::carried_changes(data);
    let _ = chunks::check_framing(data);
}

/// Reads the fuzzer's bytes as a schedule; runs out as zeroes.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const TODAY: (i32, u32, u32) = (2026, 12, 2);

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("a date")
}

/// Two tablets of one site, one of another site of the scheme, one of another scheme.
const PRINCIPALS: [(&str, &str, &str); 4] =
    [("t1", "sc", "site-a"), ("t2", "sc", "site-a"), ("t3", "sc", "site-b"), ("t4", "other", "site-x")];

fn doc_ids() -> [DocumentId; 7] {
    [
        schema::desk_day_id("site-a", today()),
        schema::desk_day_id("site-b", today()),
        schema::directory_id("sc"),
        schema::desk_day_id("site-a", NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date")),
        DocumentId::random([9; 16]),
        schema::desk_day_id("site-a", today() + chrono::Duration::days(1)),
        schema::desk_day_id("site-x", today()),
    ]
}

/// Changes whose parent is never sent: the first of a chain with the third, or the third alone.
fn orphans() -> &'static [Vec<u8>] {
    static ORPHANS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    ORPHANS.get_or_init(|| {
        use automerge::transaction::Transactable;
        let mut doc = Automerge::new();
        for k in ["a", "b", "c"] {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, k, "x".repeat(300)).expect("put");
            tx.commit();
        }
        let c = doc.get_changes(&[]);
        let (first, third) = (c[0].raw_bytes().to_vec(), c[2].raw_bytes().to_vec());
        let message = |changes: Vec<Vec<u8>>, heads| {
            let mut m = sync::Message::decode(
                &Automerge::new().generate_sync_message(&mut sync::State::new()).expect("first").encode(),
            )
            .expect("decodes");
            m.heads = heads;
            m.changes = changes.into();
            m.encode()
        };
        vec![message(vec![first, third.clone()], vec![c[2].hash()]), message(vec![third], vec![c[2].hash()])]
    })
}

/// Real sync messages carrying changes, for the fuzzer to send whole or with bytes flipped: a
/// desk day with a referral for each site, a header-less draft, and the scheme's directory.
fn samples() -> &'static [Vec<u8>] {
    static SAMPLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let mut out = Vec::new();
        let headers = [
            Some(Header::desk_day("sc", "site-a", today())),
            Some(Header::desk_day("sc", "site-b", today())),
            None,
            Some(Header::directory("sc")),
        ];
        for h in headers {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            match &h {
                Some(h) => schema::write_header(&mut tx, h).expect("header"),
                None => {
                    use automerge::transaction::Transactable;
                    tx.put(automerge::ROOT, "note", "draft").expect("put");
                }
            }
            tx.commit();
            let mut tx = doc.transaction();
            {
                use automerge::transaction::Transactable;
                let r = tx.put_object(automerge::ROOT, "referral:r1", automerge::ObjType::Map).expect("put");
                tx.put(&r, "helped", "defendant").expect("put");
            }
            tx.commit();
            out.push(with_changes(&doc));
        }
        out
    })
}

/// The sync message a peer holding `doc` sends once the relay has said it has nothing.
fn with_changes(doc: &Automerge) -> Vec<u8> {
    let (mut ours, mut theirs) = (sync::State::new(), sync::State::new());
    let empty = Automerge::new();
    let first = doc.generate_sync_message(&mut ours).expect("a first message");
    let mut other = empty.clone();
    other.receive_sync_message(&mut theirs, first).expect("received");
    let reply = other.generate_sync_message(&mut theirs).expect("a reply");
    let mut doc = doc.clone();
    doc.receive_sync_message(&mut ours, reply).expect("received");
    doc.generate_sync_message(&mut ours).expect("changes").encode()
}

fn join(conn: ConnId) -> Vec<u8> {
    Message::Join {
        sender_id: PeerId::from(format!("peer-{conn}").as_str()),
        supported_protocol_versions: vec!["1".into()],
        metadata: None,
    }
    .encode()
}

fn envelope(conn: ConnId, doc: DocumentId, request: bool, data: Vec<u8>) -> Vec<u8> {
    let (sender_id, target_id) = (PeerId::from(format!("peer-{conn}").as_str()), PeerId::from("relay"));
    let m = if request {
        Message::Request { sender_id, target_id, document_id: doc, data }
    } else {
        Message::Sync { sender_id, target_id, document_id: doc, data }
    };
    m.encode()
}

/// A small configuration, so the fuzzer reaches every bound quickly.
pub fn relay_config() -> Config {
    Config {
        max_message_bytes: 64 << 10,
        idle_ms: 50,
        compact_after: 4,
        max_draft_bytes: 4 << 10,
        max_document: Limits { bytes: 256 << 10, ops: 20_000 },
        days_back: 30,
        days_ahead: 2,
        device_allowance: crate::quota::Allowance { bytes: 64 << 10, documents: 4 },
        stranded_ms: 100,
        max_stranded_bytes: 32 << 10,
        max_stranded_total: 64 << 10,
        max_live_bytes: 1 << 20,
        max_entries_per_day: 8,
        max_shifts_per_volunteer: 2,
        // A short span beyond the window: the fuzzer meets few ids, and works one out often.
        own_days_from: today() - chrono::Duration::days(60),
        own_days_ahead: 40,
    }
}

/// Drives the relay through the schedule the bytes spell, answering loads from an in-memory
/// store, then checks what was stored.
pub fn relay(data: &[u8]) {
    let cfg = relay_config();
    let store = schedule(data, &cfg);
    check_stored(&store, &cfg);
}

fn schedule(data: &[u8], cfg: &Config) -> Store {
    let mut relay = Relay::new(PeerId::from("relay"), "storage".into(), cfg.clone());
    relay.set_today(today());
    let mut store = Store::default();
    let ids = doc_ids();
    let mut input = Input(data);
    let mut now = 0u64;
    let mut steps = 0;
    // Who each connection is, as it was connected: what it may be sent is judged by this.
    let mut principals: std::collections::HashMap<ConnId, Principal> = Default::default();
    while !input.is_empty() && steps < 64 {
        steps += 1;
        let op = input.byte();
        let conn = ConnId::from(input.byte() % 4);
        now += 1;
        let out = match op % 9 {
            0 => {
                let (device, scheme, site) = PRINCIPALS[usize::from(input.byte()) % PRINCIPALS.len()];
                let p = Principal { device: device.into(), scheme: scheme.into(), site: site.into() };
                principals.insert(conn, p.clone());
                relay.connect(conn, p);
                Output::default()
            }
            1 => relay.receive(conn, now, &join(conn)),
            2 => {
                let n = usize::from(input.u16()) % 4096;
                let frame = input.bytes(n).to_vec();
                relay.receive(conn, now, &frame)
            }
            3 | 4 => {
                let doc = ids[usize::from(input.byte()) % ids.len()];
                let request = input.byte() % 2 == 0;
                // op 12, 30, 48…: changes whose parent never comes.
                let data = if op % 9 == 3 && (op / 9) % 2 == 1 {
                    orphans()[usize::from(input.byte()) % orphans().len()].clone()
                } else if op % 9 == 3 {
                    let n = usize::from(input.u16()) % 2048;
                    input.bytes(n).to_vec()
                } else {
                    let mut m = samples()[usize::from(input.byte()) % samples().len()].clone();
                    for _ in 0..input.byte() % 4 {
                        let at = usize::from(input.u16()) % m.len();
                        m[at] ^= input.byte();
                    }
                    m
                };
                relay.receive(conn, now, &envelope(conn, doc, request, data))
            }
            5 => {
                now += u64::from(input.byte()) * 10;
                relay.tick(now)
            }
            6 => {
                relay.disconnect(conn);
                Output::default()
            }
            7 => {
                relay.set_today(today() + chrono::Duration::days(i64::from(input.byte() % 3)));
                Output::default()
            }
            _ => relay.refuse(conn, "the transport closed it"),
        };
        carry_out(&mut relay, &mut store, &principals, out, now);
    }
    store
}

/// Carries out an output as the driver does (writes, then sends), checking that every document a
/// write touched loads and that every frame goes only to a connection that may read what it
/// carries.
fn carry_out(
    relay: &mut Relay,
    store: &mut Store,
    principals: &std::collections::HashMap<ConnId, Principal>,
    out: Output,
    now: u64,
) {
    let mut pending = vec![out];
    while let Some(out) = pending.pop() {
        let touched: Vec<DocumentId> = out.writes.iter().map(|w| *w.doc()).collect();
        for w in out.writes {
            store.apply(w);
        }
        for doc in touched {
            if let Some(d) = store.docs.get(&doc).filter(|d| !d.chunks.is_empty()) {
                if let Err(e) = chunks::load_stored(&d.chunks) {
                    panic!("{doc} was written and does not load: {e}");
                }
            }
        }
        for (conn, frame) in &out.sends {
            Message::decode(frame).expect("the relay sends messages that decode");
            // Only what is stored, and only to whoever may read it.
            store.check_announced(frame);
            if let Some(p) = principals.get(conn) {
                store.check_egress(p, frame);
            }
        }
        for id in out.load {
            let stored = store.docs.get(&id).cloned();
            pending.push(relay.loaded(id, stored, now));
        }
    }
}

/// Storage holds only checked content: every document loads, a Signpost document carries the
/// header it is stored under at an id that header may use, a draft stays within its cap, and
/// no device stored more than its allowance.
fn check_stored(store: &Store, cfg: &Config) {
    for (id, stored) in &store.docs {
        let mut weight = chunks::Weight::default();
        for c in &stored.chunks {
            weight += chunks::weigh(c, cfg.max_document).expect("stored chunks weigh within the limit");
        }
        assert!(weight.bytes <= cfg.max_document.bytes, "{id}: {weight:?}");
        if matches!(stored.meta, Meta::Retired { .. }) {
            assert!(stored.chunks.is_empty(), "{id}: nothing of a retired document");
            continue;
        }
        let doc = chunks::load_stored(&stored.chunks).unwrap_or_else(|e| panic!("{id}: stored chunks load: {e}"));
        match &stored.meta {
            Meta::SetAside(h) => {
                assert_eq!(schema::read_header(&doc).as_ref(), Ok(h), "{id}: stored under its own header");
                assert!(store.set_aside.contains_key(id), "{id}: set aside with who and when");
            }
            Meta::Doc(h) => {
                assert_eq!(schema::read_header(&doc).as_ref(), Ok(h), "{id}: stored under its own header");
                if let Some(date) = h.date {
                    let days = (date - today()).num_days();
                    assert!(days.abs() <= cfg.days_back + cfg.days_ahead, "{id}: a day in the window");
                }
            }
            Meta::Draft { .. } => {
                assert!(weight.bytes <= cfg.max_draft_bytes as u64, "{id}: a draft within its cap");
            }
            Meta::Retired { .. } => assert!(stored.chunks.is_empty(), "{id}: nothing of a retired document"),
        }
    }
    for ((device, _), usage) in &store.usage {
        let allow = cfg.device_allowance;
        assert!(usage.bytes <= allow.bytes && usage.documents <= allow.documents, "{device}: {usage:?}");
    }
}

/// Inputs to start each target from: for [`wire`], messages of every type and the sample sync
/// messages; for [`relay`], schedules in which tablets join and sync their days, a draft, the
/// directory and another site's day, with ticks, a new day and reconnects between.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "wire" => {
            let doc = doc_ids()[0];
            let mut out = vec![join(1), envelope(1, doc, true, samples()[0].clone())];
            out.push(
                Message::Ephemeral {
                    sender_id: PeerId::from("peer-1"),
                    target_id: PeerId::from("relay"),
                    document_id: doc,
                    count: 1,
                    session_id: "s".into(),
                    data: vec![1, 2, 3],
                }
                .encode(),
            );
            out.push(Message::Leave { sender_id: PeerId::from("peer-1") }.encode());
            out.extend(samples().iter().cloned());
            out
        }
        "relay" => {
            // op, conn, then the op's own bytes (see `relay`).
            let sync = |conn: u8, doc: u8, sample: u8| vec![4, conn, doc, 1, sample, 0];
            let mut a = vec![0, 0, 0, 1, 0];
            a.extend(sync(0, 0, 0));
            a.extend([0, 1, 2, 1, 1]);
            a.extend(sync(1, 1, 1));
            a.extend(sync(1, 0, 1));
            a.extend([5, 0, 9, 6, 0, 0, 0, 0, 1, 0]);
            a.extend(sync(0, 0, 0));
            let mut b = vec![0, 2, 1, 1, 2];
            b.extend(sync(2, 4, 2));
            b.extend([7, 0, 1]);
            b.extend(sync(2, 0, 0));
            b.extend(sync(2, 2, 3));
            b.extend([0, 2, 1, 1, 2]);
            b.extend(sync(2, 3, 0));
            b.extend([0, 2, 1, 1, 2]);
            b.extend([3, 2, 0, 0, 8, 0, 0x42, 1, 2, 3, 4, 5, 6, 7, 8]);
            b.extend([2, 2, 4, 0, 0xa1, 0x64, 0x74, 0x79]);
            vec![a, b]
        }
        other => panic!("no fuzz target {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds get past the handshake and the checks: the fuzzer starts from stored documents,
    /// not from refusals.
    #[test]
    fn the_relay_seeds_store_documents() {
        let cfg = relay_config();
        let schedules = seeds("relay");
        let a = schedule(&schedules[0], &cfg);
        let headed = a.docs.values().filter(|d| matches!(d.meta, Meta::Doc(_))).count();
        assert_eq!(headed, 2, "site A's and site B's days");
        let b = schedule(&schedules[1], &cfg);
        assert!(b.docs.values().any(|d| matches!(d.meta, Meta::Draft { .. })), "the draft");
        assert!(b.docs.contains_key(&doc_ids()[0]), "site A's day");
        assert!(!b.docs.contains_key(&doc_ids()[2]), "the directory is not a tablet's to create");
        for s in &schedules {
            relay(s);
        }
        for s in seeds("wire") {
            wire(&s);
        }
    }
}
