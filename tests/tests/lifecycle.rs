//! The data lifecycle against the real binary: a scheme's retention period set on its page,
//! desk-days past it purged by `signpost admin purge` (relay running) and by the relay's own
//! daily job, no byte of them left in the database's files, and a tablet that still holds one
//! unable to bring it back.

use chrono::{Months, NaiveDate};
use signpost_harness::{admin, referral_count, snapshot, Server, Signed};
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
    let mut r = signpost_shared::testkit::referral(&format!("{marker}-id"));
    r.notes = Some(format!("{marker} called back"));
    t.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    t.synced(d, T).await.unwrap();
    d
}

/// Whether any of the data folder's files (database, write-ahead log, shared memory) holds `marker`.
fn in_files(data: &std::path::Path, marker: &str) -> bool {
    std::fs::read_dir(data).unwrap().any(|f| {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    })
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
    assert!(
        page.body.contains(
            r#"id="retention-months" name="months" type="text" inputmode="numeric" spellcheck="false" value="36""#
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains(
        r#"id="tablet-days" name="tablet_days" type="text" inputmode="numeric" spellcheck="false" value="5""#
    ));
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
    let mut again = signpost_shared::testkit::referral("again");
    again.notes = Some("MARKER-AGAIN".into());
    t.change(old_doc, |tx| schema::write_referral(tx, &again).unwrap()).await.unwrap();
    t.until(T, told).await.unwrap();
    // A tablet that never had it creates the day afresh: at its own id it is told the day is
    // gone; at a random id (as automerge-repo's `create` names one) it is refused with a reason.
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
    assert!(fresh.run_for(T).await.is_err(), "the relay closes the connection");
    let reason = fresh.closed.clone().unwrap_or_default();
    assert!(reason.contains("retention period"), "{reason}");
    assert_eq!(snapshot(&server.data), before, "nothing of a purged day is stored again");
    assert!(!in_files(&server.data, "MARKER-AGAIN"));
    // The relay goes on serving the tablet's other days.
    let r = signpost_shared::testkit::referral("later");
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
        let db = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
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
    let db = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let audited: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'purged records past the retention period'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 2, "each purge that removed something is audited");
}

/// `signpost admin erase-referral` with the relay running: the day is replaced by a copy without
/// the referral, no byte of it stays in the database's files, it is no longer counted, and a
/// tablet still holding the old day is told it is gone. (Tablets carrying their entries over to
/// the new day come with the tablet app's side of erasure.)
#[tokio::test]
async fn an_erased_referral_leaves_the_relays_files_and_its_figures() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "tablet-a").await.unwrap();
    let day = today() - chrono::Duration::days(1);
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    for (id, notes) in [("keep-1", "MARKER-KEEP-1"), ("gone", "MARKER-GONE"), ("keep-2", "MARKER-KEEP-2")] {
        let mut r = signpost_shared::testkit::referral(id);
        r.notes = Some(notes.into());
        t.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    }
    t.synced(d, T).await.unwrap();
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 3);
    assert!(in_files(&server.data, "MARKER-GONE"), "the scan finds stored notes");

    let printed = admin(&server.data, &["erase-referral", "gone"]).unwrap();
    assert!(printed.starts_with(&format!("{d} replaced by ")), "{printed}");
    assert!(!in_files(&server.data, "MARKER-GONE"), "the erased notes are still in the database's files");
    assert!(in_files(&server.data, "MARKER-KEEP-1") && in_files(&server.data, "MARKER-KEEP-2"));
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 2, "no longer counted");
    let told = |e: &Event| matches!(e, Event::Unavailable(x) if *x == d);
    if !t.run_for(Duration::from_millis(1500)).await.unwrap().iter().any(told) {
        panic!("the tablet was not told the old day is gone");
    }
    // An unknown entry: a clear error, nothing changed.
    let before = snapshot(&server.data);
    assert!(admin(&server.data, &["erase-referral", "nobody"]).is_err());
    assert_eq!(snapshot(&server.data), before);
}

/// Erasure and redaction through the API with an administrator credential, the relay running:
/// the answer names each day's replacement, the content leaves every file, the figures follow
/// (an erased referral no longer counted, a redacted one still), a tablet of the site learns
/// where its day went (through any number of replacements) and another site's learns nothing,
/// and a fresh tablet reads the rewritten day.
#[tokio::test]
async fn erasure_and_redaction_through_the_api() {
    use signpost_harness::http::http_post;
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "tablet-a").await.unwrap();
    let day = today() - chrono::Duration::days(1);
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    for (id, notes) in [("keep", "MARKER-KEEP"), ("red", "MARKER-RED"), ("gone", "MARKER-GONE")] {
        let mut r = signpost_shared::testkit::referral(id);
        r.notes = Some(notes.into());
        t.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    }
    t.synced(d, T).await.unwrap();
    let url = |entry: &str, what: &str| format!("{}/api/v1/referrals/{entry}/{what}", server.url);
    let none = serde_json::json!({});

    // Who may, and bad input: nothing changes.
    let before = snapshot(&server.data);
    assert_eq!(http_post(&url("gone", "erase"), None, &none).await.unwrap().0, 401);
    assert_eq!(http_post(&url("gone", "erase"), Some(&fx.token_a1), &none).await.unwrap().0, 403);
    assert_eq!(http_post(&url("a%20b", "erase"), Some(&fx.admin), &none).await.unwrap().0, 400);
    let long = "x".repeat(129);
    assert_eq!(http_post(&url(&long, "redact-notes"), Some(&fx.admin), &none).await.unwrap().0, 400);
    let (status, body) = http_post(&url("nobody", "erase"), Some(&fx.admin), &none).await.unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("nobody"), "{body}");
    assert_eq!(snapshot(&server.data), before, "refused requests change nothing");

    // Redaction: the notes go, the referral stays counted.
    let (status, body) = http_post(&url("red", "redact-notes"), Some(&fx.admin), &none).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["days"][0]["old"], d.to_string(), "{body}");
    let first: signpost_shared::ids::DocumentId = body["days"][0]["new"].as_str().unwrap().parse().unwrap();
    assert!(!in_files(&server.data, "MARKER-RED"), "redacted notes are still in the database's files");
    assert!(in_files(&server.data, "MARKER-GONE"));
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 3, "a redacted referral stays counted");

    // Erasure of another referral of the same day: a second replacement.
    let (status, body) = http_post(&url("gone", "erase"), Some(&fx.admin), &none).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["days"][0]["old"], first.to_string(), "{body}");
    let second: signpost_shared::ids::DocumentId = body["days"][0]["new"].as_str().unwrap().parse().unwrap();
    assert!(!in_files(&server.data, "MARKER-GONE"), "the erased notes are still in the database's files");
    assert!(in_files(&server.data, "MARKER-KEEP"));
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 2, "an erased referral is no longer counted");
    // Erased once, gone: asking again finds nothing.
    assert_eq!(http_post(&url("gone", "erase"), Some(&fx.admin), &none).await.unwrap().0, 404);

    // Where the day went: the site's tablets learn it, through both replacements.
    let fate = |token: &str, doc: signpost_shared::ids::DocumentId| {
        let u = format!("{}/api/v1/device/documents/{doc}", server.url);
        let token = token.to_owned();
        async move { signpost_harness::http::http_get(&u, Some(&token)).await.unwrap() }
    };
    let (status, body) = fate(&fx.token_a1, d).await;
    assert_eq!(
        (status, body["state"].as_str(), body["replaced_by"].as_str()),
        (200, Some("replaced"), Some(&*second.to_string())),
        "{body}"
    );
    assert_eq!(fate(&fx.token_a2, second).await.1["state"], "stored");
    assert_eq!(fate(&fx.token_b, d).await.0, 404, "another site's tablet learns nothing of this site's days");
    assert_eq!(fate(&fx.token_b, second).await.0, 404);
    assert_eq!(fate(&fx.admin, d).await.0, 403);

    // A fresh tablet of the site reads the rewritten day: what stays, without what went.
    let mut fresh = Tablet::connect(&server.url, &fx.token_a2, "tablet-a2").await.unwrap();
    assert!(fresh.find(second, T).await.unwrap());
    let doc = fresh.peer.doc(&second).unwrap();
    let keep = schema::read_referral(doc, "keep").unwrap().unwrap();
    assert_eq!(keep.notes.as_deref(), Some("MARKER-KEEP"));
    let red = schema::read_referral(doc, "red").unwrap().unwrap();
    assert_eq!(red.notes, None);
    assert!(schema::read_referral(doc, "gone").unwrap().is_none());
    // The audit says who, what and which day, never the content.
    let db = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let mut stmt = db.prepare("SELECT actor, action, detail FROM audit_log WHERE action LIKE 'referral%'").unwrap();
    let rows: Vec<(String, String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|(who, _, detail)| who == "administrator credential" && !detail.contains("MARKER")),
        "{rows:?}"
    );
}

/// Erasure while tablets of the site are away: one offline (its socket gone, the app open) and
/// one closed (only what it saved on the device), each with entries of its own in the day that
/// the relay never acknowledged, one of them a correction to the referral being erased. Both
/// come back, learn where the day went, and carry their entries over: nothing of theirs is lost,
/// the erased referral does not come back, and no byte of it stays on the relay or the tablets.
#[tokio::test]
async fn tablets_away_during_an_erasure_keep_their_entries_and_the_erased_one_stays_gone() {
    use signpost_harness::http::{http_get, http_post};
    use signpost_shared::ids::DocumentId;
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = today();
    let header = Header::desk_day(&fx.scheme, &fx.site_a, day);
    let referral = |id: &str, notes: &str| {
        let mut r = signpost_shared::testkit::referral(id);
        r.notes = Some(notes.into());
        r
    };
    let mut a = Tablet::connect(&server.url, &fx.token_a1, "tablet-a").await.unwrap();
    let d = a.open_day(&header).await.unwrap();
    for (id, notes) in [("keep", "MARKER-KEEP"), ("gone", "MARKER-GONE")] {
        let r = referral(id, notes);
        a.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    }
    a.synced(d, T).await.unwrap();
    let mut b = Tablet::connect(&server.url, &fx.token_a2, "tablet-b").await.unwrap();
    assert!(b.find(d, T).await.unwrap());

    // Away: a offline with the app open, b closed (what it saved: the day and its sync state).
    let mut a_peer = a.disconnect().await;
    let b_peer = b.disconnect().await;
    let b_saved = (b_peer.doc(&d).unwrap().save(), b_peer.saved_state(&d));
    drop(b_peer);
    let mut offline = |p: &mut signpost_shared::peer::Peer, r: schema::Referral| {
        p.change(d, |tx| schema::write_referral(tx, &r).unwrap()).unwrap();
    };
    offline(&mut a_peer, referral("a-offline", "MARKER-A-OFFLINE"));
    offline(&mut a_peer, referral("gone", "MARKER-GONE-CORRECTED"));
    let mut b_doc = automerge::Automerge::load(&b_saved.0).unwrap();
    let mut tx = b_doc.transaction();
    schema::write_referral(&mut tx, &referral("b-closed", "MARKER-B-CLOSED")).unwrap();
    tx.commit();

    // The erasure, while they are away.
    let url = format!("{}/api/v1/referrals/gone/erase", server.url);
    let (status, body) = http_post(&url, Some(&fx.admin), &serde_json::json!({})).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let new: DocumentId = body["days"][0]["new"].as_str().unwrap().parse().unwrap();

    // Back: the relay says the old day is unavailable; the server says where it went.
    let follow = |t: Tablet, token: String| {
        let base = server.url.clone();
        async move {
            let mut t = t;
            t.until(T, |e| matches!(e, Event::Unavailable(x) if *x == d)).await.unwrap();
            let (status, fate) = http_get(&format!("{base}/api/v1/device/documents/{d}"), Some(&token)).await.unwrap();
            assert_eq!((status, fate["state"].as_str()), (200, Some("replaced")), "{fate}");
            let to: DocumentId = fate["replaced_by"].as_str().unwrap().parse().unwrap();
            let carried = t.follow_replacement(d, to, T).await.unwrap();
            t.synced(to, T).await.unwrap();
            (t, to, carried)
        }
    };
    let a = Tablet::connect_with(&server.url, &fx.token_a1, a_peer).await.unwrap();
    let (a, to, carried) = follow(a, fx.token_a1.clone()).await;
    assert_eq!(to, new);
    assert_eq!(carried, 1, "a-offline carried over; the correction to the erased referral not");
    let mut b_peer = signpost_shared::peer::Peer::new("tablet-b".into());
    let _ = b_peer.insert(d, b_doc, b_saved.1.as_deref());
    let b = Tablet::connect_with(&server.url, &fx.token_a2, b_peer).await.unwrap();
    let (mut b, _, carried) = follow(b, fx.token_a2.clone()).await;
    assert_eq!(carried, 1, "b-closed carried over");

    // Everything of theirs arrived; the erased referral did not come back.
    assert!(b
        .wait_until(T, |p| p.doc(&new).is_some_and(|x| schema::read_referral(x, "a-offline").ok().flatten().is_some()))
        .await
        .is_ok());
    let ids = |t: &Tablet| {
        let doc = t.peer.doc(&new).unwrap();
        let mut ids: Vec<String> =
            schema::entry_keys(doc).into_iter().map(|k| k.root_key()).filter(|k| k.starts_with("referral:")).collect();
        ids.sort();
        ids
    };
    let expected = ["referral:a-offline", "referral:b-closed", "referral:keep"];
    assert_eq!(ids(&b), expected);
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 3, "keep, a-offline and b-closed are counted");
    for marker in ["MARKER-GONE", "MARKER-GONE-CORRECTED"] {
        assert!(!in_files(&server.data, marker), "{marker} is in the relay's files");
    }
    assert!(in_files(&server.data, "MARKER-KEEP"), "the scan finds the notes kept");
    // The tablets hold the new day only, and no byte of the erased referral.
    for t in [&a, &b] {
        assert!(t.peer.doc(&d).is_none(), "the old day is dropped");
        let plain = t.peer.doc(&new).unwrap().save_nocompress();
        assert!(!plain.windows(11).any(|w| w == b"MARKER-GONE"), "the erased notes are on a tablet");
    }
}
