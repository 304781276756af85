//! The scheme's directory as coordinators and scripts change it, against the real binary: an
//! agency added through the API (bad bodies refused, the store unchanged byte for byte) and
//! retired on the pages, a site renamed and closed; a tablet already connected learns each change
//! live, and a closed site's tablet cannot be replaced by enrolling another.

use serde_json::json;
use signpost_harness::{snapshot, Server, Signed};
use signpost_shared::schema;
use signpost_sim::Tablet;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn agencies_and_sites_change_on_the_server_and_reach_a_connected_tablet() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let mut coord = Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "tablet-a").await.unwrap();
    let dir = schema::directory_id(&fx.scheme);
    assert!(t.find(dir, T).await.unwrap());
    let path = format!("/api/v1/schemes/{}/agencies", fx.scheme);

    // Bad input: a clear 400 (naming the field), 401, 403 or 404, and nothing stored changes.
    let before = snapshot(&server.data);
    let bad = [
        (json!({"name": "", "categories": ["housing"]}), "name"),
        (json!({"name": "Citizens Advice", "categories": ["housing"]}), "already has an agency called"),
        (json!({"name": "X", "categories": []}), "categories"),
        (json!({"name": "X", "categories": ["flying"]}), "not an issue category"),
        (json!({"name": "X", "phone": "ring us", "categories": ["housing"]}), "phone"),
        (json!({"name": "X", "website": "javascript:alert(1)", "categories": ["housing"]}), "website"),
        (json!({"name": "X", "categories": ["housing"], "sites": ["site-elsewhere"]}), "not a site of this scheme"),
        (json!({"categories": ["housing"]}), "name"),
        (json!("just a string"), "name"),
    ];
    for (body, says) in bad {
        let (status, v) = server.post(&path, Some(&fx.admin), body.clone()).await.unwrap();
        assert_eq!(status, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(says), "{body}: {v}");
    }
    let good = json!({"name": "Shelter Cymru", "phone": "0345 075 5005", "website": "https://sheltercymru.org.uk", "categories": ["housing"], "sites": [fx.site_a]});
    let (status, v) = server.post(&path, None, good.clone()).await.unwrap();
    assert_eq!(status, 401, "{v}");
    let (status, v) = server.post(&path, Some(&fx.token_a1), good.clone()).await.unwrap();
    assert_eq!(status, 403, "{v}");
    let (status, v) = server.post("/api/v1/schemes/sch-nowhere/agencies", Some(&fx.admin), good.clone()).await.unwrap();
    assert_eq!(status, 404, "{v}");
    assert_eq!(snapshot(&server.data), before, "refused requests changed the store");

    // Added: 201 with its id, and the connected tablet has it within moments.
    let (status, v) = server.post(&path, Some(&fx.admin), good).await.unwrap();
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["categories"], json!(["housing"]));
    let has = |id: String| {
        move |p: &signpost_shared::peer::Peer| {
            p.doc(&dir).is_some_and(|d| schema::read_agencies(d).iter().any(|a| a.id == id))
        }
    };
    t.wait_until(T, has(id.clone())).await.unwrap();
    let a = schema::read_agencies(t.peer.doc(&dir).unwrap()).into_iter().find(|a| a.id == id).unwrap();
    assert!(a.offered_at(&fx.site_a) && !a.offered_at(&fx.site_b), "{a:?}");

    // Retired on the pages: still in the directory (old referrals name it), offered nowhere.
    let csrf = coord.csrf.clone();
    let retire = format!("/manage/schemes/{}/agencies/{id}/retire", fx.scheme);
    let r = coord.v.post(&server.url, &retire, &[("csrf", &csrf), ("retired", "true")]).await.unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let retired = |id: String| {
        move |p: &signpost_shared::peer::Peer| {
            p.doc(&dir).is_some_and(|d| schema::read_agencies(d).iter().any(|a| a.id == id && a.retired))
        }
    };
    t.wait_until(T, retired(id.clone())).await.unwrap();
    let list = coord.v.get(&server.url, &format!("/manage/schemes/{}/agencies", fx.scheme)).await.unwrap();
    assert!(list.body.contains("Shelter Cymru") && list.body.contains("Retired"), "{}", list.body);

    // A site renamed, then closed: the tablet learns both; no new tablet can be enrolled there.
    let site = format!("/manage/schemes/{}/sites/{}", fx.scheme, fx.site_a);
    let r = coord
        .v
        .post(&server.url, &site, &[("csrf", &csrf), ("name", "Court A (ground floor)"), ("state", "open")])
        .await
        .unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let named = |site: String| {
        move |p: &signpost_shared::peer::Peer| {
            p.doc(&dir)
                .and_then(|d| schema::read_site(d, &site))
                .is_some_and(|s| s.name == "Court A (ground floor)" && !s.closed)
        }
    };
    t.wait_until(T, named(fx.site_a.clone())).await.unwrap();
    let code_path = format!("/manage/schemes/{}/sites/{}/enrolment-code", fx.scheme, fx.site_a);
    let r = coord.v.post(&server.url, &code_path, &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(r.status, 200, "an open site gets codes: {}", r.body);
    let unused = r.body.split("id=\"enrolment-code\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let r = coord
        .v
        .post(&server.url, &site, &[("csrf", &csrf), ("name", "Court A (ground floor)"), ("state", "closed")])
        .await
        .unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let closed = |site: String| {
        move |p: &signpost_shared::peer::Peer| {
            p.doc(&dir).and_then(|d| schema::read_site(d, &site)).is_some_and(|s| s.closed)
        }
    };
    t.wait_until(T, closed(fx.site_a.clone())).await.unwrap();
    let r = coord.v.post(&server.url, &code_path, &[("csrf", &csrf)]).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("This site is closed"), "{}", r.body);
    let (status, v) = server.post("/api/v1/enrol", None, json!({ "code": unused })).await.unwrap();
    assert_eq!(status, 403, "a code made before the site closed no longer works: {v}");
    // The audit log says who did each, by name.
    let db = signpost_harness::store::connect(&server.data);
    let actions: Vec<String> = db
        .prepare("SELECT action FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map((), |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for a in ["agency added", "agency retired", "site renamed", "site closed"] {
        assert!(actions.iter().any(|x| x == a), "{a} not audited: {actions:?}");
    }
}

/// `signpost serve --demo` on a new data folder: the printed enrolment code sets up a tablet,
/// whose desk has volunteers to pick; a restart prints a new code, and the old one was used.
#[tokio::test]
async fn the_demo_prints_a_working_enrolment_code_and_has_a_roster() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), &["--demo"]).unwrap();
    let code = |server: &Server| {
        let line = server.banner().iter().find(|l| l.starts_with("Enrolment code")).cloned();
        line.unwrap_or_else(|| panic!("no enrolment code in {:?}", server.banner()))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    let first = code(&server);
    assert!(
        server.banner().iter().any(|l| l == "Volunteers on the roster: Ann E., Bo F., Cy D."),
        "{:?}",
        server.banner()
    );
    let (status, v) =
        server.post("/api/v1/enrol", None, json!({ "code": first, "label": "Front desk" })).await.unwrap();
    assert_eq!(status, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let scheme = v["scheme"].as_str().unwrap().to_owned();
    let mut t = Tablet::connect(&server.url, &token, "demo-tablet").await.unwrap();
    let dir = schema::directory_id(&scheme);
    assert!(t.find(dir, T).await.unwrap());
    assert_eq!(schema::read_volunteers(t.peer.doc(&dir).unwrap()).len(), 3);
    server.restart(&["--demo"]).unwrap();
    assert_ne!(code(&server), first, "each start prints a new code");
    let (status, _) = server.post("/api/v1/enrol", None, json!({ "code": first })).await.unwrap();
    assert_eq!(status, 403, "a code works once");
}
