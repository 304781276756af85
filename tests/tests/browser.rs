//! The tablet app in headless Chromium (Debian's, driven by playwright-core) against the real
//! relay serving the built app: `tests/js/browser-smoke.mjs` does the clicking.

use signpost_tests::{workspace, Server};
use std::process::Command;

#[tokio::test]
async fn the_tablet_app_sets_up_works_offline_syncs_and_passes_axe() {
    let dist = workspace().join("client/dist");
    assert!(
        dist.join("signpost_client_bg.wasm").exists(),
        "the tablet app is not built: run `cargo xtask test` (it builds it)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is missing: run `cargo xtask test` (it installs Debian's chromium)"
    );
    // The relay serves a copy, so that the test can publish a new release into it.
    let served = std::env::temp_dir().join(format!("signpost-app-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&served);
    std::fs::create_dir_all(&served).unwrap();
    for entry in std::fs::read_dir(&dist).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), served.join(entry.file_name())).unwrap();
    }
    let dist_arg = served.to_string_lossy().into_owned();
    let (server, fx) = Server::start_fresh(&["--static-dir", &dist_arg]).unwrap();
    for name in ["Ann E.", "Bo F."] {
        let (status, body) = server
            .post(
                &format!("/api/v1/schemes/{}/volunteers", fx.scheme),
                Some(&fx.admin),
                serde_json::json!({ "name": name }),
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let out = Command::new("node")
        .arg("browser-smoke.mjs")
        .current_dir(workspace().join("tests/js"))
        .env("SIGNPOST_URL", &server.url)
        .env("TOKEN", &fx.token_a1)
        .env("TOKEN2", &fx.token_a2)
        .env("SITE_NAME", "Court A")
        .env("SCHEME", &fx.scheme)
        .env("ADMIN_TOKEN", &fx.admin)
        .env("CHROMIUM", &chromium)
        .env("STATIC_DIR", &served)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-smoke.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["offline"]["counted"], 3, "{report}");
    assert_eq!(report["merged"], true, "{report}");
    assert_eq!(report["voided"], true, "{report}");
    assert_ne!(report["updated"]["cacheBefore"], report["updated"]["cacheAfter"], "{report}");
    let _ = std::fs::remove_dir_all(&served);
    assert_eq!(report["shift"]["shifts"], 1, "{report}");
    assert_eq!(
        report["backgroundSync"]["after"].as_u64(),
        report["backgroundSync"]["before"].as_u64().map(|n| n + 1),
        "{report}"
    );
    for screen in [
        "set-up",
        "set-up with an error",
        "desk",
        "desk on shift",
        "log form with errors",
        "desk with entries",
        "correct a referral",
    ] {
        assert_eq!(report["screens"][screen]["violations"], serde_json::json!([]), "{screen}: {report}");
    }
}

#[tokio::test]
async fn a_coordinator_enrols_a_tablet_with_a_code_and_revokes_it_without_losing_its_entries() {
    let dist = workspace().join("client/dist");
    assert!(dist.join("signpost_client_bg.wasm").exists(), "the tablet app is not built: run `cargo xtask test`");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let dist_arg = dist.to_string_lossy().into_owned();
    let (server, fx) = Server::start_fresh(&["--static-dir", &dist_arg]).unwrap();
    let email = "coordinator@example.org";
    let code =
        signpost_tests::admin(&server.data, &["create-user", "--role", "coordinator", "--scheme", &fx.scheme, email])
            .unwrap();
    let national = "national@example.org";
    let national_code = signpost_tests::admin(&server.data, &["create-user", "--role", "national", national]).unwrap();
    let out = Command::new("node")
        .arg("browser-enrol.mjs")
        .current_dir(workspace().join("tests/js"))
        .env("SIGNPOST_URL", &server.url)
        .env("SCHEME", &fx.scheme)
        .env("SITE_NAME", "Court A")
        .env("COORD_EMAIL", email)
        .env("SET_PASSWORD_CODE", &code)
        .env("NATIONAL_EMAIL", national)
        .env("NATIONAL_CODE", &national_code)
        .env("ADMIN_TOKEN", &fx.admin)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-enrol.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    eprintln!("enrolment and revocation: {report}");
    assert_eq!(report["kept"], true, "{report}");
    assert_eq!(report["pin"], true, "{report}");
    assert_eq!(report["equality"], true, "{report}");
    assert_eq!(report["dashboard"]["referrals"], 2, "{report}");
    assert_eq!(report["national"], true, "{report}");
    assert_eq!(report["resent"], true, "{report}");
    assert!(report["liveRevocationMs"].as_u64().is_some_and(|ms| ms < 5000), "{report}");
    // Ann's answers are on the relay (the offline set replaced the first), and in no document.
    let conn = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let answers: Vec<String> = conn
        .prepare("SELECT answers FROM equality_answers")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(answers[0].contains("prefer-not-to-say"), "{answers:?}");
    for screen in [
        "create your password",
        "create your password with an error",
        "sign in",
        "sign in with an error",
        "scheme",
        "enrolment code",
        "tablet revoked",
        "dashboard",
        "national statistics",
        "equality form",
    ] {
        assert_eq!(report["screens"][screen]["violations"], serde_json::json!([]), "{screen}: {report}");
    }
}

/// The download budget (≤550 KB gzip for wasm + js + css), checked on the files the relay
/// serves as they are. A size, not a timing: the same build gives the same bytes.
#[test]
fn the_tablet_app_download_stays_within_550_kb_gzip() {
    let dist = workspace().join("client/dist");
    let sizes: Vec<(String, u64)> = ["signpost_client_bg.wasm.gz", "signpost_client.js.gz", "app.css.gz"]
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(dist.join(f)).unwrap_or_else(|e| panic!("{f}: {e}; run `cargo xtask test`"));
            (f.to_string(), meta.len())
        })
        .collect();
    let total: u64 = sizes.iter().map(|(_, n)| n).sum();
    assert!(total <= 550_000, "the tablet app is {total} bytes gzip, over the 550 KB budget: {sizes:?}");
}
