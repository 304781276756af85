//! What a hostile tablet can send: compressed bombs, floods of ephemerals, documents until the
//! disk fills, oversized drafts, other sites' days and far dates, forged log lines.

use super::*;

/// A tablet's sync message for `doc` carrying `changes` as they are, from its own peer id.
fn raw_sync(t: &Tablet, doc: signpost_shared::ids::DocumentId, changes: Vec<Vec<u8>>) -> Vec<u8> {
    use automerge::sync::{self, SyncDoc};
    let mut msg = sync::Message::decode(
        &automerge::Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode(),
    )
    .unwrap();
    msg.changes = changes.into();
    signpost_shared::wire::Message::Sync {
        sender_id: t.peer.peer_id().clone(),
        target_id: t.peer.relay_id().expect("joined").clone(),
        document_id: doc,
        data: msg.encode(),
    }
    .encode()
}

/// 131 KB that inflate to 16 × 8 MiB, sent by a tablet for its own day: refused before anything
/// is inflated or stored, the relay's memory barely moves, and health and the desk's other tablet
/// are answered at once.
#[tokio::test]
async fn a_compression_bomb_from_a_tablet_is_refused_and_nothing_stalls() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut good = Tablet::connect(&server.url, &fx.token_a1, "good").await.unwrap();
    let d = good.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    good.synced(d, T).await.unwrap();
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let before = snapshot(&server.data);

    let mut bad = Tablet::connect(&server.url, &fx.token_a2, "bad").await.unwrap();
    let zeros = vec![0u8; 8 << 20];
    let bomb = vec![signpost_shared::testkit::compressed_chunk(&zeros); 16];
    let frame = raw_sync(&bad, d, bomb);
    assert!(frame.len() < 200 << 10, "{} bytes", frame.len());
    bad.send_frame(frame).await.unwrap();
    let asked = Instant::now();
    let (status, _) = server.get("/api/v1/health", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    // That day is refused to it, with the reason; its connection stays.
    let refused = bad.synced_or_refused(d, T).await.unwrap().expect("refused");
    assert!(refused.message.contains("too large"), "{refused:?}");
    assert_eq!(refused.code, "too-large");
    assert!(bad.closed.is_none(), "only the day is refused, not the connection");
    assert_eq!(before, snapshot(&server.data), "nothing of the bomb is stored");
    let grew = rss_mib(pid) - rss_before;
    eprintln!("figure: the relay's memory grew by {grew:.1} MiB (from {rss_before:.1} MiB)");
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB");

    let started = Instant::now();
    good.change(d, |tx| schema::write_referral(tx, &referral()).unwrap()).await.unwrap();
    good.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the other tablet synced in {:?}", started.elapsed());
}

/// A tablet floods its desk with ephemeral messages while the desk's other tablets read
/// nothing: what waits for each is bounded in bytes, so the slow readers are let go rather than
/// the relay's memory growing, and the relay keeps answering.
#[tokio::test]
async fn an_ephemeral_flood_to_slow_readers_is_bounded() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut loud = Tablet::connect(&server.url, &fx.token_a1, "loud").await.unwrap();
    let d = loud.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    loud.synced(d, T).await.unwrap();
    let mut slow = Vec::new();
    for name in ["slow-1", "slow-2"] {
        let mut t = Tablet::connect(&server.url, &fx.token_a2, name).await.unwrap();
        assert!(t.find(d, T).await.unwrap());
        slow.push(t); // never read again
    }
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let before = snapshot(&server.data);
    for i in 0..1_000u64 {
        let out = loud.peer.ephemeral(d, "flood", i, vec![i as u8; 60 << 10]);
        if loud.send(out).await.is_err() {
            break;
        }
    }
    let asked = Instant::now();
    let (status, health) = server.get("/api/v1/health", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    let grew = rss_mib(pid) - rss_before;
    eprintln!("figure: the relay's memory grew by {grew:.1} MiB (from {rss_before:.1} MiB)");
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB: {health}");
    assert_eq!(before, snapshot(&server.data), "ephemerals store nothing");
    others_are_answered(&server, &fx, "during the flood").await;
    let gone = signpost_harness::eventually(T, || async {
        let (_, h) = server.get("/api/v1/health", None).await.unwrap();
        h["relay"]["connections"].as_u64() == Some(1)
    })
    .await;
    assert!(gone, "the slow readers were let go");
    drop(slow);
}

/// A document nobody has, with `note` in it and no Signpost header: a draft.
fn draft(note: &str) -> automerge::Automerge {
    use automerge::transaction::Transactable;
    let mut doc = automerge::Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "note", note).unwrap();
    tx.commit();
    doc
}

/// A tablet creating document after document (drafts that will never be days) is stopped at
/// its daily allowance with a reason; what it stored stays; the refused one changes nothing;
/// the desk's other tablet and the relay's health are answered at once; a restart does not
/// refill the allowance.
#[tokio::test]
async fn a_tablet_filling_the_disk_is_stopped_at_its_daily_allowance() {
    let args = ["--device-documents-per-day", "10", "--device-bytes-per-day", "1000000"];
    let (mut server, fx) = Server::start_fresh(&args).unwrap();
    let mut filler = Tablet::connect(&server.url, &fx.token_a1, "filler").await.unwrap();
    let mut created = 0;
    let mut before = snapshot(&server.data);
    let mut refusal = String::new();
    for i in 0..30u8 {
        let id = signpost_shared::ids::DocumentId::random([i; 16]);
        let out = filler.peer.insert(id, draft(&format!("draft {i}")), None);
        filler.send(out).await.unwrap();
        // Either the relay stores it (and says so) or refuses that document, with the reason.
        match filler.synced_or_refused(id, T).await.unwrap() {
            None => {
                created += 1;
                before = snapshot(&server.data);
            }
            Some(r) => {
                refusal = format!("{}: {}", r.code, r.message);
                break;
            }
        }
    }
    assert_eq!(created, 10, "{refusal}");
    assert!(refusal.contains("10 new documents for today"), "{refusal}");
    assert_eq!(before, snapshot(&server.data), "the refused document changes nothing");

    let asked = Instant::now();
    assert_eq!(server.get("/api/v1/health", None).await.unwrap().0, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut other = Tablet::connect(&server.url, &fx.token_a2, "other").await.unwrap();
    let started = Instant::now();
    let d = other.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    other.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the desk's other tablet synced in {:?}", started.elapsed());

    // A restarted relay remembers what the tablet stored today.
    drop(other);
    server.restart(&args).unwrap();
    let before = snapshot(&server.data);
    let mut again = Tablet::connect(&server.url, &fx.token_a1, "filler again").await.unwrap();
    let id = signpost_shared::ids::DocumentId::random([99; 16]);
    let out = again.peer.insert(id, draft("after the restart"), None);
    again.send(out).await.unwrap();
    let r = again.synced_or_refused(id, T).await.unwrap().expect("still over the allowance");
    assert!(r.message.contains("new documents for today"), "{r:?}");
    assert_eq!(before, snapshot(&server.data));
}

/// Text a device sends that reaches the relay's log (a message type it made up, carrying a line
/// break and a forged log line) is escaped: it cannot start a line of its own.
#[tokio::test]
async fn text_from_a_device_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relay.log");
    let (server, fx) = Server::start_fresh_logging(&[], &log).unwrap();
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "forger").await.unwrap();
    let kind = "x\nFORGED ERROR signpost: the relay was breached";
    // A CBOR map {"type": kind}, written out by hand: no encoder would help forge it.
    let mut frame = vec![0xa1, 0x64];
    frame.extend(b"type");
    frame.extend([0x78, kind.len() as u8]);
    frame.extend(kind.as_bytes());
    t.send_frame(frame).await.unwrap();
    let _ = t.until(T, |_| false).await;
    assert!(t.closed.as_deref().is_some_and(|c| c.contains("unknown message type")), "{:?}", t.closed);
    let written = signpost_harness::eventually(T, || async {
        std::fs::read_to_string(&log).unwrap_or_default().contains("relay was breached")
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(written, "the refusal is logged: {text}");
    assert!(!text.lines().any(|l| l.starts_with("FORGED")), "a forged line: {text}");
    assert_eq!(server.get("/api/v1/health", None).await.unwrap().0, 200);
}

/// A tablet of site B puts its content at site A's day (its well-known id) and at days far from
/// today: the far days are set aside (stored, counted nowhere, listed for the coordinator); site
/// A's tablet still opens, fills and syncs its own day, and only site A's referral is counted
/// there.
#[tokio::test]
async fn another_sites_day_and_far_dates_cannot_be_taken() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut squatter = Tablet::connect(&server.url, &fx.token_b, "squatter").await.unwrap();
    let a_day = Header::desk_day(&fx.scheme, &fx.site_a, today).well_known_id();
    let mut doc = automerge::Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &Header::desk_day(&fx.scheme, &fx.site_b, today)).unwrap();
    schema::write_referral(&mut tx, &referral()).unwrap();
    tx.commit();
    let out = squatter.peer.insert(a_day, doc, None);
    squatter.send(out).await.unwrap();
    squatter.synced(a_day, T).await.unwrap();

    for far in [chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(), today - chrono::Duration::days(401)] {
        let mut t = Tablet::connect(&server.url, &fx.token_b, "far").await.unwrap();
        let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_b, far)).await.unwrap();
        assert_eq!(t.synced_or_refused(d, T).await.unwrap(), None, "{far}: stored");
        let conn = signpost_harness::store::connect(&server.data);
        let (kind, counted): (String, i64) = conn
            .query_row(
                "SELECT kind, (SELECT count(*) FROM referral_facts WHERE doc_id = ?1) FROM documents WHERE id = ?1",
                [d.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((kind.as_str(), counted), ("set-aside", 0), "{far}: set aside, counted nowhere");
    }

    let mut owner = Tablet::connect(&server.url, &fx.token_a1, "owner").await.unwrap();
    let started = Instant::now();
    let d = owner.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today)).await.unwrap();
    assert_eq!(d, a_day);
    let mine = signpost_shared::schema::Referral { id: "mine".into(), ..referral() };
    owner.change(d, |tx| schema::write_referral(tx, &mine).unwrap()).await.unwrap();
    owner.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the owner synced in {:?}", started.elapsed());
    let conn = signpost_harness::store::connect(&server.data);
    let counted: Vec<(String, String)> = conn
        .prepare("SELECT site_id, id FROM referral_facts WHERE doc_id = ?1")
        .unwrap()
        .query_map([a_day.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(counted, [(fx.site_a.clone(), "mine".to_owned())], "only the owner's referral counts at its day");
}

/// A 1 MiB draft (no Signpost header) is refused at the draft cap and never stored.
#[tokio::test]
async fn a_draft_over_its_cap_is_never_stored() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let before = snapshot(&server.data);
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "parker").await.unwrap();
    let noise: String =
        (0..1u32 << 20).map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)).collect();
    let id = signpost_shared::ids::DocumentId::random([3; 16]);
    let out = t.peer.insert(id, draft(&noise), None);
    t.send(out).await.unwrap();
    let r = t.synced_or_refused(id, T).await.unwrap().expect("refused");
    assert!(r.message.contains("without a Signpost header may hold at most"), "{r:?}");
    assert_eq!(before, snapshot(&server.data));
    others_are_answered(&server, &fx, "after the draft").await;
}
