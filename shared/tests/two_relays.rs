//! Two relay cores on one store, as several relays share one PostgreSQL database: the second
//! follows what the first stored through `Relay::stored_elsewhere`, as `server::relay::follow`
//! does at the start of each batch.

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, Change, ReadDoc};
use signpost_shared::ids::{DocumentId, PeerId};
use signpost_shared::peer::Peer;
use signpost_shared::relay::{Config, ConnId, Output, Relay};
use signpost_shared::schema;
use signpost_shared::testkit::{date, principal, referral, Net, Store};
use signpost_shared::wire::Message;
use std::collections::{HashMap, VecDeque};

fn frame(from: ConnId, to: &PeerId, doc: DocumentId, changes: &[&Change]) -> Vec<u8> {
    let mut msg =
        sync::Message::decode(&Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode())
            .unwrap();
    msg.heads = vec![changes.last().unwrap().hash()];
    msg.changes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>().into();
    Message::Sync { sender_id: format!("tablet-{from}").as_str().into(), target_id: to.clone(), document_id: doc, data: msg.encode() }
        .encode()
}

fn join(conn: ConnId) -> Vec<u8> {
    Peer::new(format!("tablet-{conn}").as_str().into()).on_open()
}

/// The second relay, driven by hand against the first one's store.
struct Second {
    relay: Relay,
    peers: HashMap<ConnId, Peer>,
    now: u64,
    /// Frames that announced heads the store did not hold when they were sent.
    unstored: Vec<String>,
}

impl Second {
    fn handle(&mut self, store: &mut Store, out: Output, sends: &mut VecDeque<(ConnId, Vec<u8>)>) {
        let mut pending = vec![out];
        while let Some(out) = pending.pop() {
            for w in out.writes {
                store.apply(w);
            }
            for (conn, f) in out.sends {
                if let Ok(Message::Sync { document_id, data, .. }) = Message::decode(&f) {
                    let m = sync::Message::decode(&data).unwrap();
                    let stored = store.docs.get(&document_id).and_then(|d| signpost_shared::chunks::load_stored(&d.chunks).ok());
                    for h in &m.heads {
                        if !stored.as_ref().is_some_and(|s| s.get_change_by_hash(h).is_some()) {
                            self.unstored.push(format!("relay 2 announced {h} of {document_id} to {conn} unstored"));
                        }
                    }
                }
                sends.push_back((conn, f));
            }
            for id in out.load {
                pending.push(self.relay.loaded(id, store.docs.get(&id).cloned(), self.now));
            }
        }
    }

    /// Feeds `out` and every frame it causes between the relay and the peers until quiet.
    fn run(&mut self, store: &mut Store, out: Output) {
        let mut sends = VecDeque::new();
        self.handle(store, out, &mut sends);
        while let Some((conn, f)) = sends.pop_front() {
            let Some(peer) = self.peers.get_mut(&conn) else { continue };
            let replies = peer.receive(&f).expect("relay frames decode").sends;
            for r in replies {
                self.now += 1;
                let out = self.relay.receive(conn, self.now, &r);
                self.handle(store, out, &mut sends);
            }
        }
    }

    fn raw(&mut self, store: &mut Store, conn: ConnId, f: Vec<u8>) {
        self.now += 1;
        let out = self.relay.receive(conn, self.now, &f);
        self.run(store, out);
    }

    fn peer_sends(&mut self, store: &mut Store, conn: ConnId, frames: Vec<Vec<u8>>) {
        for f in frames {
            self.raw(store, conn, f);
        }
    }
}

/// Found by review (promises 2, 6 and the durability invariant), with several relays on one
/// database; fixed: a live copy holding such changes is read again rather than merged into.
/// A faulty tablet of site-a, with one socket on each relay (4 are allowed), sends relay 2 a
/// change `O` of its site's day whose parent `S` it sends only to relay 1. Relay 2 holds `O`
/// as stranded (never stored, as promised). Relay 1 stores `S`; relay 2 merges `S` in
/// `stored_elsewhere` (`load_incremental`), which lets automerge apply the queued `O` too: the
/// live copy now holds a change nobody stored. Relay 2 announces it to site-a's tablets on it
/// (heads that are not durable), and the next honest change, which depends on `O`, is stored
/// without it: site-a's day no longer loads, and being the site's own counted day, it is never
/// given up (`give_up_broken`): every tablet of the site is refused `unreadable` from then on.
#[test]
fn a_change_stranded_on_one_relay_is_never_completed_unstored_by_another_relays_chunk() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    net.join(1, principal("honest-1", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.log(1, d, &referral("r1"));
    let mut two = Second { relay: Relay::new("relay-2".into(), "storage-1".into(), Config::default()), peers: HashMap::new(), now: 1, unstored: vec![] };
    two.relay.set_today(date());
    let r2: PeerId = "relay-2".into();
    // An honest tablet of site-a on relay 2, syncing the day.
    let mut honest = Peer::new("tablet-21".into());
    let hello = honest.on_open();
    two.relay.connect(21, principal("honest-2", "sc", "site-a"));
    two.peers.insert(21, honest);
    two.raw(&mut net.store, 21, hello);
    let find = two.peers.get_mut(&21).unwrap().find(d).sends;
    two.peer_sends(&mut net.store, 21, find);
    assert!(two.peers[&21].is_synced(&d) || two.peers[&21].doc(&d).is_some_and(|x| !x.get_heads().is_empty()));
    // The faulty tablet makes S then O on top of the stored day.
    let mut copy = net.store.load(&d).fork();
    for id in ["s", "o"] {
        let mut tx = copy.transaction();
        schema::write_referral(&mut tx, &referral(id)).unwrap();
        tx.commit();
    }
    let new = copy.get_changes(&net.store.load(&d).get_heads());
    let (s, o) = (new[0].clone(), new[1].clone());
    // O to relay 2: held, never stored.
    two.relay.connect(20, principal("faulty", "sc", "site-a"));
    two.raw(&mut net.store, 20, join(20));
    two.raw(&mut net.store, 20, frame(20, &r2, d, &[&o]));
    assert!(two.relay.stranded_bytes() > 0, "O waits for S on relay 2");
    // S to relay 1: stored there.
    let before = net.store.docs[&d].chunks.len();
    net.join(2, principal("faulty", "sc", "site-a"));
    net.raw(2, frame(2, &net.relay.peer_id().clone(), d, &[&s]));
    let stored_by_one: Vec<Vec<u8>> = net.store.docs[&d].chunks[before..].to_vec();
    assert!(!stored_by_one.is_empty(), "relay 1 stored S");
    // Relay 2's next batch catches up with what relay 1 stored.
    let meta = net.store.docs[&d].meta.clone();
    let out = two.relay.stored_elsewhere(d, Some(&meta), &stored_by_one);
    two.run(&mut net.store, out);
    // The honest tablet on relay 2 logs a referral.
    let (_, out) = two.peers.get_mut(&21).unwrap().change(d, |tx| schema::write_referral(tx, &referral("honest-r2")).unwrap()).unwrap();
    two.peer_sends(&mut net.store, 21, out.sends);
    let loads = signpost_shared::chunks::load_stored(&net.store.docs[&d].chunks);
    // What site-a's first tablet is told after a restart of relay 1.
    net.relay = Relay::new("relay".into(), "storage-1".into(), Config::default());
    net.relay.set_today(date());
    net.reconnect(1, 5, principal("honest-1", "sc", "site-a"));
    net.log(5, d, &referral("after"));
    assert!(
        two.unstored.is_empty() && loads.is_ok(),
        "site-a's day as stored: {:?}; then site-a's tablet is refused: [{}]; O (never stored) is {} in relay 2's \
         announcements: {:?}",
        loads.err(),
        net.refusals(5),
        if two.unstored.is_empty() { "not" } else { "" },
        two.unstored
    );
}
