//! Erasure and redaction against the real binary: from the command line, the API and the
//! coordinator's pages, with the relay running; no byte of the content left in the database's
//! files or on the tablets; tablets away at the time carrying their own entries over.

use chrono::NaiveDate;
use signpost_harness::{admin, data_files_contain as in_files, referral_count, snapshot, Server};
use signpost_shared::peer::Event;
use signpost_shared::schema::{self, Header};
use signpost_sim::Tablet;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `signpost admin erase-referral` with the relay running: the day is replaced by a copy without
/// the referral, no byte of it stays in the database's files, it is no longer counted, and a
/// tablet still holding the old day is told it is gone; then `redact-notes` with the relay
/// stopped.
#[tokio::test]
async fn an_erased_referral_leaves_the_relays_files_and_its_figures() {
    let (mut server, fx) = Server::start_fresh(&[]).unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "tablet-a").await.unwrap();
    let day = today() - chrono::Duration::days(1);
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    for (id, notes) in [("keep-1", "MARKER-KEEP-1"), ("gone", "MARKER-GONE"), ("keep-2", "MARKER-KEEP-2")] {
        let mut r = signpost_harness::referral_on(id, day);
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

    // With the relay stopped: the same, and the relay started afterwards serves the result.
    server.kill();
    let printed = admin(&server.data, &["redact-notes", "keep-1"]).unwrap();
    assert!(printed.contains(" replaced by "), "{printed}");
    assert!(!in_files(&server.data, "MARKER-KEEP-1"), "redacted notes are still in the database's files");
    server.restart(&[]).unwrap();
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 2, "a redacted referral stays counted");
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
        let mut r = signpost_harness::referral_on(id, day);
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
    let db = signpost_harness::store::connect(&server.data);
    let mut stmt = db.prepare("SELECT actor, action, detail FROM audit_log WHERE action LIKE 'referral%'").unwrap();
    let rows: Vec<(String, String, String)> =
        stmt.query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
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
        let mut r = signpost_harness::referral_on(id, day);
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
    let offline = |p: &mut signpost_shared::peer::Peer, r: schema::Referral| {
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

async fn page(c: &mut signpost_harness::Signed, base: &str, path: String) -> signpost_harness::Reply {
    c.v.get(base, &path).await.unwrap()
}

/// The coordinator's pages: find the day's referrals by site, day and category (no notes in the
/// list; each search audited), open one (audited: it shows the notes), confirm, erase; then
/// redact another's notes. Another scheme's coordinator can do none of it; a form without its
/// token changes nothing.
#[tokio::test]
async fn a_coordinator_finds_opens_and_erases_a_referral_on_the_web_pages() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "tablet-a").await.unwrap();
    let day = today();
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    for (id, notes) in [("web-keep", "MARKER-WEB-KEEP"), ("web-gone", "MARKER-WEB-GONE")] {
        let mut r = signpost_harness::referral_on(id, day);
        r.notes = Some(notes.into());
        if id == "web-gone" {
            r.agency = schema::AgencyRef::Directory("citizens-advice".into());
        }
        t.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    }
    t.synced(d, T).await.unwrap();
    let scheme = fx.scheme.clone();
    let mut c = signpost_harness::Signed::create(&server, "coordinator", Some(&scheme), "c@example.org").await.unwrap();
    let base = server.url.clone();
    let list = format!("/manage/schemes/{scheme}/referrals");

    let home = page(&mut c, &base, format!("/manage/schemes/{scheme}")).await;
    assert!(home.body.contains(&format!(r#"href="{list}""#)), "the scheme page links to the search");
    let bad = page(&mut c, &base, format!("{list}?site={}&day=30-11-2026", fx.site_a)).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("govuk-error-summary") && bad.body.contains("Enter the day"), "{}", bad.body);
    let found = page(&mut c, &base, format!("{list}?site={}&day={}", fx.site_a, ymd(day))).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.body.contains(&format!("{list}/web-keep")) && found.body.contains(&format!("{list}/web-gone")));
    assert!(!found.body.contains("MARKER"), "the list shows no notes");
    let other_category =
        page(&mut c, &base, format!("{list}?site={}&day={}&category=debt-benefits-finance", fx.site_a, ymd(day))).await;
    assert!(other_category.body.contains("No referral of that site and day matches"), "{}", other_category.body);
    let housing = page(&mut c, &base, format!("{list}?site={}&day={}&category=housing", fx.site_a, ymd(day))).await;
    assert!(housing.body.contains(&format!("{list}/web-gone")), "{}", housing.body);

    let opened = page(&mut c, &base, format!("{list}/web-gone")).await;
    assert_eq!(opened.status, 200);
    assert!(opened.body.contains("MARKER-WEB-GONE") && opened.body.contains(&format!("{list}/web-gone/erase")));
    assert!(opened.body.contains("Citizens Advice"), "the agency by its name in the scheme's directory");
    let confirm = page(&mut c, &base, format!("{list}/web-gone/erase")).await;
    assert!(confirm.body.contains("This cannot be undone") && confirm.body.contains("Erase referral"));
    assert_eq!(page(&mut c, &base, format!("{list}/web-gone/delete")).await.status, 404);

    // Another scheme's coordinator, and a form without its token: nothing changes.
    let other = admin(&server.data, &["create-scheme", "Other Scheme"]).unwrap();
    let mut o = signpost_harness::Signed::create(&server, "coordinator", Some(&other), "o@example.org").await.unwrap();
    let before = snapshot(&server.data);
    assert_eq!(page(&mut o, &base, format!("{list}/web-gone")).await.status, 403);
    let o_csrf = o.csrf.clone();
    assert_eq!(
        o.v.post(&server.url, &format!("{list}/web-gone/erase"), &[("csrf", &o_csrf)]).await.unwrap().status,
        403
    );
    let other_list = format!("/manage/schemes/{other}/referrals");
    assert_eq!(
        o.v.post(&server.url, &format!("{other_list}/web-gone/erase"), &[("csrf", &o_csrf)]).await.unwrap().status,
        404
    );
    assert_eq!(
        c.v.post(&server.url, &format!("{list}/web-gone/erase"), &[("csrf", "wrong")]).await.unwrap().status,
        403
    );
    let audit_rows = |what: &str| {
        let db = signpost_harness::store::connect(&server.data);
        db.query_row("SELECT count(*) FROM audit_log WHERE action = ?1", [what], |r| r.get::<_, i64>(0)).unwrap()
    };
    let searches = audit_rows("searched referrals to correct the record");
    assert_eq!(snapshot(&server.data), before, "refused requests change nothing");
    assert_eq!(searches, 3, "each search that listed referrals is audited");
    assert_eq!(audit_rows("opened a referral to correct the record"), 1);

    // Erase.
    let csrf = c.csrf.clone();
    let done = c.v.post(&server.url, &format!("{list}/web-gone/erase"), &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(done.status, 303);
    let to = done.header("location").unwrap().to_owned();
    assert!(to.contains("done=erased"), "{to}");
    let after = page(&mut c, &base, to).await;
    assert!(after.body.contains("The referral was erased") && !after.body.contains(&format!("{list}/web-gone")));
    assert!(!in_files(&server.data, "MARKER-WEB-GONE"), "the erased notes are still in the database's files");
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 1);
    assert_eq!(page(&mut c, &base, format!("{list}/web-gone")).await.status, 404, "erased: nothing to open");

    // Redact the other's notes: it stays counted.
    let done = c.v.post(&server.url, &format!("{list}/web-keep/redact-notes"), &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(done.status, 303);
    assert!(!in_files(&server.data, "MARKER-WEB-KEEP"));
    assert_eq!(referral_count(&server, &fx, &ymd(day)).await.unwrap(), 1);
    let opened = page(&mut c, &base, format!("{list}/web-keep")).await;
    assert!(opened.status == 200 && !opened.body.contains("redact-notes"), "no notes left to remove");
    assert_eq!(audit_rows("referral erased") + audit_rows("referral notes redacted"), 2);
}

/// A second scheme, X, with a site and a tablet's credential: (scheme, site, token).
fn scheme_x(server: &Server) -> (String, String, String) {
    let x = admin(&server.data, &["create-scheme", "Scheme X"]).unwrap();
    let site = admin(&server.data, &["create-site", "--scheme", &x, "Prison"]).unwrap();
    let token = admin(&server.data, &["issue-device-token", "--site", &site]).unwrap();
    (x, site, token)
}

/// Stores a day of `site` with the given referrals (id, notes); its document.
async fn day_with(
    server: &Server,
    token: &str,
    scheme: &str,
    site: &str,
    entries: &[(&str, &str)],
) -> signpost_shared::ids::DocumentId {
    let mut t = Tablet::connect(&server.url, token, "tablet").await.unwrap();
    let day = today();
    let d = t.open_day(&Header::desk_day(scheme, site, day)).await.unwrap();
    for (id, notes) in entries {
        let mut r = signpost_harness::referral_on(id, day);
        r.notes = Some((*notes).into());
        t.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    }
    t.synced(d, T).await.unwrap();
    d
}

/// Everything stored of one scheme: its documents' chunks, its facts and its audit rows.
fn stored_of(server: &Server, scheme: &str) -> String {
    let db = signpost_harness::store::connect(&server.data);
    let mut out = String::new();
    for sql in [
        "SELECT c.seq || ' ' || c.doc_id || ' ' || hex(c.bytes) FROM doc_chunks c JOIN documents d ON d.id = c.doc_id WHERE d.scheme_id = ?1 ORDER BY c.seq",
        "SELECT doc_id || ' ' || id || ' ' || voided FROM referral_facts WHERE scheme_id = ?1 ORDER BY 1",
        "SELECT seq || ' ' || actor || ' ' || action || ' ' || detail FROM audit_log WHERE scheme_id = ?1 ORDER BY seq",
    ] {
        let mut stmt = db.prepare(sql).unwrap();
        for row in stmt.query_map([scheme], |r| r.get::<_, String>(0)).unwrap() {
            out.push_str(&row.unwrap());
            out.push('\n');
        }
    }
    out
}

/// Referral ids are the writer's: schemes A and X each hold an `r-0001`. Without a scheme the
/// API answers 409 naming both and the command line refuses naming both, and nothing changes;
/// with one, only that scheme's referral is erased or redacted, the other scheme's stored bytes
/// untouched; a scheme that lacks it is 404.
#[tokio::test]
async fn an_id_two_schemes_hold_is_changed_only_in_the_scheme_named() {
    use signpost_harness::http::http_post;
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let (x, x_site, x_token) = scheme_x(&server);
    day_with(&server, &fx.token_a1, &fx.scheme, &fx.site_a, &[("r-0001", "MARKER-A-ONE")]).await;
    let x_day =
        day_with(&server, &x_token, &x, &x_site, &[("r-0001", "MARKER-X-ONE"), ("r-0002", "MARKER-X-TWO")]).await;
    let url = |what: &str, query: &str| format!("{}/api/v1/referrals/r-0001/{what}{query}", server.url);
    let none = serde_json::json!({});

    // Ambiguous: refused, naming both schemes, from the API and the command line alike.
    let before = snapshot(&server.data);
    for what in ["erase", "redact-notes"] {
        let (status, body) = http_post(&url(what, ""), Some(&fx.admin), &none).await.unwrap();
        assert_eq!(status, 409, "{body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(&fx.scheme) && message.contains(&x) && message.contains("?scheme="), "{message}");
    }
    for what in ["erase-referral", "redact-notes"] {
        let refused = admin(&server.data, &[what, "r-0001"]).unwrap_err().to_string();
        assert!(refused.contains(&fx.scheme) && refused.contains(&x) && refused.contains("--scheme"), "{refused}");
    }
    // A scheme that holds no such referral, or does not exist: 404.
    let other = admin(&server.data, &["create-scheme", "Scheme Y"]).unwrap();
    let before = {
        assert!(snapshot(&server.data).len() > before.len(), "scheme Y is new");
        snapshot(&server.data)
    };
    for scheme in [other.as_str(), "sch-nonexistent"] {
        let (status, body) =
            http_post(&url("erase", &format!("?scheme={scheme}")), Some(&fx.admin), &none).await.unwrap();
        assert_eq!(status, 404, "{body}");
    }
    assert!(admin(&server.data, &["erase-referral", "--scheme", &other, "r-0001"]).is_err());
    assert_eq!(snapshot(&server.data), before, "refused requests change nothing");

    // Named: A's referral's notes from the command line, then X's referral through the API.
    let x_before = stored_of(&server, &x);
    let printed = admin(&server.data, &["redact-notes", "--scheme", &fx.scheme, "r-0001"]).unwrap();
    assert!(printed.contains(" replaced by "), "{printed}");
    assert!(!in_files(&server.data, "MARKER-A-ONE") && in_files(&server.data, "MARKER-X-ONE"));
    assert_eq!(stored_of(&server, &x), x_before, "X's stored bytes, facts and audit log are untouched");
    let a_before = stored_of(&server, &fx.scheme);
    let (status, body) = http_post(&url("erase", &format!("?scheme={x}")), Some(&fx.admin), &none).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["scheme"].as_str(), body["days"][0]["old"].as_str()),
        (Some(x.as_str()), Some(&*x_day.to_string()))
    );
    assert_eq!(stored_of(&server, &fx.scheme), a_before, "A's stored bytes, facts and audit log are untouched");
    assert!(!in_files(&server.data, "MARKER-X-ONE") && in_files(&server.data, "MARKER-X-TWO"));
    assert_eq!(referral_count(&server, &fx, &ymd(today())).await.unwrap(), 1, "A's redacted referral still counts");
    // Now only A holds an r-0001: no scheme needs naming.
    let (status, body) = http_post(&url("erase", ""), Some(&fx.admin), &none).await.unwrap();
    assert_eq!((status, body["scheme"].as_str()), (200, Some(fx.scheme.as_str())), "{body}");
    // The OpenAPI description says so.
    let (_, doc) = server.get("/api/v1/openapi.json", None).await.unwrap();
    for what in ["erase", "redact-notes"] {
        let op = &doc["paths"][format!("/api/v1/referrals/{{entry}}/{what}")]["post"];
        assert!(op["responses"]["409"].is_object(), "{op}");
        let params = op["parameters"].as_array().unwrap();
        assert!(params.iter().any(|p| p["name"] == "scheme" && p["in"] == "query"), "{op}");
    }
}

/// A coordinator's erasure and redaction touch only their own scheme, whatever other schemes
/// hold under the same id: X's day, facts and audit log stay byte for byte as they were.
#[tokio::test]
async fn a_coordinators_erasure_leaves_another_schemes_referral_of_that_id() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let (x, x_site, x_token) = scheme_x(&server);
    day_with(&server, &fx.token_a1, &fx.scheme, &fx.site_a, &[("r-0001", "MARKER-A-ONE"), ("r-0002", "MARKER-A-TWO")])
        .await;
    day_with(&server, &x_token, &x, &x_site, &[("r-0001", "MARKER-X-ONE"), ("r-0002", "MARKER-X-TWO")]).await;
    let x_before = stored_of(&server, &x);
    let mut c =
        signpost_harness::Signed::create(&server, "coordinator", Some(&fx.scheme), "a@example.org").await.unwrap();
    let csrf = c.csrf.clone();
    let list = format!("/manage/schemes/{}/referrals", fx.scheme);
    for (entry, what) in [("r-0001", "erase"), ("r-0002", "redact-notes")] {
        let done = c.v.post(&server.url, &format!("{list}/{entry}/{what}"), &[("csrf", &csrf)]).await.unwrap();
        assert_eq!(done.status, 303, "{}", done.body);
    }
    assert!(!in_files(&server.data, "MARKER-A-ONE") && !in_files(&server.data, "MARKER-A-TWO"));
    assert!(in_files(&server.data, "MARKER-X-ONE") && in_files(&server.data, "MARKER-X-TWO"));
    assert_eq!(stored_of(&server, &x), x_before, "X's stored bytes, facts and audit log are untouched");
    // And X's entries cannot be reached through A's pages, nor A's coordinator into X's.
    let x_list = format!("/manage/schemes/{x}/referrals");
    assert_eq!(c.v.get(&server.url, &format!("{x_list}/r-0001")).await.unwrap().status, 403);
    assert_eq!(c.v.post(&server.url, &format!("{x_list}/r-0001/erase"), &[("csrf", &csrf)]).await.unwrap().status, 403);
    assert_eq!(c.v.get(&server.url, &format!("{list}/r-0001")).await.unwrap().status, 404, "erased in A");
    assert_eq!(stored_of(&server, &x), x_before);
}

/// The address a link on a page leads to, resolved as a browser resolves it.
fn resolve(page: &reqwest::Url, link: &str) -> reqwest::Url {
    page.join(&link.replace("&amp;", "&").replace("&quot;", "\"").replace("&#39;", "'")).unwrap()
}

/// Every `href` and form `action` of a page.
fn links(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "action=\""] {
        for part in body.split(attr).skip(1) {
            out.push(part.split('"').next().unwrap().to_owned());
        }
    }
    out
}

/// What to ask a server for: the path and query of an address.
fn path_of(u: &reqwest::Url) -> String {
    format!("{}{}", u.path(), u.query().map(|q| format!("?{q}")).unwrap_or_default())
}

/// A path's segments, percent-decoded.
fn segments(u: &reqwest::Url) -> Vec<String> {
    u.path_segments()
        .unwrap()
        .map(|s| {
            let b = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() + 1 {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
        .collect()
}

/// Ids a tablet or a third-party writer may choose, each linked as the one segment it is: a
/// referral whose id climbs out of its folder, and ids with `?`, `#`, `%`, spaces and non-ASCII
/// letters are listed, opened, erased and redacted through the coordinator's pages, and every
/// link and form on those pages leads to the page it names.
#[tokio::test]
async fn ids_with_any_characters_are_linked_as_themselves() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let ids = ["../../../../manage/users", "what?x=1", "a#b", "100%sure", "%2e%2e", "two words", "Llŷr-😀"];
    let marker = |id: &str| format!("MARKER-ID-{}", ids.iter().position(|x| *x == id).unwrap());
    let entries: Vec<(&str, String)> = ids.iter().map(|id| (*id, marker(id))).collect();
    let notes: Vec<(&str, &str)> = entries.iter().map(|(id, n)| (*id, n.as_str())).collect();
    day_with(&server, &fx.token_a1, &fx.scheme, &fx.site_a, &notes).await;
    let mut c =
        signpost_harness::Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    let base: reqwest::Url = server.url.parse().unwrap();
    let referrals = ["manage", "schemes", fx.scheme.as_str(), "referrals"];
    // Every link of a page leads where its page means: a referral's own pages name it exactly,
    // and nothing leads out of the scheme's pages but to the few pages every page links.
    let check = |page: &reqwest::Url, body: &str| {
        for link in links(body) {
            let to = resolve(page, &link);
            let s = segments(&to);
            let known = ["", "manage", "sign-out", "accessibility", "privacy", "app.css", "manage.css"];
            let ours = s.len() >= 3 && s[..3] == referrals[..3];
            assert!(ours || (s.len() == 1 && known.contains(&s[0].as_str())), "{link} leads to {to}");
            if s.len() > 4 && s[..4] == referrals {
                assert!(ids.contains(&s[4].as_str()), "{link} names {:?}, no referral's id", s[4]);
                assert!(s.len() == 5 || (s.len() == 6 && ["erase", "redact-notes"].contains(&s[5].as_str())), "{to}");
            }
        }
    };
    let list = format!("/manage/schemes/{}/referrals?site={}&day={}", fx.scheme, fx.site_a, ymd(today()));
    let found = c.v.get(&server.url, &list).await.unwrap();
    assert_eq!(found.status, 200, "{}", found.body);
    let list_url = base.join(&list).unwrap();
    check(&list_url, &found.body);
    // Each id is listed once, its link opens it.
    let opened: Vec<reqwest::Url> = links(&found.body)
        .iter()
        .map(|l| resolve(&list_url, l))
        .filter(|u| segments(u).len() == 5 && segments(u)[..4] == referrals)
        .collect();
    let mut named: Vec<String> = opened.iter().map(|u| segments(u)[4].clone()).collect();
    named.sort();
    let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(named, want);
    let csrf = c.csrf.clone();
    for (i, u) in opened.iter().enumerate() {
        let id = segments(u)[4].clone();
        let page = c.v.get(&server.url, &path_of(u)).await.unwrap();
        assert_eq!(page.status, 200, "{id}: {}", page.body);
        assert!(page.body.contains(&marker(&id)), "{id}: its notes");
        check(u, &page.body);
        // Through its own links: the confirmation, then its form.
        let what = if i % 2 == 0 { "erase" } else { "redact-notes" };
        let confirm = links(&page.body).iter().map(|l| resolve(u, l)).find(|t| segments(t).last().unwrap() == what);
        let confirm = confirm.unwrap_or_else(|| panic!("{id}: no link to {what}"));
        let asked = c.v.get(&server.url, &path_of(&confirm)).await.unwrap();
        assert_eq!(asked.status, 200, "{id}: {}", asked.body);
        check(&confirm, &asked.body);
        // The confirmation's own form (the other on the page signs out).
        let form = asked.body.split("method=\"post\" action=\"").skip(1).find(|f| !f.starts_with("/sign-out"));
        let form = form.unwrap().split('"').next().unwrap();
        let action = resolve(&confirm, form);
        assert_eq!(segments(&action), segments(&confirm), "{id}: the form posts to its own page");
        let done = c.v.post(&server.url, &path_of(&action), &[("csrf", &csrf)]).await.unwrap();
        assert_eq!(done.status, 303, "{id}: {}", done.body);
        let back = resolve(&action, done.header("location").unwrap());
        assert_eq!(segments(&back), referrals, "{id}: back to the day's referrals");
        let after = c.v.get(&server.url, &path_of(&back)).await.unwrap();
        check(&back, &after.body);
        assert!(!in_files(&server.data, &marker(&id)), "{id}: its notes are gone");
    }
    // The erased are no longer counted; the redacted are.
    assert_eq!(referral_count(&server, &fx, &ymd(today())).await.unwrap(), 3);
    assert!(c.v.get(&server.url, "/manage/users").await.unwrap().status >= 400, "a coordinator has no such page");
}
