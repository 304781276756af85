//! Faulty and hostile tablets against the real binary: each case was reproduced against the
//! release binary before it was fixed. A tablet of another site or scheme asking for a day before
//! it exists; changes whose parent never comes; a flood of them to fresh ids; a wrong clock's day
//! (set aside for the coordinator, who files or discards it); a closed desk's later days.

use chrono::NaiveDate;
use signpost_harness::{admin, referral_count, rss_mib, snapshot, Server, Signed};
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::Event;
use signpost_shared::schema::{self, Header};
use signpost_shared::wire::Message;
use signpost_sim::Tablet;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A referral logged at 10:00 on `day`.
fn referral_on(id: &str, day: NaiveDate) -> schema::Referral {
    let mut r = signpost_shared::testkit::referral(id);
    r.recorded_at_ms = day.and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp_millis();
    r
}

/// The frame of a `sync` from `t` for `doc` carrying what `edit` puts in an empty first message.
fn sync_frame(t: &Tablet, doc: DocumentId, edit: impl FnOnce(&mut automerge::sync::Message)) -> Vec<u8> {
    use automerge::sync::SyncDoc;
    let mut msg = automerge::sync::Message::decode(
        &automerge::Automerge::new().generate_sync_message(&mut automerge::sync::State::new()).unwrap().encode(),
    )
    .unwrap();
    edit(&mut msg);
    Message::Sync {
        sender_id: t.peer.peer_id().clone(),
        target_id: t.peer.relay_id().unwrap().clone(),
        document_id: doc,
        data: msg.encode(),
    }
    .encode()
}

/// Three header-less changes in a chain, the last carrying `value`.
fn chain(value: &str) -> Vec<automerge::Change> {
    use automerge::transaction::Transactable;
    let mut doc = automerge::Automerge::new();
    for (k, v) in [("a", "1"), ("b", "2"), ("c", value)] {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, k, v).unwrap();
        tx.commit();
    }
    doc.get_changes(&[])
}

/// A tablet of another site, and one of another scheme, send an empty `sync` for site A's
/// tomorrow before it exists, and keep their sockets. Site A's tablet then creates the day and
/// logs a referral with notes: neither spy is sent any of it.
#[tokio::test]
async fn an_empty_sync_never_makes_a_spy_of_another_site_or_scheme() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let other_scheme = admin(&server.data, &["create-scheme", "Other Scheme"]).unwrap();
    let other_site = admin(&server.data, &["create-site", "--scheme", &other_scheme, "Elsewhere"]).unwrap();
    let stranger = admin(&server.data, &["issue-device-token", "--site", &other_site]).unwrap();
    let tomorrow = today() + chrono::Duration::days(1);
    let day = Header::desk_day(&fx.scheme, &fx.site_a, tomorrow).well_known_id();
    let mut spies = Vec::new();
    for (token, name) in [(&fx.token_b, "spy-b"), (&stranger, "spy-x")] {
        let mut spy = Tablet::connect(&server.url, token, name).await.unwrap();
        let frame = sync_frame(&spy, day, |_| {});
        spy.send_frame(frame).await.unwrap();
        spies.push(spy);
    }
    let mut owner = Tablet::connect(&server.url, &fx.token_a1, "owner").await.unwrap();
    let d = owner.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, tomorrow)).await.unwrap();
    assert_eq!(d, day);
    let mut r = referral_on("secret", tomorrow);
    r.notes = Some("MARKER-SECRET".into());
    owner.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    owner.synced(d, T).await.unwrap();
    for spy in &mut spies {
        let events = spy.run_for(Duration::from_millis(1500)).await.unwrap();
        assert!(events.iter().all(|e| !matches!(e, Event::Changed(x) if *x == d)), "a spy was sent the day: {events:?}");
        assert!(spy.peer.doc(&d).is_none_or(|doc| doc.get_heads().is_empty()), "a spy holds the day");
    }
}

/// A tablet of site B sends to site A's day a header-less change and a change whose parent it
/// never sends, then a second, refused message. Site A's day used to be unusable after that (the
/// orphan was stored with the draft, which then never loaded) even across restarts. Now nothing of
/// the orphan is stored, `admin check` passes, and site A's tablet syncs its day.
#[tokio::test]
async fn changes_whose_parent_never_comes_cannot_lock_a_site_out_of_its_day() {
    let (mut server, fx) = Server::start_fresh(&[]).unwrap();
    let day = Header::desk_day(&fx.scheme, &fx.site_a, today()).well_known_id();
    let mut spy = Tablet::connect(&server.url, &fx.token_b, "spy").await.unwrap();
    let c = chain("orphan");
    let frame = sync_frame(&spy, day, |m| {
        m.heads = vec![c[2].hash()];
        m.changes = vec![c[0].raw_bytes().to_vec(), c[2].raw_bytes().to_vec()].into();
    });
    spy.send_frame(frame).await.unwrap();
    let frame = sync_frame(&spy, day, |m| m.changes = vec![vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]].into());
    spy.send_frame(frame).await.unwrap();
    let _ = spy.run_for(Duration::from_millis(500)).await;
    drop(spy);
    let check = admin(&server.data, &["check"]).unwrap();
    assert!(check.contains("checks out"), "{check}");
    server.restart(&[]).unwrap();
    let mut owner = Tablet::connect(&server.url, &fx.token_a1, "owner").await.unwrap();
    let d = owner.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today())).await.unwrap();
    owner.change(d, |tx| schema::write_referral(tx, &referral_on("mine", today())).unwrap()).await.unwrap();
    owner.synced(d, T).await.unwrap();
    assert_eq!(referral_count(&server, &fx, &ymd(today())).await.unwrap(), 1);
    let check = admin(&server.data, &["check"]).unwrap();
    assert!(check.contains("checks out"), "{check}");
}

/// Sync messages carrying only changes whose parents never come, with large values, each to a
/// fresh id: memory grew by 600 MiB over 90 frames and was never released. Now it is bounded,
/// nothing is stored, and the relay lets go of it.
#[tokio::test]
async fn a_flood_of_changes_without_parents_holds_little_memory_and_stores_nothing() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let pid = server.pid().unwrap();
    let before_rss = rss_mib(pid);
    let before = snapshot(&server.data);
    let big: String = (0..2_000_000u32).map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)).collect();
    let mut flooder = Tablet::connect(&server.url, &fx.token_b, "flooder").await.unwrap();
    let mut peak = before_rss;
    for i in 0..90u32 {
        let c = chain(&format!("{i}{big}"));
        let id = DocumentId::random([i as u8; 16]);
        let frame = sync_frame(&flooder, id, |m| {
            m.heads = vec![c[2].hash()];
            m.changes = vec![c[2].raw_bytes().to_vec()].into();
        });
        if flooder.send_frame(frame).await.is_err() {
            // Asked to reconnect (past its bound): it comes straight back.
            flooder = Tablet::connect(&server.url, &fx.token_b, "flooder").await.unwrap();
        }
        peak = peak.max(rss_mib(pid));
    }
    let _ = flooder.run_for(Duration::from_millis(500)).await;
    drop(flooder);
    assert!(peak - before_rss < 200.0, "memory grew from {before_rss:.0} MiB to {peak:.0} MiB");
    assert_eq!(snapshot(&server.data), before, "nothing of it stored");
    // Its honest neighbour still syncs.
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "desk").await.unwrap();
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today())).await.unwrap();
    t.change(d, |tx| schema::write_referral(tx, &referral_on("r1", today())).unwrap()).await.unwrap();
    t.synced(d, T).await.unwrap();
}

/// A tablet whose clock was wrong (reset to 1 January 2000, or five days ahead) logs a day the
/// relay will not count: it used to refuse the tablet's whole connection for good. Now the day is
/// set aside (the tablet told so), the tablet's correct day syncs beside it, and the coordinator
/// sees both on the scheme's page: one filed under the date it arrived (then counted, the tablet
/// following), the other discarded. Both audited.
#[tokio::test]
async fn a_wrong_clocks_day_is_set_aside_then_filed_or_discarded() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let mut c = Signed::create(&server, "coordinator", Some(&fx.scheme), "coordinator@example.org").await.unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "wrong-clock").await.unwrap();
    let y2k = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let ahead = today() + chrono::Duration::days(5);
    let mut days = Vec::new();
    for day in [y2k, ahead] {
        let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
        t.change(d, |tx| schema::write_referral(tx, &referral_on(&format!("on-{day}"), day)).unwrap()).await.unwrap();
        t.synced(d, T).await.unwrap();
        days.push(d);
    }
    let noticed = |e: &Event, d: DocumentId| matches!(e, Event::Notice { doc, notice } if *doc == d && notice.code == "set-aside");
    for d in &days {
        if !t.events.iter().any(|e| noticed(e, *d)) {
            t.until(T, |e| noticed(e, *d)).await.unwrap();
        }
    }
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today())).await.unwrap();
    t.change(d, |tx| schema::write_referral(tx, &referral_on("right", today())).unwrap()).await.unwrap();
    t.synced(d, T).await.unwrap();
    assert!(t.closed.is_none(), "the connection was not refused");
    assert_eq!(referral_count(&server, &fx, &ymd(today())).await.unwrap(), 1, "only the right day counts");

    let page = c.v.get(&server.url, &format!("/manage/schemes/{}", fx.scheme)).await.unwrap();
    assert!(page.body.contains("Days set aside") && page.body.contains("01/01/2000"), "{}", page.body);
    // File the first under the date it arrived.
    let file = format!("/manage/schemes/{}/set-aside/{}/file", fx.scheme, days[0]);
    let confirm = c.v.get(&server.url, &file).await.unwrap();
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("File the day dated 01/01/2000 under"), "{}", confirm.body);
    let csrf = c.csrf.clone();
    let done = c.v.post(&server.url, &file, &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(done.status, 303, "{}", done.body);
    let back = c.v.get(&server.url, done.header("location").unwrap()).await.unwrap();
    assert!(back.body.contains("filed under the date it arrived"), "{}", back.body);
    assert_eq!(referral_count(&server, &fx, &ymd(today())).await.unwrap(), 2, "filed, it counts today");
    let told = |e: &Event| matches!(e, Event::Unavailable(x) if *x == days[0]);
    t.until(T, told).await.unwrap();
    // Discard the other.
    let discard = format!("/manage/schemes/{}/set-aside/{}/discard", fx.scheme, days[1]);
    let done = c.v.post(&server.url, &discard, &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(done.status, 303, "{}", done.body);
    let page = c.v.get(&server.url, &format!("/manage/schemes/{}", fx.scheme)).await.unwrap();
    assert!(!page.body.contains("Days set aside"), "none left");
    // Again: nothing to do.
    assert_eq!(c.v.post(&server.url, &discard, &[("csrf", &csrf)]).await.unwrap().status, 404);
    let audit = c.v.get(&server.url, "/manage/audit").await.unwrap();
    let _ = audit; // coordinators do not read the whole log; the domain test checks the rows.
}

/// A closed desk's tablet is refused days dated after it closed, and told so; its earlier days
/// still sync on the same connection.
#[tokio::test]
async fn a_closed_desk_takes_no_later_day() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let mut c = Signed::create(&server, "coordinator", Some(&fx.scheme), "coordinator@example.org").await.unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "desk").await.unwrap();
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today())).await.unwrap();
    t.synced(d, T).await.unwrap();
    let csrf = c.csrf.clone();
    let path = format!("/manage/schemes/{}/sites/{}", fx.scheme, fx.site_a);
    let closed = c.v.post(&server.url, &path, &[("csrf", &csrf), ("name", "Court A"), ("state", "closed")]).await.unwrap();
    assert_eq!(closed.status, 303, "{}", closed.body);
    let tomorrow = today() + chrono::Duration::days(1);
    let later = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, tomorrow)).await.unwrap();
    let refused = t.until(T, |e| matches!(e, Event::Refused { doc, .. } if *doc == later)).await.unwrap();
    assert!(matches!(&refused, Event::Refused { refusal, .. } if refusal.code == "desk-closed"), "{refused:?}");
    t.change(d, |tx| schema::write_referral(tx, &referral_on("before-closing", today())).unwrap()).await.unwrap();
    t.synced(d, T).await.unwrap();
    assert_eq!(referral_count(&server, &fx, &ymd(today())).await.unwrap(), 1);
}
