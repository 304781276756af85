//! Multi-peer behaviour of the relay and peer cores, in process: no sockets, clocks or disk.
//! The [`Net`] harness plays the driver's part, including the durability rule, and checks on every
//! delivery that the relay announces only heads that the store already holds.

use automerge::sync::{self, SyncDoc};
use automerge::Automerge;
use chrono::NaiveDate;
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::{Event, Peer};
use signpost_shared::projection::Fact;
use signpost_shared::relay::{Config, ConnId, Meta};
use signpost_shared::schema::{self, Header};
use signpost_shared::testkit::{date, principal, Device, Net};
use signpost_shared::vocab::{Category, HelpKind};
use signpost_shared::wire::Message;

/// A valid referral with the given id, logged at noon of the tests' day (an entry's time must
/// fall within a day of its day to be counted).
fn referral(id: &str) -> schema::Referral {
    let noon = date().and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp_millis();
    schema::Referral { recorded_at_ms: noon, ..signpost_shared::testkit::referral(id) }
}

fn entries(doc: &Automerge) -> Vec<String> {
    schema::entry_keys(doc).into_iter().map(|k| k.root_key()).collect()
}

#[test]
fn tablets_at_one_desk_converge_and_every_referral_is_counted_once() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d1 = net.open_day(1, "sc", "site-a", date());
    let d2 = net.open_day(2, "sc", "site-a", date());
    assert_eq!(d1, d2, "both tablets derive the same day document");
    net.log(1, d1, &referral("r1"));
    net.log(2, d1, &referral("r2"));
    net.log(1, d1, &referral("r3"));
    let a = entries(net.peer(1).doc(&d1).unwrap());
    assert_eq!(a.len(), 3);
    assert_eq!(a, entries(net.peer(2).doc(&d1).unwrap()));
    assert!(net.peer(1).is_synced(&d1) && net.peer(2).is_synced(&d1));
    assert_eq!(entries(&net.store.load(&d1)), a, "the relay stored what it synced");
    assert_eq!(net.store.counted_referrals(), 3);
}

#[test]
fn offline_edits_of_one_entry_merge_after_reconnect() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.open_day(2, "sc", "site-a", date());
    net.log(1, d, &referral("r1"));
    // Both go offline and correct different fields of the same entry.
    for c in [1, 2] {
        net.device(c).peer.on_close();
        net.relay.disconnect(c);
    }
    let mut r = referral("r1");
    r.help = HelpKind::Referred;
    net.device(1).peer.change(d, |tx| schema::correct_referral(tx, &r).unwrap()).unwrap();
    let mut r = referral("r1");
    r.follow_up = true;
    net.device(2).peer.change(d, |tx| schema::correct_referral(tx, &r).unwrap()).unwrap();
    for (c, old) in [(11, 1), (12, 2)] {
        let mut dv = net.devices.remove(&old).unwrap();
        net.relay.connect(c, principal("t", "sc", "site-a"));
        let join = dv.peer.on_open();
        net.devices.insert(c, dv);
        net.raw(c, join);
    }
    for c in [11, 12] {
        let merged = schema::read_referral(net.peer(c).doc(&d).unwrap(), "r1").unwrap().unwrap();
        assert_eq!((merged.help, merged.follow_up), (HelpKind::Referred, true), "tablet {c}");
    }
    match net.store.fact(d, "referral:r1").expect("projected") {
        Fact::Referral(f) => assert!(f.help == HelpKind::Referred && f.follow_up),
        other => panic!("{other:?}"),
    }
}

/// A tablet that synced some entries and then logged several with no connection sends them all
/// on reconnecting. automerge packs several changes into one chunk of a sync message; the relay
/// once refused such chunks, locking the tablet out of its day.
#[test]
fn entries_logged_offline_after_a_sync_are_accepted_on_reconnect() {
    for synced in [1usize, 2, 3, 6, 10, 20] {
        for offline in 1usize..=8 {
            let mut net = Net::new(Config::default());
            let p = principal("t1", "sc", "site-a");
            net.join(1, p.clone());
            let d = net.open_day(1, "sc", "site-a", date());
            for i in 0..synced {
                net.log(1, d, &referral(&format!("on-{i}")));
            }
            assert!(net.peer(1).is_synced(&d));
            net.go_offline(1);
            for i in 0..offline {
                let mut r = referral(&format!("off-{i}"));
                r.follow_up = true;
                net.device(1).peer.change(d, |tx| schema::write_referral(tx, &r).unwrap()).unwrap();
            }
            net.reconnect(1, 2, p);
            let case = format!("{synced} synced, then {offline} offline");
            assert!(net.devices[&2].closed.is_none(), "{case}: refused: {}", net.closed(2));
            assert!(net.peer(2).is_synced(&d), "{case}: not synced");
            assert_eq!(net.store.counted_referrals(), synced + offline, "{case}");
            assert_eq!(entries(&net.store.load(&d)).len(), synced + offline, "{case}");
        }
    }
}

#[test]
fn another_sites_document_is_unavailable_and_never_sent() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-b"));
    net.join(3, principal("t3", "other-scheme", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.log(1, d, &referral("r1"));
    for c in [2, 3] {
        net.find(c, d);
        assert!(net.told_unavailable(c, d));
        assert!(net.peer(c).doc(&d).unwrap().get_heads().is_empty(), "no content reached device {c}");
    }
    // The same site's second tablet gets it.
    net.join(4, principal("t4", "sc", "site-a"));
    net.find(4, d);
    assert_eq!(entries(net.peer(4).doc(&d).unwrap()).len(), 1);
}

#[test]
fn a_document_claiming_another_site_is_refused_and_nothing_is_stored() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(2, "sc", "site-a", date());
    let before = net.store.writes;
    let forged = net.open_day(1, "sc", "site-b", date());
    assert!(net.refusals(1).contains("another site"), "{}", net.refusals(1));
    assert_eq!(net.refused(1, forged).map(|r| r.code), Some("not-yours".into()));
    assert!(net.devices[&1].closed.is_none(), "only the document is refused: {}", net.closed(1));
    assert!(!net.store.docs.contains_key(&forged));
    assert_eq!(net.store.writes, before);
    // Everyone else keeps syncing.
    net.log(2, d, &referral("ok"));
    assert!(net.peer(2).is_synced(&d));
}

#[test]
fn changing_a_documents_header_is_refused_and_rolled_back() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.open_day(2, "sc", "site-a", date());
    net.log(1, d, &referral("r1"));
    let stored_before = net.store.load(&d).get_heads();
    net.change(1, d, |tx| {
        use automerge::transaction::Transactable;
        tx.put(automerge::ROOT, "site", "site-b").unwrap();
    });
    assert!(net.refusals(1).contains("never change"), "{}", net.refusals(1));
    assert!(net.devices[&1].closed.is_none(), "only the document is refused");
    assert_eq!(net.store.load(&d).get_heads(), stored_before);
    // The relay's live copy was rolled back: the other tablet still syncs normally.
    net.log(2, d, &referral("r2"));
    let theirs = net.peer(2).doc(&d).unwrap();
    assert_eq!(schema::read_header(theirs).unwrap().site.as_deref(), Some("site-a"));
    assert!(net.peer(2).is_synced(&d));
}

#[test]
fn bad_frames_close_only_the_offending_connection() {
    let mut net = Net::new(Config { max_message_bytes: 4096, ..Config::default() });
    net.join(9, principal("good", "sc", "site-a"));
    let d = net.open_day(9, "sc", "site-a", date());
    let relay_id = net.relay.peer_id().clone();
    let unknown_type = {
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(2).unwrap().str("type").unwrap().str("warp").unwrap().str("senderId").unwrap().str("x").unwrap();
        e.into_writer()
    };
    type Frame = Box<dyn Fn(ConnId) -> Vec<u8>>;
    // (what the reason says, whether the connection closes or only the document is refused)
    let cases: Vec<(&str, bool, Frame)> = vec![
        ("exceeds the limit", true, Box::new(|_| vec![0u8; 5000])),
        ("malformed", true, Box::new(|_| vec![0xff, 0x00, 0x13])),
        ("unknown message type", true, Box::new(move |_| unknown_type.clone())),
        (
            "invalid automerge sync message",
            false,
            Box::new(move |c| {
                Message::Sync {
                    sender_id: format!("tablet-{c}").as_str().into(),
                    target_id: relay_id.clone(),
                    document_id: d,
                    data: vec![0x42, 1, 2, 3],
                }
                .encode()
            }),
        ),
    ];
    for (i, (expect, closes, frame)) in cases.iter().enumerate() {
        let conn = 100 + i as ConnId;
        net.join(conn, principal("bad", "sc", "site-a"));
        let before = net.store.writes;
        net.raw(conn, frame(conn));
        assert!(net.refusals(conn).contains(expect), "case {expect}: {:?}", net.refusals(conn));
        assert_eq!(net.devices[&conn].closed.is_some(), *closes, "case {expect}: {}", net.refusals(conn));
        assert_eq!(net.store.writes, before, "case {expect} stored something");
    }
    net.log(9, d, &referral("still-fine"));
    assert!(net.peer(9).is_synced(&d));
    assert!(net.devices[&9].closed.is_none());
}

#[test]
fn garbage_changes_inside_a_valid_sync_message_are_refused() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    let heads = net.store.load(&d).get_heads();
    let frame = frame_with(&net, "tablet-1", d, vec![vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 5]]);
    net.raw(1, frame);
    assert!(net.refusals(1).contains("could not be applied"), "{}", net.refusals(1));
    assert!(net.devices[&1].closed.is_none());
    assert_eq!(net.store.load(&d).get_heads(), heads);
}

#[test]
fn read_only_directory_is_readable_but_not_writable() {
    let mut net = Net::new(Config::default());
    // The directory is written on the server side (by a coordinator).
    let cab = schema::Agency {
        id: "cab".into(),
        name: "Citizens Advice".into(),
        phone: None,
        website: None,
        categories: [Category::DebtBenefitsFinance].into(),
        sites: Default::default(),
        retired: false,
    };
    let seeded = cab.clone();
    let id = net.seed(Header::directory("sc"), move |tx| schema::write_agency(tx, &seeded).unwrap());
    net.join(1, principal("t1", "sc", "site-a"));
    net.find(1, id);
    assert_eq!(schema::read_agencies(net.peer(1).doc(&id).unwrap()), vec![cab.clone()]);
    let heads = net.store.load(&id).get_heads();
    net.change(1, id, |tx| {
        let mine = schema::Agency {
            id: "x".into(),
            name: "Mine".into(),
            phone: None,
            website: None,
            categories: Default::default(),
            sites: Default::default(),
            retired: false,
        };
        schema::write_agency(tx, &mine).unwrap();
    });
    assert_eq!(net.store.load(&id).get_heads(), heads, "nothing of a reader's change is stored");
    assert!(net.devices[&1].closed.is_none() && net.refused(1, id).is_none(), "ignored, not refused");
    // It goes on receiving the directory's changes.
    let later = schema::Agency { id: "later".into(), name: "Later".into(), ..cab.clone() };
    let out = net.relay.edit(id, 1, Box::new(move |tx| schema::write_agency(tx, &later).map_err(|e| e.to_string())), net.now);
    net.handle(out);
    net.run();
    let agencies = schema::read_agencies(net.peer(1).doc(&id).unwrap());
    assert!(agencies.iter().any(|a| a.id == "later"), "{agencies:?}");
    assert_eq!(schema::read_agencies(&net.store.load(&id)).len(), 2, "cab and later; not the reader's");
    // Another scheme's device cannot even see it.
    net.join(2, principal("t2", "other", "site-z"));
    net.find(2, id);
    assert!(net.told_unavailable(2, id));
}

#[test]
fn the_same_change_twice_writes_nothing_and_counts_once() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.log(1, d, &referral("r1"));
    let doc = net.peer(1).doc(&d).unwrap().clone();
    let writes = net.store.writes;
    // A second tablet that holds exactly the same history syncs it again.
    net.join(2, principal("t2", "sc", "site-a"));
    let out = net.device(2).peer.insert(d, doc, None);
    net.send(2, out);
    assert!(net.peer(2).is_synced(&d));
    assert_eq!(net.store.writes, writes);
    assert_eq!(net.store.counted_referrals(), 1);
}

#[test]
fn idle_documents_leave_memory_and_come_back_from_storage() {
    let mut net = Net::new(Config { idle_ms: 100, ..Config::default() });
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.open_day(2, "sc", "site-a", date());
    for i in 0..6 {
        net.log(1, d, &referral(&format!("r{i}")));
    }
    assert_eq!(net.relay.live_docs(), 1);
    net.now += 1_000;
    let out = net.relay.tick(net.now);
    net.handle(out);
    assert_eq!(net.relay.live_docs(), 0);
    assert_eq!(net.store.docs[&d].chunks.len(), 1, "evicting compacted the stored chunks");
    // A change after eviction reloads the document and still reaches the other tablet.
    net.log(1, d, &referral("after"));
    assert_eq!(net.relay.live_docs(), 1);
    assert_eq!(entries(net.peer(2).doc(&d).unwrap()).len(), 7);
}

#[test]
fn a_javascript_style_draft_becomes_a_document_once_its_header_is_written() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    // automerge-repo's `repo.create()` may sync an empty change before the content.
    let id = DocumentId::random([9; 16]);
    let mut doc = automerge::AutoCommit::new();
    doc.empty_change(Default::default());
    let doc = doc.document().clone();
    let out = net.device(1).peer.insert(id, doc, None);
    net.send(1, out);
    assert!(matches!(net.store.docs[&id].meta, Meta::Draft { .. }));
    assert_eq!(net.store.counted_referrals(), 0);
    net.change(1, id, |tx| {
        schema::write_header(tx, &Header::desk_day("sc", "site-a", date())).unwrap();
        schema::write_referral(tx, &referral("js-1")).unwrap();
    });
    assert!(matches!(net.store.docs[&id].meta, Meta::Doc(_)));
    assert_eq!(net.store.counted_referrals(), 1);
    assert!(net.peer(1).is_synced(&id));
    // A draft is the creating site's alone.
    net.join(2, principal("t2", "sc", "site-b"));
    net.find(2, id);
    assert!(net.told_unavailable(2, id));
}

#[test]
fn voiding_drops_a_referral_from_the_counts() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.log(1, d, &referral("r1"));
    net.log(1, d, &referral("r2"));
    assert_eq!(net.store.counted_referrals(), 2);
    net.change(1, d, |tx| schema::void_referral(tx, "r1", "logged twice", 5).unwrap());
    assert_eq!(net.store.counted_referrals(), 1);
}

#[test]
fn messages_before_join_and_spoofed_senders_are_refused() {
    let mut net = Net::new(Config::default());
    net.relay.connect(1, principal("t1", "sc", "site-a"));
    net.devices.insert(1, Device::new(Peer::new("p".into())));
    let d = Header::desk_day("sc", "site-a", date()).well_known_id();
    let sync_frame = |sender: &str| {
        Message::Request { sender_id: sender.into(), target_id: "relay".into(), document_id: d, data: vec![] }.encode()
    };
    net.raw(1, sync_frame("p"));
    assert!(net.closed(1).contains("join"));
    net.join(2, principal("t2", "sc", "site-a"));
    net.raw(2, sync_frame("someone-else"));
    assert!(net.closed(2).contains("does not match"));
}

#[test]
fn a_device_that_asked_too_early_is_sent_the_document_once_it_exists() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    net.join(3, principal("t3", "sc", "site-b"));
    let d = Header::desk_day("sc", "site-a", date()).well_known_id();
    net.find(2, d);
    net.find(3, d);
    assert!(net.told_unavailable(2, d));
    net.open_day(1, "sc", "site-a", date());
    net.log(1, d, &referral("r1"));
    assert_eq!(entries(net.peer(2).doc(&d).unwrap()).len(), 1, "the waiting tablet of the same site got it");
    assert!(net.peer(3).doc(&d).unwrap().get_heads().is_empty(), "the other site's tablet got nothing");
}

#[test]
fn ephemeral_messages_reach_only_devices_that_sync_the_document() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    net.join(3, principal("t3", "sc", "site-b"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.open_day(2, "sc", "site-a", date());
    net.find(3, d);
    let out = net.device(1).peer.ephemeral(d, "session-1", 1, b"typing".to_vec());
    net.send(1, out);
    let got = |n: &Net, c: ConnId| {
        n.devices[&c].events.iter().any(|e| matches!(e, Event::Ephemeral { data, .. } if data == b"typing"))
    };
    assert!(got(&net, 2), "the other tablet at the desk hears it");
    assert!(!got(&net, 3), "another site's tablet does not");
    assert!(!got(&net, 1), "the sender does not hear itself");
    // A device that does not sync the document cannot broadcast on it.
    let out = net.device(3).peer.ephemeral(d, "session-3", 1, b"spoof".to_vec());
    net.send(3, out);
    assert!(!net.devices[&2].events.iter().any(|e| matches!(e, Event::Ephemeral { data, .. } if data == b"spoof")));
}

#[test]
fn a_server_edit_reaches_devices_that_have_the_document_and_is_stored() {
    let mut net = Net::new(Config::default());
    let id = net.seed(Header::directory("sc"), |_| {});
    net.join(1, principal("t1", "sc", "site-a"));
    net.find(1, id);
    let ann = schema::Volunteer { id: "v1".into(), name: "Ann".into(), active: true, pin: None };
    let v = ann.clone();
    let out =
        net.relay.edit(id, 7, Box::new(move |tx| schema::write_volunteer(tx, &v).map_err(|e| e.to_string())), net.now);
    assert_eq!(out.edited, vec![(7, Ok(()))]);
    net.handle(out);
    net.run();
    assert_eq!(schema::read_volunteers(net.peer(1).doc(&id).unwrap()), vec![ann.clone()], "the tablet received it");
    assert_eq!(schema::read_volunteers(&net.store.load(&id)), vec![ann.clone()], "and it is stored");
    assert_eq!(net.store.rosters["sc"], vec![("v1".to_owned(), true)], "and projected for the figures");
    // Leaving the roster replaces the projection; the id stays, marked inactive.
    let left = schema::Volunteer { active: false, ..ann };
    let out = net.relay.edit(
        id,
        9,
        Box::new(move |tx| schema::write_volunteer(tx, &left).map_err(|e| e.to_string())),
        net.now,
    );
    net.handle(out);
    net.run();
    assert_eq!(net.store.rosters["sc"], vec![("v1".to_owned(), false)]);
    // Editing a document that does not exist is an error, and stores nothing.
    let writes = net.store.writes;
    let missing = DocumentId::random([1; 16]);
    let out = net.relay.edit(missing, 8, Box::new(|_| Ok(())), net.now);
    net.handle(out);
    assert_eq!(net.store.writes, writes);
}

#[test]
fn a_failed_local_change_records_nothing() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    let heads = net.peer(1).doc(&d).unwrap().get_heads();
    let r = net.device(1).peer.try_change(d, |tx| {
        schema::write_referral(tx, &referral("half")).unwrap();
        Err::<(), _>("the volunteer's device ran out of space")
    });
    assert!(matches!(r, Ok(Err(_))));
    assert_eq!(net.peer(1).doc(&d).unwrap().get_heads(), heads, "no half-written entry");
}

#[test]
fn a_revoked_device_is_disconnected_and_others_are_not() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("lost-tablet", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(2, "sc", "site-a", date());
    let out = net.relay.drop_where(|p| p.device == "lost-tablet", "this tablet's credential was revoked");
    net.handle(out);
    assert!(net.closed(1).contains("revoked"));
    assert!(net.devices[&2].closed.is_none());
    net.log(2, d, &referral("after-revocation"));
    assert!(net.peer(2).is_synced(&d));
    assert_eq!(net.relay.connections(), 1);
}

/// Sends the relay, as device `conn`, a sync message carrying only `change` (whose dependency
/// the relay lacks): automerge queues it until the dependency arrives.
fn send_without_dependency(net: &mut Net, conn: ConnId, doc: DocumentId, change: &automerge::Change) {
    let mut msg = sync::Message::decode(
        &automerge::Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode(),
    )
    .unwrap();
    msg.heads = vec![change.hash()];
    msg.changes = vec![change.raw_bytes().to_vec()].into();
    let frame = Message::Sync {
        sender_id: format!("tablet-{conn}").as_str().into(),
        target_id: net.relay.peer_id().clone(),
        document_id: doc,
        data: msg.encode(),
    }
    .encode();
    net.raw(conn, frame);
}

/// Two changes made offline on a tablet's copy of the day: the first, and one that depends on it.
fn two_dependent_changes(net: &mut Net, doc: DocumentId) -> (automerge::Change, automerge::Change) {
    let mut copy = net.store.load(&doc).fork();
    for id in ["w", "x"] {
        let mut tx = copy.transaction();
        schema::write_referral(&mut tx, &referral(id)).unwrap();
        tx.commit();
    }
    let heads = net.store.load(&doc).get_heads();
    let new = copy.get_changes(&heads);
    (new[0].clone(), new[1].clone())
}

/// A document holding a change whose dependency has not arrived is not evicted when idle: the
/// device that sent it never sends it again on that connection, so dropping it would lose it.
#[test]
fn a_document_waiting_for_a_dependency_stays_in_memory() {
    let mut net = Net::new(Config { idle_ms: 100, ..Config::default() });
    net.join(1, principal("t1", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    let (w, x) = two_dependent_changes(&mut net, d);
    send_without_dependency(&mut net, 1, d, &x);
    net.now += 1_000;
    let out = net.relay.tick(net.now);
    net.handle(out);
    assert_eq!(net.relay.live_docs(), 1, "the waiting change was kept");
    send_without_dependency(&mut net, 1, d, &w);
    assert!(net.devices[&1].closed.is_none(), "{}", net.closed(1));
    assert_eq!(entries(&net.store.load(&d)), vec!["referral:w", "referral:x"], "both arrived and were stored");
}

/// When the relay drops a live copy that holds such a change (another device's change was
/// refused), the devices syncing it are asked to reconnect, which makes them send it again.
#[test]
fn dropping_a_document_with_waiting_changes_restarts_its_devices() {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.open_day(2, "sc", "site-a", date());
    let (_, x) = two_dependent_changes(&mut net, d);
    send_without_dependency(&mut net, 1, d, &x);
    net.change(2, d, |tx| {
        use automerge::transaction::Transactable;
        tx.put(automerge::ROOT, "site", "site-b").unwrap();
    });
    assert!(net.refusals(2).contains("never change"), "{}", net.refusals(2));
    assert!(net.devices[&2].closed.is_none(), "only its document is refused");
    assert!(net.closed(1).contains("reconnect"), "the waiting change's device restarts: {:?}", net.closed(1));
}

/// A sync frame for `d` carrying `changes` as they are (what a hostile client can send).
fn frame_with(net: &Net, sender: &str, d: DocumentId, changes: Vec<Vec<u8>>) -> Vec<u8> {
    frame_of(net, sender, d, |msg| msg.changes = changes.into())
}

/// A sync frame from `sender` for `d`: an empty peer's first message, as `edit` leaves it.
fn frame_of(net: &Net, sender: &str, d: DocumentId, edit: impl FnOnce(&mut sync::Message)) -> Vec<u8> {
    let mut msg = sync::Message::decode(
        &automerge::Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode(),
    )
    .unwrap();
    edit(&mut msg);
    Message::Sync {
        sender_id: sender.into(),
        target_id: net.relay.peer_id().clone(),
        document_id: d,
        data: msg.encode(),
    }
    .encode()
}

/// A desk of two tablets whose first has stored a day with one referral: the day and its chunks.
fn desk_with_a_day() -> (Net, DocumentId, Vec<Vec<u8>>) {
    let mut net = Net::new(Config::default());
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    net.log(1, d, &referral("before"));
    let stored = net.store.docs[&d].chunks.clone();
    (net, d, stored)
}

/// Bloom filters automerge would trip over: entries but no bits (it divides by zero; found by
/// fuzzing the relay core) and billions of probes (gigabytes, minutes). Refused before automerge
/// uses them; the desk's other tablet keeps syncing.
#[test]
fn hostile_bloom_filters_are_refused_before_automerge_uses_them() {
    let no_bits = vec![5, 0, 7];
    let many_probes = vec![1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    for (what, bytes) in [("no bits", no_bits), ("many probes", many_probes)] {
        let (mut net, d, stored) = desk_with_a_day();
        let bloom = sync::BloomFilter::try_from(bytes.as_slice()).expect("automerge decodes it");
        let frame = frame_of(&net, "tablet-2", d, |msg| msg.have = vec![sync::Have { last_sync: vec![], bloom }]);
        let started = std::time::Instant::now();
        net.raw(2, frame);
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{what}: {:?}", started.elapsed());
        assert!(net.refusals(2).contains("bloom filter"), "{what}: {}", net.refusals(2));
        assert_eq!(net.store.docs[&d].chunks, stored, "{what}");
        net.log(1, d, &referral("after"));
        assert!(net.peer(1).is_synced(&d), "{what}");
    }
}

#[test]
fn a_compression_bomb_is_refused_before_it_is_inflated_and_nothing_is_stored() {
    let (mut net, d, stored) = desk_with_a_day();
    // 64 MiB of zeros deflates to about 64 KiB.
    let bomb = signpost_shared::testkit::compressed_chunk(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 100 << 10);
    let started = std::time::Instant::now();
    net.raw(2, frame_with(&net, "tablet-2", d, vec![bomb]));
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "refused in {:?}", started.elapsed());
    assert!(net.refusals(2).contains("too large"), "{}", net.refusals(2));
    assert_eq!(net.store.docs[&d].chunks, stored, "nothing of it stored");
    // The desk's other tablet keeps syncing.
    net.log(1, d, &referral("after"));
    assert!(net.peer(1).is_synced(&d));
    assert!(net.devices[&1].closed.is_none());
}

#[test]
fn a_draft_over_its_cap_is_refused_and_never_stored() {
    let mut net = Net::new(Config { max_draft_bytes: 4 << 10, ..Config::default() });
    net.join(1, principal("t1", "sc", "site-a"));
    let id = DocumentId::random([7; 16]);
    let mut doc = automerge::AutoCommit::new();
    use automerge::transaction::Transactable;
    // Incompressible text, well over the cap, and no header.
    let noise: String =
        (0..20_000u32).map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)).collect();
    doc.put(automerge::ROOT, "junk", noise).unwrap();
    let out = net.device(1).peer.insert(id, doc.document().clone(), None);
    net.send(1, out);
    assert!(net.refusals(1).contains("at most"), "{}", net.refusals(1));
    assert!(!net.store.docs.contains_key(&id), "a refused draft is not stored");
}

#[test]
fn a_tablet_past_its_daily_allowance_is_refused_keeps_what_it_stored_and_others_sync() {
    use signpost_shared::quota::{Allowance, Usage};
    let allow = Allowance { bytes: 40 << 10, documents: 3 };
    let mut net = Net::new(Config { device_allowance: allow, ..Config::default() });
    net.relay.set_today(date());
    net.join(1, principal("filler", "sc", "site-a"));
    net.join(2, principal("neighbour", "sc", "site-a"));
    // Documents: drafts until the count runs out.
    let mut made = Vec::new();
    for i in 0..5u8 {
        let id = DocumentId::random([40 + i; 16]);
        let mut doc = automerge::AutoCommit::new();
        doc.empty_change(Default::default());
        let out = net.device(1).peer.insert(id, doc.document().clone(), None);
        net.send(1, out);
        if net.refused(1, id).is_some() {
            break;
        }
        made.push(id);
    }
    assert_eq!(made.len(), 3, "three documents a day");
    assert!(net.refusals(1).contains("3 new documents for today"), "{}", net.refusals(1));
    assert!(net.devices[&1].closed.is_none(), "its other documents go on syncing");
    for id in &made {
        assert!(net.store.docs.contains_key(id), "what it stored is kept");
    }
    assert_eq!(net.store.usage[&("filler".to_owned(), date())].documents, 3, "the count is stored with the content");
    // Bytes: one day grown until the bytes run out; what was stored before stays.
    net.reconnect(1, 3, principal("filler", "sc", "site-a"));
    let d = net.open_day(2, "sc", "site-a", date());
    net.find(3, d);
    let noise = |seed: u32| -> String {
        (0..6_000u32)
            .map(|i| char::from(b'a' + (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
            .collect()
    };
    let mut round = 0;
    while net.refused(3, d).is_none() {
        round += 1;
        assert!(round < 20, "the allowance never ran out");
        let before = net.store.docs[&d].chunks.clone();
        let n = noise(round);
        net.change(3, d, move |tx| {
            use automerge::transaction::Transactable;
            tx.put(automerge::ROOT, format!("notes-{round}"), n).unwrap();
        });
        if net.refused(3, d).is_some() {
            assert_eq!(net.store.docs[&d].chunks, before, "the change over the allowance is not stored");
        }
    }
    assert!(net.refusals(3).contains("bytes for today"), "{}", net.refusals(3));
    assert_eq!(net.refused(3, d).unwrap().code, "allowance");
    let used = net.store.usage[&("filler".to_owned(), date())];
    assert!(used.bytes <= allow.bytes && used.bytes > allow.bytes / 2, "{used:?}");
    // The desk's other tablet is not held to the filler's allowance.
    net.log(2, d, &referral("neighbour's"));
    assert!(net.peer(2).is_synced(&d));
    assert!(net.devices[&2].closed.is_none());
    // A restarted relay reads the count back: still refused today, taken tomorrow.
    net.relay.note_usage("filler", date(), Usage { bytes: allow.bytes, documents: 0 });
    net.reconnect(3, 4, principal("filler", "sc", "site-a"));
    net.find(4, d);
    net.change(4, d, |tx| schema::write_referral(tx, &referral("late")).unwrap());
    assert!(net.refusals(4).contains("bytes for today"), "{}", net.refusals(4));
    net.relay.set_today(date() + chrono::Duration::days(1));
    net.reconnect(4, 5, principal("filler", "sc", "site-a"));
    net.find(5, d);
    net.change(5, d, |tx| schema::write_referral(tx, &referral("tomorrow")).unwrap());
    assert!(net.refused(5, d).is_none(), "{}", net.refusals(5));
    // What was refused yesterday is still on the tablet, and goes with today's.
    assert_eq!(net.store.counted_referrals(), 3, "neighbour's, late and tomorrow");
}

/// A document of `site`'s day inserted at `id` (which may be another site's id), and a referral.
fn headed_at(net: &mut Net, conn: ConnId, id: DocumentId, site: &str, r: &str) {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &Header::desk_day("sc", site, date())).unwrap();
    schema::write_referral(&mut tx, &referral(r)).unwrap();
    tx.commit();
    let out = net.device(conn).peer.insert(id, doc, None);
    net.send(conn, out);
}

#[test]
fn no_device_can_make_another_sites_day_unusable() {
    for squat in ["draft", "headed"] {
        let mut net = Net::new(Config::default());
        net.relay.set_today(date());
        net.join(1, principal("squatter", "sc", "site-b"));
        net.join(2, principal("owner", "sc", "site-a"));
        let id = Header::desk_day("sc", "site-a", date()).well_known_id();
        match squat {
            "draft" => {
                let mut doc = automerge::AutoCommit::new();
                doc.empty_change(Default::default());
                let out = net.device(1).peer.insert(id, doc.document().clone(), None);
                net.send(1, out);
                assert!(matches!(net.store.docs[&id].meta, Meta::Draft { .. }), "{squat}");
            }
            _ => {
                // Site B's header at site A's id, the way a randomly-named document would be.
                headed_at(&mut net, 1, id, "site-b", "squat");
                assert_eq!(net.store.counted_referrals(), 1, "{squat}");
            }
        }
        // Site A's tablet opens its day: the squatter's content gives way, site A's is stored.
        let d = net.open_day(2, "sc", "site-a", date());
        assert_eq!(d, id);
        net.log(2, d, &referral("mine"));
        assert!(net.peer(2).is_synced(&d), "{squat}: the owner syncs its day");
        match &net.store.docs[&id].meta {
            Meta::Doc(h) => assert_eq!(h.site.as_deref(), Some("site-a"), "{squat}"),
            other => panic!("{squat}: {other:?}"),
        }
        assert_eq!(net.store.counted_referrals(), 1, "{squat}: only the owner's referral is counted");
        // The squatter cannot take it back: what it sends again changes nothing.
        net.change(1, id, |tx| schema::write_referral(tx, &referral("again")).unwrap());
        assert!(matches!(&net.store.docs[&id].meta, Meta::Doc(h) if h.site.as_deref() == Some("site-a")));
        assert_eq!(net.store.counted_referrals(), 1, "{squat}");
    }
}

#[test]
fn a_document_at_a_random_id_is_still_taken() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    net.join(1, principal("t1", "sc", "site-a"));
    let id = DocumentId::random([5; 16]);
    headed_at(&mut net, 1, id, "site-a", "random");
    assert!(matches!(net.store.docs[&id].meta, Meta::Doc(_)));
    assert_eq!(net.store.counted_referrals(), 1);
}

/// A day far from the relay's date (a tablet whose clock was wrong) is set aside: stored, synced,
/// counted nowhere, and the tablet told so; its connection and its other days go on.
#[test]
fn desk_days_far_from_the_relays_today_are_set_aside_and_not_counted() {
    for (day, counted) in [
        (NaiveDate::from_ymd_opt(1, 1, 1).unwrap(), false),
        (NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(), false),
        (date() - chrono::Duration::days(401), false),
        (date() - chrono::Duration::days(400), true),
        (date() + chrono::Duration::days(2), true),
        (date() + chrono::Duration::days(3), false),
        (NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(), false),
    ] {
        let mut net = Net::new(Config::default());
        net.relay.set_today(date());
        net.join(1, principal("t1", "sc", "site-a"));
        let d = net.open_day(1, "sc", "site-a", day);
        let mut r = referral("r");
        r.recorded_at_ms = day.and_hms_opt(16, 0, 0).unwrap().and_utc().timestamp_millis();
        net.log(1, d, &r);
        assert!(net.store.docs.contains_key(&d), "{day}: stored either way: {}", net.refusals(1));
        assert!(net.peer(1).is_synced(&d), "{day}: the tablet knows it is stored");
        assert!(net.devices[&1].closed.is_none(), "{day}");
        let noticed = net.devices[&1].events.iter().any(|e| matches!(e, Event::Notice { doc, notice } if *doc == d && notice.code == "set-aside"));
        if counted {
            assert!(matches!(net.store.docs[&d].meta, Meta::Doc(_)), "{day}");
            assert_eq!(net.store.counted_referrals(), 1, "{day}");
            assert!(!noticed, "{day}");
        } else {
            assert!(matches!(net.store.docs[&d].meta, Meta::SetAside(_)), "{day}");
            assert_eq!(net.store.set_aside[&d].date, day);
            assert_eq!(net.store.set_aside[&d].synced_on, date());
            assert_eq!(net.store.counted_referrals(), 0, "{day}: not counted");
            assert!(net.store.facts.is_empty(), "{day}: no fact of it");
            assert!(noticed, "{day}: the tablet is told");
        }
        // Today's day of the same tablet syncs and counts as ever.
        let today = net.open_day(1, "sc", "site-a", date());
        net.log(1, today, &referral("today"));
        assert!(net.peer(1).is_synced(&today), "{day}");
        assert_eq!(net.store.counted_referrals(), if counted && day == date() { 1 } else { 1 + usize::from(counted) }, "{day}");
    }
}

#[test]
fn ephemerals_on_the_directory_stay_at_the_desk_and_large_ones_are_refused() {
    let mut net = Net::new(Config::default());
    let dir = net.seed(Header::directory("sc"), |_| {});
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    net.join(3, principal("t3", "sc", "site-b"));
    for c in [1, 2, 3] {
        net.find(c, dir);
    }
    let out = net.device(1).peer.ephemeral(dir, "s", 1, b"here".to_vec());
    net.send(1, out);
    let got = |n: &Net, c: ConnId| n.devices[&c].events.iter().any(|e| matches!(e, Event::Ephemeral { .. }));
    assert!(got(&net, 2), "the desk's other tablet hears it");
    assert!(!got(&net, 3), "another site's tablet, though it syncs the directory too, does not");
    let out = net.device(1).peer.ephemeral(dir, "s", 2, vec![7; 65 << 10]);
    net.send(1, out);
    assert!(net.closed(1).contains("at most"), "{}", net.closed(1));
    assert_eq!(net.devices[&2].events.iter().filter(|e| matches!(e, Event::Ephemeral { .. })).count(), 1);
}
