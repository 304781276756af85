//! Coordinators editing a scheme's roster on the web pages at the same time: every edit is
//! applied to the roster as the relay holds it, so none undoes another, and its audit row is
//! written with the edit or not at all.

use signpost_harness::{Server, Signed};
use signpost_shared::schema;
use signpost_sim::Tablet;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn audit_rows(db: &signpost_domain::sql::Connection, action: &str) -> i64 {
    db.query_row("SELECT count(*) FROM audit_log WHERE action = ?1", [action], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn concurrent_roster_edits_all_apply_and_are_audited_only_when_stored() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let coord = Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        let path = format!("/api/v1/schemes/{}/volunteers", fx.scheme);
        let (status, v) =
            server.post(&path, Some(&fx.admin), serde_json::json!({ "name": format!("V {i}") })).await.unwrap();
        assert_eq!(status, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    // Two coordinators' edits of different fields of each volunteer, all at once.
    let mut edits = Vec::new();
    for id in &ids {
        for (what, form) in [("pin", ("pin", "0472")), ("active", ("active", "false"))] {
            let (mut c, url, path) =
                (coord.clone(), server.url.clone(), format!("/manage/schemes/{}/volunteers/{id}/{what}", fx.scheme));
            edits.push(tokio::spawn(async move {
                let csrf = c.csrf.clone();
                c.v.post(&url, &path, &[("csrf", &csrf), form]).await.unwrap().status
            }));
        }
    }
    for e in edits {
        assert_eq!(e.await.unwrap(), 303);
    }
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "reader").await.unwrap();
    let dir = schema::directory_id(&fx.scheme);
    assert!(t.find(dir, T).await.unwrap());
    let all = |p: &signpost_shared::peer::Peer| schema::read_volunteers(p.doc(&dir).unwrap()).len() == ids.len();
    t.wait_until(T, all).await.unwrap();
    let roster = schema::read_volunteers(t.peer.doc(&dir).unwrap());
    let undone: Vec<_> = roster.iter().filter(|v| v.active || v.pin.is_none()).map(|v| &v.name).collect();
    assert!(undone.is_empty(), "edits undone by concurrent edits: {undone:?}");
    let db = signpost_harness::store::connect(&server.data);
    assert_eq!(audit_rows(&db, "volunteer PIN set"), 12);
    assert_eq!(audit_rows(&db, "volunteer taken off the roster"), 12);

    // A volunteer not on the roster: 404, nothing audited.
    let path = format!("/manage/schemes/{}/volunteers/vol-nobody/active", fx.scheme);
    let mut c = coord.clone();
    let r = c.v.post(&server.url, &path, &[("csrf", &coord.csrf), ("active", "true")]).await.unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("no such volunteer"), "{}", r.body);
    assert_eq!(audit_rows(&db, "volunteer put back on the roster"), 0);

    // Storage fails for the directory: the edit fails and no audit row says it happened.
    db.execute_batch(&format!(
        "CREATE TRIGGER full_disk BEFORE INSERT ON doc_chunks WHEN NEW.doc_id = '{dir}'
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
    ))
    .unwrap();
    let path = format!("/manage/schemes/{}/volunteers/{}/active", fx.scheme, ids[0]);
    let r = c.v.post(&server.url, &path, &[("csrf", &coord.csrf), ("active", "true")]).await.unwrap();
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(audit_rows(&db, "volunteer put back on the roster"), 0, "an edit that failed is not audited");
    db.execute_batch("DROP TRIGGER full_disk").unwrap();
    let r = c.v.post(&server.url, &path, &[("csrf", &coord.csrf), ("active", "true")]).await.unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(audit_rows(&db, "volunteer put back on the roster"), 1);
}

/// A volunteer added through the JSON API is audited like one added on the pages, in the same
/// transaction as the change: no row when the change is not stored.
#[tokio::test]
async fn volunteers_added_through_the_api_are_audited_with_the_change() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let path = format!("/api/v1/schemes/{}/volunteers", fx.scheme);
    let (status, v) = server.post(&path, Some(&fx.admin), serde_json::json!({ "name": "Ann B" })).await.unwrap();
    assert_eq!(status, 201, "{v}");
    let db = signpost_harness::store::connect(&server.data);
    let (actor, scheme, detail): (String, String, String) = db
        .query_row("SELECT actor, scheme_id, detail FROM audit_log WHERE action = 'volunteer added'", (), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((actor.as_str(), scheme.as_str()), ("administrator credential", fx.scheme.as_str()));
    assert!(detail.contains(v["id"].as_str().unwrap()), "{detail}");

    let dir = schema::directory_id(&fx.scheme);
    db.execute_batch(&format!(
        "CREATE TRIGGER full_disk BEFORE INSERT ON doc_chunks WHEN NEW.doc_id = '{dir}'
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
    ))
    .unwrap();
    let (status, body) = server.post(&path, Some(&fx.admin), serde_json::json!({ "name": "Cy D" })).await.unwrap();
    assert_eq!(status, 500, "{body}");
    assert_eq!(audit_rows(&db, "volunteer added"), 1, "a change that was not stored is not audited");
}

/// A one-time set-password code used by several requests at once sets one password: exactly
/// one request succeeds, and only its password signs in.
#[tokio::test]
async fn a_set_password_code_works_once_even_for_concurrent_requests() {
    use signpost_harness::Visitor;
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let email = "race@example.org";
    let code =
        signpost_harness::admin(&server.data, &["create-user", "--role", "coordinator", "--scheme", &fx.scheme, email])
            .unwrap();
    // Each visitor has the form open with its own CSRF token; then all submit together.
    let mut ready = Vec::new();
    for i in 0..8 {
        let mut v = Visitor::default();
        let page = v.get(&server.url, &format!("/set-password?code={code}")).await.unwrap();
        ready.push((v, page.form_value("csrf").unwrap(), format!("password number {i} is long")));
    }
    let mut tries = Vec::new();
    for (mut v, csrf, password) in ready {
        let (url, code) = (server.url.clone(), code.clone());
        tries.push(tokio::spawn(async move {
            let form = [("csrf", csrf.as_str()), ("code", &code), ("password", &password), ("confirm", &password)];
            let r = v.post(&url, "/set-password", &form).await.unwrap();
            (r.status, password)
        }));
    }
    let mut set = Vec::new();
    for t in tries {
        let (status, password) = t.await.unwrap();
        if status == 303 {
            set.push(password);
        } else {
            assert_eq!(status, 400, "a refused attempt is told so");
        }
    }
    assert_eq!(set.len(), 1, "the code set {} passwords", set.len());
    let mut v = Visitor::default();
    v.sign_in(&server.url, email, &set[0]).await.expect("the one password set signs in");
}
