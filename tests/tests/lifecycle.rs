//! The data lifecycle against the real binary: a scheme's retention period set on its page,
//! desk-days past it purged by `signpost admin purge` (relay running) and by the relay's own
//! daily job, no byte of them left in the database's files, and a tablet that still holds one
//! unable to bring it back. (Erasure is in `erasure.rs`.)

use chrono::{Months, NaiveDate};
use signpost_harness::{admin, data_files_contain as in_files, referral_count, snapshot, Server, Signed};
use signpost_shared::peer::Event;
use signpost_shared::schema::{self, Header};
use signpost_sim::Tablet;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn months_ago(n: u32) -> NaiveDate {
    today().checked_sub_months(Months::new(n)).unwrap()
}

/// Sets the scheme's retention on its page, as its coordinator does; the page's status.
async fn set_retention(c: &mut Signed, server: &Server, scheme: &str, months: &str, days: &str) -> u16 {
    let path = format!("/manage/schemes/{scheme}/retention");
    let csrf = c.csrf.clone();
    c.v.post(&server.url, &path, &[("csrf", &csrf), ("months", months), ("tablet_days", days)]).await.unwrap().status
}

/// Logs one referral whose notes hold `marker` into the site's day and waits until it is stored.
async fn log_day(
    t: &mut Tablet,
    scheme: &str,
    site: &str,
    day: NaiveDate,
    marker: &str,
) -> signpost_shared::ids::DocumentId {
    let d = t.open_day(&Header::desk_day(scheme, site, day)).await.unwrap();
    let mut r = signpost_harness::referral_on(&format!("{marker}-id"), day);
    r.notes = Some(format!("{marker} called back"));
    t.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    t.synced(d, T).await.unwrap();
    d
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn days_past_the_retention_period_are_purged_for_good_and_never_come_back() {
    let (mut server, fx) = Server::start_fresh(&["--days-back", "2000"]).unwrap();
    let mut coord = Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    // Bad input changes nothing.
    for (months, days) in [("5", "7"), ("121", "7"), ("36", "32"), ("three", "7"), ("", "")] {
        assert_eq!(set_retention(&mut coord, &server, &fx.scheme, months, days).await, 400, "{months} {days}");
    }
    // Ten years while the history is logged (a tablet's connection learns the period).
    assert_eq!(set_retention(&mut coord, &server, &fx.scheme, "120", "7").await, 303);
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "tablet-a").await.unwrap();
    let (old, edge, recent) = (months_ago(37), months_ago(36), today() - chrono::Duration::days(7));
    let old_doc = log_day(&mut t, &fx.scheme, &fx.site_a, old, "MARKER-OLD").await;
    log_day(&mut t, &fx.scheme, &fx.site_a, edge, "MARKER-EDGE").await;
    let recent_doc = log_day(&mut t, &fx.scheme, &fx.site_a, recent, "MARKER-RECENT").await;
    assert_eq!(referral_count(&server, &fx, &ymd(old)).await.unwrap(), 1);

    // Back to three years: the page shows it and the tablets' directory carries it.
    assert_eq!(set_retention(&mut coord, &server, &fx.scheme, "36", "5").await, 303);
    let page = coord.v.get(&server.url, &format!("/manage/schemes/{}", fx.scheme)).await.unwrap();
    let input = |id: &str| {
        let at = page.body.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("no {id}: {}", page.body));
        page.body[at..].split('>').next().unwrap().to_owned()
    };
    assert!(input("retention-months").contains(r#"value="36""#), "{}", input("retention-months"));
    assert!(input("tablet-days").contains(r#"value="5""#), "{}", input("tablet-days"));
    let dir = schema::directory_id(&fx.scheme);
    assert!(t.find(dir, T).await.unwrap());
    t.wait_until(T, |p| p.doc(&dir).is_some_and(|d| schema::read_tablet_days(d) == Some(5))).await.unwrap();
    assert_eq!(schema::read_retention_months(t.peer.doc(&dir).unwrap()), Some(36));

    // The purge, with the relay running: the day before the boundary goes, the rest stay.
    let printed = admin(&server.data, &["purge"]).unwrap();
    assert!(printed.starts_with("removed 1 desk-days"), "{printed}");
    assert!(printed.contains(&ymd(old)) && printed.contains(&old_doc.to_string()), "{printed}");
    assert_eq!(referral_count(&server, &fx, &ymd(old)).await.unwrap(), 0);
    assert_eq!(referral_count(&server, &fx, &ymd(edge)).await.unwrap(), 1);
    assert_eq!(referral_count(&server, &fx, &ymd(recent)).await.unwrap(), 1);
    assert!(!in_files(&server.data, "MARKER-OLD"), "the purged day's notes are still in the database's files");
    assert!(
        in_files(&server.data, "MARKER-EDGE") && in_files(&server.data, "MARKER-RECENT"),
        "the scan finds kept notes"
    );

    // The tablet that still holds the day is told it is gone (the relay learns within a tick),
    // and what it logs there is refused: nothing stored.
    let told = |e: &Event| matches!(e, Event::Unavailable(d) if *d == old_doc);
    if !t.run_for(Duration::from_millis(1500)).await.unwrap().iter().any(told) {
        panic!("the tablet was not told the day is gone");
    }
    let before = snapshot(&server.data);
    let mut again = signpost_harness::referral_on("again", old);
    again.notes = Some("MARKER-AGAIN".into());
    t.change(old_doc, |tx| schema::write_referral(tx, &again).unwrap()).await.unwrap();
    t.until(T, told).await.unwrap();
    // A tablet that never had it creates the day afresh: at its own id it is told the day is
    // gone; at a random id (as automerge-repo's `create` names one) that day is refused, with a
    // reason.
    let mut fresh = Tablet::connect(&server.url, &fx.token_a2, "tablet-a2").await.unwrap();
    let d = fresh.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, old)).await.unwrap();
    fresh.change(d, |tx| schema::write_referral(tx, &again).unwrap()).await.unwrap();
    fresh.until(T, told).await.unwrap();
    let elsewhere = signpost_shared::ids::DocumentId::random(rand::random());
    let mut doc = automerge::Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &Header::desk_day(&fx.scheme, &fx.site_a, old)).unwrap();
    schema::write_referral(&mut tx, &again).unwrap();
    tx.commit();
    let out = fresh.peer.insert(elsewhere, doc, None);
    fresh.send(out).await.unwrap();
    let refused = fresh.synced_or_refused(elsewhere, T).await.unwrap().expect("refused");
    assert!(refused.message.contains("retention period"), "{refused:?}");
    assert_eq!(refused.code, "past-retention");
    assert!(fresh.closed.is_none(), "that day is refused, not the tablet");
    assert_eq!(snapshot(&server.data), before, "nothing of a purged day is stored again");
    assert!(!in_files(&server.data, "MARKER-AGAIN"));
    // The relay goes on serving the tablet's other days.
    let r = signpost_harness::referral_on("later", recent);
    t.change(recent_doc, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    t.synced(recent_doc, T).await.unwrap();
    assert_eq!(referral_count(&server, &fx, &ymd(recent)).await.unwrap(), 2);

    // The relay's own job purges when it starts (and daily after): another site's old day,
    // logged while the period was ten years again, is gone once the relay restarts.
    assert_eq!(set_retention(&mut coord, &server, &fx.scheme, "120", "7").await, 303);
    let mut b = Tablet::connect(&server.url, &fx.token_b, "tablet-b").await.unwrap();
    let b_old = log_day(&mut b, &fx.scheme, &fx.site_b, old, "MARKER-B-OLD").await;
    assert_eq!(set_retention(&mut coord, &server, &fx.scheme, "36", "7").await, 303);
    drop(b);
    server.restart(&["--days-back", "2000"]).unwrap();
    let gone = signpost_harness::eventually(T, || async {
        let db = signpost_harness::store::connect(&server.data);
        db.query_row("SELECT count(*) FROM retired_documents WHERE id = ?1", [b_old.to_string()], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
            == 1
    })
    .await;
    assert!(gone, "the relay purged at start");
    // The day's row is retired as its transaction commits; the write-ahead log still holds the
    // old pages until the purge's checkpoint, a moment later.
    let scrubbed = signpost_harness::eventually(T, || async { !in_files(&server.data, "MARKER-B-OLD") }).await;
    assert!(scrubbed, "the purged day's notes are still in the database's files");
    let db = signpost_harness::store::connect(&server.data);
    let audited: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'purged records past the retention period'",
            (),
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 2, "each purge that removed something is audited");
}
