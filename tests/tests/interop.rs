//! Interop: the unmodified npm packages `@automerge/automerge-repo` and
//! `@automerge/automerge-repo-network-websocket` (2.x), in Node, sync with the real relay.
//! The Node side (`tests/js/interop.mjs`) writes referrals per docs/schema.md and checks what
//! each credential can see; this side checks that the statistics count what it wrote.

use signpost_harness::{eventually, referral_count, workspace, Server, Signed};
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn automerge_repo_javascript_peers_sync_through_the_relay() {
    let js = workspace().join("tests/js");
    assert!(
        js.join("node_modules/@automerge/automerge-repo").exists(),
        "the JavaScript peers are not installed: run `cargo xtask test` (it installs them in tests/js)"
    );
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    // Credentials as tablets get them: a coordinator's one-time codes, exchanged at /api/v1/enrol.
    let mut coordinator =
        Signed::create(&server, "coordinator", Some(&fx.scheme), "coordinator@example.org").await.unwrap();
    let token_a1 = coordinator.enrol_tablet(&server, &fx.scheme, &fx.site_a).await.unwrap();
    let token_a2 = coordinator.enrol_tablet(&server, &fx.scheme, &fx.site_a).await.unwrap();
    let token_b = coordinator.enrol_tablet(&server, &fx.scheme, &fx.site_b).await.unwrap();
    let day = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let out = Command::new("node")
        .arg("interop.mjs")
        .current_dir(&js)
        .env("SIGNPOST_URL", &server.url)
        .env("SCHEME", &fx.scheme)
        .env("SITE_A", &fx.site_a)
        .env("DAY", &day)
        .env("TOKEN_A1", &token_a1)
        .env("TOKEN_A2", &token_a2)
        .env("TOKEN_B", &token_b)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "interop.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true);
    assert_eq!(report["noTokenStatus"], 401);

    // Every JavaScript-written referral is counted, once: the two first ones, six more made
    // online, then three made offline and sent on reconnecting.
    assert_eq!(report["offlineChangesAccepted"], true);
    let counted =
        eventually(Duration::from_secs(10), || async { referral_count(&server, &fx, &day).await.ok() == Some(11) })
            .await;
    assert!(counted, "stats count the eleven referrals (got {:?})", referral_count(&server, &fx, &day).await);
    let (_, s) = server
        .get(&format!("/api/v1/stats/summary?scheme={}&from={day}&to={day}", fx.scheme), Some(&fx.admin))
        .await
        .unwrap();
    let cats: Vec<(&str, i64)> = s["by_issue_category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap(), c["count"].as_i64().unwrap()))
        .collect();
    assert!(cats.contains(&("domestic-abuse", 2)) && cats.contains(&("housing", 2)), "{cats:?}");
    assert_eq!(s["by_who_helped"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["invalid_entries"], 0, "{s}");
}

/// Erasure against unmodified JavaScript peers (`tests/js/interop-erasure.mjs`): one that still
/// holds the old history writes to it after the erasure and is refused, nothing of it stored; a
/// fresh one reads the rewritten day.
#[tokio::test]
async fn an_automerge_repo_peer_holding_an_erased_day_is_refused_and_a_fresh_one_reads_the_new_day() {
    let js = workspace().join("tests/js");
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let out = Command::new("node")
        .arg("interop-erasure.mjs")
        .current_dir(&js)
        .env("SIGNPOST_URL", &server.url)
        .env("SCHEME", &fx.scheme)
        .env("SITE_A", &fx.site_a)
        .env("DAY", &day)
        .env("TOKEN_A1", &fx.token_a1)
        .env("TOKEN_A2", &fx.token_a2)
        .env("ADMIN_TOKEN", &fx.admin)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "interop-erasure.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true);
    // Nothing the old history's holder wrote after the erasure is stored, and no byte of the
    // erased referral.
    for marker in ["MARKER-JS-GONE", "MARKER-JS-AFTER"] {
        assert!(!signpost_harness::data_files_contain(&server.data, marker), "{marker} is in the relay's files");
    }
    assert!(signpost_harness::data_files_contain(&server.data, "MARKER-JS-KEEP"));
    assert_eq!(referral_count(&server, &fx, &day).await.unwrap(), 1, "only the referral kept is counted");
    let db = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let old = report["old"].as_str().unwrap().trim_start_matches("automerge:").to_owned();
    let stored: i64 = db.query_row("SELECT count(*) FROM documents WHERE id = ?1", [&old], |r| r.get(0)).unwrap();
    assert_eq!(stored, 0, "the old day is not stored again");
}
