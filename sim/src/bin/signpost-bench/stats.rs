//! Statistics at national scale: 500 schemes with 10,000 volunteers and 1,000,000 referrals over a
//! year. Schemes, sites and rosters are created through the relay (its CLI and API); the
//! referral and shift facts are written straight into the store, as the relay's projection would
//! have written them (syncing a million referrals is the ingest benchmark's business). Then:
//! - a coordinator's dashboard data (a 30-day period and the one before) for random schemes;
//! - the national figures (the first computation, and as served after);
//! - the CSV export of 1,000,000 referrals of one scheme: time and the relay's memory.

use super::{admin, root, start_signpost, Proc};
use anyhow::Context;
use chrono::{Duration as Days, NaiveDate};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

const SCHEMES: usize = 500;
const VOLUNTEERS_PER_SCHEME: usize = 20;
const REFERRALS: usize = 1_000_000;

const REGIONS: [&str; 10] = [
    "north-east",
    "north-west",
    "yorkshire-humber",
    "east-midlands",
    "west-midlands",
    "east-of-england",
    "london",
    "south-east",
    "south-west",
    "wales",
];
const KINDS: [&str; 4] = ["court-help-desk", "community-advice-desk", "prison-chaplaincy", "community-chaplaincy"];
const CATEGORIES: [(&str, &str); 5] = [
    ("housing", "accommodation"),
    ("debt-benefits-finance", "finance-benefit-debt"),
    ("mental-health", "health"),
    ("domestic-abuse", "attitudes-thinking-behaviour"),
    ("employment-training-education", "education-training-employment"),
];

/// Referral and shift facts for `schemes`, spread over the year to `last`.
fn write_facts(
    data: &Path,
    schemes: &[(String, Vec<String>)],
    referrals: usize,
    last: NaiveDate,
) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(data.join("signpost.sqlite3"))?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    {
        let mut fact = tx.prepare(
            "INSERT INTO referral_facts(doc_id, id, scheme_id, site_id, day, recorded_at, volunteer, helped, age_band,
             agency_kind, agency, help, follow_up, voided)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'victim', NULL, 'other', 'Food bank', 'signposted', 0, 0)",
        )?;
        let mut cat =
            tx.prepare("INSERT INTO referral_categories(doc_id, id, category, pathway) VALUES (?1, ?2, ?3, ?4)")?;
        let mut shift = tx.prepare(
            "INSERT OR IGNORE INTO shift_facts(doc_id, id, scheme_id, site_id, day, volunteer, start_ms, end_ms, minutes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 14400000, 240)",
        )?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for i in 0..referrals {
            let (scheme, sites) = &schemes[i % schemes.len()];
            let site = &sites[rng.random_range(0..sites.len())];
            let day = (last - Days::days(rng.random_range(0..365))).format("%Y-%m-%d").to_string();
            let doc = format!("{site}/{day}");
            let id = format!("r{i}");
            let volunteer = format!("{scheme}-v{}", rng.random_range(0..VOLUNTEERS_PER_SCHEME));
            fact.execute(rusqlite::params![doc, id, scheme, site, day, 1_764_000_000_000i64, volunteer])?;
            let (c, p) = CATEGORIES[i % CATEGORIES.len()];
            cat.execute(rusqlite::params![doc, id, c, p])?;
            if i % 10 == 0 {
                shift.execute(rusqlite::params![doc, format!("s{}", i / 10), scheme, site, day, volunteer])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn q(h: &Histogram<u64>, p: f64) -> f64 {
    h.value_at_quantile(p) as f64 / 1000.0
}

/// `GET` with a bearer token; returns the status and the number of body bytes.
async fn get(url: &str, path: &str, token: &str) -> anyhow::Result<(u16, usize)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.strip_prefix("http://").context("url")?;
    let mut s = tokio::net::TcpStream::connect(host).await?;
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let status = String::from_utf8_lossy(&buf[..buf.len().min(16)]).split_whitespace().nth(1).unwrap_or("0").parse()?;
    Ok((status, buf.len()))
}

pub fn stats_bench(out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let data = root().join("target/bench/stats");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let started = Instant::now();
    // Schemes (each with its directory document) and two sites each, through the CLI.
    let schemes: Vec<(String, Vec<String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let data = &data;
                s.spawn(move || -> anyhow::Result<Vec<(String, Vec<String>)>> {
                    let mut v = Vec::new();
                    for i in (w..SCHEMES).step_by(4) {
                        let region = REGIONS[i % REGIONS.len()];
                        let kind = KINDS[i % KINDS.len()];
                        let id = admin(
                            data,
                            &["create-scheme", "--region", region, "--type", kind, &format!("Scheme {i}")],
                        )?;
                        let sites = (0..2)
                            .map(|k| admin(data, &["create-site", "--scheme", &id, &format!("Desk {k}")]))
                            .collect::<anyhow::Result<Vec<_>>>()?;
                        v.push((id, sites));
                    }
                    Ok(v)
                })
            })
            .collect();
        workers.into_iter().map(|h| h.join().unwrap()).collect::<anyhow::Result<Vec<_>>>().map(|v| v.concat())
    })?;
    let admin_token = admin(&data, &["issue-admin-token"])?;
    let last = chrono::Utc::now().date_naive();
    write_facts(&data, &schemes, REFERRALS, last)?;
    let seeded = started.elapsed();
    let (relay, _) = start_signpost(&data, &[])?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = rt.block_on(async {
        // Rosters: 20 volunteers per scheme through the API (into the directory documents).
        let url = relay.url().to_owned();
        let mut tasks = Vec::new();
        for chunk in schemes.chunks(SCHEMES / 8) {
            let (url, token, chunk) = (url.clone(), admin_token.clone(), chunk.to_vec());
            tasks.push(tokio::spawn(async move {
                for (scheme, _) in chunk {
                    for v in 0..VOLUNTEERS_PER_SCHEME {
                        let body = json!({ "name": format!("Volunteer {v}") });
                        super::http_post_json(&url, &format!("/api/v1/schemes/{scheme}/volunteers"), &token, &body).await?;
                    }
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        // Dashboard data: this 30-day period and the one before, for random schemes.
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut dashboard = Histogram::<u64>::new(3)?;
        for _ in 0..300 {
            let (scheme, _) = &schemes[rng.random_range(0..schemes.len())];
            let to = last - Days::days(rng.random_range(0..300));
            let (from, before_to) = (to - Days::days(29), to - Days::days(30));
            let t = Instant::now();
            for (f, t2) in [(from, to), (before_to - Days::days(29), before_to)] {
                let path = format!("/api/v1/stats/summary?scheme={scheme}&from={f}&to={t2}");
                let (status, _) = get(&url, &path, &admin_token).await?;
                anyhow::ensure!(status == 200, "summary answered {status}");
            }
            dashboard.record(t.elapsed().as_micros() as u64)?;
        }
        // National figures: the first computation, then as served to the next readers.
        let t = Instant::now();
        let (status, _) = get(&url, "/api/v1/national", &admin_token).await?;
        anyhow::ensure!(status == 200, "national answered {status}");
        let national_first = t.elapsed();
        let mut national = Histogram::<u64>::new(3)?;
        for _ in 0..300 {
            let t = Instant::now();
            get(&url, "/api/v1/national", &admin_token).await?;
            national.record(t.elapsed().as_micros() as u64)?;
        }
        let freshness = freshness(&url, &data, &schemes[0], &admin_token).await?;
        anyhow::Ok(json!({
            "stored_to_visible_while_ingesting": freshness,
            "schemes": SCHEMES,
            "volunteers": SCHEMES * VOLUNTEERS_PER_SCHEME,
            "referrals": REFERRALS,
            "seed_seconds": seeded.as_secs_f64(),
            "dashboard_two_periods_ms": { "n": dashboard.len(), "p50": q(&dashboard, 0.5), "p95": q(&dashboard, 0.95), "max": q(&dashboard, 1.0) },
            "national_first_ms": national_first.as_secs_f64() * 1000.0,
            "national_ms": { "n": national.len(), "p50": q(&national, 0.5), "p95": q(&national, 0.95), "max": q(&national, 1.0) },
        }))
    })?;
    drop(relay);
    eprintln!("stats: {result}");
    out.insert("stats".into(), result);
    out.insert("export".into(), export_bench(&rt)?);
    Ok(())
}

/// While a tablet stores 1,000 referrals a second (batches of 10 every 10 ms, for 10 s), a
/// reader polls the scheme's figures every 20 ms: for each batch, the time from the relay's
/// acknowledgement (stored) to the first poll that counts it.
async fn freshness(
    url: &str,
    data: &Path,
    (scheme, sites): &(String, Vec<String>),
    admin_token: &str,
) -> anyhow::Result<serde_json::Value> {
    let token = admin(data, &["issue-device-token", "--site", &sites[0]])?;
    let today = chrono::Utc::now().date_naive();
    let path = format!("/api/v1/stats/summary?scheme={scheme}&from={today}&to={today}");
    let count = |url: String, path: String, token: String| async move {
        let body = super::http_get_json(&format!("{url}{path}"), &token).await?;
        body["referrals"].as_u64().context("referrals")
    };
    let base = count(url.to_owned(), path.clone(), admin_token.to_owned()).await?;
    let polls: std::sync::Arc<std::sync::Mutex<Vec<(Instant, u64)>>> = Default::default();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (polls, stop, url, path, token) =
            (polls.clone(), stop.clone(), url.to_owned(), path.clone(), admin_token.to_owned());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = count(url.clone(), path.clone(), token.clone()).await {
                    polls.lock().unwrap().push((Instant::now(), n));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let mut tablet = signpost_sim::Tablet::connect(url, &token, "fresh").await?;
    let d = tablet.open_day(&signpost_shared::schema::Header::desk_day(scheme, &sites[0], today)).await?;
    let mut stored: Vec<(Instant, u64)> = Vec::new();
    let started = Instant::now();
    for batch in 0..1000u64 {
        let due = started + std::time::Duration::from_millis(batch * 10);
        tokio::time::sleep_until(due.into()).await;
        tablet
            .change(d, |tx| {
                for i in 0..10 {
                    let r = super::referral(format!("fresh-{batch}-{i}"));
                    signpost_shared::schema::write_referral(tx, &r).expect("write");
                }
            })
            .await?;
        tablet.synced(d, std::time::Duration::from_secs(10)).await?;
        stored.push((Instant::now(), base + (batch + 1) * 10));
    }
    let rate = 10_000.0 / started.elapsed().as_secs_f64();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.await?;
    let polls = polls.lock().unwrap().clone();
    let mut h = Histogram::<u64>::new(3)?;
    for (at, want) in &stored {
        if let Some((seen, _)) = polls.iter().find(|(t, n)| t >= at && *n >= *want) {
            h.record(seen.duration_since(*at).as_micros() as u64)?;
        }
    }
    Ok(json!({
        "referrals_per_second": rate,
        "batches": stored.len(),
        "measured": h.len(),
        "p50_ms": q(&h, 0.5),
        "p99_ms": q(&h, 0.99),
        "max_ms": q(&h, 1.0),
    }))
}

/// One scheme holding 1,000,000 referrals, exported as CSV by its coordinator.
fn export_bench(rt: &tokio::runtime::Runtime) -> anyhow::Result<serde_json::Value> {
    let data = root().join("target/bench/export");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let scheme = admin(&data, &["create-scheme", "Big scheme"])?;
    let site = admin(&data, &["create-site", "--scheme", &scheme, "Desk"])?;
    let last = chrono::Utc::now().date_naive();
    write_facts(&data, &[(scheme.clone(), vec![site])], REFERRALS, last)?;
    let code = admin(&data, &["create-user", "--role", "coordinator", "--scheme", &scheme, "c@example.org"])?;
    let (relay, _): (Proc, _) = start_signpost(&data, &[])?;
    let before = relay.anon_mib();
    // The relay's heap while it exports, sampled every 20 ms.
    let (pid, stop) = (relay.pid(), std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0f64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(super::anon_mib(pid));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            peak
        })
    };
    let result = rt.block_on(async {
        let cookie = super::sign_in_with_code(&relay.url(), "c@example.org", &code).await?;
        let from = last - Days::days(400);
        let path = format!("/manage/schemes/{scheme}/referrals.csv?from={from}&to={last}");
        let t = Instant::now();
        let (status, bytes) = super::http_get_cookie(&relay.url(), &path, &cookie).await?;
        anyhow::ensure!(status == 200, "export answered {status}");
        anyhow::Ok((t.elapsed(), bytes))
    })?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap_or(0.0);
    let v = json!({
        "rows": REFERRALS,
        "bytes": result.1,
        "seconds": result.0.as_secs_f64(),
        "rows_per_second": REFERRALS as f64 / result.0.as_secs_f64(),
        "relay_heap_mib_before": before,
        "relay_heap_mib_peak_during_export": peak,
        "relay_rss_mib_peak_incl_mapped_database": relay.memory_mib().0,
    });
    eprintln!("export: {v}");
    Ok(v)
}
