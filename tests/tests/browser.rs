//! The tablet app in headless Chromium (Debian's, driven by playwright-core) against the real
//! relay serving the built app: `tests/js/browser-smoke.mjs` does the clicking.

use signpost_harness::{workspace, Server};
use std::process::Command;

/// One browser at a time: several headless Chromiums side by side on a two-core machine make
/// page loads slow enough to time out.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The built app's folder and the Chromium to drive, both checked to exist.
fn app_and_chromium() -> (std::path::PathBuf, String) {
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
    (dist, chromium)
}

/// `node <script>` in tests/js, told where the relay is and the fixture's scheme, first tablet
/// credential, site and administrator credential.
fn node(script: &str, server: &Server, fx: &signpost_harness::Fixture, chromium: &str) -> Command {
    let mut c = Command::new("node");
    c.arg(script)
        .current_dir(workspace().join("tests/js"))
        .env("SIGNPOST_URL", &server.url)
        .env("TOKEN", &fx.token_a1)
        .env("SITE_NAME", "Court A")
        .env("SCHEME", &fx.scheme)
        .env("ADMIN_TOKEN", &fx.admin)
        .env("CHROMIUM", chromium);
    c
}

/// [`node`], with an administrator and a coordinator of the fixture's scheme created and their
/// set-password codes given (`ADMIN_EMAIL`, `ADMIN_CODE`, `COORD_EMAIL`, `COORD_CODE`).
fn node_with_accounts(script: &str, server: &Server, fx: &signpost_harness::Fixture, chromium: &str) -> Command {
    let (admin, coord) = ("admin@example.org", "coordinator@example.org");
    let admin_code = signpost_harness::admin(&server.data, &["create-user", "--role", "admin", admin]).unwrap();
    let coord_code =
        signpost_harness::admin(&server.data, &["create-user", "--role", "coordinator", "--scheme", &fx.scheme, coord])
            .unwrap();
    let mut c = node(script, server, fx, chromium);
    c.env("ADMIN_EMAIL", admin).env("ADMIN_CODE", admin_code).env("COORD_EMAIL", coord).env("COORD_CODE", coord_code);
    c
}

/// Puts volunteers on the fixture scheme's roster (through the API): a referral is logged by
/// the volunteer on the desk.
async fn roster(server: &Server, fx: &signpost_harness::Fixture, names: &[&str]) {
    for name in names {
        let path = format!("/api/v1/schemes/{}/volunteers", fx.scheme);
        let (status, body) = server.post(&path, Some(&fx.admin), serde_json::json!({ "name": name })).await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
}

/// A fresh relay serving the built app from `dist`.
fn serving(dist: &std::path::Path) -> (Server, signpost_harness::Fixture) {
    Server::start_fresh(&["--static-dir", &dist.to_string_lossy()]).unwrap()
}

#[tokio::test]
async fn the_tablet_app_sets_up_works_offline_syncs_and_passes_axe() {
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    // The relay serves a copy, so that the test can publish a new release into it.
    let served_dir = tempfile::Builder::new().prefix("signpost-app-").tempdir().unwrap();
    let served = served_dir.path().to_path_buf();
    for entry in std::fs::read_dir(&dist).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), served.join(entry.file_name())).unwrap();
    }
    let (server, fx) = serving(&served);
    roster(&server, &fx, &["Ann E.", "Bo F."]).await;
    let out = node("browser-smoke.mjs", &server, &fx, &chromium)
        .env("TOKEN2", &fx.token_a2)
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
        "log form with another agency",
        "log form with errors",
        "desk with entries",
        "correct a referral",
    ] {
        assert_eq!(report["screens"][screen]["violations"], serde_json::json!([]), "{screen}: {report}");
    }
}

#[tokio::test]
async fn a_coordinator_enrols_a_tablet_with_a_code_and_revokes_it_without_losing_its_entries() {
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    let email = "coordinator@example.org";
    let code =
        signpost_harness::admin(&server.data, &["create-user", "--role", "coordinator", "--scheme", &fx.scheme, email])
            .unwrap();
    let national = "national@example.org";
    let national_code =
        signpost_harness::admin(&server.data, &["create-user", "--role", "national", national]).unwrap();
    let out = node("browser-enrol.mjs", &server, &fx, &chromium)
        .env("COORD_EMAIL", email)
        .env("SET_PASSWORD_CODE", &code)
        .env("NATIONAL_EMAIL", national)
        .env("NATIONAL_CODE", &national_code)
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

/// The browser soak (`tests/js/browser-soak.mjs`): random taps through the real screens with a
/// seeded schedule (`SIGNPOST_BROWSER_SEED`, `SIGNPOST_BROWSER_STEPS`), offline and online,
/// reloads, closing and reopening, midnight; whenever the tablet says everything is synced the
/// relay's figures equal what the app saved. Then the database fails the tablet's writes (as a
/// full disk): the tablet says it is not syncing and what to do, the coordinator's list shows
/// the refusal, and once writes work again everything arrives.
#[tokio::test]
async fn a_browser_soak_of_random_taps_stores_exactly_what_the_app_saved() {
    let _one = ONE_BROWSER.lock().await;
    use std::io::{BufRead, BufReader, Write};
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    roster(&server, &fx, &["Ann E."]).await;
    let seed = std::env::var("SIGNPOST_BROWSER_SEED").unwrap_or_else(|_| "1".into());
    let steps = std::env::var("SIGNPOST_BROWSER_STEPS").unwrap_or_else(|_| "70".into());
    let mut node = node("browser-soak.mjs", &server, &fx, &chromium)
        .env("SEED", &seed)
        .env("STEPS", &steps)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    let mut to_node = node.stdin.take().unwrap();
    let from_node = BufReader::new(node.stdout.take().unwrap());
    let db = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let mut last = String::new();
    for line in from_node.lines() {
        let line = line.unwrap();
        match line.as_str() {
            // Every write of a document chunk fails, as on a full disk.
            "REFUSE" => {
                assert_eq!(refusals(&db), 0, "nothing was refused during the soak");
                db.execute_batch(
                    "CREATE TRIGGER full_disk BEFORE INSERT ON doc_chunks
                     BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
                )
                .unwrap()
            }
            "ACCEPT" => {
                assert_eq!(refusals(&db), 1, "the coordinator's list of tablets shows the refusal");
                db.execute_batch("DROP TRIGGER full_disk").unwrap();
            }
            _ => {
                last = line;
                continue;
            }
        }
        writeln!(to_node, "go").unwrap();
    }
    let status = node.wait().unwrap();
    assert!(status.success(), "browser-soak.mjs failed (seed {seed}); its report: {last}");
    let report: serde_json::Value = serde_json::from_str(&last).expect("JSON report");
    eprintln!("browser soak: {report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["syncedChecks"].as_u64().unwrap() >= 2, "{report}");
    assert!(report["saved"]["referrals"].as_u64().unwrap() >= 5, "{report}");
}

/// The days a lost tablet would give away: ten days at the desk (its clock moved a day at a
/// time), one online and nine offline, then the network back. Synced days over a week old leave
/// IndexedDB; unsynced ones stay until they are synced.
#[tokio::test]
async fn a_tablet_keeps_the_last_week_and_whatever_waits_to_sync() {
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    roster(&server, &fx, &["Ann E."]).await;
    let out = node("browser-week.mjs", &server, &fx, &chromium).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-week.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    // The directory and days 8 to 0 (nine days, none synced); day 9 went.
    assert_eq!(report["offline"], 10, "{report}");
    // Synced: the directory and the last week (days 7 to 0).
    assert_eq!(report["online"], 9, "{report}");
    assert_eq!(report["counted"], 10, "every entry reached the relay first: {report}");
}

/// Erasure reaching a tablet that was offline at the time, with an entry of its own in the day:
/// back online it follows the day to its replacement, keeps its entry and holds no byte of the
/// erased referral in IndexedDB (raw records scanned and every stored change decoded); then a
/// redaction reaching it online.
#[tokio::test]
async fn a_tablet_offline_during_an_erasure_keeps_its_entry_and_loses_every_byte_of_the_erased_one() {
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    roster(&server, &fx, &["Ann E."]).await;
    let out = node("browser-erasure.mjs", &server, &fx, &chromium).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-erasure.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["replaced"], true, "{report}");
    assert_eq!(report["oldDropped"], true, "the old day is gone from IndexedDB: {report}");
    assert_eq!(report["newHeld"], true, "{report}");
    assert_eq!(report["erasedOnTablet"], false, "no byte of the erased referral on the tablet: {report}");
    assert_eq!(report["offlineKept"], true, "the offline entry and the other one stay: {report}");
    assert_eq!(report["followedRedaction"], true, "{report}");
    assert_eq!(report["redactedOnTablet"], false, "no byte of the redacted notes on the tablet: {report}");
    assert_eq!(report["redactedKept"], true, "the redacted referral stays, without notes: {report}");
    assert_eq!(report["counted"], 2, "{report}");
    assert_eq!(report["rows"], 2, "{report}");
    for marker in ["MARKER-ERASE-ME", "MARKER-KEEP-ME"] {
        assert!(!signpost_harness::data_files_contain(&server.data, marker), "{marker} is on the relay");
    }
}

fn refusals(db: &rusqlite::Connection) -> i64 {
    db.query_row("SELECT count(*) FROM device_activity WHERE refused_at IS NOT NULL", [], |r| r.get(0)).unwrap()
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

/// Managing a scheme at 768 px (`tests/js/browser-manage.mjs`): every form a newcomer meets, with
/// mistakes first, in the GOV.UK error pattern; success banners; confirmation steps; axe clean.
#[tokio::test]
async fn an_administrator_and_a_coordinator_manage_a_scheme_with_mistakes_first() {
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    let out = node_with_accounts("browser-manage.mjs", &server, &fx, &chromium).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-manage.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["deactivated"], true, "{report}");
    assert_eq!(report["siteClosed"], true, "{report}");
    assert_eq!(report["agencies"], true, "{report}");
    assert_eq!(report["tabletTold"], true, "{report}");
    let screens = report["screens"].as_object().expect("screens");
    assert!(screens.len() >= 22, "{report}");
    for (screen, r) in screens {
        assert_eq!(r["violations"], serde_json::json!([]), "{screen}: {report}");
    }
    // The closed site's row says so, and its directory tells its tablets.
    let conn = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let closed: i64 = conn
        .query_row("SELECT count(*) FROM sites WHERE name = 'Court C annexe' AND closed_at IS NOT NULL", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(closed, 1);
}

/// The desk's follow-ups (`tests/js/browser-follow-ups.mjs`): a follow-up logged 40 days ago on
/// another tablet reaches a tablet set up today, which closes it; the relay's figures count it
/// closed with its outcome, and the day's other entries stay as they were.
#[tokio::test]
async fn a_follow_up_from_weeks_ago_reaches_a_new_tablet_which_closes_it() {
    use signpost_shared::schema::{self, Header};
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    roster(&server, &fx, &["Ann E."]).await;
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(40);
    let mut other = signpost_sim::Tablet::connect(&server.url, &fx.token_a2, "other").await.unwrap();
    let d = other.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    let mut r = signpost_harness::referral_on("weeks-ago", day);
    r.follow_up = true;
    r.notes = Some("Call back about the tenancy".into());
    other.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    other.synced(d, std::time::Duration::from_secs(10)).await.unwrap();
    drop(other);
    let out = node("browser-follow-ups.mjs", &server, &fx, &chromium).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-follow-ups.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    for (screen, r) in report["screens"].as_object().unwrap() {
        assert_eq!(r["violations"], serde_json::json!([]), "{screen}: {report}");
    }
    let (from, to) = (day.format("%Y-%m-%d"), chrono::Utc::now().date_naive().format("%Y-%m-%d"));
    let path = format!("/api/v1/stats/summary?scheme={}&from={from}&to={to}", fx.scheme);
    let mut summary = serde_json::Value::Null;
    for _ in 0..100 {
        summary = server.get(&path, Some(&fx.admin)).await.unwrap().1;
        if summary["follow_ups"]["closed"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let f = &summary["follow_ups"];
    assert_eq!(
        (f["needed"].as_i64(), f["open"].as_i64(), f["closed"].as_i64()),
        (Some(2), Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(f["by_outcome"][0]["key"], "contacted", "{summary}");
    assert_eq!(summary["referrals"], 2, "{summary}");
}

/// A tablet whose clock was reset to 1 January 2000 (`tests/js/browser-faulty.mjs`): the relay
/// sets the day aside (it used to refuse the tablet for good); the desk says so and stays
/// connected; with the clock put right today's referral syncs on the same tablet. The app's
/// WebSocket carries no credential in its URL.
#[tokio::test]
async fn a_wrong_clocks_day_is_set_aside_and_the_tablet_goes_on_syncing() {
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    roster(&server, &fx, &["Ann E."]).await;
    let shot = workspace().join("target/screenshots/desk-day-set-aside.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let out = node("browser-faulty.mjs", &server, &fx, &chromium).env("SCREENSHOT", &shot).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-faulty.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    let conn = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let set_aside: i64 = conn.query_row("SELECT count(*) FROM set_aside WHERE day = '2000-01-01'", [], |r| r.get(0)).unwrap();
    assert_eq!(set_aside, 1, "the wrong clock's day is set aside for the coordinator");
    assert_eq!(refusals(&conn), 0, "the tablet was never refused");
}

/// The tablet app and the web pages in Welsh (`tests/js/browser-welsh.mjs`, `welsh-web.mjs`):
/// every screen and page read in both languages, and a string the same in both (names, times and
/// numbers aside) fails; `?lang=cy` remembered, `<html lang>` set, axe clean in Welsh.
#[tokio::test]
async fn every_tablet_screen_and_web_page_reads_in_welsh_with_no_string_left_in_english() {
    let _one = ONE_BROWSER.lock().await;
    let (dist, chromium) = app_and_chromium();
    let (server, fx) = serving(&dist);
    roster(&server, &fx, &["Ann E."]).await;
    let out = node_with_accounts("browser-welsh.mjs", &server, &fx, &chromium).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-welsh.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["compared"].as_object().is_some_and(|c| c.len() >= 8), "{report}");
    assert!(report["web"].as_object().is_some_and(|c| c.len() >= 25), "{report}");
    for (screen, r) in report["screens"].as_object().unwrap() {
        assert_eq!(r["violations"], serde_json::json!([]), "{screen}: {report}");
    }
}

/// `signpost serve --listen ADDR --data DIR`, without `--static-dir`, serves the tablet app built
/// into it: the page with its Content-Security-Policy, the build's brotli copy to a browser that
/// takes it (byte for byte), the plain file to one that does not, and "not modified" to a
/// service worker that has it already; nothing hidden in the build's folder.
#[tokio::test]
async fn the_binary_serves_the_tablet_app_built_into_it() {
    let (dist, _) = app_and_chromium();
    let (server, _fx) = Server::start_fresh(&[]).unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut r = http.get(format!("{}{path}", server.url));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let page = get("/", &[]).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("wasm-unsafe-eval"));
    assert_eq!(page.bytes().await.unwrap(), std::fs::read(dist.join("index.html")).unwrap());
    let wasm = "/signpost_client_bg.wasm";
    let packed = get(wasm, &[("accept-encoding", "gzip, br")]).await.unwrap();
    assert_eq!(packed.headers()["content-encoding"], "br");
    assert_eq!(packed.headers()["content-type"], "application/wasm");
    let etag = packed.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(packed.bytes().await.unwrap(), std::fs::read(dist.join("signpost_client_bg.wasm.br")).unwrap());
    let plain = get(wasm, &[("accept-encoding", "identity")]).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap(), std::fs::read(dist.join("signpost_client_bg.wasm")).unwrap());
    let again = get(wasm, &[("if-none-match", &etag)]).await.unwrap();
    assert_eq!(again.status(), 304);
    for hidden in ["/.inputs", "/signpost_client_bg.wasm.br", "/no-such-file.js"] {
        assert_eq!(get(hidden, &[]).await.unwrap().status(), 404, "{hidden}");
    }
}
