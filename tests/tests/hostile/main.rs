//! Attacks on the relay's resources, tried against the real binary on 127.0.0.1: each sends
//! what a hostile tablet or an anonymous client could, and checks that the attempt is refused
//! with a clear reason, that the whole store is as it was (compared as text), that the relay's
//! memory stays within 100 MB of where it was, and that `/api/v1/health` and other tablets are
//! answered within a second meanwhile. The table of refused requests is `security.rs`. Values a
//! tablet stores that would break the figures are `values.rs`.

mod connections;
mod exports;
mod sign_in;
mod tablets;
mod values;

pub(crate) use signpost_harness::{peak_rss_mib, request, reset_peak_rss, rss_mib, snapshot, Fixture, Server, Signed};
pub(crate) use signpost_shared::schema::{self, Header};
pub(crate) use signpost_sim::{sync_url, Tablet};
pub(crate) use std::time::{Duration, Instant};

pub(crate) const T: Duration = Duration::from_secs(10);

/// Any valid referral of today (seeded, so every run sends the same but its time).
pub(crate) fn referral() -> schema::Referral {
    use rand::SeedableRng;
    let today = chrono::Utc::now().date_naive();
    signpost_sim::random::referral(&mut rand::rngs::StdRng::seed_from_u64(7), "hostile".into(), &[], today)
}

/// A fresh relay with a national reviewer's account, for the sign-in attacks.
pub(crate) async fn with_account(args: &[&str]) -> (Server, Fixture) {
    let (server, fx) = Server::start_fresh(args).unwrap();
    Signed::create(&server, "national", None, "national@example.org").await.unwrap();
    (server, fx)
}

/// While an attack goes on: the relay's health, and a tablet of site B (a desk the attack is
/// not aimed at) connecting, logging a referral and seeing it stored, are each answered within
/// a second.
pub(crate) async fn others_are_answered(server: &Server, fx: &Fixture, what: &str) {
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

/// A sign-in form's cookie and token, to post it as any client would.
pub(crate) async fn sign_in_form(url: &str) -> (String, String) {
    let page = request(url, "GET", "/sign-in", &[], None).await.unwrap();
    (format!("signpost_form={}", page.cookie("signpost_form").unwrap()), page.form_value("csrf").unwrap())
}

pub(crate) async fn sign_in_from(url: &str, from: Option<&str>, email: &str, password: &str) -> u16 {
    let (cookie, csrf) = sign_in_form(url).await;
    let mut headers = vec![("Cookie", cookie.as_str())];
    if let Some(ip) = from {
        headers.push(("X-Forwarded-For", ip));
    }
    let form = [("csrf", csrf.as_str()), ("email", email), ("password", password)];
    request(url, "POST", "/sign-in", &headers, Some(&form)).await.unwrap().status
}

pub(crate) fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}
