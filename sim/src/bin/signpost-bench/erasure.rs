//! `erasure`: erasing one referral from a day of 200, with the relay running: how long the server
//! takes (rewrite, retire, secure deletion, checkpoint; the API call end to end), and what each
//! tablet of the site downloads again to follow the day to its replacement.

use super::*;

const DAY_SIZE: usize = 200;
const ERASURES: usize = 5;

pub(crate) fn erasure_bench(out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let data = root().join("target/bench/erasure-signpost");
    let (scheme, sites, admin_token) = fixture(&data, 1)?;
    let (server, _) = start_signpost(&data, &[])?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let header = Header::desk_day(&scheme, &sites[0].0, day());
    let r = rt.block_on(erasure_once(&server.url(), &sites[0].1, &admin_token, &header))?;
    eprintln!("erasure: {r}");
    out.insert("erasure".into(), r);
    Ok(())
}

async fn erasure_once(url: &str, token: &str, admin_token: &str, header: &Header) -> anyhow::Result<serde_json::Value> {
    let t60 = Duration::from_secs(60);
    // A day as volunteers write it: every referral with notes of its own.
    let mut doc = day_doc(header, DAY_SIZE, "offline-");
    for i in 0..DAY_SIZE {
        let mut r = referral(format!("offline-{i}"));
        let words: String = (0..6).map(|_| format!("{:x} ", rand::random::<u32>())).collect();
        r.notes = Some(format!("Called back about the hearing; {words}"));
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &r)?;
        tx.commit();
    }
    let day_id = header.well_known_id();
    let mut peer = signpost_shared::peer::Peer::new("logging-tablet".into());
    let _ = peer.insert(day_id, doc, None);
    let mut logger = Tablet::connect_with(url, token, peer).await?;
    logger.synced(day_id, t60).await?;
    let day_bytes = logger.peer.doc(&day_id).context("the day")?.save().len();
    let http = http()?;
    let mut current = day_id;
    let mut server_ms = Vec::new();
    let mut downloaded = Vec::new();
    for i in 0..ERASURES {
        // A tablet of the site holding the day as it is, synced.
        let mut tablet = Tablet::connect(url, token, &format!("follower-{i}")).await?;
        if !tablet.find(current, t60).await? {
            bail!("the day {current} is unavailable");
        }
        let started = Instant::now();
        let res =
            http.post(format!("{url}/api/v1/referrals/offline-{i}/erase")).bearer_auth(admin_token).send().await?;
        let took = started.elapsed();
        anyhow::ensure!(res.status().as_u16() == 200, "erase answered {}", res.status());
        let body: serde_json::Value = res.json().await?;
        let new: DocumentId = body["days"][0]["new"].as_str().context("the new id")?.parse()?;
        server_ms.push(took.as_secs_f64() * 1e3);
        // The tablet is told the day is gone, asks where it went (a small JSON answer, counted
        // as its body) and fetches the replacement.
        tablet.until(t60, |e| matches!(e, signpost_shared::peer::Event::Unavailable(d) if *d == current)).await?;
        let before = tablet.bytes_received;
        let fate = http
            .get(format!("{url}/api/v1/device/documents/{current}"))
            .bearer_auth(token)
            .send()
            .await?
            .bytes()
            .await?;
        tablet.follow_replacement(current, new, t60).await?;
        downloaded.push(tablet.bytes_received - before + fate.len());
        current = new;
    }
    server_ms.sort_by(f64::total_cmp);
    downloaded.sort();
    Ok(json!({
        "referrals_in_day": DAY_SIZE, "erasures": ERASURES,
        "server_ms_median": server_ms[ERASURES / 2], "server_ms_max": server_ms[ERASURES - 1],
        "tablet_bytes_downloaded_median": downloaded[ERASURES / 2],
        "day_document_bytes": day_bytes,
    }))
}
