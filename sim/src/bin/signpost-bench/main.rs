//! `signpost-bench`: the benchmarks behind `cargo xtask bench`. Results go to stdout (Markdown)
//! and `target/bench/results.json`; BENCHMARKS.md records them with the command.
//!
//! - `model`: the document-granularity decision, in process (no sockets): one document per desk
//!   per day vs one document per referral, on the ingest and catch-up workloads, plus the raw
//!   speed of the automerge version in use.
//! - `ingest`: N simulated tablets on concurrent WebSockets each push M referrals, closed loop,
//!   to a fresh Signpost relay and then, in the same run, to the JavaScript
//!   `@automerge/automerge-repo-sync-server` (bound to 127.0.0.1).
//! - `catchup`: a tablet reconnects holding K offline referrals.
//! - `coldstart`: restart with D stored documents: time to serving and memory.
//! - `client`: the tablet app in headless Chromium: bytes downloaded, save → durable in
//!   IndexedDB, cold start offline with 5,000 stored referrals.
//! - `stats`: 500 schemes, 10,000 volunteers, 1,000,000 referrals: dashboard and national query
//!   times, and the CSV export of 1,000,000 referrals (time, memory).

mod stats;

use anyhow::{bail, Context};
use automerge::Automerge;
use chrono::NaiveDate;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;
use signpost_shared::ids::DocumentId;
use signpost_shared::relay::{Config, Principal};
use signpost_shared::schema::{self, AgencyRef, Header, Referral};
use signpost_shared::testkit::Net;
use signpost_shared::vocab::{Category, HelpKind, Helped};
use signpost_sim::Tablet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Which benchmarks: model, ingest, catchup, coldstart, client, stats, or all.
    #[arg(default_value = "all")]
    which: String,
    #[arg(long, default_value_t = 1000)]
    tablets: usize,
    #[arg(long, default_value_t = 50)]
    referrals: usize,
    #[arg(long, default_value_t = 500)]
    offline: usize,
    #[arg(long, default_value_t = 100_000)]
    cold_docs: usize,
    /// Skip the JavaScript sync server comparison.
    #[arg(long)]
    no_js: bool,
}

fn root() -> PathBuf {
    std::env::current_dir().expect("cwd")
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
}

fn referral(id: String) -> Referral {
    Referral {
        id,
        recorded_at_ms: 1_764_000_000_000,
        volunteer: Some("vol-0001".into()),
        helped: Helped::Defendant,
        age_band: None,
        categories: [Category::Housing, Category::DebtBenefitsFinance].into(),
        agency: AgencyRef::Directory("citizens-advice".into()),
        help: HelpKind::Signposted,
        follow_up: false,
        notes: Some("Short note about the next hearing date.".into()),
        void: None,
    }
}

/// A day's document with `n` referrals, each its own change, as a tablet writes them.
fn day_doc(header: &Header, n: usize, id_prefix: &str) -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, header).unwrap();
    tx.commit();
    for i in 0..n {
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &referral(format!("{id_prefix}{i}"))).unwrap();
        tx.commit();
    }
    doc
}

fn raw_change_bytes(doc: &Automerge) -> usize {
    doc.get_changes(&[]).iter().map(|c| c.raw_bytes().len()).sum()
}

fn nanos() -> u128 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos()
}

fn rand16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    b
}

// ---------------------------------------------------------------------------------------------
// Document model, in process.

#[derive(Clone, Copy, PartialEq, Debug)]
enum Model {
    DeskDay,
    PerReferral,
}

fn log_one(net: &mut Net, conn: u64, model: Model, header: &Header, r: &Referral) -> DocumentId {
    match model {
        Model::DeskDay => {
            let id = header.well_known_id();
            net.log(conn, id, r);
            id
        }
        Model::PerReferral => {
            let id = DocumentId::random(rand16());
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            schema::write_header(&mut tx, header).unwrap();
            schema::write_referral(&mut tx, r).unwrap();
            tx.commit();
            let out = net.devices.get_mut(&conn).unwrap().peer.insert(id, doc, None);
            net.send(conn, out);
            id
        }
    }
}

fn model_bench(tablets: usize, per: usize, offline: usize) -> serde_json::Value {
    let mut results = serde_json::Map::new();
    for model in [Model::DeskDay, Model::PerReferral] {
        // Ingest: tablets at their own sites push referrals one by one, closed loop.
        let mut net = Net::new(Config::default());
        net.check_durability = false;
        net.clock = Some(nanos);
        let headers: Vec<Header> = (0..tablets).map(|t| Header::desk_day("sc", &format!("site-{t}"), day())).collect();
        for t in 0..tablets {
            net.join(t as u64, Principal { device: format!("d{t}"), scheme: "sc".into(), site: format!("site-{t}") });
            if model == Model::DeskDay {
                net.open_day(t as u64, "sc", &format!("site-{t}"), day());
            }
        }
        let (relay0, bytes0, rounds0) = (net.relay_ns, net.store.bytes_written, net.rounds);
        let wire0: usize = net.devices.values().map(|d| d.bytes_sent + d.bytes_received).sum();
        let started = Instant::now();
        for i in 0..per {
            for (t, header) in headers.iter().enumerate() {
                log_one(&mut net, t as u64, model, header, &referral(format!("{t}-{i}")));
            }
        }
        let wall = started.elapsed();
        let n = (tablets * per) as f64;
        let relay_s = (net.relay_ns - relay0) as f64 / 1e9;
        let wire: usize = net.devices.values().map(|d| d.bytes_sent + d.bytes_received).sum::<usize>() - wire0;
        let stored = net.store.bytes_written - bytes0;
        let ingest_rounds = net.rounds - rounds0;
        assert_eq!(net.store.counted_referrals(), tablets * per, "every referral counted");
        // Loading a desk's day back (what a relay does after eviction).
        let load_started = Instant::now();
        let mut loaded = 0;
        for (_, stored) in net.store.docs.iter().take(if model == Model::DeskDay { 1 } else { per }) {
            let mut d = Automerge::new();
            for c in &stored.chunks {
                d.load_incremental(c).unwrap();
            }
            loaded += schema::entry_keys(&d).len();
        }
        let load_ms = load_started.elapsed().as_secs_f64() * 1e3;
        assert_eq!(loaded, per);

        // Catch-up: one tablet logs `offline` referrals with no network, then connects.
        let mut net = Net::new(Config::default());
        net.check_durability = false;
        let p = Principal { device: "d".into(), scheme: "sc".into(), site: "site-x".into() };
        let header = Header::desk_day("sc", "site-x", day());
        let mut peer = signpost_shared::peer::Peer::new("offline-tablet".into());
        let mut raw = 0usize;
        let mut docs = Vec::new();
        if model == Model::DeskDay {
            let doc = day_doc(&header, offline, "off-");
            raw += raw_change_bytes(&doc);
            docs.push((header.well_known_id(), doc));
        } else {
            for i in 0..offline {
                let mut doc = Automerge::new();
                let mut tx = doc.transaction();
                schema::write_header(&mut tx, &header).unwrap();
                schema::write_referral(&mut tx, &referral(format!("off-{i}"))).unwrap();
                tx.commit();
                raw += raw_change_bytes(&doc);
                docs.push((DocumentId::random(rand16()), doc));
            }
        }
        for (id, doc) in docs.iter().cloned() {
            let _ = peer.insert(id, doc, None);
        }
        net.relay.connect(1, p);
        let join = peer.on_open();
        net.devices.insert(1, signpost_shared::testkit::Device::new(peer));
        let started = Instant::now();
        net.raw(1, join);
        let catchup_ms = started.elapsed().as_secs_f64() * 1e3;
        let dev = &net.devices[&1];
        assert!(docs.iter().all(|(id, _)| dev.peer.is_synced(id)), "caught up");
        let wire_bytes = dev.bytes_sent + dev.bytes_received;
        results.insert(
            format!("{model:?}"),
            json!({
                "ingest_referrals": n,
                "ingest_wall_s": wall.as_secs_f64(),
                "ingest_relay_cpu_s": relay_s,
                "relay_referrals_per_s": n / relay_s,
                "ingest_stored_bytes_per_referral": stored as f64 / n,
                "ingest_wire_bytes_per_referral": wire as f64 / n,
                "ingest_round_trips_per_referral": ingest_rounds as f64 / n,
                "load_one_desk_day_ms": load_ms,
                "catchup_referrals": offline,
                "catchup_round_trips": net.rounds,
                "catchup_wire_bytes": wire_bytes,
                "catchup_raw_change_bytes": raw,
                "catchup_wire_over_raw": wire_bytes as f64 / raw as f64,
                "catchup_ms_in_process": catchup_ms,
            }),
        );
    }
    // The automerge version in use on our workload.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &Header::desk_day("sc", "s", day())).unwrap();
    tx.commit();
    const TX: usize = 5_000;
    let started = Instant::now();
    for i in 0..TX {
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &referral(format!("r{i}"))).unwrap();
        tx.commit();
    }
    let one_doc = TX as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..TX {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &referral(format!("r{i}"))).unwrap();
        tx.commit();
    }
    let fresh = TX as f64 / started.elapsed().as_secs_f64();
    results.insert(
        "automerge".into(),
        json!({"version": "0.12.0", "referral_tx_per_s_one_doc": one_doc, "referral_tx_per_s_fresh_docs": fresh}),
    );
    serde_json::Value::Object(results)
}

// ---------------------------------------------------------------------------------------------
// Processes.

struct Proc {
    child: Child,
    url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the process has used, from /proc.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
        let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Anonymous resident memory (heap and stacks, not the mapped database file) in MiB.
    fn anon_mib(&self) -> f64 {
        anon_mib(self.pid())
    }

    /// Peak and current resident memory in MiB, from /proc.
    fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

fn anon_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn signpost_bin() -> PathBuf {
    signpost_sim::process::signpost_bin(&root())
}

fn admin(data: &Path, args: &[&str]) -> anyhow::Result<String> {
    signpost_sim::process::admin(&signpost_bin(), data, args)
}

/// (scheme id, [(site id, tablet token)], administrator token)
type Fixture = (String, Vec<(String, String)>, String);

/// A scheme with `n` sites and one tablet credential each.
fn fixture(data: &Path, n: usize) -> anyhow::Result<Fixture> {
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data)?;
    let scheme = admin(data, &["create-scheme", "Bench"])?;
    let admin_token = admin(data, &["issue-admin-token"])?;
    let sites: Vec<(String, String)> = std::thread::scope(|s| {
        let chunks: Vec<_> = (0..4)
            .map(|w| {
                let scheme = scheme.clone();
                s.spawn(move || -> anyhow::Result<Vec<(String, String)>> {
                    let mut v = Vec::new();
                    for i in (w..n).step_by(4) {
                        let site = admin(data, &["create-site", "--scheme", &scheme, &format!("Site {i}")])?;
                        let token = admin(data, &["issue-device-token", "--site", &site])?;
                        v.push((site, token));
                    }
                    Ok(v)
                })
            })
            .collect();
        chunks.into_iter().map(|h| h.join().unwrap()).collect::<anyhow::Result<Vec<_>>>().map(|v| v.concat())
    })?;
    Ok((scheme, sites, admin_token))
}

fn start_signpost(data: &Path, extra: &[&str]) -> anyhow::Result<(Proc, Duration)> {
    let started = Instant::now();
    let mut child = Command::new(signpost_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "signpost=warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next() {
        if let Some(url) = line?.strip_prefix("signpost listening on ") {
            let took = started.elapsed();
            std::thread::spawn(move || for _ in lines {});
            return Ok((Proc { child, url: url.to_owned() }, took));
        }
    }
    bail!("signpost did not start")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_js_server(data: &Path) -> anyhow::Result<Proc> {
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data)?;
    let port = free_port();
    let js = root().join("tests/js");
    let child = Command::new("node")
        .args(["-r", "./loopback.cjs", "node_modules/@automerge/automerge-repo-sync-server/src/index.js"])
        .current_dir(&js)
        .env("PORT", port.to_string())
        .env("DATA_DIR", data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start the JavaScript sync server (run `cargo xtask test` first: it installs them)")?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("the JavaScript sync server did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Proc { child, url })
}

/// An HTTP client that shows redirects instead of following them. One per call: the benchmarks
/// run several tokio runtimes, and a pooled connection must not outlive its runtime.
fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(0).build()?)
}

async fn http_get_json(url: &str, token: &str) -> anyhow::Result<serde_json::Value> {
    let r = http()?.get(url).bearer_auth(token).send().await?;
    Ok(r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn http_post_json(url: &str, path: &str, token: &str, body: &serde_json::Value) -> anyhow::Result<u16> {
    Ok(http()?.post(format!("{url}{path}")).bearer_auth(token).json(body).send().await?.status().as_u16())
}

/// `GET` with a cookie: (status, body bytes).
async fn http_get_cookie(url: &str, path: &str, cookie: &str) -> anyhow::Result<(u16, usize)> {
    let r = http()?.get(format!("{url}{path}")).header("Cookie", cookie).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.bytes().await?.len()))
}

/// Sets a password with a one-time code and signs in, as a browser would; returns the session
/// cookie (`name=value`).
async fn sign_in_with_code(url: &str, email: &str, code: &str) -> anyhow::Result<String> {
    fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
        r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
            let pair = c.split(';').next()?;
            pair.starts_with(&format!("{name}=")).then(|| pair.to_owned())
        })
    }
    fn csrf(body: &str) -> Option<String> {
        let start = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
        Some(body[start..].split('"').next()?.to_owned())
    }
    /// A form page: its form cookie and CSRF token.
    async fn form(url: &str, path: &str) -> anyhow::Result<(String, String)> {
        let r = http()?.get(format!("{url}{path}")).send().await?;
        let form = cookie(&r, "signpost_form").context("form cookie")?;
        Ok((form, csrf(&r.text().await?).context("csrf")?))
    }
    let password = "a long enough password";
    let (form_cookie, token) = form(url, &format!("/set-password?code={code}")).await?;
    let fields = [("csrf", token.as_str()), ("code", code), ("password", password), ("confirm", password)];
    http()?.post(format!("{url}/set-password")).header("Cookie", form_cookie).form(&fields).send().await?;
    let (form_cookie, token) = form(url, "/sign-in").await?;
    let fields = [("csrf", token.as_str()), ("email", email), ("password", password)];
    let r = http()?.post(format!("{url}/sign-in")).header("Cookie", form_cookie).form(&fields).send().await?;
    anyhow::ensure!(r.status().as_u16() == 303, "sign-in answered {}", r.status());
    cookie(&r, "signpost_session").context("session cookie")
}

// ---------------------------------------------------------------------------------------------
// Ingest over WebSockets.

struct IngestRun {
    referrals: usize,
    elapsed: Duration,
    announce: Histogram<u64>,
    /// (send instant, index in global ack order)
    sends: Vec<(Instant, Instant)>,
    connect: Duration,
    /// Times a tablet lost its connection and reconnected.
    reconnects: usize,
}

async fn ingest(url: &str, tablets: Vec<(String, Header)>, per: usize) -> anyhow::Result<IngestRun> {
    let n = tablets.len();
    let barrier = Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut tasks = Vec::new();
    let connect_started = Instant::now();
    for (i, (token, header)) in tablets.into_iter().enumerate() {
        let url = url.to_owned();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut tries = 0;
            let mut t = loop {
                match Tablet::connect(&url, &token, &format!("bench-tablet-{i}")).await {
                    Ok(t) => break t,
                    Err(e) if tries >= 20 => {
                        barrier.wait().await;
                        return Err(e);
                    }
                    Err(e) => {
                        tries += 1;
                        if tries == 1 {
                            eprintln!("tablet {i}: connect failed ({e:#}); retrying");
                        }
                        tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                    }
                }
            };
            let opened = async {
                let doc = t.open_day(&header).await?;
                t.synced(doc, Duration::from_secs(120)).await?;
                anyhow::Ok(doc)
            }
            .await;
            barrier.wait().await;
            let doc = opened.with_context(|| format!("tablet {i} could not open its document"))?;
            let mut times = Vec::with_capacity(per);
            let mut reconnects = 0;
            for r in 0..per {
                let sent = Instant::now();
                // The change is saved locally first; a dropped connection only delays its sync.
                let mut ok = t
                    .change(doc, |tx| schema::write_referral(tx, &referral(format!("{i}-{r}"))).unwrap())
                    .await
                    .is_ok();
                loop {
                    if ok && t.synced(doc, Duration::from_secs(120)).await.is_ok() {
                        break;
                    }
                    reconnects += 1;
                    if reconnects > 20 {
                        bail!("tablet {i}: gave up after {reconnects} reconnects");
                    }
                    let peer = t.disconnect().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    t = Tablet::connect_with(&url, &token, peer).await?;
                    ok = true;
                }
                times.push((sent, Instant::now()));
            }
            anyhow::Ok((times, reconnects))
        }));
    }
    barrier.wait().await;
    let connect = connect_started.elapsed();
    let started = Instant::now();
    let mut sends = Vec::new();
    let mut reconnects = 0;
    for t in tasks {
        let (times, r) = t.await??;
        sends.extend(times);
        reconnects += r;
    }
    let elapsed = started.elapsed();
    let mut announce = Histogram::<u64>::new(3)?;
    for (s, a) in &sends {
        announce.record((*a - *s).as_micros() as u64)?;
    }
    Ok(IngestRun { referrals: sends.len(), elapsed, announce, sends, connect, reconnects })
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn ingest_bench(args: &Args, out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let bench_dir = root().join("target/bench");
    let data = bench_dir.join("ingest-signpost");
    eprintln!("ingest: creating {} sites and credentials", args.tablets);
    let (scheme, sites, admin_token) = fixture(&data, args.tablets)?;
    let (server, _) = start_signpost(&data, &[])?;
    let tablets: Vec<(String, Header)> =
        sites.iter().map(|(site, token)| (token.clone(), Header::desk_day(&scheme, site, day()))).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    eprintln!("ingest: {} tablets x {} referrals -> Signpost", args.tablets, args.referrals);
    // Poll the statistics while ingesting: when did each referral become counted?
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poll_url = format!("{}/api/v1/stats/summary?scheme={scheme}&from={d}&to={d}", server.url, d = day());
    let poller = {
        let stop = stop.clone();
        let admin_token = admin_token.clone();
        rt.spawn(async move {
            let mut polls: Vec<(Instant, i64)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(v) = http_get_json(&poll_url, &admin_token).await {
                    polls.push((Instant::now(), v["referrals"].as_i64().unwrap_or(0)));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if let Ok(v) = http_get_json(&poll_url, &admin_token).await {
                polls.push((Instant::now(), v["referrals"].as_i64().unwrap_or(0)));
            }
            polls
        })
    };
    let cpu0 = server.cpu_seconds();
    let run = rt.block_on(ingest(&server.url, tablets, args.referrals))?;
    let relay_cpu = server.cpu_seconds() - cpu0;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polls = rt.block_on(poller)?;
    let (peak, _) = server.memory_mib();
    // Counted latency: the k-th referral acknowledged is counted at the first poll that shows at
    // least k referrals (projection is committed with the data, so never later than that).
    let mut acks: Vec<(Instant, Instant)> = run.sends.clone();
    acks.sort_by_key(|(_, a)| *a);
    let mut counted = Histogram::<u64>::new(3)?;
    let mut p = 0;
    for (k, (sent, _)) in acks.iter().enumerate() {
        while p < polls.len() && polls[p].1 < (k + 1) as i64 {
            p += 1;
        }
        if p < polls.len() {
            counted.record((polls[p].0.saturating_duration_since(*sent)).as_micros() as u64)?;
        }
    }
    let final_count = polls.last().map(|x| x.1).unwrap_or(0);
    let rate = run.referrals as f64 / run.elapsed.as_secs_f64();
    let sp = json!({
        "tablets": args.tablets, "referrals": run.referrals, "seconds": run.elapsed.as_secs_f64(),
        "referrals_per_s": rate,
        "announce_p50_ms": ms(&run.announce, 0.5), "announce_p99_ms": ms(&run.announce, 0.99),
        "announce_max_ms": run.announce.max() as f64 / 1000.0,
        "counted_p50_ms": ms(&counted, 0.5), "counted_p99_ms": ms(&counted, 0.99),
        "counted_samples": counted.len(), "stats_count_at_end": final_count, "stats_polls": polls.len(),
        "relay_peak_rss_mib": peak, "connect_all_s": run.connect.as_secs_f64(),
        "reconnects": run.reconnects, "relay_cpu_s": relay_cpu, "relay_cpu_us_per_referral": relay_cpu * 1e6 / run.referrals as f64,
        "relay_capacity_referrals_per_cpu_s": run.referrals as f64 / relay_cpu,
    });
    eprintln!("ingest signpost: {sp}");
    out.insert("ingest_signpost".into(), sp);
    drop(server);
    if !args.no_js {
        let js = start_js_server(&bench_dir.join("ingest-js"))?;
        eprintln!("ingest: {} tablets x {} referrals -> JavaScript sync server", args.tablets, args.referrals);
        let tablets: Vec<(String, Header)> = (0..args.tablets)
            .map(|i| ("unused".to_owned(), Header::desk_day(&scheme, &format!("js-site-{i}"), day())))
            .collect();
        let jcpu0 = js.cpu_seconds();
        let jr = rt.block_on(ingest(&js.url, tablets, args.referrals))?;
        let js_cpu = js.cpu_seconds() - jcpu0;
        let (jpeak, _) = js.memory_mib();
        let jrate = jr.referrals as f64 / jr.elapsed.as_secs_f64();
        let j = json!({
            "tablets": args.tablets, "referrals": jr.referrals, "seconds": jr.elapsed.as_secs_f64(),
            "referrals_per_s": jrate,
            "announce_p50_ms": ms(&jr.announce, 0.5), "announce_p99_ms": ms(&jr.announce, 0.99),
            "peak_rss_mib": jpeak, "signpost_over_js": rate / jrate,
            "reconnects": jr.reconnects, "cpu_s": js_cpu, "cpu_us_per_referral": js_cpu * 1e6 / jr.referrals as f64,
            "signpost_cpu_efficiency_over_js": (js_cpu / jr.referrals as f64) / (relay_cpu / run.referrals as f64),
        });
        eprintln!("ingest js: {j}");
        out.insert("ingest_js".into(), j);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Catch-up over WebSockets.

fn offline_peer(header: &Header, k: usize) -> (signpost_shared::peer::Peer, DocumentId, usize) {
    let doc = day_doc(header, k, "offline-");
    let raw = raw_change_bytes(&doc);
    let id = header.well_known_id();
    let mut peer = signpost_shared::peer::Peer::new("returning-tablet".into());
    let _ = peer.insert(id, doc, None);
    (peer, id, raw)
}

async fn catchup_once(url: &str, token: &str, header: &Header, k: usize) -> anyhow::Result<serde_json::Value> {
    let (peer, id, raw) = offline_peer(header, k);
    let started = Instant::now();
    let mut t = Tablet::connect_with(url, token, peer).await?;
    t.synced(id, Duration::from_secs(60)).await?;
    let took = started.elapsed();
    // Everything on the wire from the first frame, handshake included.
    let wire = t.bytes_sent + t.bytes_received;
    let f0 = 1; // the join
    Ok(json!({
        "referrals": k, "ms_to_synced": took.as_secs_f64() * 1e3,
        "round_trips": t.frames_sent - f0, "wire_bytes": wire, "raw_change_bytes": raw,
        "wire_over_raw": wire as f64 / raw as f64,
    }))
}

fn catchup_bench(args: &Args, out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let data = root().join("target/bench/catchup-signpost");
    let (scheme, sites, _) = fixture(&data, 1)?;
    let (server, _) = start_signpost(&data, &[])?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let header = Header::desk_day(&scheme, &sites[0].0, day());
    let sp = rt.block_on(catchup_once(&server.url, &sites[0].1, &header, args.offline))?;
    eprintln!("catch-up signpost: {sp}");
    out.insert("catchup_signpost".into(), sp);
    if !args.no_js {
        let js = start_js_server(&root().join("target/bench/catchup-js"))?;
        let j = rt.block_on(catchup_once(&js.url, "unused", &header, args.offline))?;
        eprintln!("catch-up js: {j}");
        out.insert("catchup_js".into(), j);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cold start.

fn coldstart_bench(args: &Args, out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let data = root().join("target/bench/coldstart");
    let writers = 50usize;
    let (scheme, sites, admin_token) = fixture(&data, writers)?;
    let (server, _) = start_signpost(&data, &["--sync", "normal", "--idle-secs", "5"])?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let per = args.cold_docs.div_ceil(writers);
    eprintln!("cold start: storing {} documents", per * writers);
    let seeded = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (site, token) in sites.clone() {
            let (url, scheme) = (server.url.clone(), scheme.clone());
            tasks.push(tokio::spawn(async move {
                let mut t = Tablet::connect(&url, &token, "seeder").await?;
                let base = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
                for d in 0..per {
                    let h = Header::desk_day(&scheme, &site, base + chrono::Days::new(d as u64));
                    let id = h.well_known_id();
                    let mut doc = Automerge::new();
                    let mut tx = doc.transaction();
                    schema::write_header(&mut tx, &h).unwrap();
                    schema::write_referral(&mut tx, &referral(format!("{site}-{d}"))).unwrap();
                    tx.commit();
                    let o = t.peer.insert(id, doc, None);
                    t.send(o).await?;
                    t.synced(id, Duration::from_secs(60)).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    })?;
    let seed_s = seeded.elapsed().as_secs_f64();
    drop(server); // kill -9
    let (server, to_listening) = start_signpost(&data, &["--sync", "normal", "--idle-secs", "5"])?;
    let (_, rss_start) = server.memory_mib();
    let (site, token) = &sites[0];
    let first = Instant::now();
    let h = Header::desk_day(&scheme, site, NaiveDate::from_ymd_opt(2000, 1, 1).unwrap());
    let served = rt.block_on(async {
        let mut t = Tablet::connect(&server.url, token, "reader").await?;
        let ok = t.find(h.well_known_id(), Duration::from_secs(10)).await?;
        anyhow::Ok(ok && t.peer.doc(&h.well_known_id()).map(|d| schema::entry_keys(d).len()) == Some(1))
    })?;
    let first_doc = to_listening + first.elapsed();
    // Touch 1,000 documents, then let them go idle.
    let touched = Instant::now();
    let live = rt.block_on(async {
        let mut t = Tablet::connect(&server.url, token, "reader").await?;
        let base = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        for d in 0..per.min(1000) {
            let id = Header::desk_day(&scheme, site, base + chrono::Days::new(d as u64)).well_known_id();
            t.find(id, Duration::from_secs(10)).await?;
        }
        let h = http_get_json(&format!("{}/api/v1/health", server.url), &admin_token).await?;
        anyhow::Ok(h["relay"]["live_documents"].as_i64().unwrap_or(-1))
    })?;
    let touch_ms = touched.elapsed().as_secs_f64() * 1e3;
    let (_, rss_touched) = server.memory_mib();
    std::thread::sleep(Duration::from_secs(8));
    let live_after_idle = rt.block_on(async {
        let h = http_get_json(&format!("{}/api/v1/health", server.url), &admin_token).await?;
        anyhow::Ok(h["relay"]["live_documents"].as_i64().unwrap_or(-1))
    })?;
    let r = json!({
        "stored_documents": per * writers, "seed_seconds": seed_s,
        "ms_to_listening": to_listening.as_secs_f64() * 1e3, "ms_to_first_document_served": first_doc.as_secs_f64() * 1e3,
        "first_document_ok": served, "rss_mib_after_start": rss_start,
        "touched_documents": per.min(1000), "ms_to_touch": touch_ms, "live_documents_after_touch": live, "rss_mib_after_touch": rss_touched,
        "live_documents_after_idle": live_after_idle,
    });
    eprintln!("cold start: {r}");
    out.insert("coldstart".into(), r);
    Ok(())
}

/// Stored documents as a tablet would hold them after `days` days of `per_day` referrals each,
/// for the client benchmark: one JSON line of `[documentId, base64(automerge save)]` pairs.
fn client_fixture(scheme: &str, site: &str, days: u64, per_day: usize) -> serde_json::Value {
    use base64::Engine;
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let docs: Vec<serde_json::Value> = (0..days)
        .map(|d| {
            let h = Header::desk_day(scheme, site, start + chrono::Days::new(d));
            let doc = day_doc(&h, per_day, &format!("d{d}-"));
            json!([h.well_known_id().to_string(), base64::engine::general_purpose::STANDARD.encode(doc.save())])
        })
        .collect();
    json!(docs)
}

/// The tablet app in headless Chromium: download size, save → durable, cold start offline.
fn client_bench(out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let dist = root().join("client/dist");
    if !dist.join("signpost_client_bg.wasm").exists() {
        bail!("the tablet app is not built: run `cargo xtask build-client`");
    }
    let data = root().join("target/bench/client");
    let (scheme, sites, _) = fixture(&data, 1)?;
    let (site, token) = &sites[0];
    let fixture_file = root().join("target/bench/client-fixture.json");
    std::fs::write(&fixture_file, client_fixture(&scheme, site, 100, 50).to_string())?;
    let (server, _) = start_signpost(&data, &["--static-dir", &dist.to_string_lossy()])?;
    let run = Command::new("node")
        .arg("client-bench.mjs")
        .current_dir(root().join("tests/js"))
        .env("SIGNPOST_URL", &server.url)
        .env("TOKEN", token)
        .env("SITE_NAME", "Site 0")
        .env("DIST", &dist)
        .env("FIXTURE", &fixture_file)
        .output()?;
    if !run.status.success() {
        bail!("client-bench.mjs failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().last().unwrap_or_default())?;
    eprintln!("client: {r}");
    out.insert("client".into(), r);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("client-fixture") {
        let a: Vec<String> = std::env::args().skip(2).collect();
        let (scheme, site) = (a.first().context("scheme")?, a.get(1).context("site")?);
        println!("{}", client_fixture(scheme, site, 100, 50));
        return Ok(());
    }
    let args = Args::parse();
    let mut out = serde_json::Map::new();
    let all = args.which == "all";
    out.insert("machine".into(), json!({"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)}));
    if all || args.which == "model" {
        eprintln!("model: document granularity, in process");
        let m = model_bench(args.tablets.min(200), args.referrals, args.offline);
        eprintln!("model: {m}");
        out.insert("model".into(), m);
    }
    if all || args.which == "ingest" {
        ingest_bench(&args, &mut out)?;
    }
    if all || args.which == "catchup" {
        catchup_bench(&args, &mut out)?;
    }
    if all || args.which == "coldstart" {
        coldstart_bench(&args, &mut out)?;
    }
    if all || args.which == "client" {
        client_bench(&mut out)?;
    }
    if all || args.which == "stats" {
        stats::stats_bench(&mut out)?;
    }
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("results-{}.json", args.which));
    std::fs::write(&path, serde_json::to_string_pretty(&serde_json::Value::Object(out.clone()))?)?;
    println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(out))?);
    eprintln!("results written to {}", path.display());
    Ok(())
}
