//! Several relays on one PostgreSQL database (a throw-away cluster on 127.0.0.1): a tablet may
//! use any of them. Entries reach the desk's tablets on the other relay within a second,
//! concurrent edits through two relays merge and the statistics equal the merged documents,
//! and a relay killed under load loses nothing its tablets were told was stored.

use rand::{Rng, SeedableRng};
use signpost_harness::postgres::Postgres;
use signpost_harness::{referral_count, Fixture, Server};
use signpost_shared::peer::Peer;
use signpost_shared::schema::{self, Header};
use signpost_sim::Tablet;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

mod schedule;

const T: Duration = Duration::from_secs(20);

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A store on a new database of the cluster, a fixture in it, and `n` relays serving it.
fn relays(name: &str, n: usize) -> (tempfile::TempDir, Fixture, Vec<Server>) {
    relays_on(Some(name), n, &[])
}

/// As [`relays`]; without a database name, one relay on SQLite in a data folder. `extra`: the
/// relays' flags.
fn relays_on(database: Option<&str>, n: usize, extra: &[&str]) -> (tempfile::TempDir, Fixture, Vec<Server>) {
    let tmp = tempfile::tempdir().unwrap();
    if let Some(name) = database {
        let url = Postgres::shared().database(name).unwrap();
        std::fs::write(tmp.path().join("database-url"), url).unwrap();
    }
    let fx = Fixture::create(tmp.path()).unwrap();
    let servers = (0..n).map(|_| Server::start(tmp.path(), extra).unwrap()).collect();
    (tmp, fx, servers)
}

/// A random referral, logged today.
fn referral(rng: &mut impl Rng, id: &str) -> schema::Referral {
    signpost_sim::random::referral(rng, id.to_owned(), &[], chrono::Utc::now().date_naive())
}

fn keys(p: &Peer, d: &signpost_shared::ids::DocumentId) -> BTreeSet<String> {
    p.doc(d).map(|doc| schema::entry_keys(doc).into_iter().map(|k| k.root_key()).collect()).unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Two tablets of one desk, the first on the first relay and the second on the second, with
/// today's day open on both (created by the first, stored before the second asks for it).
async fn desk_on_two_relays(servers: &[Server], fx: &Fixture) -> (Tablet, Tablet, signpost_shared::ids::DocumentId) {
    let header = Header::desk_day(&fx.scheme, &fx.site_a, today());
    let mut a = Tablet::connect(&servers[0].url, &fx.token_a1, "tablet-a").await.unwrap();
    let mut b = Tablet::connect(&servers[1].url, &fx.token_a2, "tablet-b").await.unwrap();
    let d = a.open_day(&header).await.unwrap();
    a.synced(d, T).await.unwrap();
    b.open_day(&header).await.unwrap();
    (a, b, d)
}

/// The referral ids the statistics hold (voided ones too).
fn stored_referrals(data: &std::path::Path) -> BTreeSet<String> {
    let conn = signpost_harness::store::connect(data);
    let mut stmt = conn.prepare("SELECT id FROM referral_facts").unwrap();
    stmt.query_map((), |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// `signpost admin check`: every document loads and the statistics equal a recount.
fn assert_checks_out(data: &std::path::Path, what: &str) {
    let report = signpost_harness::admin(data, &["check"]).unwrap();
    assert!(report.contains("checks out"), "{what}: {report}");
}

/// Two tablets of one desk, each on its own relay, take turns logging: each entry, once its
/// relay acknowledged it, reaches the other tablet through the other relay within a second
/// (p99), and both relays count every entry once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_reach_a_tablet_on_another_relay_within_a_second() {
    let (_tmp, fx, servers) = relays("fan_out", 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let (mut a, mut b, d) = desk_on_two_relays(&servers, &fx).await;
    let mut latencies = Vec::new();
    for i in 0..40 {
        let (from, to) = if i % 2 == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
        let id = format!("r{i}");
        let r = referral(&mut rng, &id);
        from.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
        from.synced(d, T).await.unwrap();
        let acknowledged = Instant::now();
        let key = format!("referral:{id}");
        to.wait_until(T, |p| keys(p, &d).contains(&key)).await.unwrap_or_else(|e| panic!("entry {i}: {e}"));
        latencies.push(acknowledged.elapsed());
    }
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    eprintln!("cross-relay fan-out over {} entries: p50 {p50:?}, p99 {p99:?}", latencies.len());
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    for s in &servers {
        assert_eq!(referral_count(s, &fx, &today().to_string()).await.unwrap(), 40);
    }
}

/// Two tablets of a desk log at once through two relays, without waiting for each other, and
/// both change the same referral: both end with every entry, the statistics count what the
/// merged document holds (once each), and `admin check` finds the statistics equal to a recount
/// from the stored documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_through_two_relays_merge_and_the_figures_equal_the_merged_document() {
    let (tmp, fx, servers) = relays("concurrent", 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1515);
    let (mut a, mut b, d) = desk_on_two_relays(&servers, &fx).await;
    let shared = referral(&mut rng, "shared");
    a.change(d, |tx| schema::write_referral(tx, &shared).unwrap()).await.unwrap();
    a.synced(d, T).await.unwrap();
    b.wait_until(T, |p| keys(p, &d).contains("referral:shared")).await.unwrap();
    let (ra, rb): (Vec<_>, Vec<_>) = (
        (0..30).map(|i| referral(&mut rng, &format!("a{i}"))).collect(),
        (0..30).map(|i| referral(&mut rng, &format!("b{i}"))).collect(),
    );
    // The two tablets' loops run at once; each changes the shared referral part-way.
    let fa = async {
        for (i, r) in ra.iter().enumerate() {
            a.change(d, |tx| schema::write_referral(tx, r).unwrap()).await.unwrap();
            if i == 10 {
                a.change(d, |tx| schema::void_referral(tx, "shared", "logged twice", 1).unwrap()).await.unwrap();
            }
        }
        a.synced(d, T).await.unwrap();
    };
    let fb = async {
        for (i, r) in rb.iter().enumerate() {
            b.change(d, |tx| schema::write_referral(tx, r).unwrap()).await.unwrap();
            if i == 10 {
                // A correction as the app makes it: of the referral as this tablet holds it now.
                let mut corrected = schema::read_referral(b.peer.doc(&d).unwrap(), "shared").unwrap().unwrap();
                corrected.follow_up = !corrected.follow_up;
                corrected.notes = Some("corrected on the other tablet".into());
                b.change(d, |tx| schema::correct_referral(tx, &corrected).unwrap()).await.unwrap();
            }
        }
        b.synced(d, T).await.unwrap();
    };
    tokio::join!(fa, fb);
    // Both converge on one document.
    let all = |p: &Peer| keys(p, &d).len() == 61 && p.is_synced(&d);
    a.wait_until(T, all).await.unwrap();
    b.wait_until(T, all).await.unwrap();
    b.wait_until(T, |p| p.doc(&d).map(|x| x.get_heads()) == a.peer.doc(&d).map(|x| x.get_heads())).await.unwrap();
    let merged = a.peer.doc(&d).unwrap();
    let counted = schema::entry_keys(merged)
        .into_iter()
        .filter_map(|k| match k {
            schema::EntryKey::Referral(id) => schema::read_referral(merged, &id).unwrap(),
            schema::EntryKey::Shift(_) => None,
        })
        .filter(|r| r.void.is_none())
        .count() as i64;
    let sh = schema::read_referral(merged, "shared").unwrap();
    assert_eq!(counted, 60, "the shared referral was voided on one tablet: {sh:?}");
    for s in &servers {
        let n = referral_count(s, &fx, &today().to_string()).await.unwrap();
        assert_eq!(n, counted, "a relay's figures are not the merged document's");
    }
    assert_checks_out(tmp.path(), "after concurrent edits");
}

/// A tablet of site B squats on site A's tomorrow with a draft through the second relay, and
/// stays connected there. Site A's tablet then opens that day through the first relay: the
/// squatter's draft gives way (discarded there), and the second relay — which held the squatter's
/// draft live, with the squatter syncing it — used to merge site A's day into it and send it to
/// the squatter. Now it reads the day again and the squatter is sent nothing of site A's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squatter_on_another_relay_is_sent_nothing_of_the_day_that_displaced_it() {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    let (tmp, fx, servers) = relays("squatter", 2);
    let tomorrow = today() + chrono::Duration::days(1);
    let id = Header::desk_day(&fx.scheme, &fx.site_a, tomorrow).well_known_id();
    let mut squatter = Tablet::connect(&servers[1].url, &fx.token_b, "squatter").await.unwrap();
    let mut draft = automerge::Automerge::new();
    let mut tx = draft.transaction();
    tx.put(automerge::ROOT, "squat", "here").unwrap();
    tx.commit();
    let out = squatter.peer.insert(id, draft, None);
    squatter.send(out).await.unwrap();
    squatter.synced(id, T).await.unwrap();
    let mut owner = Tablet::connect(&servers[0].url, &fx.token_a1, "owner").await.unwrap();
    let d = owner.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, tomorrow)).await.unwrap();
    let mut r = referral(&mut rand::rngs::StdRng::seed_from_u64(3), "owners");
    r.recorded_at_ms = tomorrow.and_hms_opt(9, 0, 0).unwrap().and_utc().timestamp_millis();
    r.notes = Some("MARKER-OWNERS".into());
    owner.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await.unwrap();
    owner.synced(d, T).await.unwrap();
    // Long enough for the second relay to hear of it (NOTIFY, or its tick).
    let events = squatter.run_for(Duration::from_secs(3)).await.unwrap_or_default();
    let doc = squatter.peer.doc(&id).unwrap();
    assert!(schema::entry_keys(doc).is_empty(), "the squatter was sent site A's day: {events:?}");
    assert!(doc.get(automerge::ROOT, "type").unwrap().is_none(), "nor its header");
    assert!(events.iter().any(|e| matches!(e, signpost_shared::peer::Event::Unavailable(x) if *x == id)), "{events:?}");
    assert_checks_out(tmp.path(), "after the squatter gave way");
}

/// Four tablets, each given both relays' addresses, keep logging; one relay is killed (SIGKILL)
/// part-way. Its tablets reconnect to the other and send what was not acknowledged: every
/// referral acknowledged before the kill is stored, every referral logged is counted exactly
/// once, and the statistics equal a recount from the documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_under_load_loses_nothing_and_its_tablets_carry_on_through_the_other() {
    let (tmp, fx, mut servers) = relays("failover", 2);
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    const EACH: usize = 40;
    let tokens = [&fx.token_a1, &fx.token_a2, &fx.token_b, &fx.token_a1];
    let sites = [&fx.site_a, &fx.site_a, &fx.site_b, &fx.site_a];
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (urls, token, acknowledged) = (urls.clone(), tokens[t].clone(), acknowledged.clone());
        let header = Header::desk_day(&fx.scheme, sites[t], today());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64);
            // Tablets 0 and 2 start on the relay that is killed.
            let (mut tablet, mut on) =
                Tablet::connect_any(&urls, t % 2, &token, Peer::new(format!("tablet-{t}").as_str().into()))
                    .await
                    .map_err(|(_, e)| e)
                    .unwrap();
            let d = tablet.open_day(&header).await.unwrap();
            let mut reconnects = 0;
            let mut i = 0;
            while i < EACH {
                let id = format!("t{t}-{i}");
                let r = referral(&mut rng, &id);
                let sent = async {
                    tablet.change(d, |tx| schema::write_referral(tx, &r).unwrap()).await?;
                    tablet.synced(d, Duration::from_secs(5)).await
                };
                match sent.await {
                    Ok(()) => {
                        // Acknowledged: by either relay, before or after the kill.
                        acknowledged.lock().unwrap().insert(id);
                        i += 1;
                    }
                    Err(_) => {
                        // The relay is gone: the change stays on the tablet, which goes to the
                        // other relay and sends it there.
                        reconnects += 1;
                        assert!(reconnects < 5, "tablet {t} could not reconnect");
                        let peer = tablet.disconnect().await;
                        let (t2, at) =
                            Tablet::connect_any(&urls, on + 1, &token, peer).await.map_err(|(_, e)| e).unwrap();
                        tablet = t2;
                        on = at;
                        if tablet.peer.doc(&d).is_some() {
                            let _ = tablet.synced(d, T).await;
                        }
                        i += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
            }
            tablet.synced(d, T).await.unwrap_or_else(|e| panic!("tablet {t}: {e}"));
            (keys(&tablet.peer, &d).len(), reconnects)
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    servers[0].kill();
    let mut reconnected = 0;
    for task in tasks {
        let (_, reconnects) = task.await.unwrap();
        reconnected += reconnects;
    }
    assert!(reconnected >= 2, "the killed relay's tablets moved to the other ({reconnected} reconnections)");
    let count = referral_count(&servers[1], &fx, &today().to_string()).await.unwrap();
    assert_eq!(count, 4 * EACH as i64, "every referral logged is counted exactly once");
    let stored = stored_referrals(tmp.path());
    let lost: Vec<_> = acknowledged.lock().unwrap().difference(&stored).cloned().collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    assert_checks_out(tmp.path(), "after the failover");
}

/// What one relay does is in force on the other: a session made on one relay works on the other
/// and ends on both at sign-out; a tablet revoked through one relay's pages is cut off on the
/// other within seconds; a day erased through one relay's API is no longer served by the other,
/// which held it live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_revocations_and_erasures_hold_across_relays() {
    use signpost_harness::{enrol, http_post, request, Signed};
    let (_tmp, fx, servers) = relays("across", 2);
    let (one, two) = (&servers[0], &servers[1]);
    let mut coordinator = Signed::create(one, "coordinator", Some(&fx.scheme), "coord@example.org").await.unwrap();
    let manage = format!("/manage/schemes/{}", fx.scheme);
    let cookies = coordinator.v.cookie_header();
    let r = request(&two.url, "GET", &manage, &[("Cookie", &cookies)], None).await.unwrap();
    assert_eq!(r.status, 200, "the session made on one relay works on the other");

    // A tablet enrolled through one relay, syncing through the other, revoked through the first.
    let code = coordinator.enrolment_code(one, &fx.scheme, &fx.site_a).await.unwrap();
    let (status, body) = enrol(one, &code).await.unwrap();
    assert_eq!(status, 201, "{body}");
    let (token, device) = (body["token"].as_str().unwrap().to_owned(), body["device"].as_str().unwrap().to_owned());
    let mut doomed = Tablet::connect(&two.url, &token, "doomed").await.unwrap();
    let started = Instant::now();
    let r = coordinator
        .v
        .post(&one.url, &format!("{manage}/tablets/{device}/revoke"), &[("csrf", &coordinator.csrf)])
        .await
        .unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let _ = doomed.until(Duration::from_secs(5), |_| false).await;
    assert!(doomed.closed.as_deref().is_some_and(|c| c.contains("revoked")), "{:?}", doomed.closed);
    assert!(started.elapsed() < Duration::from_secs(5), "cut off after {:?}", started.elapsed());
    assert!(Tablet::connect(&two.url, &token, "doomed-again").await.is_err(), "and refused when it comes back");

    // A day held live by the second relay, erased through the first relay's API.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let day = today() - chrono::Days::new(1);
    let header = Header::desk_day(&fx.scheme, &fx.site_b, day);
    let mut t = Tablet::connect(&two.url, &fx.token_b, "tablet-b").await.unwrap();
    let d = t.open_day(&header).await.unwrap();
    let gone = referral(&mut rng, "gone");
    t.change(d, |tx| schema::write_referral(tx, &gone).unwrap()).await.unwrap();
    t.synced(d, T).await.unwrap();
    let (status, body) =
        http_post(&format!("{}/api/v1/referrals/gone/erase", one.url), Some(&fx.admin), &serde_json::json!({}))
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    let mut served = true;
    for _ in 0..50 {
        let mut fresh = Tablet::connect(&two.url, &fx.token_b, "fresh").await.unwrap();
        served = fresh.find(d, Duration::from_secs(5)).await.unwrap();
        if !served {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!served, "the other relay still serves the erased day");

    // Signing out on one relay ends the session on both.
    let r = coordinator.v.post(&one.url, "/sign-out", &[("csrf", &coordinator.csrf)]).await.unwrap();
    assert_eq!(r.status, 303);
    let r = request(&two.url, "GET", &manage, &[("Cookie", &cookies)], None).await.unwrap();
    assert_eq!(r.header("location"), Some("/sign-in"), "the session ended on the other relay too");
}

/// A guesser gets one allowance of sign-in attempts across the relays, not one per relay: after
/// five wrong passwords through one relay, the next attempt through the other is refused too,
/// and the right password does not get in until the window has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_throttled_across_relays() {
    use signpost_harness::{Signed, Visitor};
    let (_tmp, fx, servers) = relays("guessing", 2);
    Signed::create(&servers[0], "coordinator", Some(&fx.scheme), "target@example.org").await.unwrap();
    let wrong = |n: usize| format!("wrong password {n}");
    for n in 0..5 {
        let mut v = Visitor::default();
        let err = v.sign_in(&servers[0].url, "target@example.org", &wrong(n)).await.unwrap_err();
        assert!(err.to_string().contains("answered 401"), "attempt {n}: {err}");
    }
    let mut v = Visitor::default();
    let err = v.sign_in(&servers[1].url, "target@example.org", &wrong(5)).await.unwrap_err();
    assert!(err.to_string().contains("answered 429"), "the other relay let a sixth guess through: {err}");
    let err = v.sign_in(&servers[1].url, "target@example.org", "a long enough password").await.unwrap_err();
    assert!(err.to_string().contains("answered 429"), "{err}");
}
