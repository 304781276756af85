//! Randomized schedules over the relays, killed and restarted at random (see `schedule`).

use super::*;

/// One tablet of the randomized schedule: its peer (documents and what waits to sync), and its
/// connection with the relay it is on, if any.
struct Device {
    token: String,
    header: Header,
    peer: Option<Peer>,
    online: Option<(Tablet, usize)>,
}

impl Device {
    /// Goes offline (also when its relay died): the peer keeps everything.
    async fn offline(&mut self) {
        if let Some((t, _)) = self.online.take() {
            self.peer = Some(t.disconnect().await);
        }
    }

    async fn online(&mut self, urls: &[String], alive: &[bool], first: usize) {
        if self.online.is_some() {
            return;
        }
        let live: Vec<String> = urls.iter().zip(alive).filter(|(_, a)| **a).map(|(u, _)| u.clone()).collect();
        if live.is_empty() {
            return;
        }
        let peer = self.peer.take().expect("offline devices hold their peer");
        match Tablet::connect_any(&live, first % live.len(), &self.token, peer).await {
            Ok((t, i)) => self.online = Some((t, i)),
            Err((peer, _)) => self.peer = Some(peer),
        }
    }

    fn peer(&self) -> &Peer {
        match &self.online {
            Some((t, _)) => &t.peer,
            None => self.peer.as_ref().expect("a peer"),
        }
    }
}

/// Randomized schedules over two relays on one database: tablets of two desks log, void and
/// correct referrals, go offline and come back to either relay, pause long enough for the
/// relays to let days go idle and compact them, while relays are killed (SIGKILL) and
/// restarted at random, and hostile devices of another site and another scheme do what
/// `signpost_sim::hostile` makes them do (nothing they are sent may be what they may not read). At the end every tablet of a desk holds the same day, every referral
/// logged is stored, each relay's figures count the merged days' referrals exactly once, and
/// `admin check` finds the statistics equal to a recount. A failure names its seed
/// (`SIGNPOST_RELAYS_SEED` replays one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_schedules_over_two_relays_killed_at_random_lose_and_double_count_nothing() {
    for seed in seeds() {
        eprintln!("two-relay schedule, seed {seed} (SIGNPOST_RELAYS_SEED={seed} replays it)");
        schedule(seed, true).await;
    }
}

/// The same schedules with one relay on SQLite, killed and restarted at random: the whole path
/// holds on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_schedules_over_one_relay_on_sqlite_killed_at_random_lose_and_double_count_nothing() {
    for seed in seeds() {
        eprintln!("SQLite schedule, seed {seed} (SIGNPOST_RELAYS_SEED={seed} replays it)");
        schedule(seed, false).await;
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("SIGNPOST_RELAYS_SEED") {
        Ok(s) => vec![s.parse().expect("a seed")],
        Err(_) => (0..6).map(|_| rand::random::<u32>() as u64).collect(),
    }
}

async fn schedule(seed: u64, postgres: bool) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = if postgres { 2 } else { 1 };
    // Days idle for a second are let go, and compacted when they had several appends.
    let (tmp, fx, mut servers) =
        relays_on(postgres.then(|| format!("schedule_{seed}")).as_deref(), n, &["--idle-secs", "1"]);
    let mut urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let mut alive = vec![true; n];
    let day = today();
    let desks = [Header::desk_day(&fx.scheme, &fx.site_a, day), Header::desk_day(&fx.scheme, &fx.site_b, day)];
    let mut devices: Vec<Device> = [(&fx.token_a1, 0), (&fx.token_a2, 0), (&fx.token_b, 1)]
        .iter()
        .enumerate()
        .map(|(i, (token, desk))| Device {
            token: (*token).clone(),
            header: desks[*desk].clone(),
            peer: Some(Peer::new(format!("device-{i}").as_str().into())),
            online: None,
        })
        .collect();
    for (i, d) in devices.iter_mut().enumerate() {
        d.online(&urls, &alive, i).await;
    }
    // Hostile devices throughout: a tablet of another site of the scheme and one of another
    // scheme, on any relay, every frame they are sent read for a leak.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hostiles = hostiles(tmp.path(), &fx, &urls, seed, &stop);
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let (mut logged, mut kills) = (0, 0);
    let mut logged_ids: BTreeSet<String> = BTreeSet::new();
    let short = Duration::from_secs(3);
    for step in 0..80 {
        let k = rng.random_range(0..devices.len());
        let action = rng.random_range(0..100);
        let dev = &mut devices[k];
        let doc = dev.header.well_known_id();
        match action {
            // Log a referral (online or not); sometimes wait for the relay's acknowledgement.
            0..=49 => {
                let id = format!("s{seed}-{step}");
                let r = referral(&mut rng, &id);
                let wait = rng.random_bool(0.5);
                let header = dev.header.clone();
                let ok = match &mut dev.online {
                    Some((t, _)) => {
                        let sent = async {
                            t.open_day(&header).await?;
                            t.change(doc, |tx| schema::write_referral(tx, &r).unwrap()).await?;
                            if wait {
                                t.synced(doc, short).await?;
                            }
                            anyhow::Ok(())
                        };
                        sent.await
                    }
                    None => {
                        let p = dev.peer.as_mut().unwrap();
                        if p.doc(&doc).is_none() {
                            let mut d = automerge::Automerge::new();
                            let mut tx = d.transaction();
                            schema::write_header(&mut tx, &header).unwrap();
                            tx.commit();
                            let _ = p.insert(doc, d, None);
                        }
                        p.change(doc, |tx| schema::write_referral(tx, &r).unwrap())
                            .map(|_| ())
                            .map_err(|e| anyhow::anyhow!("{e:?}"))
                    }
                };
                logged += 1;
                logged_ids.insert(id.clone());
                match ok {
                    Ok(()) if wait && dev.online.is_some() => {
                        acknowledged.insert(id);
                    }
                    Ok(()) => {}
                    Err(_) => dev.offline().await,
                }
            }
            // Void or correct a referral the tablet holds.
            50..=64 => {
                let held: Vec<String> = dev
                    .peer()
                    .doc(&doc)
                    .map(|d| {
                        schema::entry_keys(d)
                            .into_iter()
                            .filter_map(|k| match k {
                                schema::EntryKey::Referral(id) => Some(id),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if held.is_empty() {
                    continue;
                }
                let id = held[rng.random_range(0..held.len())].clone();
                let void = rng.random_bool(0.4);
                let mut current = schema::read_referral(dev.peer().doc(&doc).unwrap(), &id).unwrap().unwrap();
                current.follow_up = !current.follow_up;
                let edit = |tx: &mut automerge::transaction::Transaction<'_>| {
                    if void {
                        schema::void_referral(tx, &id, "logged twice", 1).unwrap();
                    } else {
                        schema::correct_referral(tx, &current).unwrap();
                    }
                };
                let failed = match &mut dev.online {
                    Some((t, _)) => t.change(doc, edit).await.is_err(),
                    None => dev.peer.as_mut().unwrap().change(doc, edit).is_err(),
                };
                if failed {
                    dev.offline().await;
                }
            }
            // Offline, or back online on either relay.
            65..=79 => {
                if dev.online.is_some() {
                    dev.offline().await;
                } else {
                    let first = rng.random_range(0..2);
                    dev.online(&urls, &alive, first).await;
                }
            }
            // Kill a relay (never the last of two), or bring a dead one back.
            80..=89 => {
                let r = rng.random_range(0..n);
                if alive[r] && (n == 1 || alive.iter().all(|a| *a)) {
                    servers[r].kill();
                    alive[r] = false;
                    kills += 1;
                } else if !alive[r] {
                    servers[r].restart(&[]).unwrap();
                    urls[r] = servers[r].url.clone();
                    alive[r] = true;
                }
            }
            // A pause: idle days are let go (and compacted) by the relays.
            90..=93 => tokio::time::sleep(Duration::from_millis(400)).await,
            // Let the tablet hear what the relay has for it.
            _ => {
                if let Some((t, _)) = &mut dev.online {
                    if t.run_for(Duration::from_millis(50)).await.is_err() {
                        dev.offline().await;
                    }
                }
            }
        }
    }
    // Everyone back: every relay up, every tablet online and synced, desks converged.
    for r in 0..n {
        if !alive[r] {
            servers[r].restart(&[]).unwrap();
            urls[r] = servers[r].url.clone();
            alive[r] = true;
        }
    }
    for (i, dev) in devices.iter_mut().enumerate() {
        // A connection to a relay that was killed may not have noticed yet: start afresh.
        dev.offline().await;
        for attempt in 0..5 {
            dev.online(&urls, &alive, i + attempt).await;
            let doc = dev.header.well_known_id();
            let header = dev.header.clone();
            let Some((t, _)) = &mut dev.online else { continue };
            let synced = async {
                t.open_day(&header).await?;
                t.synced(doc, T).await
            };
            if synced.await.is_ok() {
                break;
            }
            dev.offline().await;
        }
    }
    let heads = |dev: &Device| dev.peer().doc(&dev.header.well_known_id()).map(|d| d.get_heads());
    for _ in 0..100 {
        for dev in devices.iter_mut() {
            if let Some((t, _)) = &mut dev.online {
                let _ = t.run_for(Duration::from_millis(20)).await;
            }
        }
        if heads(&devices[0]) == heads(&devices[1]) {
            break;
        }
    }
    assert_eq!(heads(&devices[0]), heads(&devices[1]), "seed {seed}: the desk's tablets differ");
    let mut counted = 0;
    for dev in [&devices[0], &devices[2]] {
        let doc = dev.peer().doc(&dev.header.well_known_id()).expect("a day");
        counted += schema::entry_keys(doc)
            .into_iter()
            .filter_map(|k| match k {
                schema::EntryKey::Referral(id) => schema::read_referral(doc, &id).unwrap(),
                _ => None,
            })
            .filter(|r| r.void.is_none())
            .count() as i64;
    }
    for s in &servers {
        // The honest desks' figures (the hostile site of the scheme counts its own).
        let n = signpost_harness::fixture_sites_referral_count(s, &fx, &day.to_string()).await.unwrap();
        assert_eq!(n, counted, "seed {seed}: a relay's figures are not the merged days' ({logged} logged)");
    }
    let stored = stored_referrals(tmp.path());
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "seed {seed}: acknowledged and lost: {lost:?}");
    // Nothing a tablet logged is lost either: it kept what was not acknowledged and sent it.
    let lost: Vec<_> = logged_ids.difference(&stored).collect();
    assert!(lost.is_empty(), "seed {seed}: logged and never stored: {lost:?}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut hostile_frames = 0;
    for h in hostiles {
        let report = h.await.unwrap();
        assert!(report.leaks.is_empty(), "seed {seed}: {} was sent what it may not read: {:?}", report.device, report.leaks);
        hostile_frames += report.frames_sent;
    }
    assert_checks_out(tmp.path(), &format!("seed {seed}"));
    eprintln!(
        "seed {seed}: {logged} referrals logged, {} acknowledged, {kills} relays killed, {counted} counted, \
         {hostile_frames} hostile frames, 0 leaks",
        acknowledged.len()
    );
}

/// Starts the hostile devices of a schedule (see `signpost_sim::hostile`).
fn hostiles(
    data: &std::path::Path,
    fx: &Fixture,
    urls: &[String],
    seed: u64,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<signpost_sim::hostile::HostileReport>> {
    use signpost_harness::admin;
    let site_h = admin(data, &["create-site", "--scheme", &fx.scheme, "Hostile desk"]).unwrap();
    let other = admin(data, &["create-scheme", "Elsewhere"]).unwrap();
    let site_x = admin(data, &["create-site", "--scheme", &other, "Elsewhere desk"]).unwrap();
    let plans = [
        (site_h, fx.scheme.clone(), schema::directory_id(&other)),
        (site_x, other.clone(), schema::directory_id(&fx.scheme)),
    ];
    plans
        .into_iter()
        .enumerate()
        .map(|(i, (site, scheme, forbidden))| {
            let token = admin(data, &["issue-device-token", "--site", &site]).unwrap();
            let plan = signpost_sim::hostile::HostilePlan {
                urls: urls.to_vec(),
                token,
                principal: signpost_shared::relay::Principal { device: format!("hostile-{i}"), scheme, site },
                honest_sites: vec![fx.site_a.clone(), fx.site_b.clone()],
                forbidden_extra: vec![forbidden],
                date: std::sync::Arc::new(today),
                seed: seed ^ (i as u64 + 1),
                stop: stop.clone(),
            };
            tokio::spawn(signpost_sim::hostile::run(plan))
        })
        .collect()
}
