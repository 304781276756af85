//! Sign-in, enrolment and the JSON API's credentials: guessing, locking others out, forged
//! addresses, huge form fields, administrator tokens that expire and are revoked.

use super::*;

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
    let conn = signpost_harness::store::connect(&server.data);
    let past = chrono::Utc::now().timestamp_millis() - 1000;
    conn.execute("UPDATE tokens SET expires_at = ?1 WHERE subject = ?2", signpost_domain::params![past, fixture_id])
        .unwrap();
    assert_eq!(server.get(&path, Some(&fx.admin)).await.unwrap().0, 401, "an expired token is refused");
    let listed: Vec<String> =
        signpost_harness::admin(&server.data, &["list-admin-tokens"]).unwrap().lines().map(str::to_owned).collect();
    assert!(listed[1].contains("revoked") && listed[2].ends_with("expired"), "{listed:?}");
    assert!(signpost_harness::admin(&server.data, &["issue-admin-token", "--days", "400"]).is_err(), "366 at most");
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

/// An IPv6 client holds a whole /64 and can send from any address in it: behind a trusted
/// proxy, guesses from addresses rotated within one /64 share that /64's allowance, for sign-in
/// and enrolment alike, while another /64 has its own. An IPv4 address written as IPv6
/// (`::ffff:a.b.c.d`) is that IPv4 address.
#[tokio::test]
async fn addresses_rotated_within_one_ipv6_64_share_one_allowance() {
    let (server, _fx) = with_account(&["--trust-forwarded-for"]).await;
    let url = server.url.clone();
    let mut statuses = Vec::new();
    for i in 1..=7 {
        let from = format!("2001:db8:5:6:{i:x}::{i:x}");
        statuses.push(sign_in_from(&url, Some(&from), "national@example.org", "wrong password!").await);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429], "one /64, one allowance");
    assert_eq!(sign_in_from(&url, Some("2001:db8:5:7::1"), "national@example.org", "wrong password!").await, 401);

    let mut statuses = Vec::new();
    for from in ["192.0.2.44", "::ffff:192.0.2.44"].iter().cycle().take(7) {
        statuses.push(sign_in_from(&url, Some(from), "someone@example.org", "wrong password!").await);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429], "an IPv4-mapped address is its IPv4 address");

    let mut statuses = Vec::new();
    for i in 1..=12u32 {
        let from = format!("2001:db8:9:a:{:x}:{:x}::1", i * 7919 % 0xffff, i);
        let body = serde_json::json!({ "code": "ZZZZ-ZZZZ", "name": "" });
        statuses.push(request_json(&url, "/api/v1/enrol", &from, &body).await);
    }
    assert_eq!(statuses[..10], [403; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429, 429], "enrolment: one /64, one allowance");
    let body = serde_json::json!({ "code": "ZZZZ-ZZZZ", "name": "" });
    assert_eq!(request_json(&url, "/api/v1/enrol", "2001:db8:9:b::1", &body).await, 403, "another /64");
}

/// Two hundred sign-ins at once, each from an address and for an account of its own (no
/// throttle or brake holds any back): argon2 takes about 19 MiB for each password it checks, and
/// the relay checks a few at a time, so its memory grows by less than 150 MiB (it grew by 900
/// MiB when all were checked at once). Those that cannot be checked after a short wait are
/// answered at once: 503, the sign-in page saying to try again in a moment, never a 500.
/// Meanwhile `/healthcheck` is answered within a second, and afterwards the person who knows
/// their password signs in.
#[tokio::test]
async fn two_hundred_sign_ins_at_once_are_checked_a_few_at_a_time() {
    let (server, _fx) = with_account(&["--trust-forwarded-for"]).await;
    let pid = server.pid().unwrap();
    let url = server.url.clone();
    // The forms first, so that the two hundred posts arrive together.
    let mut forms = Vec::new();
    for _ in 0..200 {
        forms.push(sign_in_form(&url).await);
    }
    let rss_before = rss_mib(pid);
    let reset = reset_peak_rss(pid);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let health = tokio::spawn({
        let (url, stop) = (url.clone(), stop.clone());
        async move {
            let (mut slowest, mut sampled) = (Duration::ZERO, 0f64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let asked = Instant::now();
                assert_eq!(request(&url, "GET", "/healthcheck", &[], None).await.unwrap().status, 200);
                slowest = slowest.max(asked.elapsed());
                sampled = sampled.max(rss_mib(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (slowest, sampled)
        }
    });
    let started = Instant::now();
    let attempts: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, (cookie, csrf))| {
            let url = url.clone();
            tokio::spawn(async move {
                let from = format!("198.18.{}.{}", i / 200, i % 200 + 1);
                let email = format!("guess{i}@example.org");
                let headers = [("Cookie", cookie.as_str()), ("X-Forwarded-For", from.as_str())];
                let form = [("csrf", csrf.as_str()), ("email", email.as_str()), ("password", "wrong password!")];
                request(&url, "POST", "/sign-in", &headers, Some(&form)).await.unwrap()
            })
        })
        .collect();
    let mut replies = Vec::new();
    for a in attempts {
        replies.push(a.await.unwrap());
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (slowest_health, sampled) = health.await.unwrap();
    let peak = if reset { peak_rss_mib(pid).max(sampled) } else { sampled };
    let grew = peak - rss_before;
    let checked = replies.iter().filter(|r| r.status == 401).count();
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    eprintln!(
        "figure: 200 sign-ins at once: {checked} checked, {} busy, in {took:?}; memory peaked {grew:.1} MiB \
         above {rss_before:.1} MiB; health answered within {slowest_health:?}",
        busy.len()
    );
    assert_eq!(checked + busy.len(), 200, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(checked > 0, "some were checked");
    for r in &busy {
        assert!(r.body.contains("govuk-error-summary") && r.body.contains("Try again in a moment"), "{}", r.body);
        assert!(r.form_value("csrf").is_some(), "the sign-in form, to send again");
    }
    assert!(grew < 150.0, "the relay's memory grew by {grew:.0} MiB");
    assert!(slowest_health < Duration::from_secs(1), "health answered in {slowest_health:?}");
    assert_eq!(sign_in_from(&url, Some("192.0.2.200"), "national@example.org", "a long enough password").await, 303);
}
