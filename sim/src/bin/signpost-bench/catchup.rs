//! `catchup`: a tablet reconnects holding K offline referrals.

use super::*;

pub(crate) fn offline_peer(header: &Header, k: usize) -> (signpost_shared::peer::Peer, DocumentId, usize) {
    let doc = day_doc(header, k, "offline-");
    let raw = raw_change_bytes(&doc);
    let id = header.well_known_id();
    let mut peer = signpost_shared::peer::Peer::new("returning-tablet".into());
    let _ = peer.insert(id, doc, None);
    (peer, id, raw)
}

pub(crate) async fn catchup_once(
    url: &str,
    token: &str,
    header: &Header,
    k: usize,
) -> anyhow::Result<serde_json::Value> {
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

pub(crate) fn catchup_bench(args: &Args, out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let data = root().join("target/bench/catchup-signpost");
    let (scheme, sites, _) = fixture(&data, 1)?;
    let (server, _) = start_signpost(&data, &[])?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let header = Header::desk_day(&scheme, &sites[0].0, day());
    let sp = rt.block_on(catchup_once(&server.url(), &sites[0].1, &header, args.offline))?;
    eprintln!("catch-up signpost: {sp}");
    out.insert("catchup_signpost".into(), sp);
    if !args.no_js {
        let js = start_js_server(&root().join("target/bench/catchup-js"))?;
        let j = rt.block_on(catchup_once(&js.url(), "unused", &header, args.offline))?;
        eprintln!("catch-up js: {j}");
        out.insert("catchup_js".into(), j);
    }
    Ok(())
}
