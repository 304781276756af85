//! `scale`: ingest through one relay on SQLite, one relay on PostgreSQL and two relays on one
//! PostgreSQL database, in one run, with the same tablets and referrals: referrals per second,
//! relay and database CPU per referral, and (two relays) how long an entry acknowledged by one
//! relay takes to reach a tablet of the same desk on the other, measured while the load runs.
//!
//! The PostgreSQL cluster is a throw-away one on 127.0.0.1 with `fsync` on, as SQLite's relay
//! runs with `--sync full`: both make every acknowledged batch durable on disk.

use super::*;
use signpost_harness::postgres::Postgres;
use signpost_shared::peer::Peer;

/// CPU seconds used so far by every PostgreSQL process on the machine (the cluster's backends,
/// its writer and checkpointer): `comm` is `postgres`.
fn postgres_cpu_seconds() -> f64 {
    let mut total = 0.0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if !head.ends_with("(postgres") {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        total += (ticks(11) + ticks(12)) / 100.0;
    }
    total
}

/// Two tablets of one desk, one on each relay, take turns logging every 20 ms: how long from
/// one relay's acknowledgement until the other tablet holds the entry.
async fn fan_out(urls: [String; 2], tokens: [String; 2], header: Header, n: usize) -> anyhow::Result<Histogram<u64>> {
    let mut a = Tablet::connect_with(&urls[0], &tokens[0], Peer::new("probe-a".into())).await?;
    let mut b = Tablet::connect_with(&urls[1], &tokens[1], Peer::new("probe-b".into())).await?;
    let d = a.open_day(&header).await?;
    a.synced(d, Duration::from_secs(60)).await?;
    b.open_day(&header).await?;
    let mut h = Histogram::<u64>::new(3)?;
    for i in 0..n {
        let (from, to) = if i % 2 == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
        let id = format!("probe-{i}");
        from.change(d, |tx| schema::write_referral(tx, &referral(id.clone())).unwrap()).await?;
        from.synced(d, Duration::from_secs(60)).await?;
        let acknowledged = Instant::now();
        let key = format!("referral:{id}");
        to.wait_until(Duration::from_secs(60), |p| {
            p.doc(&d).is_some_and(|doc| schema::entry_keys(doc).iter().any(|k| k.root_key() == key))
        })
        .await?;
        h.record(acknowledged.elapsed().as_micros() as u64)?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(h)
}

/// One configuration: `relays` relays on the store behind `data` (a folder, or a folder naming
/// a PostgreSQL database).
fn run(args: &Args, name: &str, data: &Path, relays: usize, on_postgres: bool) -> anyhow::Result<serde_json::Value> {
    eprintln!("scale {name}: creating {} sites and credentials", args.tablets);
    let (scheme, sites, _admin) = fixture(data, args.tablets)?;
    // The desk whose two tablets measure the fan-out.
    let probe_site =
        signpost_harness::process::admin(&signpost_bin(), data, &["create-site", "--scheme", &scheme, "Probe"])?;
    let probe_tokens = [
        signpost_harness::process::admin(&signpost_bin(), data, &["issue-device-token", "--site", &probe_site])?,
        signpost_harness::process::admin(&signpost_bin(), data, &["issue-device-token", "--site", &probe_site])?,
    ];
    let servers: Vec<Proc> =
        (0..relays).map(|_| start_signpost(data, &[]).map(|(p, _)| p)).collect::<anyhow::Result<_>>()?;
    let urls: Vec<String> = servers.iter().map(|s| s.url().to_owned()).collect();
    let tablets: Vec<(String, Header)> =
        sites.iter().map(|(site, token)| (token.clone(), Header::desk_day(&scheme, site, day()))).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let relay_cpu = || servers.iter().map(Proc::cpu_seconds).sum::<f64>();
    let (cpu0, db0) = (relay_cpu(), postgres_cpu_seconds());
    eprintln!("scale {name}: {} tablets x {} referrals over {relays} relay(s)", args.tablets, args.referrals);
    let probe = (relays == 2).then(|| {
        let header = Header::desk_day(&scheme, &probe_site, day());
        rt.spawn(fan_out([urls[0].clone(), urls[1].clone()], probe_tokens.clone(), header, 200))
    });
    let ingested = rt.block_on(ingest(&urls, tablets, args.referrals))?;
    let (relay_s, db_s) = (relay_cpu() - cpu0, if on_postgres { postgres_cpu_seconds() - db0 } else { 0.0 });
    let n = ingested.referrals as f64;
    let mut out = json!({
        "relays": relays, "tablets": args.tablets, "referrals": ingested.referrals,
        "seconds": ingested.elapsed.as_secs_f64(),
        "referrals_per_s": n / ingested.elapsed.as_secs_f64(),
        "announce_p50_ms": ms(&ingested.announce, 0.5), "announce_p99_ms": ms(&ingested.announce, 0.99),
        "relay_cpu_s": relay_s, "relay_cpu_us_per_referral": relay_s * 1e6 / n,
        "database_cpu_s": db_s, "database_cpu_us_per_referral": db_s * 1e6 / n,
    });
    if let Some(probe) = probe {
        let h = rt.block_on(probe)??;
        out["fan_out_samples"] = json!(h.len());
        out["fan_out_p50_ms"] = json!(ms(&h, 0.5));
        out["fan_out_p99_ms"] = json!(ms(&h, 0.99));
        out["fan_out_max_ms"] = json!(h.max() as f64 / 1000.0);
    }
    eprintln!("scale {name}: {out}");
    Ok(out)
}

pub(crate) fn scale_bench(args: &Args, out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let bench = root().join("target/bench");
    out.insert("scale_sqlite_1".into(), run(args, "sqlite, 1 relay", &bench.join("scale-sqlite"), 1, false)?);
    let pg = Postgres::start_with(true)?;
    for (key, name, relays) in
        [("scale_postgres_1", "postgres, 1 relay", 1), ("scale_postgres_2", "postgres, 2 relays", 2)]
    {
        let data = bench.join(format!("scale-{key}"));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("database-url"), pg.database(key)?)?;
        let result = run(args, name, &data, relays, true);
        if result.is_err() {
            pg.stop();
        }
        out.insert(key.into(), result?);
    }
    pg.stop();
    Ok(())
}
