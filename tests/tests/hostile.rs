//! Attacks on the relay's resources, tried against the real binary on 127.0.0.1: each sends
//! what a hostile tablet or an anonymous client could, and checks that the attempt is refused
//! with a clear reason, that the whole store is as it was (compared as text), that the relay's
//! memory stays within 100 MB of where it was, and that `/api/v1/health` and other tablets are
//! answered within a second meanwhile. The table of refused requests is `security.rs`.

use signpost_harness::{request, rss_mib, snapshot, Fixture, Server, Signed};
use signpost_shared::schema::{self, Header};
use signpost_sim::{sync_url, Tablet};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Any valid referral (seeded, so every run sends the same).
fn referral() -> schema::Referral {
    use rand::SeedableRng;
    signpost_sim::random::referral(&mut rand::rngs::StdRng::seed_from_u64(7), "hostile".into(), &[])
}

/// A fresh relay with a national reviewer's account, for the sign-in attacks.
async fn with_account(args: &[&str]) -> (Server, Fixture) {
    let (server, fx) = Server::start_fresh(args).unwrap();
    Signed::create(&server, "national", None, "national@example.org").await.unwrap();
    (server, fx)
}

/// While an attack goes on: the relay's health, and a tablet of site B (a desk the attack is
/// not aimed at) connecting, logging a referral and seeing it stored, are each answered within
/// a second.
async fn others_are_answered(server: &Server, fx: &Fixture, what: &str) {
    let asked = Instant::now();
    assert_eq!(server.get("/api/v1/health", None).await.unwrap().0, 200, "{what}");
    let health = asked.elapsed();
    assert!(health < Duration::from_secs(1), "{what}: health answered in {health:?}");
    let started = Instant::now();
    let mut t = Tablet::connect(&server.url, &fx.token_b, "bystander").await.unwrap();
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(3);
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_b, day)).await.unwrap();
    let r = schema::Referral { id: format!("bystander-{}", started.elapsed().as_nanos()), ..referral() };
    t.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    t.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "{what}: another desk synced in {:?}", started.elapsed());
    eprintln!("figure: {what}: health in {health:?}, another desk synced in {:?}", started.elapsed());
}

/// A tablet's sync message for `doc` carrying `changes` as they are, from its own peer id.
fn raw_sync(t: &Tablet, doc: signpost_shared::ids::DocumentId, changes: Vec<Vec<u8>>) -> Vec<u8> {
    use automerge::sync::{self, SyncDoc};
    let mut msg = sync::Message::decode(
        &automerge::Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode(),
    )
    .unwrap();
    msg.changes = changes.into();
    signpost_shared::wire::Message::Sync {
        sender_id: t.peer.peer_id().clone(),
        target_id: t.peer.relay_id().expect("joined").clone(),
        document_id: doc,
        data: msg.encode(),
    }
    .encode()
}

/// 131 KB that inflate to 16 × 8 MiB, sent by a tablet for its own day: refused before anything
/// is inflated or stored, the relay's memory barely moves, and health and the desk's other tablet
/// are answered at once.
#[tokio::test]
async fn a_compression_bomb_from_a_tablet_is_refused_and_nothing_stalls() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut good = Tablet::connect(&server.url, &fx.token_a1, "good").await.unwrap();
    let d = good.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    good.synced(d, T).await.unwrap();
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let before = snapshot(&server.data);

    let mut bad = Tablet::connect(&server.url, &fx.token_a2, "bad").await.unwrap();
    let zeros = vec![0u8; 8 << 20];
    let bomb = vec![signpost_shared::testkit::compressed_chunk(&zeros); 16];
    let frame = raw_sync(&bad, d, bomb);
    assert!(frame.len() < 200 << 10, "{} bytes", frame.len());
    bad.send_frame(frame).await.unwrap();
    let asked = Instant::now();
    let (status, _) = server.get("/api/v1/health", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    let closed = bad.until(T, |_| false).await.err().map(|e| format!("{e:#}")).unwrap_or_default();
    let said = format!("{closed} {:?}", bad.closed);
    assert!(said.contains("too large"), "{said}");
    assert_eq!(before, snapshot(&server.data), "nothing of the bomb is stored");
    let grew = rss_mib(pid) - rss_before;
    eprintln!("figure: the relay's memory grew by {grew:.1} MiB (from {rss_before:.1} MiB)");
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB");

    let started = Instant::now();
    good.change(d, |tx| schema::write_referral(tx, &referral()).unwrap()).await.unwrap();
    good.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the other tablet synced in {:?}", started.elapsed());
}

/// A sign-in form's cookie and token, to post it as any client would.
async fn sign_in_form(url: &str) -> (String, String) {
    let page = request(url, "GET", "/sign-in", &[], None).await.unwrap();
    (format!("signpost_form={}", page.cookie("signpost_form").unwrap()), page.form_value("csrf").unwrap())
}

async fn sign_in_from(url: &str, from: Option<&str>, email: &str, password: &str) -> u16 {
    let (cookie, csrf) = sign_in_form(url).await;
    let mut headers = vec![("Cookie", cookie.as_str())];
    if let Some(ip) = from {
        headers.push(("X-Forwarded-For", ip));
    }
    let form = [("csrf", csrf.as_str()), ("email", email), ("password", password)];
    request(url, "POST", "/sign-in", &headers, Some(&form)).await.unwrap().status
}

/// Thirty wrong passwords at once from one address: five are checked, the rest refused, as if
/// they had come one after another.
#[tokio::test]
async fn concurrent_guesses_are_counted_before_they_are_checked() {
    let (server, fx) = with_account(&[]).await;
    let before = snapshot(&server.data);
    let url = server.url.clone();
    let guesses: Vec<_> = (0..30)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { sign_in_from(&url, None, "national@example.org", "wrong password!").await })
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25, "{statuses:?}");
    assert_eq!(before, snapshot(&server.data), "a refused sign-in changes nothing");
    others_are_answered(&server, &fx, "after thirty guesses").await;
}

/// Behind a trusted proxy, strangers guessing from many addresses slow an account and
/// enrolment down but lock no one out: the person signs in, the right code enrols a tablet. A
/// client's own `X-Forwarded-For` is not believed without the flag.
#[tokio::test]
async fn strangers_cannot_lock_a_person_or_everyone_out() {
    let (server, fx) = Server::start_fresh(&["--trust-forwarded-for"]).unwrap();
    let url = server.url.clone();
    let mut coord = Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    for i in 0..12 {
        let stranger = format!("203.0.113.{i}");
        assert_eq!(sign_in_from(&url, Some(&stranger), "c@example.org", "wrong password!").await, 401);
    }
    let started = Instant::now();
    assert_eq!(sign_in_from(&url, Some("198.51.100.7"), "c@example.org", "a long enough password").await, 303);
    assert!(started.elapsed() < Duration::from_secs(8), "slowed, not shut out: {:?}", started.elapsed());

    let good = coord.enrolment_code(&server, &fx.scheme, &fx.site_a).await.unwrap();
    let mut refused = 0;
    for i in 0..320 {
        // Eight wrong codes from each of forty addresses: under each address's limit.
        let from = format!("192.0.2.{}", i / 8);
        let body =
            serde_json::json!({ "code": format!("ZZZZ-{:04}", 2222 + i % 7000).replace(['0', '1'], "2"), "name": "" });
        let r = request_json(&url, "/api/v1/enrol", &from, &body).await;
        refused += usize::from(r == 429);
    }
    assert_eq!(refused, 0, "no stranger's address went over its own limit");
    let r =
        request_json(&url, "/api/v1/enrol", "198.51.100.9", &serde_json::json!({ "code": good, "name": "Desk" })).await;
    assert_eq!(r, 201, "the right code still enrols after 320 wrong ones");
    others_are_answered(&server, &fx, "after the strangers' guesses").await;
}

async fn request_json(url: &str, path: &str, from: &str, body: &serde_json::Value) -> u16 {
    let client = reqwest_client();
    let r = client
        .post(format!("{url}{path}"))
        .header("X-Forwarded-For", from)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

/// Without `--trust-forwarded-for`, a client's `X-Forwarded-For` is its own claim: changing it
/// every time does not escape the limit on its real address.
#[tokio::test]
async fn a_forged_forwarded_for_is_not_believed() {
    let (server, _fx) = with_account(&[]).await;
    let mut statuses = Vec::new();
    for i in 0..7 {
        statuses
            .push(sign_in_from(&server.url, Some(&format!("203.0.113.{i}")), "national@example.org", "wrong!").await);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
}

/// Sockets cost the relay until they close: one that never joins, and one that goes silent and
/// answers no ping, are let go; one credential cannot hold more than its share open.
#[tokio::test]
async fn idle_silent_and_surplus_sockets_are_let_go() {
    use futures_util::StreamExt;
    let args = ["--join-within-secs", "1", "--keepalive-secs", "1", "--max-sockets-per-device", "2"];
    let (server, fx) = Server::start_fresh(&args).unwrap();
    let connections = || async {
        let (_, h) = server.get("/api/v1/health", None).await.unwrap();
        h["relay"]["connections"].as_u64().unwrap()
    };

    // Never joins: closed with a reason within the deadline.
    let (mut mute, _) = tokio_tungstenite::connect_async(sync_url(&server.url, Some(&fx.token_a1))).await.unwrap();
    let started = Instant::now();
    let mut said = String::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(T, mute.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = &msg {
            if let Ok(signpost_shared::wire::Message::Error { message }) = signpost_shared::wire::Message::decode(b) {
                said = message;
            }
        }
        if msg.is_close() {
            break;
        }
    }
    assert!(said.contains("no join message"), "{said:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());

    // Two tablets on one credential; a third socket is refused before the upgrade.
    let first = Tablet::connect(&server.url, &fx.token_a2, "one").await.unwrap();
    let _second = Tablet::connect(&server.url, &fx.token_a2, "two").await.unwrap();
    let third = tokio_tungstenite::connect_async(sync_url(&server.url, Some(&fx.token_a2))).await;
    let refused = format!("{:?}", third.err().expect("refused"));
    assert!(refused.contains("429"), "{refused}");
    // Sockets that go silent (these two stop reading, so they answer no ping) are let go, and
    // their places are free again.
    assert_eq!(connections().await, 2);
    let held = (first, _second); // neither read nor closed from here on
    let gone = signpost_harness::eventually(Duration::from_secs(10), || async { connections().await == 0 }).await;
    assert!(gone, "silent sockets are still held");
    assert!(Tablet::connect(&server.url, &fx.token_a2, "three").await.is_ok(), "their places are free");
    drop(held);
}

/// A tablet floods its desk with ephemeral messages while the desk's other tablets read
/// nothing: what waits for each is bounded in bytes, so the slow readers are let go rather than
/// the relay's memory growing, and the relay keeps answering.
#[tokio::test]
async fn an_ephemeral_flood_to_slow_readers_is_bounded() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut loud = Tablet::connect(&server.url, &fx.token_a1, "loud").await.unwrap();
    let d = loud.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    loud.synced(d, T).await.unwrap();
    let mut slow = Vec::new();
    for name in ["slow-1", "slow-2"] {
        let mut t = Tablet::connect(&server.url, &fx.token_a2, name).await.unwrap();
        assert!(t.find(d, T).await.unwrap());
        slow.push(t); // never read again
    }
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let before = snapshot(&server.data);
    for i in 0..1_000u64 {
        let out = loud.peer.ephemeral(d, "flood", i, vec![i as u8; 60 << 10]);
        if loud.send(out).await.is_err() {
            break;
        }
    }
    let asked = Instant::now();
    let (status, health) = server.get("/api/v1/health", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    let grew = rss_mib(pid) - rss_before;
    eprintln!("figure: the relay's memory grew by {grew:.1} MiB (from {rss_before:.1} MiB)");
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB: {health}");
    assert_eq!(before, snapshot(&server.data), "ephemerals store nothing");
    others_are_answered(&server, &fx, "during the flood").await;
    let gone = signpost_harness::eventually(T, || async {
        let (_, h) = server.get("/api/v1/health", None).await.unwrap();
        h["relay"]["connections"].as_u64() == Some(1)
    })
    .await;
    assert!(gone, "the slow readers were let go");
    drop(slow);
}

/// The app's files are never framed or sniffed; behind TLS browsers are told to stay on it; and
/// a set-password link is built on the configured address, whatever `Host` a request claims.
#[tokio::test]
async fn files_headers_and_links_do_not_trust_the_request() {
    let dist = signpost_harness::workspace().join("client/dist");
    let args =
        ["--behind-tls", "--public-url", "https://signpost.example.org/", "--static-dir", dist.to_str().unwrap()];
    let (server, _fx) = Server::start_fresh(&args).unwrap();
    let r = request(&server.url, "GET", "/index.html", &[], None).await.unwrap();
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let csp = r.header("content-security-policy").unwrap_or_default().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"), "only this origin's scripts: {csp}");
    assert!(!r.body.contains("<script>") && !r.body.contains("<script type=\"module\">"), "no inline script");
    assert!(r.header("strict-transport-security").is_some_and(|v| v.contains("max-age")));
    let api = request(&server.url, "GET", "/api/v1/health", &[], None).await.unwrap();
    assert!(api.header("strict-transport-security").is_some());

    let admin = Signed::create(&server, "admin", None, "adm@example.org").await.unwrap();
    let cookie = admin.v.cookie_header();
    let form = [("csrf", admin.csrf.as_str()), ("email", "new@example.org"), ("role", "national"), ("scheme", "")];
    let r =
        request(&server.url, "POST", "/manage/users", &[("Cookie", &cookie), ("Host", "evil.example")], Some(&form))
            .await
            .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("https://signpost.example.org/set-password?code="), "{}", r.body);
    assert!(!r.body.contains("evil.example"));
}

/// Three hundred clients that send their request headers a byte at a time (slowloris) are let go
/// once the header deadline passes, and the relay answers others meanwhile.
#[tokio::test]
async fn half_written_requests_are_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, fx) = Server::start_fresh(&["--header-timeout-secs", "1"]).unwrap();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-A: ").await.unwrap();
        slow.push(s);
    }
    others_are_answered(&server, &fx, "with 300 half-written requests open").await;
    let before = snapshot(&server.data);
    // Each keeps trickling a byte; the relay closes them all the same.
    for s in &mut slow {
        let _ = s.write_all(b"a").await;
    }
    // All at once: each read ends (an answer, 408, or end of stream) when the relay lets go.
    let reads = slow.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            tokio::time::timeout(Duration::from_secs(4), s.read(&mut buf)).await.is_ok()
        })
    });
    let mut closed = 0;
    for r in reads.collect::<Vec<_>>() {
        closed += usize::from(r.await.unwrap());
    }
    assert_eq!(closed, 300, "{closed} of 300 half-written requests were let go");
    assert_eq!(before, snapshot(&server.data));
}

/// A tablet that closes its socket gets the close answered at once (the relay keeps nothing of
/// the socket once its peer has gone).
#[tokio::test]
async fn a_closed_socket_is_answered_and_let_go() {
    use futures_util::{SinkExt, StreamExt};
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(sync_url(&server.url, Some(&fx.token_a1))).await.unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Close(None)).await.unwrap();
    let started = Instant::now();
    let mut answered = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
        if matches!(msg, Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_)) {
            answered = true;
            break;
        }
    }
    assert!(answered && started.elapsed() < Duration::from_secs(2), "close answered in {:?}", started.elapsed());
}

/// A document nobody has, with `note` in it and no Signpost header: a draft.
fn draft(note: &str) -> automerge::Automerge {
    use automerge::transaction::Transactable;
    let mut doc = automerge::Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "note", note).unwrap();
    tx.commit();
    doc
}

/// A tablet creating document after document (drafts that will never be days) is stopped at
/// its daily allowance with a reason; what it stored stays; the refused one changes nothing;
/// the desk's other tablet and the relay's health are answered at once; a restart does not
/// refill the allowance.
#[tokio::test]
async fn a_tablet_filling_the_disk_is_stopped_at_its_daily_allowance() {
    let args = ["--device-documents-per-day", "10", "--device-bytes-per-day", "1000000"];
    let (mut server, fx) = Server::start_fresh(&args).unwrap();
    let mut filler = Tablet::connect(&server.url, &fx.token_a1, "filler").await.unwrap();
    let mut created = 0;
    let mut before = snapshot(&server.data);
    let mut refusal = String::new();
    for i in 0..30u8 {
        let id = signpost_shared::ids::DocumentId::random([i; 16]);
        let out = filler.peer.insert(id, draft(&format!("draft {i}")), None);
        filler.send(out).await.unwrap();
        // Either the relay stores it (and says so) or refuses it and closes the socket.
        match filler.synced(id, T).await {
            Ok(()) => {
                created += 1;
                before = snapshot(&server.data);
            }
            Err(e) => {
                refusal = format!("{e:#} {:?}", filler.closed);
                break;
            }
        }
    }
    assert_eq!(created, 10, "{refusal}");
    assert!(refusal.contains("10 new documents for today"), "{refusal}");
    assert_eq!(before, snapshot(&server.data), "the refused document changes nothing");

    let asked = Instant::now();
    assert_eq!(server.get("/api/v1/health", None).await.unwrap().0, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut other = Tablet::connect(&server.url, &fx.token_a2, "other").await.unwrap();
    let started = Instant::now();
    let d = other.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    other.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the desk's other tablet synced in {:?}", started.elapsed());

    // A restarted relay remembers what the tablet stored today.
    drop(other);
    server.restart(&args).unwrap();
    let before = snapshot(&server.data);
    let mut again = Tablet::connect(&server.url, &fx.token_a1, "filler again").await.unwrap();
    let id = signpost_shared::ids::DocumentId::random([99; 16]);
    let out = again.peer.insert(id, draft("after the restart"), None);
    again.send(out).await.unwrap();
    let e = again.synced(id, T).await.expect_err("still over the allowance");
    assert!(format!("{e:#} {:?}", again.closed).contains("new documents for today"), "{e:#}");
    assert_eq!(before, snapshot(&server.data));
}

/// Two thousand sockets opened on one tablet credential: four are held, the rest refused before
/// the upgrade; the relay's memory barely moves and it answers health throughout.
#[tokio::test]
async fn two_thousand_sockets_on_one_credential_are_not_all_held() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let url = sync_url(&server.url, Some(&fx.token_a1));
    let (mut held, mut refused) = (Vec::new(), 0);
    for _ in 0..10 {
        let wave: Vec<_> = (0..200)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { tokio_tungstenite::connect_async(url).await })
            })
            .collect();
        for w in wave {
            match w.await.unwrap() {
                Ok((ws, _)) => held.push(ws),
                Err(e) => {
                    assert!(format!("{e:?}").contains("429"), "{e:?}");
                    refused += 1;
                }
            }
        }
        let asked = Instant::now();
        let (status, health) = server.get("/api/v1/health", None).await.unwrap();
        assert_eq!(status, 200);
        assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
        assert!(health["relay"]["connections"].as_u64().unwrap() <= 4, "{health}");
    }
    assert_eq!((held.len(), refused), (4, 1996));
    others_are_answered(&server, &fx, "with four sockets held and 1,996 refused").await;
    let grew = rss_mib(pid) - rss_before;
    eprintln!("figure: the relay's memory grew by {grew:.1} MiB (from {rss_before:.1} MiB)");
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB");
}

/// An administrator token works until it expires or is revoked, and from then on is refused at
/// once; the command line lists which are which.
#[tokio::test]
async fn administrator_tokens_expire_and_are_revoked_at_once() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let path = format!("/api/v1/stats/summary?scheme={}&from=2026-01-01&to=2026-01-31", fx.scheme);
    let short = signpost_harness::admin(&server.data, &["issue-admin-token", "--days", "1"]).unwrap();
    for token in [&fx.admin, &short] {
        assert_eq!(server.get(&path, Some(token)).await.unwrap().0, 200);
    }
    let listed: Vec<String> =
        signpost_harness::admin(&server.data, &["list-admin-tokens"]).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(listed.len(), 3, "a header and two tokens: {listed:?}");
    // The newest first: the short one.
    let id = listed[1].split_whitespace().next().unwrap().to_owned();
    let fixture_id = listed[2].split_whitespace().next().unwrap().to_owned();
    assert!(listed[1].ends_with("valid"), "{listed:?}");

    let revoked = signpost_harness::admin(&server.data, &["revoke-admin-token", &id]).unwrap();
    assert_eq!(revoked, format!("revoked {id}"));
    let (status, body) = server.get(&path, Some(&short)).await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(signpost_harness::admin(&server.data, &["revoke-admin-token", &id]).is_err(), "once");

    // The fixture's token, as if issued ninety days and a second ago.
    let conn = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let past = chrono::Utc::now().timestamp_millis() - 1000;
    conn.execute("UPDATE tokens SET expires_at = ?1 WHERE subject = ?2", rusqlite::params![past, fixture_id]).unwrap();
    assert_eq!(server.get(&path, Some(&fx.admin)).await.unwrap().0, 401, "an expired token is refused");
    let listed: Vec<String> =
        signpost_harness::admin(&server.data, &["list-admin-tokens"]).unwrap().lines().map(str::to_owned).collect();
    assert!(listed[1].contains("revoked") && listed[2].ends_with("expired"), "{listed:?}");
    assert!(signpost_harness::admin(&server.data, &["issue-admin-token", "--days", "400"]).is_err(), "366 at most");
}

/// Text a device sends that reaches the relay's log (a message type it made up, carrying a line
/// break and a forged log line) is escaped: it cannot start a line of its own.
#[tokio::test]
async fn text_from_a_device_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relay.log");
    let (server, fx) = Server::start_fresh_logging(&[], &log).unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "forger").await.unwrap();
    let kind = "x\nFORGED ERROR signpost: the relay was breached";
    // A CBOR map {"type": kind}, written out by hand: no encoder would help forge it.
    let mut frame = vec![0xa1, 0x64];
    frame.extend(b"type");
    frame.extend([0x78, kind.len() as u8]);
    frame.extend(kind.as_bytes());
    t.send_frame(frame).await.unwrap();
    let _ = t.until(T, |_| false).await;
    assert!(t.closed.as_deref().is_some_and(|c| c.contains("unknown message type")), "{:?}", t.closed);
    let written = signpost_harness::eventually(T, || async {
        std::fs::read_to_string(&log).unwrap_or_default().contains("relay was breached")
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(written, "the refusal is logged: {text}");
    assert!(!text.lines().any(|l| l.starts_with("FORGED")), "a forged line: {text}");
    assert_eq!(server.get("/api/v1/health", None).await.unwrap().0, 200);
}

/// A tablet of site B puts its content at site A's day (its well-known id) and at days far from
/// today: the far days are refused and change nothing; site A's tablet still opens, fills and
/// syncs its own day, and only site A's referral is counted there.
#[tokio::test]
async fn another_sites_day_and_far_dates_cannot_be_taken() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut squatter = Tablet::connect(&server.url, &fx.token_b, "squatter").await.unwrap();
    let a_day = Header::desk_day(&fx.scheme, &fx.site_a, today).well_known_id();
    let mut doc = automerge::Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &Header::desk_day(&fx.scheme, &fx.site_b, today)).unwrap();
    schema::write_referral(&mut tx, &referral()).unwrap();
    tx.commit();
    let out = squatter.peer.insert(a_day, doc, None);
    squatter.send(out).await.unwrap();
    squatter.synced(a_day, T).await.unwrap();

    for far in [chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(), today - chrono::Duration::days(401)] {
        let before = snapshot(&server.data);
        let mut t = Tablet::connect(&server.url, &fx.token_b, "far").await.unwrap();
        let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_b, far)).await.unwrap();
        let e = t.synced(d, T).await.expect_err("refused");
        assert!(format!("{e:#} {:?}", t.closed).contains("within 400 days"), "{far}: {e:#}");
        assert_eq!(before, snapshot(&server.data), "{far}: nothing stored");
    }

    let mut owner = Tablet::connect(&server.url, &fx.token_a1, "owner").await.unwrap();
    let started = Instant::now();
    let d = owner.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today)).await.unwrap();
    assert_eq!(d, a_day);
    let mine = signpost_shared::schema::Referral { id: "mine".into(), ..referral() };
    owner.change(d, |tx| schema::write_referral(tx, &mine).unwrap()).await.unwrap();
    owner.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the owner synced in {:?}", started.elapsed());
    let conn = rusqlite::Connection::open(server.data.join("signpost.sqlite3")).unwrap();
    let counted: Vec<(String, String)> = conn
        .prepare("SELECT site_id, id FROM referral_facts WHERE doc_id = ?1")
        .unwrap()
        .query_map([a_day.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(counted, [(fx.site_a.clone(), "mine".to_owned())], "only the owner's referral counts at its day");
}

/// Anonymous clients sending huge form fields (200 sign-ins with a 1 MiB email, enrolments with
/// a 1 MiB name) are refused before anything is read into memory: nothing is stored, the relay's
/// memory barely moves, and health is answered within a second.
#[tokio::test]
async fn huge_form_fields_are_refused_before_they_cost_anything() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let before = snapshot(&server.data);
    let (cookie, csrf) = sign_in_form(&server.url).await;
    let email = "a".repeat(1 << 20) + "@example.org";
    let client = reqwest_client();
    for _ in 0..200 {
        let r = client
            .post(format!("{}/sign-in", server.url))
            .header("Cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("email", email.as_str()), ("password", "wrong password!")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413);
    }
    let name = "n".repeat(1 << 20);
    let body = serde_json::json!({ "code": "ABCD-EFGH", "name": name }).to_string();
    let r = client
        .post(format!("{}/api/v1/enrol", server.url))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let grew = rss_mib(pid) - rss_before;
    eprintln!("figure: the relay's memory grew by {grew:.1} MiB (from {rss_before:.1} MiB)");
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB");
    assert_eq!(before, snapshot(&server.data));
    others_are_answered(&server, &fx, "after 200 huge sign-ins").await;
}

/// A 1 MiB draft (no Signpost header) is refused at the draft cap and never stored.
#[tokio::test]
async fn a_draft_over_its_cap_is_never_stored() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let before = snapshot(&server.data);
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "parker").await.unwrap();
    let noise: String =
        (0..1u32 << 20).map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)).collect();
    let id = signpost_shared::ids::DocumentId::random([3; 16]);
    let out = t.peer.insert(id, draft(&noise), None);
    t.send(out).await.unwrap();
    let e = t.synced(id, T).await.expect_err("refused");
    assert!(format!("{e:#} {:?}", t.closed).contains("without a Signpost header may hold at most"), "{e:#}");
    assert_eq!(before, snapshot(&server.data));
    others_are_answered(&server, &fx, "after the draft").await;
}

/// Fifty clients that send their headers at once and then trickle the body a byte at a time are
/// answered once the body deadline passes, however steadily they trickle; the relay answers
/// others meanwhile and stores nothing.
#[tokio::test]
async fn trickled_bodies_are_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, fx) = Server::start_fresh(&["--body-timeout-secs", "1"]).unwrap();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head =
            "POST /api/v1/enrol HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
        s.write_all(head.as_bytes()).await.unwrap();
        slow.push(s);
    }
    others_are_answered(&server, &fx, "with fifty bodies trickling").await;
    let before = snapshot(&server.data);
    let started = Instant::now();
    let reads = slow.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            // A byte every 200 ms: never quiet for long, never done.
            loop {
                tokio::select! {
                    n = s.read(&mut buf) => return n.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()).unwrap_or_default(),
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        if s.write_all(b" ").await.is_err() {
                            return String::new();
                        }
                    }
                }
            }
        })
    });
    let mut answered = 0;
    for r in reads.collect::<Vec<_>>() {
        let said = tokio::time::timeout(Duration::from_secs(6), r).await.expect("let go").unwrap();
        answered += usize::from(said.is_empty() || said.starts_with("HTTP/1.1 4"));
    }
    assert_eq!(answered, 50);
    assert!(started.elapsed() < Duration::from_secs(6), "let go after {:?}", started.elapsed());
    assert_eq!(before, snapshot(&server.data));
}
