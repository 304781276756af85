//! What an operator relies on: liveness and readiness, the binary's own app, backups, integrity
//! checks and shutdowns.

use signpost_harness::Server;

/// A fresh relay, and a tablet of its site A with today's desk-day open.
async fn desk_today() -> (Server, signpost_harness::Fixture, signpost_sim::Tablet, signpost_shared::ids::DocumentId) {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let mut tablet = signpost_sim::Tablet::connect(&server.url, &fx.token_a1, "desk").await.unwrap();
    let today = chrono::Utc::now().date_naive();
    let header = signpost_shared::schema::Header::desk_day(&fx.scheme, &fx.site_a, today);
    let day = tablet.open_day(&header).await.unwrap();
    (server, fx, tablet, day)
}

/// The ids of the referrals in a data folder's statistics, one per row.
fn referral_ids(data: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(data.join("signpost.sqlite3")).unwrap();
    let mut rows = conn.prepare("SELECT id FROM referral_facts").unwrap();
    rows.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// `/healthcheck` answers while the process serves; `/readiness` fails while something holds
/// the database's write lock (the relay thread's batches wait on it, and readiness sees them
/// wait), says why, answers at once while they wait rather than wait with them, and recovers
/// when the lock is released.
#[tokio::test]
async fn readiness_fails_while_the_database_is_locked_and_recovers() {
    let (server, _fx) = Server::start_fresh(&[]).unwrap();
    let (status, live) = server.get("/healthcheck", None).await.unwrap();
    assert_eq!((status, live["status"].as_str()), (200, Some("ok")), "{live}");
    let (status, ready) = server.get("/readiness", None).await.unwrap();
    assert_eq!(status, 200, "{ready}");
    assert_eq!((ready["database"].as_str(), ready["relay"].as_str()), (Some("ok"), Some("ok")), "{ready}");

    let holder = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let locked = std::time::Instant::now();
    // The relay thread's next batch (a tick, within a second) waits for the lock.
    let ready = loop {
        let (status, ready) = server.get("/readiness", None).await.unwrap();
        if status == 503 {
            break ready;
        }
        assert!(locked.elapsed() < std::time::Duration::from_secs(6), "still ready: {ready}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(ready["status"], "unavailable", "{ready}");
    let database = ready["database"].as_str().unwrap();
    assert!(database.contains("did not") && database.contains("write lock"), "{ready}");
    // Once the relay has waited longer than the bound, readiness says so at once.
    tokio::time::sleep(std::time::Duration::from_secs(3).saturating_sub(locked.elapsed())).await;
    let asked = std::time::Instant::now();
    let (status, ready) = server.get("/readiness", None).await.unwrap();
    assert_eq!(status, 503, "{ready}");
    assert!(asked.elapsed() < std::time::Duration::from_millis(500), "answered in {:?}", asked.elapsed());
    // Liveness is not readiness: the process still answers.
    assert_eq!(server.get("/healthcheck", None).await.unwrap().0, 200);
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(
        signpost_harness::eventually(std::time::Duration::from_secs(5), || async {
            server.get("/readiness", None).await.unwrap().0 == 200
        })
        .await,
        "ready again once the lock is released"
    );
}

/// A metric's value in the relay's `/metrics` (0 when it is not there).
async fn metric(server: &Server, name: &str) -> f64 {
    let body = reqwest::get(format!("{}/metrics", server.url)).await.unwrap().text().await.unwrap();
    let line = body.lines().find(|l| l.split_whitespace().next() == Some(name));
    line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// Five hundred readiness checks, sixteen at a time, while a tablet logs and syncs: readiness
/// reads what the relay thread recorded of its commits and takes no lock, so the relay thread
/// commits no batch for it (each check used to open a write transaction on the relay thread,
/// and take the write lock itself), and every sync of the tablet is acknowledged promptly.
#[tokio::test]
async fn hammering_readiness_takes_no_lock_and_leaves_the_relays_commits_alone() {
    use signpost_shared::schema;
    let (server, _fx, mut tablet, day) = desk_today().await;
    let committed_before = metric(&server, "signpost_commit_seconds_count").await;
    let started = std::time::Instant::now();
    let checks = (0..16)
        .map(|_| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..500 / 16 + 1 {
                    ok += usize::from(
                        signpost_harness::http_get(&format!("{url}/readiness"), None).await.unwrap().0 == 200,
                    );
                }
                ok
            })
        })
        .collect::<Vec<_>>();
    let (mut syncs, mut slowest) = (0, std::time::Duration::ZERO);
    while checks.iter().any(|c| !c.is_finished()) || syncs < 5 {
        let r = signpost_shared::testkit::referral(&format!("ready-{syncs}"));
        let sent = std::time::Instant::now();
        tablet.change(day, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
        tablet.synced(day, std::time::Duration::from_secs(10)).await.unwrap();
        slowest = slowest.max(sent.elapsed());
        syncs += 1;
    }
    let mut ready = 0;
    for c in checks {
        ready += c.await.unwrap();
    }
    let took = started.elapsed();
    let committed = metric(&server, "signpost_commit_seconds_count").await - committed_before;
    println!(
        "figure: {ready} readiness checks in {took:?} beside {syncs} syncs (slowest {slowest:?}); \
         the relay committed {committed} batches"
    );
    assert_eq!(ready, 16 * (500 / 16 + 1), "every check ready");
    assert!(slowest < std::time::Duration::from_millis(500), "a sync took {slowest:?}");
    // A sync takes a batch or two (the change, then perhaps an answer); a tick one a second.
    let allowed = 2.0 * syncs as f64 + took.as_secs_f64().ceil() + 3.0;
    assert!(committed <= allowed, "{committed} batches for {syncs} syncs in {took:?}: readiness made the relay commit");
}

/// A backup taken while a tablet keeps logging holds every referral the relay acknowledged
/// before the backup began; restored into a new folder, it checks out and a relay serves it.
/// Restoring over a database, or from a file that is not a sound backup, is refused.
#[tokio::test]
async fn a_backup_during_ingest_restores_every_referral_acknowledged_before_it() {
    use signpost_shared::schema;
    use std::sync::{Arc, Mutex};
    let (server, _fx, mut tablet, day) = desk_today().await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ids: Vec<String> = (n..n + 5).map(|i| format!("r{i:05}")).collect();
                n += 5;
                for id in &ids {
                    let r = signpost_harness::referral_on(id, chrono::Utc::now().date_naive());
                    tablet.change(day, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
                }
                tablet.synced(day, std::time::Duration::from_secs(20)).await.unwrap();
                acknowledged.lock().unwrap().extend(ids);
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signpost-backup.sqlite3");
    let (data, f) = (server.data.clone(), file.to_string_lossy().into_owned());
    let said =
        tokio::task::spawn_blocking(move || signpost_harness::admin(&data, &["backup", &f])).await.unwrap().unwrap();
    assert!(said.contains("integrity check: ok"), "{said}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let after = acknowledged.lock().unwrap().len();
    assert!(after > before.len(), "the tablet kept logging during the backup");

    let restored = dir.path().join("restored");
    let f = file.to_string_lossy().into_owned();
    let said = signpost_harness::admin(&restored, &["restore", &f]).unwrap();
    assert!(said.contains("restored"), "{said}");
    let ids: std::collections::HashSet<String> = referral_ids(&restored).into_iter().collect();
    let missing: Vec<&String> = before.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged referrals missing: {missing:?}", missing.len(), before.len());
    println!("backup held {} referrals; {} acknowledged before it began, {after} by the end", ids.len(), before.len());
    // Refusals: over a database, and from something that is not a backup.
    let again = signpost_harness::admin(&restored, &["restore", &f]).unwrap_err().to_string();
    assert!(again.contains("holds a database already"), "{again}");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a database").unwrap();
    let bad = signpost_harness::admin(&dir.path().join("other"), &["restore", &junk.to_string_lossy()]).unwrap_err();
    assert!(bad.to_string().contains("not a sound Signpost backup"), "{bad}");
    assert!(!dir.path().join("other/signpost.sqlite3").exists());
    // A relay serves the restored folder.
    let (status, _) = Server::start(&restored, &[]).unwrap().get("/readiness", None).await.unwrap();
    assert_eq!(status, 200);
}

/// A relay's data folder with `n` referrals logged by one tablet today, then the relay stopped:
/// (the folder's owner, the folder).
async fn folder_with_referrals(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, data, _, _) = folder_with_a_day(n).await;
    (dir, data)
}

/// As [`folder_with_referrals`], with the day's document and the tablet's credential.
async fn folder_with_a_day(
    n: usize,
) -> (tempfile::TempDir, std::path::PathBuf, signpost_shared::ids::DocumentId, String) {
    use signpost_shared::schema::{self, Header};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let doc;
    {
        let (server, fx) = Server::start_fresh(&[]).unwrap();
        let mut tablet = signpost_sim::Tablet::connect(&server.url, &fx.token_a1, "desk").await.unwrap();
        let today = chrono::Utc::now().date_naive();
        let day = tablet.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today)).await.unwrap();
        doc = (day, fx.token_a1.clone());
        for i in 0..n {
            let r = signpost_harness::referral_on(&format!("r{i:04}"), chrono::Utc::now().date_naive());
            tablet.change(day, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
            // Synced in fives, as a desk does through a morning: the day is stored in several
            // chunks, not one.
            if i % 5 == 4 {
                tablet.synced(day, std::time::Duration::from_secs(30)).await.unwrap();
            }
        }
        tablet.synced(day, std::time::Duration::from_secs(30)).await.unwrap();
        drop(tablet);
        // The relay stops with the server; its folder is copied whole (the log checkpointed).
        let conn = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        drop(conn);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::copy(server.data.join("signpost.sqlite3"), data.join("signpost.sqlite3")).unwrap();
    }
    let (day, token) = doc;
    (dir, data, day, token)
}

/// `signpost admin check` on the command line: (exit status, what it printed).
fn check(data: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(signpost_harness::binary())
        .args(["admin", "check", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), said)
}

/// A sound folder checks out; one whose statistics no longer match its documents is named, with
/// the document and what differs, and exit status 1. The check changes nothing.
#[tokio::test]
async fn the_integrity_check_finds_statistics_that_differ_from_the_documents() {
    let (_dir, data) = folder_with_referrals(30).await;
    let (status, said) = check(&data);
    assert_eq!(status, 0, "{said}");
    assert!(said.contains("30 referrals") && said.contains("checks out"), "{said}");
    let conn = rusqlite::Connection::open(data.join("signpost.sqlite3")).unwrap();
    conn.execute("UPDATE referral_facts SET helped = 'witness' WHERE id = 'r0007'", []).unwrap();
    drop(conn);
    let before = std::fs::read(data.join("signpost.sqlite3")).unwrap();
    let (status, said) = check(&data);
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("referral r0007: the document says"), "{said}");
    assert!(said.contains("restore the latest backup"), "{said}");
    assert_eq!(std::fs::read(data.join("signpost.sqlite3")).unwrap(), before, "the check wrote nothing");
}

/// A byte-damaged database: the check fails with a report, and the relay refuses to start on it
/// with a message that says what to do, rather than serving wrong figures or half documents.
#[tokio::test]
async fn a_damaged_database_fails_the_check_and_the_relay_will_not_start_on_it() {
    let (_dir, data) = folder_with_referrals(300).await;
    let file = data.join("signpost.sqlite3");
    let mut bytes = std::fs::read(&file).unwrap();
    let page = 4096;
    let pages = bytes.len() / page;
    assert!(pages > 8, "{pages} pages");
    // Every page after the first few is scribbled over in its middle (its header kept): the
    // b-tree cells no longer make sense.
    for p in (3..pages).step_by(2) {
        for b in &mut bytes[p * page + 200..p * page + 1200] {
            *b = 0xA5;
        }
    }
    std::fs::write(&file, &bytes).unwrap();
    let (status, said) = check(&data);
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("FAIL SQLite integrity check"), "{said}");
    let out = std::process::Command::new(signpost_harness::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("fails SQLite's quick check") && err.contains("signpost admin restore"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "the refused start wrote nothing");
}

/// SIGTERM (and SIGINT) under load: the relay stops accepting, tells every tablet it is
/// restarting (the close frame's reason), commits what it took, and exits 0 well within its
/// bound. Restarted on the same folder, the tablets reconnect and send what was not yet
/// acknowledged: every referral acknowledged before the stop is there, every one logged is
/// there once, and none is counted twice.
#[tokio::test]
async fn a_stop_under_load_loses_nothing_and_tablets_reconnect_to_the_restarted_relay() {
    use signpost_shared::schema::{self, Header};
    use std::sync::{Arc, Mutex};
    for signal in ["TERM", "INT"] {
        // The stop's bound runs from the signal, not from the start: the relay has been up
        // longer than the bound when it is stopped.
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("relay.log");
        let (mut server, fx) = Server::start_fresh_logging(&["--shutdown-secs", "4"], &log).unwrap();
        let up = std::time::Instant::now();
        let today = chrono::Utc::now().date_naive();
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let desks = [
            (fx.token_a1.clone(), fx.site_a.clone()),
            (fx.token_a2.clone(), fx.site_a.clone()),
            (fx.token_b.clone(), fx.site_b.clone()),
        ];
        let mut writers = Vec::new();
        for (t, (token, site)) in desks.iter().enumerate() {
            let (url, token, site, scheme, acknowledged) =
                (server.url.clone(), token.clone(), site.clone(), fx.scheme.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                let mut tablet = signpost_sim::Tablet::connect(&url, &token, &format!("t{t}")).await.unwrap();
                let day = tablet.open_day(&Header::desk_day(&scheme, &site, today)).await.unwrap();
                let mut logged = Vec::new();
                for n in 0.. {
                    let ids: Vec<String> = (0..3).map(|i| format!("t{t}-{:05}", n * 3 + i)).collect();
                    let mut sent = true;
                    for id in &ids {
                        let r = signpost_harness::referral_on(id, chrono::Utc::now().date_naive());
                        // Logged on the tablet whether or not the relay is there to hear it.
                        logged.push(id.clone());
                        sent &= tablet.change(day, |tx| schema::write_referral(tx, &r).unwrap()).await.is_ok();
                    }
                    if !sent || tablet.synced(day, std::time::Duration::from_secs(20)).await.is_err() {
                        break;
                    }
                    acknowledged.lock().unwrap().extend(ids);
                }
                (token, day, tablet.disconnect().await, logged)
            }));
        }
        // A tablet that is only listening hears why its socket closes.
        let mut idle = signpost_sim::Tablet::connect(&server.url, &fx.token_b, "idle").await.unwrap();
        while acknowledged.lock().unwrap().len() < 90 || up.elapsed() < std::time::Duration::from_secs(5) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let (status, took) = server.stop(signal, std::time::Duration::from_secs(15)).unwrap();
        assert!(status.success(), "SIG{signal}: exit status {status}");
        assert!(took < std::time::Duration::from_secs(5), "SIG{signal}: took {took:?}");
        let said = std::fs::read_to_string(&log).unwrap();
        assert!(!said.contains("stopped before every socket closed"), "SIG{signal}: {said}");
        let before: Vec<String> = acknowledged.lock().unwrap().clone();
        let _ = idle.wait_until(std::time::Duration::from_secs(5), |_| false).await;
        let told = idle.closed.clone().unwrap_or_default();
        assert!(told.contains("restarting"), "SIG{signal}: the tablet was told {told:?}");
        let mut tablets = Vec::new();
        for w in writers {
            tablets.push(w.await.unwrap());
        }
        server.restart(&[]).unwrap();
        let mut all_logged = Vec::new();
        for (token, day, peer, logged) in tablets {
            let mut tablet = signpost_sim::Tablet::connect_with(&server.url, &token, peer).await.unwrap();
            tablet.synced(day, std::time::Duration::from_secs(30)).await.unwrap();
            all_logged.extend(logged);
        }
        let ids = referral_ids(&server.data);
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "SIG{signal}: a referral counted twice");
        let missing: Vec<&String> = before.iter().filter(|id| !unique.contains(id)).collect();
        assert!(missing.is_empty(), "SIG{signal}: acknowledged and lost: {missing:?}");
        let mut logged = all_logged.clone();
        logged.sort();
        let mut stored: Vec<String> = ids.clone();
        stored.sort();
        assert_eq!(stored, logged, "SIG{signal}: every referral logged is stored once");
        println!(
            "SIG{signal}: stopped in {took:?}; {} acknowledged before it, {} stored after the restart",
            before.len(),
            ids.len()
        );
    }
}

/// `/metrics` in the Prometheus text format: what the relay holds and did, counted, with no id
/// or token of anyone's in it.
#[tokio::test]
async fn metrics_count_what_the_relay_did_and_name_no_one() {
    use signpost_shared::schema;
    let (server, fx, mut tablet, day) = desk_today().await;
    for id in ["metrics-r1", "metrics-r2", "metrics-r3"] {
        let r = signpost_harness::referral_on(id, chrono::Utc::now().date_naive());
        tablet.change(day, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    }
    tablet.synced(day, std::time::Duration::from_secs(20)).await.unwrap();
    assert_eq!(server.get("/api/v1/health", None).await.unwrap().0, 200);
    let body = reqwest::get(format!("{}/metrics", server.url)).await.unwrap().text().await.unwrap();
    for line in [
        "signpost_connections 1",
        "signpost_referrals_stored 3",
        "signpost_http_requests_total{route=\"/api/v1/health\",status=\"200\"} 1",
        "signpost_batch_commands_count",
        "signpost_commit_seconds_bucket",
        "signpost_database_bytes",
    ] {
        assert!(body.contains(line), "{line} missing from:\n{body}");
    }
    for secret in [&fx.scheme, &fx.site_a, &fx.token_a1, &fx.admin, &day.to_string(), &"metrics-r1".to_string()] {
        assert!(!body.contains(secret.as_str()), "{secret} in the metrics");
    }
    // A voided referral leaves the statistics, and the count.
    tablet.change(day, |tx| schema::void_referral(tx, "metrics-r2", "entered twice", 0).unwrap()).await.unwrap();
    tablet.synced(day, std::time::Duration::from_secs(20)).await.unwrap();
    assert_eq!(metric(&server, "signpost_referrals_stored").await, 2.0);
}

/// A whole day's work with the log in JSON at its most talkative: every line is one JSON object
/// with `@timestamp` and `level`, requests are logged, and not one secret or note used in it
/// appears anywhere in the log — passwords, set-password and enrolment codes, tablet and
/// administrator credentials, session cookies, or what a volunteer typed.
#[tokio::test]
async fn the_json_log_of_a_whole_scenario_holds_no_secret_and_no_note() {
    use signpost_harness::Visitor;
    use signpost_shared::schema::{self, Header};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relay.log");
    let args = ["--log-format", "json", "--log-level", "signpost=debug,tower_http=debug"];
    let (server, fx) = Server::start_fresh_logging(&args, &log).unwrap();
    let email = "coordinator@example.org";
    let code =
        signpost_harness::admin(&server.data, &["create-user", "--role", "coordinator", "--scheme", &fx.scheme, email])
            .unwrap();
    let password = "lantern orchard velvet 7731";
    let mut coord = Visitor::default();
    let csrf = coord.set_password_and_sign_in(&server.url, email, &code, password).await.unwrap();
    let mut other = Visitor::default();
    assert!(other.sign_in(&server.url, email, "a wrong guess at it 4412").await.is_err());
    let mut signed = signpost_harness::Signed { v: coord, csrf };
    let enrolment = signed.enrolment_code(&server, &fx.scheme, &fx.site_a).await.unwrap();
    let (status, body) = signpost_harness::enrol(&server, &enrolment).await.unwrap();
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let mut tablet = signpost_sim::Tablet::connect(&server.url, &token, "desk").await.unwrap();
    let day =
        tablet.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, chrono::Utc::now().date_naive())).await.unwrap();
    let note = "Talked about the tenancy at Flat 9 Quayside";
    let mut r = signpost_harness::referral_on("logged-referral", chrono::Utc::now().date_naive());
    r.notes = Some(note.into());
    tablet.change(day, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    tablet.synced(day, std::time::Duration::from_secs(20)).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    let path = format!("/api/v1/stats/summary?scheme={}&from={today}&to={today}", fx.scheme);
    let (status, summary) = server.get(&path, Some(&fx.admin)).await.unwrap();
    assert_eq!(status, 200, "{summary}");
    assert_eq!(server.get("/api/v1/health", Some("spa_not_a_real_token_but_secret_looking")).await.unwrap().0, 200);
    drop(tablet);
    let cookies = signed.v.cookies.clone();
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 12, "{} lines:\n{text}", lines.len());
    let mut requests = 0;
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let at = v["@timestamp"].as_str().unwrap_or_else(|| panic!("no @timestamp: {line}"));
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
        requests += (v["message"] == "request") as usize;
    }
    assert!(requests >= 10, "{requests} requests logged");
    let mut secrets: Vec<String> = vec![
        code,
        password.into(),
        "a wrong guess at it 4412".into(),
        enrolment.clone(),
        enrolment.replace('-', ""),
        token.clone(),
        fx.admin.clone(),
        fx.token_a1.clone(),
        "spa_not_a_real_token_but_secret_looking".into(),
        note.into(),
        "Flat 9 Quayside".into(),
    ];
    secrets.extend(cookies.iter().map(|(_, v)| v.clone()).filter(|v| v.len() >= 16));
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the log holds a secret: {s}");
    }
}

/// The deployment's systemd units (`deploy/`, described in docs/deploy.md) pass
/// `systemd-analyze verify`, pointed at this build's binary.
#[test]
fn the_systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = ["signpost.service", "signpost-backup.service", "signpost-backup.timer"];
    let bin = signpost_harness::binary();
    for u in units {
        let text = std::fs::read_to_string(signpost_harness::workspace().join("deploy").join(u)).unwrap();
        std::fs::write(dir.path().join(u), text.replace("/usr/local/bin/signpost", &bin.to_string_lossy())).unwrap();
    }
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| dir.path().join(u)))
        .output()
        .expect("systemd-analyze (Debian's systemd package; `cargo xtask test` installs it)");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("nknown") && !said.contains("gnoring"), "{said}");
}

/// A document whose storage lost a chunk (the database file itself is sound, so the start-up
/// check passes) is never served partly: the relay refuses it to the
/// tablet that asks, and goes on serving; the full check names it.
#[tokio::test]
async fn a_document_damaged_in_storage_is_refused_never_served_partly() {
    let (_dir, data, day, token) = folder_with_a_day(40).await;
    let conn = rusqlite::Connection::open(data.join("signpost.sqlite3")).unwrap();
    let seqs: Vec<i64> = conn
        .prepare("SELECT seq FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([day.to_string()], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(seqs.len() >= 3, "{} chunks", seqs.len());
    // A chunk in the middle lost (as a damaged page loses a row): the chunks after it hold
    // changes that depend on it.
    conn.execute("DELETE FROM doc_chunks WHERE seq = ?1", [seqs[1]]).unwrap();
    drop(conn);
    let (status, said) = check(&data);
    assert_eq!(status, 1, "{said}");
    assert!(said.contains(&format!("{day}: document {day} does not load")), "{said}");
    let server = Server::start(&data, &[]).unwrap();
    let mut tablet = signpost_sim::Tablet::connect(&server.url, &token, "desk").await.unwrap();
    let served = tablet.find(day, std::time::Duration::from_secs(10)).await;
    assert!(!matches!(served, Ok(true)), "the damaged document was served: {served:?}");
    assert_eq!(server.get("/readiness", None).await.unwrap().0, 200, "the relay goes on serving");
}
