//! A data folder written by the previous release (`tests/fixtures/previous-release/`, made by
//! [`make_the_previous_release_fixture`] with that release's binary) upgrades in place when this
//! release starts on it, and everything in it is still there and works.

use signpost_harness::{Server, Visitor};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    signpost_harness::workspace().join("tests/fixtures/previous-release")
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture().join("expected.json")).unwrap()).unwrap()
}

fn copy_of_fixture(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(fixture().join("signpost.sqlite3"), to.join("signpost.sqlite3")).unwrap();
}

#[tokio::test]
async fn a_data_folder_from_the_previous_release_upgrades_in_place() {
    let e = expected();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_of_fixture(&data);
    let version = |data: &Path| -> i64 {
        let conn = rusqlite::Connection::open(data.join("signpost.sqlite3")).unwrap();
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    };
    let before = version(&data);
    assert_eq!(before, e["database_version"].as_i64().unwrap());
    let server = Server::start(&data, &[]).unwrap();
    let now = version(&data);
    assert!(now > before, "the database was not upgraded: version {now}");
    // Every referral is still there for the same day: counted, or, where its time is not within
    // a day of its day, an invalid entry with the reason. (The fixture's tablet logged with the
    // test kit's fixed time, a year before the day: all of them.) Read from the statistics rows:
    // the fixture's administrator credential has expired by the time most runs of this test come.
    let conn = rusqlite::Connection::open(data.join("signpost.sqlite3")).unwrap();
    let count = |sql: &str| -> i64 {
        conn.query_row(sql, [e["scheme"].as_str().unwrap(), e["document"].as_str().unwrap()], |r| r.get(0)).unwrap()
    };
    let counted = count("SELECT count(*) FROM referral_facts WHERE scheme_id = ?1 AND doc_id = ?2");
    let invalid = count(
        "SELECT count(*) FROM invalid_entries WHERE scheme_id = ?1 AND doc_id = ?2
         AND reason LIKE '`recordedAt` (% is not within a day of the day''s date, %'",
    );
    drop(conn);
    assert_eq!(counted + invalid, e["referrals"].as_i64().unwrap());
    // The coordinator signs in with the password set under the previous release.
    let mut coord = Visitor::default();
    coord.sign_in(&server.url, e["coordinator"].as_str().unwrap(), e["password"].as_str().unwrap()).await.unwrap();
    // The tablet's credential still syncs, and its day comes back whole.
    let mut tablet =
        signpost_sim::Tablet::connect(&server.url, e["tablet_token"].as_str().unwrap(), "desk").await.unwrap();
    let doc: signpost_shared::ids::DocumentId = e["document"].as_str().unwrap().parse().unwrap();
    assert!(tablet.find(doc, std::time::Duration::from_secs(10)).await.unwrap());
    let referrals = tablet.peer.doc(&doc).map_or(0, |d| {
        signpost_shared::schema::entry_keys(d)
            .iter()
            .filter(|k| matches!(k, signpost_shared::schema::EntryKey::Referral(_)))
            .count()
    });
    assert_eq!(referrals as u64, e["referrals"].as_u64().unwrap());
    drop(tablet);
    drop(server);
    // And the upgraded folder checks out.
    let out = std::process::Command::new(signpost_harness::binary())
        .args(["admin", "check", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
}

/// Writes the fixture with the previous release's binary (`SIGNPOST_PREVIOUS_BINARY`): its demo
/// data, and a tablet's day of referrals synced through it. Run by hand when a release is cut:
/// `SIGNPOST_PREVIOUS_BINARY=… cargo test -p signpost-tests --test upgrade -- --ignored`.
#[tokio::test]
#[ignore = "needs the previous release's binary"]
async fn make_the_previous_release_fixture() {
    use signpost_shared::schema::{self, Header};
    let bin = PathBuf::from(std::env::var("SIGNPOST_PREVIOUS_BINARY").expect("SIGNPOST_PREVIOUS_BINARY"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let relay = signpost_harness::process::Relay::start(
        &bin,
        &data,
        "127.0.0.1:0",
        &["--demo"],
        signpost_harness::process::Log::Inherit,
    )
    .unwrap();
    let line = |prefix: &str| -> String {
        relay.banner.iter().find_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().to_owned()).expect(prefix)
    };
    let (scheme, site, token, admin) =
        (line("Demo scheme:"), line("Demo site:"), line("Tablet token:"), line("Admin token:"));
    let (coordinator, password) = {
        let l = line("Sign in (coordinator):");
        let (email, password) = l.split_once(" / ").unwrap();
        (email.to_owned(), password.to_owned())
    };
    let day = chrono::Utc::now().date_naive();
    let mut tablet = signpost_sim::Tablet::connect(&relay.url, &token, "desk").await.unwrap();
    let doc = tablet.open_day(&Header::desk_day(&scheme, &site, day)).await.unwrap();
    let n = 12;
    for i in 0..n {
        let mut r = signpost_harness::referral_on(&format!("previous-{i:02}"), day);
        r.follow_up = i % 4 == 0;
        tablet.change(doc, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    }
    tablet.synced(doc, std::time::Duration::from_secs(20)).await.unwrap();
    drop(tablet);
    relay.signal("INT", std::time::Duration::from_secs(15)).unwrap();
    let conn = rusqlite::Connection::open(data.join("signpost.sqlite3")).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    drop(conn);
    std::fs::create_dir_all(fixture()).unwrap();
    std::fs::copy(data.join("signpost.sqlite3"), fixture().join("signpost.sqlite3")).unwrap();
    let expected = serde_json::json!({
        "database_version": version,
        "scheme": scheme,
        "day": day.to_string(),
        "document": doc.to_string(),
        "referrals": n,
        "tablet_token": token,
        "admin_token": admin,
        "coordinator": coordinator,
        "password": password,
    });
    std::fs::write(fixture().join("expected.json"), serde_json::to_string_pretty(&expected).unwrap() + "\n").unwrap();
}
