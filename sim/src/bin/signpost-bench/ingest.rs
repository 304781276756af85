//! `ingest`: simulated tablets on concurrent WebSockets push referrals, closed loop, to the
//! relay and then, in the same run, to the JavaScript sync server.

use super::*;

pub(crate) struct IngestRun {
    pub(crate) referrals: usize,
    pub(crate) elapsed: Duration,
    pub(crate) announce: Histogram<u64>,
    /// (send instant, index in global ack order)
    sends: Vec<(Instant, Instant)>,
    connect: Duration,
    /// Times a tablet lost its connection and reconnected.
    reconnects: usize,
}

/// Each tablet connects to one of `urls` (tablet `i` to `urls[i % urls.len()]`).
pub(crate) async fn ingest(urls: &[String], tablets: Vec<(String, Header)>, per: usize) -> anyhow::Result<IngestRun> {
    let n = tablets.len();
    let barrier = Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut tasks = Vec::new();
    let connect_started = Instant::now();
    for (i, (token, header)) in tablets.into_iter().enumerate() {
        let url = urls[i % urls.len()].clone();
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

pub(crate) fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

pub(crate) fn ingest_bench(args: &Args, out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
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
    let poll_url = format!("{}/api/v1/stats/summary?scheme={scheme}&from={d}&to={d}", server.url(), d = day());
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
    let run = rt.block_on(ingest(&[server.url().to_owned()], tablets, args.referrals))?;
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
        let jr = rt.block_on(ingest(&[js.url().to_owned()], tablets, args.referrals))?;
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
