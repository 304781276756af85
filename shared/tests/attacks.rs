//! Attacks on the relay core's promises (ARCHITECTURE.md, invariants 2-6), in process, by a
//! reviewer who had not seen the code: the holes found (each fixed, its test seen failing
//! before) and the attacks that held. `Net` checks egress on every delivery and that every
//! written document loads.

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, Change, ReadDoc};
use chrono::{Duration, NaiveDate};
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::Event;
use signpost_shared::relay::{Config, ConnId, Meta};
use signpost_shared::schema::{self, Header};
use signpost_shared::testkit::{date, principal, referral, Net};
use signpost_shared::wire::Message;

/// A sync frame from `conn` for `doc`: an empty peer's first message, as `edit` leaves it.
fn frame(net: &Net, conn: ConnId, doc: DocumentId, edit: impl FnOnce(&mut sync::Message)) -> Vec<u8> {
    let mut msg =
        sync::Message::decode(&Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode())
            .unwrap();
    edit(&mut msg);
    Message::Sync {
        sender_id: format!("tablet-{conn}").as_str().into(),
        target_id: net.relay.peer_id().clone(),
        document_id: doc,
        data: msg.encode(),
    }
    .encode()
}

fn request(net: &Net, conn: ConnId, doc: DocumentId) -> Vec<u8> {
    let msg = Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode();
    Message::Request {
        sender_id: format!("tablet-{conn}").as_str().into(),
        target_id: net.relay.peer_id().clone(),
        document_id: doc,
        data: msg,
    }
    .encode()
}

/// One header-less change (a draft's content).
fn loose_change(value: &str) -> Change {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "squat", value).unwrap();
    tx.commit();
    doc.get_changes(&[])[0].clone()
}

/// A whole new document with `header` as one change.
fn header_change(h: &Header) -> Change {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, h).unwrap();
    tx.commit();
    doc.get_changes(&[])[0].clone()
}

fn send_changes(net: &mut Net, conn: ConnId, doc: DocumentId, changes: &[&Change]) {
    let heads = vec![changes.last().unwrap().hash()];
    let raw: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
    let f = frame(net, conn, doc, |m| {
        m.heads = heads;
        m.changes = raw.into();
    });
    net.raw(conn, f);
}

fn why_not_synced(net: &Net, conn: ConnId, doc: DocumentId) -> String {
    format!(
        "told unavailable: {}; refusals: [{}]; stored as: {:?}",
        net.told_unavailable(conn, doc),
        net.refusals(conn),
        net.store.docs.get(&doc).map(|d| &d.meta)
    )
}

/// A tablet whose clock was reset (1 January 2000) opens its site's well-known day for that
/// date, at which a device of another scheme stored a one-change draft first. The squatter used
/// to never give way (only the window's days were known as the site's own), so the site's tablet
/// was told `doc-unavailable` for its own day and nothing it logged reached the relay. Now the
/// site's own days are known far beyond the window, and the squatter gives way.
#[test]
fn a_squatter_gives_way_at_a_sites_own_day_far_outside_the_window() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    let wrong_clock = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let day = Header::desk_day("sc", "site-a", wrong_clock).well_known_id();
    net.join(1, principal("spy", "other-scheme", "site-z"));
    send_changes(&mut net, 1, day, &[&loose_change("mine now")]);
    assert!(
        matches!(net.store.docs.get(&day).map(|d| &d.meta), Some(Meta::Draft { site, .. }) if site == "site-z"),
        "the squatter's draft is stored at site-a's day"
    );
    net.join(2, principal("owner", "sc", "site-a"));
    let d = net.open_day(2, "sc", "site-a", wrong_clock);
    assert_eq!(d, day);
    net.log(2, d, &referral("logged-with-a-wrong-clock"));
    assert!(
        net.peer(2).is_synced(&d) && matches!(net.store.docs[&d].meta, Meta::SetAside(_)),
        "site-a's own day (to be set aside) is blocked by another scheme's draft: {}",
        why_not_synced(&net, 2, d)
    );
}

/// A device of another scheme stores a draft at one of site-a's well-known ids 200 days ahead
/// (outside the window; within its allowance it could cover every future day of a site). The
/// squatter's scheme's purge used to *retire* old drafts, and with them the id for good: when the
/// day came, site-a's tablets were told it was unavailable on every try. The purge now removes a
/// draft without retiring its id (`domain::retention::purge`), as emulated here.
#[test]
fn a_squatters_purged_draft_leaves_the_sites_future_day_free() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    let future = date() + Duration::days(200);
    let day = Header::desk_day("sc", "site-a", future).well_known_id();
    net.join(1, principal("spy", "other-scheme", "site-z"));
    send_changes(&mut net, 1, day, &[&loose_change("squat")]);
    assert!(matches!(net.store.docs[&day].meta, Meta::Draft { .. }), "stored as the squatter's draft");
    // 6 months later the squatter's scheme (retention 6 months) purges its old drafts: removed,
    // not retired; the relay lets the live copy go (nobody syncs it).
    net.relay.set_today(date() + Duration::days(190));
    net.store.apply(signpost_shared::relay::Write::Discard { doc: day });
    net.now += 120_000;
    let out = net.relay.tick(net.now);
    net.handle(out);
    // The day comes.
    net.relay.set_today(future);
    net.join(2, principal("owner", "sc", "site-a"));
    let d = net.open_day(2, "sc", "site-a", future);
    net.log(2, d, &referral("today"));
    assert!(
        net.peer(2).is_synced(&d),
        "site-a's own day was retired by another scheme's purge of a squatter's draft: {}",
        why_not_synced(&net, 2, d)
    );
}

/// Tried, holds: request and sync (empty, heads only, with changes) from a device of another
/// site and of another scheme, for documents in every state: not stored, another site's draft,
/// another site's day, a retired day, another site's day set aside, another scheme's directory.
/// `Net` checks egress on every delivery; here also that nothing of theirs was written.
#[test]
fn every_kind_of_ask_for_every_state_of_document_sends_nothing() {
    for spy in [principal("spy", "sc", "site-b"), principal("spy", "other", "site-z")] {
        let mut net = Net::new(Config::default());
        net.relay.set_today(date());
        net.join(1, principal("owner", "sc", "site-a"));
        let day = net.open_day(1, "sc", "site-a", date());
        let mut r = referral("r1");
        r.notes = Some("SECRET".into());
        net.log(1, day, &r);
        let aside = net.open_day(1, "sc", "site-a", NaiveDate::from_ymd_opt(2001, 2, 3).unwrap());
        net.log(1, aside, &r);
        assert!(matches!(net.store.docs[&aside].meta, Meta::SetAside(_)));
        let draft = DocumentId::random([7; 16]);
        send_changes(&mut net, 1, draft, &[&loose_change("draft")]);
        let retired = net.open_day(1, "sc", "site-a", date() - Duration::days(1));
        net.log(1, retired, &r);
        net.retire(retired, None);
        let dir = net.seed(Header::directory("sc"), |_| {});
        let not_stored = Header::desk_day("sc", "site-a", date() + Duration::days(1)).well_known_id();
        net.join(2, spy.clone());
        let fake = loose_change("x").hash();
        for doc in [day, aside, draft, retired, dir, not_stored] {
            let before = net.store.docs.get(&doc).map(|d| d.chunks.clone());
            net.raw(2, request(&net, 2, doc));
            net.raw(2, frame(&net, 2, doc, |_| {}));
            net.raw(2, frame(&net, 2, doc, |m| m.heads = vec![fake]));
            if doc != not_stored {
                send_changes(&mut net, 2, doc, &[&loose_change("mine")]);
                assert_eq!(before, net.store.docs.get(&doc).map(|d| d.chunks.clone()), "{spy:?} wrote to {doc}");
            }
            assert!(net.devices[&2].closed.is_none(), "{spy:?}: {}", net.closed(2));
        }
        // The owner writes to every one of its live documents again: nothing goes to the spy.
        net.log(1, day, &referral("r2"));
        net.log(1, aside, &referral("r2"));
        let nd = net.open_day(1, "sc", "site-a", date() + Duration::days(1));
        net.log(1, nd, &referral("r3"));
        for doc in [day, aside, draft, nd] {
            assert!(net.peer(2).doc(&doc).is_none_or(|d| d.get_heads().is_empty()), "{spy:?} got {doc}");
        }
        assert!(net.devices[&2].events.iter().all(|e| !matches!(e, Event::Notice { .. })));
    }
}

/// Tried, holds: a draft of site-b turned into a day with site-a's header is refused
/// (`not-yours`); a squatter that keeps its socket and sends again after its draft was discarded
/// is told unavailable; an ephemeral posing as the relay's notice is not passed on; header dates
/// at the ends of what a header may say (0000-01-01, 9999-12-31) are set aside, no panic.
#[test]
fn squatter_resends_forged_notices_and_extreme_dates_hold() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    let day = Header::desk_day("sc", "site-a", date()).well_known_id();
    net.join(1, principal("spy", "sc", "site-b"));
    let draft = loose_change("squat");
    send_changes(&mut net, 1, day, &[&draft]);
    net.join(2, principal("owner", "sc", "site-a"));
    let d = net.open_day(2, "sc", "site-a", date());
    net.log(2, d, &referral("mine"));
    assert!(net.peer(2).is_synced(&d));
    // The squatter sends its draft again, then a header of site-a on top of it.
    send_changes(&mut net, 1, day, &[&draft]);
    let mut doc = Automerge::new();
    doc.apply_changes([draft.clone()]).unwrap();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &Header::desk_day("sc", "site-a", date())).unwrap();
    tx.commit();
    let hdr = doc.get_changes(&[draft.hash()])[0].clone();
    send_changes(&mut net, 1, day, &[&draft, &hdr]);
    assert!(matches!(&net.store.docs[&d].meta, Meta::Doc(h) if h.site.as_deref() == Some("site-a")));
    assert_eq!(net.store.counted_referrals(), 1);
    // A draft of site-b given site-a's header.
    let own = DocumentId::random([9; 16]);
    send_changes(&mut net, 1, own, &[&draft]);
    send_changes(&mut net, 1, own, &[&draft, &hdr]);
    assert_eq!(net.refused(1, own).map(|r| r.code), Some("not-yours".into()));
    // A forged notice from a tablet of the same site, on a day both sync.
    net.join(3, principal("other", "sc", "site-a"));
    net.find(3, d);
    let forged = Message::Ephemeral {
        sender_id: "tablet-3".into(),
        target_id: net.relay.peer_id().clone(),
        document_id: d,
        count: 1,
        session_id: signpost_shared::wire::NOTICE_SESSION.into(),
        data: signpost_shared::wire::Notice { code: "set-aside".into(), message: "forged".into() }.encode(),
    };
    net.raw(3, forged.encode());
    assert!(net.devices[&2].events.iter().all(|e| !matches!(e, Event::Notice { .. } | Event::Ephemeral { .. })));
    // Extreme dates.
    for y in [(0, 1, 1), (9999, 12, 31)] {
        let when = NaiveDate::from_ymd_opt(y.0, y.1, y.2).unwrap();
        let h = Header::desk_day("sc", "site-b", when);
        send_changes(&mut net, 1, h.well_known_id(), &[&header_change(&h)]);
        assert!(matches!(net.store.docs[&h.well_known_id()].meta, Meta::SetAside(_)), "{when}");
    }
    assert!(net.devices[&1].closed.is_none(), "{}", net.closed(1));
}

/// Tried, holds: a reader (a tablet of the scheme) sends changes to its scheme's directory;
/// nothing is stored and the other readers are not sent them.
#[test]
fn a_readers_changes_to_the_directory_are_never_taken() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    let dir = net.seed(Header::directory("sc"), |tx| {
        tx.put(automerge::ROOT, "setting:volunteer-pin", false).unwrap();
    });
    net.join(1, principal("reader", "sc", "site-a"));
    net.join(2, principal("other", "sc", "site-b"));
    net.find(1, dir);
    net.find(2, dir);
    let chunks = net.store.docs[&dir].chunks.clone();
    net.change(1, dir, |tx| {
        tx.put(automerge::ROOT, "setting:volunteer-pin", true).unwrap();
    });
    // And as a raw message with the change, a sync reset flag and heads.
    let mut copy = net.store.load(&dir).fork();
    let mut tx = copy.transaction();
    tx.put(automerge::ROOT, "volunteer:evil", "x").unwrap();
    tx.commit();
    let c = copy.get_changes(&net.store.load(&dir).get_heads())[0].clone();
    send_changes(&mut net, 1, dir, &[&c]);
    assert_eq!(net.store.docs[&dir].chunks, chunks, "nothing stored");
    let seen = net.peer(2).doc(&dir).unwrap();
    assert!(seen.get(automerge::ROOT, "volunteer:evil").unwrap().is_none());
    assert_eq!(
        seen.get(automerge::ROOT, "setting:volunteer-pin").unwrap().map(|(v, _)| v.to_string()),
        Some("false".into())
    );
}

/// A day far outside the relay's window is set aside even where its date is also past the
/// scheme's retention period: a tablet whose clock was reset dates new entries years back, and
/// they must not be lost. It is counted nowhere, listed for the coordinator (who discards it if
/// its entries really are that old), and removed once it has been set aside longer than the
/// period. (Within the window a day past the period is refused: `shared/tests/lifecycle.rs`.)
#[test]
fn a_day_past_retention_and_outside_the_window_is_set_aside_not_counted() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    net.relay.set_retention("sc", 36);
    net.join(1, principal("t1", "sc", "site-a"));
    let long_ago = date() - Duration::days(5 * 365);
    let d = net.open_day(1, "sc", "site-a", long_ago);
    net.log(1, d, &referral("old"));
    assert!(matches!(net.store.docs[&d].meta, Meta::SetAside(_)), "{:?}", net.store.docs.get(&d).map(|x| &x.meta));
    assert_eq!(net.store.counted_referrals(), 0);
}

/// A tablet of the site whose clock runs three days fast opens "today": the relay sets that day
/// aside, at the site's well-known id for that date. It used to stay set aside for good: when
/// the date came, every tablet of the site logged into a day counted nowhere. A day set aside
/// whose date has come is counted from its next change.
#[test]
fn a_day_set_aside_early_is_counted_when_its_date_comes() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    let fast = date() + Duration::days(3);
    net.join(1, principal("fast-clock", "sc", "site-a"));
    let early = net.open_day(1, "sc", "site-a", fast);
    assert!(matches!(net.store.docs[&early].meta, Meta::SetAside(_)));
    // Three days later, an honest tablet with the right clock opens its day.
    net.relay.set_today(fast);
    net.join(2, principal("honest", "sc", "site-a"));
    let today = net.open_day(2, "sc", "site-a", fast);
    let noon = fast.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp_millis();
    net.log(2, today, &schema::Referral { recorded_at_ms: noon, ..referral("real") });
    assert!(net.peer(2).is_synced(&today));
    assert_eq!(
        net.store.counted_referrals(),
        1,
        "the real day's referral is not counted: its day is stored as {:?}",
        net.store.docs[&today].meta
    );
}

/// A closed site's day dated after its closing takes nothing, even if it was opened before the
/// closing (tomorrow's, opened early).
#[test]
fn a_day_after_closing_takes_nothing_even_if_opened_before() {
    let mut net = Net::new(Config::default());
    net.relay.set_today(date());
    net.join(1, principal("t1", "sc", "site-a"));
    let tomorrow = net.open_day(1, "sc", "site-a", date() + Duration::days(1));
    net.relay.set_site_closed("site-a", Some(date()));
    net.log(1, tomorrow, &referral("after-closing"));
    assert_eq!(
        net.refused(1, tomorrow).map(|r| r.code),
        Some("desk-closed".into()),
        "an entry logged into a day after the closing was stored: {} referrals counted",
        net.store.counted_referrals()
    );
}

