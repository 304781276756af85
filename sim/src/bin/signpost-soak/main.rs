//! `signpost-soak`: the randomized whole-path schedules of `sim/tests/whole_path` run for
//! minutes against the real relay binary, behind `cargo xtask soak [--minutes N]`.
//!
//! Simulated tablets at several desks (`tablet.rs`) log, correct and void referrals and run
//! shifts with random values, go offline for random spells, are closed and reopened from their
//! stored bytes and cross midnight (days are shortened), while the relay process is killed with
//! SIGKILL and started again on the same data folder, and other writers commit beside them:
//! roster edits through the JSON API and administration commands run as separate processes.
//! Then every tablet comes back online until the relay has acknowledged everything, and the
//! relay's database is read directly (`check.rs`): nothing a tablet saved is missing, nothing
//! is counted twice, every tablet holds the relay's copy, the statistics equal a projection of
//! the stored documents, every stored document loads, and no honest device was refused. Hostile
//! devices (`signpost_sim::hostile`: a tablet of another site of the scheme and one of another
//! scheme) send what that module makes them send throughout, and every frame they receive is
//! read for a leak. Figures go to stdout and `target/soak/last.json`; the exit status is
//! non-zero on any finding.

mod check;
mod report;
mod tablet;

use anyhow::{bail, Context};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use signpost_harness::process::{admin, release_binary as signpost_bin, Log, Relay as Server};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// How long the load runs (the final sync and checks come after).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    #[arg(long, default_value_t = 4)]
    desks: usize,
    #[arg(long, default_value_t = 3)]
    tablets_per_desk: usize,
    /// Mean pause between one volunteer's actions, in milliseconds.
    #[arg(long, default_value_t = 150)]
    pace_ms: u64,
    /// Length of a soak day in seconds (midnight comes this often).
    #[arg(long, default_value_t = 90)]
    day_secs: u64,
    /// Seconds between relay kills: a random time up to twice this.
    #[arg(long, default_value_t = 20)]
    kill_every_secs: u64,
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds each tablet may take, once the load stops, to get everything acknowledged.
    #[arg(long, default_value_t = 180)]
    settle_secs: u64,
    /// The relay binary to soak (default: this checkout's release build), e.g. an older build
    /// to see that the soak finds what was fixed since.
    #[arg(long)]
    relay: Option<PathBuf>,
    /// Hostile devices: 0, 1 (a tablet of another site of the scheme) or 2 (and one of
    /// another scheme).
    #[arg(long, default_value_t = 2)]
    hostile: usize,
}

/// Writes other than the tablets', counted.
#[derive(Default)]
struct Writers {
    api_ok: AtomicU64,
    api_unreachable: AtomicU64,
    admin_ok: AtomicU64,
    unexpected: Mutex<Vec<String>>,
}

fn root() -> PathBuf {
    std::env::current_dir().expect("cwd")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Soak days run faster than the relay's clock: they start far enough back that the last one
    // is still no later than the relay's today (it takes new days only up to two days ahead).
    let soak_days = (args.minutes * 60.0 / args.day_secs as f64).ceil() as u64 + 2;
    let first_day = chrono::Utc::now().date_naive() - chrono::Days::new(soak_days);
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    eprintln!("soak: seed {seed} (re-run with --seed {seed}); {} minutes", args.minutes);
    let bin = args.relay.clone().unwrap_or_else(|| signpost_bin(&root()));
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let log = root().join("target/soak/relay.log");
    std::fs::create_dir_all(log.parent().unwrap())?;
    let _ = std::fs::remove_file(&log);

    // A scheme, its desks, a credential per tablet and a roster.
    let scheme = admin(&bin, &data, &["create-scheme", "Soak"])?;
    let admin_token = admin(&bin, &data, &["issue-admin-token"])?;
    let mut desks = Vec::new();
    for d in 0..args.desks {
        let site = admin(&bin, &data, &["create-site", "--scheme", &scheme, &format!("Desk {d}")])?;
        let tokens: Vec<String> = (0..args.tablets_per_desk)
            .map(|_| admin(&bin, &data, &["issue-device-token", "--site", &site]))
            .collect::<anyhow::Result<_>>()?;
        desks.push((site, tokens));
    }
    // The hostile devices: a tablet of another site of the scheme, and one of another scheme.
    let mut hostile_plans = Vec::new();
    let mut hostile_sites = Vec::new();
    let honest_sites: Vec<String> = desks.iter().map(|(s, _)| s.clone()).collect();
    for h in 0..args.hostile.min(2) {
        let (scheme_of, site) = if h == 0 {
            (scheme.clone(), admin(&bin, &data, &["create-site", "--scheme", &scheme, "Hostile desk"])?)
        } else {
            let other = admin(&bin, &data, &["create-scheme", "Elsewhere"])?;
            (other.clone(), admin(&bin, &data, &["create-site", "--scheme", &other, "Elsewhere desk"])?)
        };
        let token = admin(&bin, &data, &["issue-device-token", "--site", &site])?;
        hostile_sites.push(site.clone());
        hostile_plans.push((token, signpost_shared::relay::Principal { device: format!("hostile-{h}"), scheme: scheme_of, site }));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let listen = format!("127.0.0.1:{port}");
    let relay_args = ["--idle-secs", "3"];
    let server = Server::start(&bin, &data, &listen, &relay_args, Log::Append(&log))?;
    let url = server.url.clone();
    let server = Arc::new(Mutex::new(Some(server)));

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = rt.block_on(async {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let mut volunteers = Vec::new();
        for v in 0..4 {
            let r = http
                .post(format!("{url}/api/v1/schemes/{scheme}/volunteers"))
                .bearer_auth(&admin_token)
                .json(&json!({"name": format!("Volunteer {v}")}))
                .send()
                .await?
                .error_for_status()?;
            let body: serde_json::Value = r.json().await?;
            volunteers.push(body["id"].as_str().context("volunteer id")?.to_owned());
        }

        let started = Instant::now();
        let clock = tablet::Clock { started, day: Duration::from_secs(args.day_secs), first: first_day };
        let stop = Arc::new(AtomicBool::new(false));
        let n = args.desks * args.tablets_per_desk;
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let mut tablets = Vec::new();
        for (d, (site, tokens)) in desks.iter().enumerate() {
            for (t, token) in tokens.iter().enumerate() {
                let plan = tablet::Plan {
                    url: url.clone(),
                    token: token.clone(),
                    scheme: scheme.clone(),
                    site: site.clone(),
                    name: format!("tablet-{d}-{t}"),
                    volunteers: volunteers.clone(),
                    seed: seed ^ ((d * 64 + t) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    clock: clock.clone(),
                    pace: Duration::from_millis(args.pace_ms),
                    stop: stop.clone(),
                    barrier: barrier.clone(),
                    settle: Duration::from_secs(args.settle_secs),
                };
                tablets.push(tokio::spawn(tablet::run(plan)));
            }
        }

        let mut hostiles = Vec::new();
        for (i, (token, principal)) in hostile_plans.into_iter().enumerate() {
            // Another scheme's directory, and the honest scheme's for the other scheme's device.
            let forbidden_extra = if principal.scheme == scheme {
                vec![signpost_shared::schema::directory_id("another-scheme")]
            } else {
                vec![signpost_shared::schema::directory_id(&scheme)]
            };
            let c = clock.clone();
            hostiles.push(tokio::spawn(signpost_sim::hostile::run(signpost_sim::hostile::HostilePlan {
                urls: vec![url.clone()],
                token,
                principal,
                honest_sites: honest_sites.clone(),
                forbidden_extra,
                date: Arc::new(move || c.today()),
                seed: seed ^ (0xbad + i as u64),
                stop: stop.clone(),
            })));
        }
        let writers = Arc::new(Writers::default());
        let kills = Arc::new(AtomicU64::new(0));
        let killer = tokio::task::spawn_blocking({
            let (server, stop, kills, bin, data) =
                (server.clone(), stop.clone(), kills.clone(), bin.clone(), data.clone());
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
            let every = args.kill_every_secs;
            move || kill_loop(&mut rng, every, &server, &stop, &kills, &bin, &data, &listen, &relay_args, &log)
        });
        let api = tokio::spawn(api_writer(
            http.clone(),
            url.clone(),
            scheme.clone(),
            admin_token.clone(),
            writers.clone(),
            stop.clone(),
            seed,
        ));
        let cli = tokio::task::spawn_blocking({
            let (writers, stop, bin, data, scheme) =
                (writers.clone(), stop.clone(), bin.clone(), data.clone(), scheme.clone());
            move || admin_writer(&bin, &data, &scheme, &writers, &stop)
        });

        let load = Duration::from_secs_f64(args.minutes * 60.0);
        while started.elapsed() < load {
            tokio::time::sleep(Duration::from_secs(10)).await;
            eprintln!(
                "soak: {:>4.0} s, {} relay kills",
                started.elapsed().as_secs_f64(),
                kills.load(Ordering::Relaxed)
            );
        }
        stop.store(true, Ordering::Relaxed);
        killer.await??;
        api.await?;
        cli.await?;
        let load_secs = started.elapsed().as_secs_f64();
        eprintln!("soak: load stopped; tablets finish syncing");
        let mut reports = Vec::new();
        for t in tablets {
            reports.push(t.await?);
        }
        let mut hostile_reports = Vec::new();
        for h in hostiles {
            hostile_reports.push(h.await?);
        }
        let final_sync_secs = started.elapsed().as_secs_f64() - load_secs;
        anyhow::Ok((
            reports,
            hostile_reports,
            writers,
            kills.load(Ordering::Relaxed),
            load_secs,
            final_sync_secs,
            clock.today(),
        ))
    })?;
    let (reports, hostile_reports, writers, kills, load_secs, final_sync_secs, last_day) = report;
    if let Some(s) = server.lock().unwrap().take() {
        s.kill();
    }

    let mut findings = check::check(&data.join("signpost.sqlite3"), &reports, &hostile_sites)?;
    findings.leaks.extend(hostile_reports.iter().flat_map(|h| h.leaks.iter().map(|l| format!("{}: {l}", h.device))));
    let mut totals = report::Counts::default();
    for r in &reports {
        totals.add(&r.counts);
    }
    let unexpected = writers.unexpected.lock().unwrap().clone();
    let out = json!({
        "seed": seed,
        "load_minutes": load_secs / 60.0,
        "final_sync_seconds": final_sync_secs,
        "desks": args.desks,
        "tablets": reports.len(),
        "days": (last_day - first_day).num_days() + 1,
        "relay_kills": kills,
        "referrals_logged": totals.logged,
        "corrections": totals.corrected,
        "voids": totals.voided,
        "shifts": totals.shifts,
        "changes_made_offline": totals.offline_changes,
        "offline_spells": totals.offline_spells,
        "app_restarts": totals.restarts,
        "connections": totals.connects,
        "failed_connection_attempts": totals.failed_connects,
        "connection_ends": totals.closes,
        "roster_edits_through_the_api": writers.api_ok.load(Ordering::Relaxed),
        "api_calls_while_the_relay_was_down": writers.api_unreachable.load(Ordering::Relaxed),
        "administration_commands": writers.admin_ok.load(Ordering::Relaxed),
        "unexpected_writer_failures": unexpected,
        "hostile_devices": hostile_reports,
        "findings": findings,
    });
    let path = root().join("target/soak/last.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out)?)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    eprintln!("soak: results in {}", path.display());
    if !findings.clean() || !unexpected.is_empty() {
        bail!("soak failed (seed {seed}): see the findings above");
    }
    eprintln!(
        "soak passed: {} entries saved by {} tablets, 0 lost, 0 miscounted, 0 refused, {kills} relay kills; \
         {} hostile frames sent, {} received, 0 leaks; {} documents stored, 0 unloadable",
        findings.entries_saved,
        reports.len(),
        hostile_reports.iter().map(|h| h.frames_sent).sum::<u64>(),
        hostile_reports.iter().map(|h| h.frames_received).sum::<u64>(),
        findings.documents
    );
    Ok(())
}

/// Kills the relay at random times and starts it again on the same address and data.
#[allow(clippy::too_many_arguments)]
fn kill_loop(
    rng: &mut StdRng,
    every: u64,
    server: &Mutex<Option<Server>>,
    stop: &AtomicBool,
    kills: &AtomicU64,
    bin: &Path,
    data: &Path,
    listen: &str,
    extra: &[&str],
    log: &Path,
) -> anyhow::Result<()> {
    loop {
        let wait = Instant::now() + Duration::from_millis(rng.random_range(500..=2_000 * every.max(1)));
        while Instant::now() < wait {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(s) = server.lock().unwrap().take() {
            s.kill();
        }
        kills.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..2_000)));
        let mut tries = 0;
        let s = loop {
            match Server::start(bin, data, listen, extra, Log::Append(log)) {
                Ok(s) => break s,
                Err(e) if tries < 20 => {
                    tries += 1;
                    eprintln!("soak: relay restart failed ({e:#}); trying again");
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => return Err(e.context("the relay does not start again after a kill")),
            }
        };
        *server.lock().unwrap() = Some(s);
    }
}

/// Roster edits through the JSON API (server-side edits of the directory document).
async fn api_writer(
    http: reqwest::Client,
    url: String,
    scheme: String,
    token: String,
    w: Arc<Writers>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(2));
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..600))).await;
        let name = signpost_sim::random::text(&mut rng, 60);
        let sent = http
            .post(format!("{url}/api/v1/schemes/{scheme}/volunteers"))
            .bearer_auth(&token)
            .json(&json!({ "name": name }))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                w.api_ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                w.unexpected.lock().unwrap().push(format!("roster edit: HTTP {status}: {body}"));
            }
            // The relay is down (killed) or went down mid-request.
            Err(_) => {
                w.api_unreachable.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Administration commands, each its own process writing the same database as the relay.
fn admin_writer(bin: &Path, data: &Path, scheme: &str, w: &Writers, stop: &AtomicBool) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let result = match n % 3 {
            0 => admin(bin, data, &["create-site", "--scheme", scheme, &format!("Extra desk {n}")])
                .and_then(|site| admin(bin, data, &["issue-device-token", "--site", &site])),
            1 => admin(
                bin,
                data,
                &["create-user", "--role", "coordinator", "--scheme", scheme, &format!("c{n}@example.org")],
            ),
            _ => admin(bin, data, &["reset-password", &format!("c{}@example.org", n - 1)]),
        };
        match result {
            Ok(_) => {
                w.admin_ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => w.unexpected.lock().unwrap().push(format!("administration command: {e:#}")),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
