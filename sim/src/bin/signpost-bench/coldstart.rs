//! `coldstart`: restart with D stored documents: time to serving and memory.

use super::*;

pub(crate) fn coldstart_bench(args: &Args, out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let data = root().join("target/bench/coldstart");
    let writers = 50usize;
    let (scheme, sites, admin_token) = fixture(&data, writers)?;
    let per = args.cold_docs.div_ceil(writers);
    // Each writer's site gets `per` consecutive days ending before today: the relay is told to
    // take that many days back (a desk keeps a document a day; a hundred thousand documents are
    // years of them).
    let base = chrono::Utc::now().date_naive() - chrono::Days::new(per as u64 + 1);
    let back = (per + 2).to_string();
    let relay_args = ["--sync", "normal", "--idle-secs", "5", "--days-back", back.as_str()];
    let (server, _) = start_signpost(&data, &relay_args)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    eprintln!("cold start: storing {} documents", per * writers);
    let seeded = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (site, token) in sites.clone() {
            let (url, scheme) = (server.url().to_owned(), scheme.clone());
            tasks.push(tokio::spawn(async move {
                let mut t = Tablet::connect(&url, &token, "seeder").await?;
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
    let (server, to_listening) = start_signpost(&data, &relay_args)?;
    let (_, rss_start) = server.memory_mib();
    let (site, token) = &sites[0];
    let first = Instant::now();
    let h = Header::desk_day(&scheme, site, base);
    let served = rt.block_on(async {
        let mut t = Tablet::connect(&server.url(), token, "reader").await?;
        let ok = t.find(h.well_known_id(), Duration::from_secs(10)).await?;
        anyhow::Ok(ok && t.peer.doc(&h.well_known_id()).map(|d| schema::entry_keys(d).len()) == Some(1))
    })?;
    let first_doc = to_listening + first.elapsed();
    // Touch 1,000 documents, then let them go idle.
    let touched = Instant::now();
    let live = rt.block_on(async {
        let mut t = Tablet::connect(&server.url(), token, "reader").await?;
        for d in 0..per.min(1000) {
            let id = Header::desk_day(&scheme, site, base + chrono::Days::new(d as u64)).well_known_id();
            t.find(id, Duration::from_secs(10)).await?;
        }
        let h = http_get_json(&format!("{}/api/v1/health", server.url()), &admin_token).await?;
        anyhow::Ok(h["relay"]["live_documents"].as_i64().unwrap_or(-1))
    })?;
    let touch_ms = touched.elapsed().as_secs_f64() * 1e3;
    let (_, rss_touched) = server.memory_mib();
    std::thread::sleep(Duration::from_secs(8));
    let live_after_idle = rt.block_on(async {
        let h = http_get_json(&format!("{}/api/v1/health", server.url()), &admin_token).await?;
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
